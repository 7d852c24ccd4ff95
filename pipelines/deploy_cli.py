"""`dualrec deploy`: create or update the Prefect deployments, work pool and per-branch
work queues described by a deployment file (pipelines/deploy.py). Exit status: 0
applied, 2 bad file or no reachable Prefect server (one line on stderr), 1 anything
else the server refused.

`--prune`: after applying, delete the deployments dualrec made in the file's work pool
(flow nightly-batch, verify-recording or retention-sweep, tagged "dualrec") that the
file no longer has, e.g. those of a removed branch, and pause (not delete) the work
queues only they used; each is reported, status "removed" / "paused" (--json: lists
"removed" and "paused_work_queues"). Deployments of other flows or other pools are never
touched. `--prune --dry-run` exits 0 with the plan and says pruning was not planned (it
needs the server; a dry run contacts none); --json then has "removed": null."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add `deploy` to `app`."""

    @app.command()
    def deploy(file: Path = typer.Option(..., "--file", "-f",
                                         help="Deployment file (see configs/deploy.example.yaml)."),
               dry_run: bool = typer.Option(False, "--dry-run",
                                            help="Print what would be created; contact no server."),
               prune: bool = typer.Option(
                   False, "--prune",
                   help="After applying, delete dualrec's deployments in the work pool that "
                        "the file no longer has (a removed branch's) and pause their work "
                        "queues; never other flows' or pools'. With --dry-run: not "
                        "planned (needs the server), said so in the output."),
               as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
               ) -> None:
        """Schedule the nightly batch of every branch and the weekly retention sweep on
        the Prefect server named by PREFECT_API_URL (created, or updated if they exist).
        With --prune, also remove what a removed branch left on the server."""
        from pipelines.deploy import DeployError, deploy as do_deploy, render

        try:
            plan = do_deploy(file, dry_run=dry_run, prune=prune)
        except DeployError as exc:
            typer.echo(f"dualrec: error: {' '.join(str(exc).split())}", err=True)
            raise typer.Exit(exc.exit_code)
        except Exception as exc:  # the server refused something: one line, exit 1
            import os
            if os.environ.get("DUALREC_DEBUG"):
                raise
            first = (str(exc).splitlines() or [""])[0]
            typer.echo(f"dualrec: error: deploy failed: {type(exc).__name__}: {first}",
                       err=True)
            raise typer.Exit(1)
        if as_json:
            typer.echo(json.dumps({"dry_run": dry_run, **plan.to_dict()}, ensure_ascii=False,
                                  indent=2, default=str))
        else:
            typer.echo(render(plan, dry_run))
