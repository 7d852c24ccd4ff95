"""Commands of the audit store; registered on the main `dualrec` app.

ingest, show, search, export, hold, release, retention sweep / recompute, integrity
(CONTRACT section 3). Exit status: 0 success, 2 bad input or usage (an unknown
recording, an invalid option), 1 anything else (and `integrity` on any mismatch).
Customer IDs and names are masked in everything printed here; only `export` writes
them in clear, into the evidence folder.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Iterator, Optional

import typer


def _echo_json(value) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"dualrec: error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _store(ctx: typer.Context) -> Iterator:
    """Open the store; turn store errors into one line on stderr and the exit status."""
    from storage.db import StoreError, open_store

    try:
        store = open_store(ctx.obj)
    except StoreError as exc:
        raise _fail(str(exc), exc.exit_code)
    try:
        yield store
    except StoreError as exc:
        raise _fail(str(exc), exc.exit_code)
    finally:
        store.close()


def _date_option(value: Optional[str], option: str) -> Optional[date]:
    from storage.db import BadInput
    from storage.query import parse_date

    try:
        return parse_date(value, option)
    except BadInput as exc:
        raise _fail(str(exc), 2)


def register(app: typer.Typer) -> None:
    """Add the store's commands to `app`."""
    retention_app = typer.Typer(no_args_is_help=True,
                                help="Retention: purge media whose time has passed.")
    app.add_typer(retention_app, name="retention")

    @app.command()
    def ingest(ctx: typer.Context,
               media: Path = typer.Argument(..., help="Recording to verify and store."),
               meta: Optional[Path] = typer.Option(None, "--meta",
                                                   help="Sidecar JSON (default: <stem>.json)."),
               ruleset: Optional[Path] = typer.Option(None, "--ruleset", help="Ruleset YAML."),
               as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
               ) -> None:
        """Verify one recording and store it (vault, database, audit log). A rerun with
        the same media, ruleset version and engine version is skipped."""
        from verifier import __version__
        from verifier.engine import verify as run_verify
        from verifier.ruleset import RulesetError, RulesetLibrary, load_ruleset
        from verifier.sidecar import SidecarError, load_sidecar
        from storage.ingest import (audio_sha256, redelivery_problem, reusable_report,
                                    store_recording)
        from storage.vault import sha256_of_file

        settings = ctx.obj
        if not media.is_file():
            raise _fail(f"{media}: media file " +
                        ("is a folder" if media.is_dir() else "does not exist"), 2)
        try:
            sidecar = load_sidecar(media, meta)
        except SidecarError as exc:
            raise _fail(f"{exc} (not stored: a recording needs valid sale metadata)", 2)
        try:
            rs = (load_ruleset(ruleset) if ruleset else RulesetLibrary(settings.rulesets_dirs)
                  .select(sidecar.product_category, sidecar.product_risk_level, sidecar.ruleset))
        except RulesetError as exc:
            raise _fail(str(exc), 2)
        with _store(ctx) as store:
            sha, _ = sha256_of_file(media)
            problem = redelivery_problem(store, sidecar, sha, audio_sha256(sidecar))
            if problem:  # refused before the models run
                raise _fail(problem, 2)
            # Same media, audio, ruleset version, engine and sale metadata (but for the
            # retention dates): the stored run is reused, no models run (store_recording
            # still applies changed retention dates).
            report = reusable_report(store, sidecar, sha, rs.id, rs.version, __version__)
            if report is None:
                report = run_verify(media, meta, ruleset, settings=settings).to_dict()
            result = store_recording(store, media, sidecar, report)
        if as_json:
            _echo_json(result.to_dict())
        else:
            until = result.retention_until or "indefinitely"
            typer.echo(f"{result.recording_id}: {result.status} "
                       f"(verdict {result.verdict}; keep until {until}: "
                       f"{result.retention_basis})")
        for w in result.warnings:
            typer.echo(f"dualrec: warning: {w}", err=True)

    @app.command()
    def show(ctx: typer.Context, recording_id: str = typer.Argument(...),
             as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
             ) -> None:
        """Everything stored about one recording (customer data masked)."""
        from storage.query import render_show, show as do_show

        with _store(ctx) as store:
            out = do_show(store, recording_id)
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2) if as_json else render_show(out))

    @app.command()
    def search(ctx: typer.Context,
               customer: Optional[str] = typer.Option(None, "--customer",
                                                      help="Customer ID (looked up by keyed hash)."),
               product: Optional[str] = typer.Option(None, "--product", help="Product code."),
               staff: Optional[str] = typer.Option(None, "--staff", help="Staff ID."),
               branch: Optional[str] = typer.Option(None, "--branch", help="Branch ID."),
               date_from: Optional[str] = typer.Option(None, "--from", help="Sale date from (YYYY-MM-DD)."),
               date_to: Optional[str] = typer.Option(None, "--to", help="Sale date to, inclusive."),
               verdict: Optional[str] = typer.Option(None, "--verdict",
                                                     help="pass, fail, review or error."),
               text: Optional[str] = typer.Option(None, "--text",
                                                  help="Spoken phrase; returns when it was said."),
               limit: int = typer.Option(100, "--limit", help="At most this many recordings."),
               as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
               ) -> None:
        """Find recordings by sale metadata and by what was said."""
        from storage.query import Criteria, render_search, search as do_search

        c = Criteria(customer=customer, product=product, staff=staff, branch=branch,
                     date_from=_date_option(date_from, "--from"),
                     date_to=_date_option(date_to, "--to"), verdict=verdict, text=text,
                     limit=limit)
        with _store(ctx) as store:
            out = do_search(store, c)
        if as_json:
            _echo_json(out)
        else:
            typer.echo(render_search(out))

    @app.command()
    def export(ctx: typer.Context, recording_id: str = typer.Argument(...),
               out: Path = typer.Option(..., "--out", help="New (or empty) folder to write."),
               as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
               ) -> None:
        """Evidence package for a dispute: original media, sidecar, report, transcript,
        timeline, audit trail and a manifest of sha256 sums. The only output with the
        customer's data in clear."""
        from storage.export import export as do_export

        with _store(ctx) as store:
            result = do_export(store, recording_id, out)
        if as_json:
            _echo_json(result)
        else:
            typer.echo(f"{recording_id}: exported {result['files']} files to {result['out']}")
            for note in result["notes"]:
                typer.echo(f"  note: {note}")

    @app.command()
    def hold(ctx: typer.Context, recording_id: str = typer.Argument(...),
             case: str = typer.Option(..., "--case", help="Case or dispute id."),
             reason: str = typer.Option(..., "--reason", help="Why (dispute, complaint, "
                                        "regulator request)."),
             as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
             ) -> None:
        """Place a legal hold: the media is not purged while any hold is active."""
        from storage.retention import place_hold

        with _store(ctx) as store:
            r = place_hold(store, recording_id, case, reason)
        _hold_output(r, "placed" if r.changed else "already held", as_json)

    @app.command()
    def release(ctx: typer.Context, recording_id: str = typer.Argument(...),
                case: str = typer.Option(..., "--case", help="Case or dispute id."),
                reason: Optional[str] = typer.Option(None, "--reason", help="Why (optional)."),
                as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
                ) -> None:
        """Release a legal hold of one case."""
        from storage.retention import release_hold

        with _store(ctx) as store:
            r = release_hold(store, recording_id, case, reason=reason)
        _hold_output(r, "released", as_json)

    @retention_app.command("sweep")
    def retention_sweep(ctx: typer.Context,
                        as_of: Optional[str] = typer.Option(
                            None, "--as-of", help="Purge what ended before this date "
                            "(YYYY-MM-DD; default today; never in the future)."),
                        dry_run: bool = typer.Option(False, "--dry-run",
                                                     help="Only list what would be purged."),
                        as_json: bool = typer.Option(False, "--json",
                                                     help="Print one JSON document."),
                        ) -> None:
        """Purge media whose retention has ended and that no legal hold covers; the
        metadata, hashes and findings stay."""
        from storage.retention import sweep

        day = _date_option(as_of, "--as-of")
        with _store(ctx) as store:
            r = sweep(store, day, dry_run=dry_run)
        if as_json:
            _echo_json(r.to_dict())
        else:
            verb = "would purge" if dry_run else "purged"
            typer.echo(f"as of {r.as_of}: {verb} {len(r.purged)}, held {len(r.held)}, "
                       f"kept {r.kept}")
            for rid in r.purged:
                typer.echo(f"  {verb:<11} {rid}")
            for rid in r.held:
                typer.echo(f"  {'held':<11} {rid}")
        for e in r.errors:
            typer.echo(f"dualrec: error: {e.get('recording_id', '')} {e['object']}: "
                       f"{e['error']}", err=True)
        if r.errors:
            raise typer.Exit(1)

    @retention_app.command("recompute")
    def retention_recompute(ctx: typer.Context,
                            as_json: bool = typer.Option(False, "--json",
                                                         help="Print one JSON document.")
                            ) -> None:
        """Recompute every recording's retention date under the current policy
        (configs/retention.yaml or DUALREC_RETENTION_CONFIG)."""
        from storage.retention import recompute

        with _store(ctx) as store:
            r = recompute(store)
        if as_json:
            _echo_json(r)
        else:
            typer.echo(f"policy {r['policy']}: {r['checked']} recordings checked, "
                       f"{len(r['changed'])} changed")
            for c in r["changed"]:
                typer.echo(f"  {c['recording_id']}: {c['from'] or 'indefinitely'} -> "
                           f"{c['to'] or 'indefinitely'} ({c['basis']})")
        for w in r["warnings"]:
            typer.echo(f"dualrec: warning: {w}", err=True)

    @app.command()
    def integrity(ctx: typer.Context,
                  as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
                  ) -> None:
        """Re-hash the vault and walk the audit-log chain; exit 1 on any mismatch."""
        from storage.integrity import check, render

        with _store(ctx) as store:
            r = check(store)
        if as_json:
            _echo_json(r)
        else:
            typer.echo(render(r))
        if not r["ok"]:
            raise typer.Exit(1)


def _hold_output(r, what: str, as_json: bool) -> None:
    if as_json:
        _echo_json({"recording_id": r.recording_id, "case": r.case, "result": what,
                    "placed_at": r.placed_at.isoformat() if r.placed_at else None,
                    "released_at": r.released_at.isoformat() if r.released_at else None,
                    "active_holds": r.active_holds, "warnings": r.warnings})
    else:
        typer.echo(f"{r.recording_id}: legal hold {r.case} {what} "
                   f"({r.active_holds} active)")
    for w in r.warnings:
        typer.echo(f"dualrec: warning: {w}", err=True)
