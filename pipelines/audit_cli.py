"""Commands of the audit team (issue 6); registered on the main `dualrec` app.

sample draw / list / show, review, stats, report. Exit status: 0 success, 2 bad input
or usage (an unknown recording or sample, a used sample name, an invalid option), 1
anything else. Customer IDs and names are masked in everything printed or written.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import List, Optional

import typer

from pipelines.store_cli import _date_option, _echo_json, _fail, _store


def _period(date_from: Optional[str], date_to: Optional[str]) -> tuple[date, date]:
    d_from, d_to = _date_option(date_from, "--from"), _date_option(date_to, "--to")
    if d_from is None or d_to is None:
        raise _fail("give the period: --from YYYY-MM-DD --to YYYY-MM-DD", 2)
    if d_from > d_to:
        raise _fail(f"--from {d_from} is after --to {d_to}", 2)
    return d_from, d_to


def _split(values: Optional[List[str]]) -> list[str]:
    """Repeated options and comma lists alike: --branch BR001,BR002 --branch BR003."""
    return [v.strip() for raw in values or () for v in raw.split(",") if v.strip()]


def register(app: typer.Typer) -> None:
    """Add the audit commands to `app`."""
    sample_app = typer.Typer(no_args_is_help=True,
                             help="Audit samples: which recordings a person should look at.")
    app.add_typer(sample_app, name="sample")

    @sample_app.command("draw")
    def sample_draw(
            ctx: typer.Context,
            date_from: Optional[str] = typer.Option(None, "--from", help="Sale date from (YYYY-MM-DD)."),
            date_to: Optional[str] = typer.Option(None, "--to", help="Sale date to, inclusive."),
            branch: Optional[List[str]] = typer.Option(None, "--branch", help="Only these branches (repeat or comma list)."),
            staff: Optional[List[str]] = typer.Option(None, "--staff", help="Only these staff."),
            category: Optional[List[str]] = typer.Option(None, "--product-category", help="Only these product categories."),
            product: Optional[List[str]] = typer.Option(None, "--product", help="Only these product codes."),
            rate: Optional[float] = typer.Option(None, "--rate", help="Share of the other (pass) recordings per stratum, rounded up (default: audit.pass_rate)."),
            size: Optional[int] = typer.Option(None, "--size", help="Or: this many per stratum."),
            per: Optional[str] = typer.Option(None, "--per", help="Strata, comma separated: branch, staff, product_category, product_risk_level, product (default: audit.strata); '' for none."),
            high_risk_from: Optional[str] = typer.Option(None, "--high-risk-from", help="Include every sale of a product at this risk level or above (R1..R5, or off; default: audit.high_risk_from)."),
            seed: Optional[str] = typer.Option(None, "--seed", help="Seed of the draw (default: a random one, stored with the sample)."),
            name: Optional[str] = typer.Option(None, "--name", help="Name of the sample (unique; default from period, scope and seed)."),
            as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Draw and store a reproducible sample: every fail/review/error, every
        high-risk sale, and a random share of the rest per stratum."""
        from storage.sampling import Plan, draw, render_sample

        d_from, d_to = _period(date_from, date_to)
        if rate is not None and size is not None:
            raise _fail("give either --rate or --size, not both", 2)
        plan = Plan.from_settings(
            ctx.obj, d_from, d_to, rate=rate, size=size,
            strata=None if per is None else _split([per]), high_risk_from=high_risk_from,
            branch=_split(branch), staff=_split(staff), product_category=_split(category),
            product=_split(product), seed=seed, name=name)
        with _store(ctx) as store:
            out = draw(store, plan)
        _echo_json(out) if as_json else typer.echo(render_sample(out))

    @sample_app.command("list")
    def sample_list(ctx: typer.Context,
                    as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
                    ) -> None:
        """The samples drawn so far, with how many members have been reviewed."""
        from storage.sampling import list_samples, render_list

        with _store(ctx) as store:
            out = list_samples(store)
        _echo_json(out) if as_json else typer.echo(render_list(out))

    @sample_app.command("show")
    def sample_show(ctx: typer.Context,
                    sample: str = typer.Argument(..., help="Sample id or name."),
                    as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
                    ) -> None:
        """One sample: its parameters and members, each with its review state."""
        from storage.sampling import render_sample, show

        with _store(ctx) as store:
            out = show(store, sample)
        _echo_json(out) if as_json else typer.echo(render_sample(out))
        if not out["intact"]:
            raise _fail(f"sample {out['name']!r}: its members no longer match the "
                        "members_sha256 recorded when it was drawn", 1)

    @app.command()
    def review(ctx: typer.Context,
               recording_id: str = typer.Argument(..., help="Recording to record a decision on."),
               decision: str = typer.Option(..., "--decision", help="pass or fail."),
               reason: str = typer.Option(..., "--reason", help="Why (customer data typed here is masked)."),
               reviewer: Optional[str] = typer.Option(None, "--reviewer", help="Reviewer's name (default: env DUALREC_ACTOR, else the OS user)."),
               finding: Optional[List[str]] = typer.Option(None, "--finding", help="CHECK_ID=agree|disagree with one check of the machine (repeat)."),
               sample: Optional[str] = typer.Option(None, "--sample", help="Sample (id or name) this review belongs to."),
               as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
               ) -> None:
        """Record a reviewer's decision on a recording (and optionally on single checks);
        it goes into the audit log."""
        from storage.db import BadInput
        from storage.review import parse_findings, record_review, render_review

        try:
            judged = parse_findings(finding or [])
        except BadInput as exc:
            raise _fail(str(exc), 2)
        with _store(ctx) as store:
            out = record_review(store, recording_id, decision, reason, reviewer=reviewer,
                                findings=judged, sample=sample)
        _echo_json(out) if as_json else typer.echo(render_review(out))

    @app.command()
    def stats(ctx: typer.Context,
              date_from: Optional[str] = typer.Option(None, "--from", help="Sale date from (YYYY-MM-DD)."),
              date_to: Optional[str] = typer.Option(None, "--to", help="Sale date to, inclusive."),
              branch: Optional[List[str]] = typer.Option(None, "--branch", help="Only these branches."),
              by: str = typer.Option("auto", "--by", help="Periods: day, week, month or auto."),
              as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
              ) -> None:
        """Pass rates and agreement between the machine and the reviewers."""
        from storage.stats import render_stats, statistics

        d_from, d_to = _period(date_from, date_to)
        with _store(ctx) as store:
            out = statistics(store, d_from, d_to, _split(branch), by, settings=ctx.obj)
        _echo_json(out) if as_json else typer.echo(render_stats(out))

    @app.command()
    def report(ctx: typer.Context,
               date_from: Optional[str] = typer.Option(None, "--from", help="Sale date from (YYYY-MM-DD)."),
               date_to: Optional[str] = typer.Option(None, "--to", help="Sale date to, inclusive."),
               branch: Optional[List[str]] = typer.Option(None, "--branch", help="Only these branches."),
               out: Path = typer.Option(..., "--out", help="Folder for report.html, report.csv, report.xlsx and the charts."),
               by: str = typer.Option("auto", "--by", help="Periods: day, week, month or auto."),
               as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
               ) -> None:
        """Compliance report: HTML with charts (print it to PDF from a browser), CSV
        and Excel."""
        from storage.compliance_report import write_report

        d_from, d_to = _period(date_from, date_to)
        with _store(ctx) as store:
            result = write_report(store, d_from, d_to, out, branch=_split(branch),
                                  granularity=by, settings=ctx.obj)
        if as_json:
            _echo_json(result)
            return
        o = result["statistics"]["pass_rate"]["overall"]
        va = result["statistics"]["verdict_agreement"]
        pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
        typer.echo(f"{o['recordings']} recordings, pass rate {pct(o['machine_pass_rate'])} "
                   f"(after review {pct(o['final_pass_rate'])}), "
                   f"{result['statistics']['reviews']['reviewed']} reviewed, kappa "
                   f"{'-' if va['kappa'] is None else format(va['kappa'], '.2f')}")
        for kind in ("html", "csv", "xlsx"):
            typer.echo(f"  {kind:<5} {result['files'][kind]}")
