"""The `dualrec` command line (CONTRACT.md section 3)."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Verify, keep and retrieve banks' 双录 sales recordings, offline.")
models_app = typer.Typer(no_args_is_help=True, help="Speech and face models.")
app.add_typer(models_app, name="models")


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"dualrec: error: {message}", err=True)
    return typer.Exit(code)


@app.callback()
def main(ctx: typer.Context,
         config: Optional[Path] = typer.Option(None, "--config", envvar="DUALREC_CONFIG",
                                               help="YAML config file."),
         verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if not verbose:
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    from verifier.config import ConfigError, load_settings
    try:
        ctx.obj = load_settings(config)
    except ConfigError as exc:
        raise fail(str(exc))


@app.command()
def verify(ctx: typer.Context,
           media: Path = typer.Argument(..., help="Recording: a video with sound, or a video "
                                        "whose sidecar names a separate audio_file."),
           meta: Optional[Path] = typer.Option(None, "--meta",
                                               help="Sidecar JSON (default: <stem>.json)."),
           ruleset: Optional[Path] = typer.Option(None, "--ruleset", help="Ruleset YAML."),
           as_json: bool = typer.Option(False, "--json", help="Print the report JSON only."),
           timeline: Optional[Path] = typer.Option(
               None, "--timeline", help="Also draw the timeline picture (PNG) here."),
           ) -> None:
    """Verify one recording and store nothing. Exit 0 pass, 1 fail, 3 review, 2 error."""
    from verifier.engine import verify as run_verify
    from verifier.report import EXIT_CODES

    report = run_verify(media, meta, ruleset, settings=ctx.obj).to_dict()
    if timeline is not None:
        from verifier.timeline import render_timeline
        render_timeline(report, timeline)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        typer.echo(render_report(report))
    if report["verdict"] == "error":
        typer.echo(f"dualrec: error: {report['error']}", err=True)
    raise typer.Exit(EXIT_CODES[report["verdict"]])


_MARK = {"pass": "ok", "fail": "FAIL", "review": "REVIEW", "skipped": "-", "error": "ERROR"}


def render_report(report: dict) -> str:
    from verifier.report import fmt_time

    lines = [f"{report['recording_id']}: {report['verdict'].upper()}"
             + (f"  (ruleset {report['ruleset']['id']} {report['ruleset']['version']})"
                if report.get("ruleset") else "")]
    width = max((len(c["id"]) for c in report["checks"]), default=10)
    for c in report["checks"]:
        lines.append(f"  {_MARK[c['status']]:<6} {c['id']:<{width}}  {c['message']}")
        if c["status"] in ("fail", "review"):
            for ev in c.get("evidence", [])[:5]:
                if ev.get("start_s") is None:
                    continue
                lines.append(f"         {fmt_time(ev['start_s'])}-{fmt_time(ev['end_s'])}  "
                             f"{ev.get('detail', '')}")
    return "\n".join(lines)


@models_app.command("fetch")
def models_fetch(ctx: typer.Context,
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Provision the speech and face models (offline first) and print where they are."""
    from verifier.models import ModelError, resolve_whisper, resolve_yunet

    try:
        found = {"whisper": resolve_whisper(ctx.obj), "face": resolve_yunet(ctx.obj)}
    except ModelError as exc:
        raise fail(str(exc))
    if as_json:
        typer.echo(json.dumps({k: {"name": v.name, "path": v.path} for k, v in found.items()},
                              ensure_ascii=False))
    else:
        for kind, model in found.items():
            typer.echo(f"{kind:8} {model.name}: {model.path}")


# Commands of the audit store (show, search, export, hold, release, retention, integrity).
from pipelines.store_cli import register as _register_store  # noqa: E402

_register_store(app)
from pipelines.audit_cli import register as _register_audit  # noqa: E402  (issue 6)
_register_audit(app)

# The nightly batch (Prefect flows): batch, batches.
from pipelines.batch_cli import register as _register_batch  # noqa: E402

_register_batch(app)
from pipelines.deploy_cli import register as _register_deploy  # noqa: E402
_register_deploy(app)
# The web console: serve, users (issue 11).
from pipelines.console_cli import register as _register_console  # noqa: E402
_register_console(app)


def run() -> None:
    """Entry point that turns unexpected crashes into one line (DUALREC_DEBUG=1: traceback)."""
    try:
        app()
    except Exception as exc:  # pragma: no cover - last resort
        if os.environ.get("DUALREC_DEBUG"):
            raise
        typer.echo(f"dualrec: error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
