"""`dualrec batch INBOX` (the nightly batch flow, on Prefect's embedded server unless
PREFECT_API_URL names one) and `dualrec batches` (what earlier runs did).

SIGTERM (a service manager stopping the batch) and SIGINT (Ctrl-C) stop a batch in
order: the run is recorded as ``crashed`` with what it did so far, its Prefect flow run
as Crashed, the embedded server is stopped, and the command exits 143 (SIGTERM) or 130
(SIGINT). Recordings in flight are abandoned as a SIGKILL would abandon them (the store
is crash-safe); the next run verifies them.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import typer

from pipelines.store_cli import _echo_json, _fail, _store

# Characters that would break a line of text output, or let a file name drive the
# terminal: C0 and C1 controls (newline, tab, ESC), line and paragraph separators,
# bidirectional overrides (they reorder what is shown).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f"
                          "\u202a-\u202e\u2066-\u2069]")
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def printable(text: Any) -> str:
    """`text` on one line: control characters shown as escapes (\\n, \\t, \\x1b,
    \\u202e). Only for text output; --json keeps names exactly."""
    def escape(m: re.Match) -> str:
        c = m.group()
        return _ESCAPES.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else
                                   f"\\u{ord(c):04x}")
    return _UNPRINTABLE.sub(escape, "" if text is None else str(text))


def render_batch(out: dict) -> str:
    v = out["verdicts"]
    lines = [f"{printable(out['inbox'])}: {out['total']} files: {out['processed']} verified, "
             f"{out['skipped']} already done, {out['rejected']} not taken, "
             f"{out['deferred']} left for the next run; "
             f"pass {v['pass']}, fail {v['fail']}, review {v['review']}, error {v['error']}"]
    paths = [printable(r["path"]) for r in out["recordings"]]
    width = max((len(p) for p in paths), default=10)
    for path, r in zip(paths, out["recordings"]):
        verdict = r["verdict"] or r["outcome"]
        lines.append(f"  {path:<{width}}  {verdict.upper() if verdict != 'pass' else 'ok':<7}"
                     f"  {r['outcome']:<10}  {printable(r['reason'])[:160]}")
    lines.append(f"summary: {printable(out['summary'])}")
    return "\n".join(lines)


def render_runs(runs: list[dict]) -> str:
    """`dualrec batches`: a line per run, and per file when the run has its items."""
    lines = []
    for run in runs:
        c = run["summary"] or {}
        lines.append(f"{run['batch']}  {run['started_at'][:19]}  {run['status']:<8}  "
                     f"{printable(run['inbox'])}  processed {c.get('processed', '-')}, "
                     f"skipped {c.get('skipped', '-')}, errors {c.get('errors', '-')}"
                     + (f"  {printable(run['summary_path'])}" if run["summary_path"] else ""))
        for it in run.get("items", []):
            lines.append(f"    {printable(it['path'])}  {it['outcome']}  "
                         f"{it['verdict'] or ''}  {printable(it['reason'])}")
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
        from rich.markup import escape

        # A file name is not markup: "[/b]" in one would stop the batch with an error.
        text = f"{printable(item['path'])}: {item.get('verdict') or item['outcome']}"
        self.bar.update(self.task, advance=1, description=escape(text))


# --------------------------------------------------------------------------- signals


class BatchInterrupted(Exception):
    """SIGTERM or SIGINT arrived while the batch ran."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, frame) -> None:
    raise BatchInterrupted(signum)


def _exit_now(signum: int, frame) -> None:  # a second signal while stopping: stop now
    os._exit(128 + signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise BatchInterrupted in the main thread while inside."""
    before = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def run_in_thread(fn: Callable, *args, **kwargs) -> Any:
    """fn(*args, **kwargs) in a thread of its own, waited for here; its exception is
    raised here. The flow does not run in the main thread so that Prefect does not put
    its own SIGTERM handler in place (it unwinds the flow while its tasks still run:
    KeyError tracebacks, and the run left 'running'); a signal's handler interrupts
    the wait instead."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            result["error"] = exc

    worker = threading.Thread(target=target, name="nightly-batch", daemon=True)
    worker.start()
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _record_stop(settings, why: str) -> list[str] | None:
    """The runs of this process: crashed in the store and in Prefect. None: the store
    could not be told (said on stderr)."""
    from pipelines.batch_summary import mark_interrupted
    from pipelines.prefect_env import mark_flow_run_crashed
    from storage.db import open_store

    try:
        with open_store(settings) as store:
            keys = mark_interrupted(store, why)
    except Exception as exc:  # noqa: BLE001 - the next run on this host marks it
        typer.echo(f"dualrec: batch {why}; it could not be recorded ({printable(exc)}): "
                   "the next batch on this host marks it crashed", err=True)
        return None
    for key in keys:
        mark_flow_run_crashed(key, why)
    return keys


def _stopping(settings, exc: BatchInterrupted, progress) -> int:
    """After a signal, before the server stops: the bookkeeping. Returns the exit
    status (128 + the signal's number, as a shell reports a process it killed)."""
    from pipelines import flows

    for s in (signal.SIGTERM, signal.SIGINT):  # until the process exits
        signal.signal(s, _exit_now)
    why = f"stopped by {exc}"
    flows.PROGRESS = None
    if progress:
        progress.bar.stop()
    # The abandoned recordings' threads go on until the process exits: what they log
    # or raise now (connection refused once the server is gone) is noise.
    logging.disable(logging.CRITICAL)
    threading.excepthook = lambda args: None
    keys = _record_stop(settings, why)
    if keys:
        typer.echo(f"dualrec: batch {', '.join(keys)} {why}: recorded as crashed; run it "
                   "again to finish (stored recordings are skipped)", err=True)
    elif keys is not None:
        typer.echo(f"dualrec: batch {why} before its run began: nothing to record", err=True)
    return 128 + exc.signum


def _exit(code: int) -> None:
    """Exit now, not after the threads of abandoned recordings: the interpreter would
    wait for the task runner's threads (minutes of verification). The store is made to
    survive a process killed at any point."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def prepare_store(settings) -> None:
    """Create (or upgrade) the store before the flow opens it, one process at a time:
    batches started together on a new SQLite store failed "database is locked" as
    each switched the new file to WAL (storage/db.py); on a store already made, they
    do not."""
    import fcntl

    from storage.db import open_store

    data = Path(settings.data_dir).expanduser()
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(data / ".store-open.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the file is closed
        open_store(settings).close()


# --------------------------------------------------------------------------- commands


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
        summary. Safe to run again: stored recordings are skipped. SIGTERM or Ctrl-C:
        the run is recorded as crashed, exit 143 or 130."""
        from pipelines.batch_summary import ReportsDirError, check_reports_dir
        from pipelines.prefect_env import PrefectServerError, configure_prefect, embedded_server
        from pipelines.inbox import InboxError, scan_inbox
        from storage.db import StoreError
        from verifier.config import ConfigError

        settings = ctx.obj
        root = ctx.find_root().params
        try:
            total = len(scan_inbox(inbox, 0))
            check_reports_dir(settings)  # not at the end of a night's work
        except (InboxError, ReportsDirError) as exc:
            raise _fail(printable(exc), 2)
        try:
            prepare_store(settings)
        except StoreError as exc:
            raise _fail(printable(exc), exc.exit_code)
        configure_prefect(settings.data_dir, verbose=bool(root.get("verbose")))
        progress = _Progress(total) if sys.stderr.isatty() and total else None
        status = None  # the exit status after a signal
        try:
            with stop_on_signals(), embedded_server():
                from pipelines import flows
                flows.PROGRESS = progress
                if progress:
                    progress.bar.start()
                try:
                    out = run_in_thread(flows.nightly_batch, str(inbox), branch=branch,
                                        concurrency=concurrency,
                                        config=str(root["config"]) if root.get("config")
                                        else None)
                except BatchInterrupted as exc:
                    status = _stopping(settings, exc, progress)
                    raise  # out of embedded_server(): it stops the server
                finally:
                    flows.PROGRESS = None
                    if progress:
                        progress.bar.stop()
        except BatchInterrupted as exc:
            if status is None:  # the server was starting, or stopping: no run to mark
                typer.echo(f"dualrec: batch stopped by {exc} (no batch run to record)", err=True)
                status = 128 + exc.signum
            _exit(status)
        except (InboxError, ConfigError, ReportsDirError) as exc:
            raise _fail(printable(exc), 2)
        except StoreError as exc:
            raise _fail(printable(exc), exc.exit_code)
        except PrefectServerError as exc:
            raise _fail(printable(exc), 1)
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
        text = render_runs([out] if batch_id else out["batches"])
        if text:
            typer.echo(text)
