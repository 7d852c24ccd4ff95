"""`dualrec batch INBOX` (the nightly batch flow, on Prefect's embedded server unless
PREFECT_API_URL names one) and `dualrec batches` (what earlier runs did)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from pipelines.store_cli import _echo_json, _fail, _store


def render_batch(out: dict) -> str:
    v = out["verdicts"]
    lines = [f"{out['inbox']}: {out['total']} files: {out['processed']} verified, "
             f"{out['skipped']} already done, {out['rejected']} not taken, "
             f"{out['deferred']} left for the next run; "
             f"pass {v['pass']}, fail {v['fail']}, review {v['review']}, error {v['error']}"]
    width = max((len(r["path"]) for r in out["recordings"]), default=10)
    for r in out["recordings"]:
        verdict = r["verdict"] or r["outcome"]
        lines.append(f"  {r['path']:<{width}}  {verdict.upper() if verdict != 'pass' else 'ok':<7}"
                     f"  {r['outcome']:<10}  {(r['reason'] or '')[:160]}")
    lines.append(f"summary: {out['summary']}")
    return "\n".join(lines)


class _Progress:
    """A progress bar on the terminal (stderr), one step per finished file."""

    def __init__(self, total: int):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.bar = Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(),
                            TextColumn("{task.description}"),
                            console=Console(stderr=True), transient=False)
        self.task = self.bar.add_task("", total=total)

    def __call__(self, item: dict) -> None:
        self.bar.update(self.task, advance=1,
                        description=f"{item['path']}: {item.get('verdict') or item['outcome']}")


def register(app: typer.Typer) -> None:
    @app.command()
    def batch(ctx: typer.Context,
              inbox: Path = typer.Argument(..., help="Inbox folder (searched recursively)."),
              concurrency: Optional[int] = typer.Option(
                  None, "--concurrency", "-j", min=1, max=64,
                  help="Recordings verified at once (default batch.concurrency, 1)."),
              branch: Optional[str] = typer.Option(
                  None, "--branch", help="Only this branch's recordings; others are refused."),
              as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
              ) -> None:
        """The nightly batch: verify and store every recording in INBOX, write an HTML
        summary. Safe to run again: stored recordings are skipped."""
        from pipelines.prefect_env import PrefectServerError, configure_prefect, embedded_server
        from pipelines.inbox import InboxError, scan_inbox
        from storage.db import StoreError
        from verifier.config import ConfigError

        settings = ctx.obj
        root = ctx.find_root().params
        try:
            total = len(scan_inbox(inbox, 0))
        except InboxError as exc:
            raise _fail(str(exc), 2)
        configure_prefect(settings.data_dir, verbose=bool(root.get("verbose")))
        progress = _Progress(total) if sys.stderr.isatty() and total else None
        try:
            with embedded_server():
                from pipelines import flows
                flows.PROGRESS = progress
                if progress:
                    progress.bar.start()
                try:
                    out = flows.nightly_batch(str(inbox), branch=branch, concurrency=concurrency,
                                              config=str(root["config"]) if root.get("config")
                                              else None)
                finally:
                    flows.PROGRESS = None
                    if progress:
                        progress.bar.stop()
        except (InboxError, ConfigError) as exc:
            raise _fail(str(exc), 2)
        except StoreError as exc:
            raise _fail(str(exc), exc.exit_code)
        except PrefectServerError as exc:
            raise _fail(str(exc), 1)
        if as_json:
            _echo_json(out)
        else:
            typer.echo(render_batch(out))

    @app.command()
    def batches(ctx: typer.Context,
                batch_id: Optional[str] = typer.Argument(None, help="One run, with every file."),
                limit: int = typer.Option(20, "--limit", min=1, max=10000),
                as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
                ) -> None:
        """The latest batch runs (or one run's files): when, where, what they found."""
        from storage import batches as b

        with _store(ctx) as store:
            out = b.get_run(store, batch_id) if batch_id else {"batches": b.list_runs(store, limit)}
        if as_json:
            _echo_json(out)
            return
        for run in ([out] if batch_id else out["batches"]):
            c = run["summary"] or {}
            typer.echo(f"{run['batch']}  {run['started_at'][:19]}  {run['status']:<8}  "
                       f"{run['inbox']}  processed {c.get('processed', '-')}, skipped "
                       f"{c.get('skipped', '-')}, errors {c.get('errors', '-')}"
                       + (f"  {run['summary_path']}" if run["summary_path"] else ""))
            for it in run.get("items", []):
                typer.echo(f"    {it['path']}  {it['outcome']}  {it['verdict'] or ''}  "
                           f"{it['reason'] or ''}")
