"""The audit team's pages: samples (draw, list, show), the review queue of a sample,
and reports (statistics and the compliance report, with CSV and Excel downloads)."""
from __future__ import annotations

import shutil
from datetime import date
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from console.accounts import User
from console.charts import bar_chart
from console.roles import in_scope, scope_branches
from console.routes_recordings import recording_view
from console.web import (Forbidden, check_csrf, render, require, scratch_dir, send_and_remove,
                         store_of)
from storage.db import BadInput
from storage.query import parse_date

router = APIRouter()


def _period(request: Request) -> tuple[date, date]:
    today = date.today()
    d_from = parse_date(request.query_params.get("from"), "from") or today.replace(day=1)
    d_to = parse_date(request.query_params.get("to"), "to") or today
    if d_from > d_to:
        raise BadInput(f"from {d_from} is after to {d_to}")
    if (d_to - d_from).days > 3660:
        raise BadInput("a period of at most ten years")
    return d_from, d_to


def _report_scope(request: Request, user: User) -> tuple[date, date, list[str] | None]:
    """The period and branches a report covers: the asked branches (?branch=A,B) inside
    the user's scope, None for all; asking only for branches outside it is refused."""
    d_from, d_to = _period(request)
    asked = [b.strip() for b in (request.query_params.get("branch") or "").split(",")
             if b.strip()]
    branches = scope_branches(user, asked)
    if branches == []:
        raise Forbidden("branch outside your scope")
    return d_from, d_to, branches


def _sample_in_scope(user: User, sample: dict) -> None:
    """A branch-limited auditor works only on samples of their branches."""
    if user.all_branches:
        return
    branches = (sample.get("scope") or {}).get("branch") or []
    if not branches or any(b not in user.branches for b in branches):
        raise Forbidden("sample outside your branches")


@router.get("/samples")
def samples(request: Request, user: User = Depends(require("samples"))):
    from storage.sampling import list_samples

    listed = [s for s in list_samples(store_of(request))["samples"]
              if user.all_branches or set((s.get("scope") or {}).get("branch") or ["*"])
              <= set(user.branches)]
    today = date.today()
    return render(request, "samples.html", samples=listed,
                  default_from=today.replace(day=1), default_to=today,
                  branches=list(user.branches))


@router.post("/samples", dependencies=[Depends(check_csrf)])
async def draw(request: Request, user: User = Depends(require("samples"))):
    from starlette.concurrency import run_in_threadpool

    from storage.sampling import Plan, draw as do_draw

    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    d_from, d_to = parse_date(form.get("from"), "from"), parse_date(form.get("to"), "to")
    if d_from is None or d_to is None:
        raise BadInput("a sample needs a period: from and to")
    asked = [b.strip() for b in form.get("branch", "").split(",") if b.strip()]
    branches = scope_branches(user, asked)
    if branches == [] or (asked and branches != asked):
        raise Forbidden("sample outside your branches")
    rate = size = None
    try:
        if form.get("size"):
            size = int(form["size"])
        else:
            rate = float(form["rate"]) if form.get("rate") else None
    except ValueError:
        raise BadInput("rate must be a number between 0 and 1, size a whole number")
    plan = Plan.from_settings(request.app.state.settings, d_from, d_to, rate=rate, size=size,
                              branch=branches or [], seed=form.get("seed") or None,
                              name=form.get("name") or None)
    out = await run_in_threadpool(do_draw, store_of(request), plan, user.name)
    return RedirectResponse(f"/samples/{out['sample_id']}", status_code=303)


def _sample(request: Request, user: User, ref: str) -> dict:
    from storage.sampling import show

    d = show(store_of(request), ref, actor=user.name)
    _sample_in_scope(user, d)
    return d


@router.get("/samples/{ref}")
def sample(request: Request, ref: str, user: User = Depends(require("samples"))):
    return render(request, "sample.html", s=_sample(request, user, ref))


@router.get("/samples/{ref}/review")
def review_queue(request: Request, ref: str, user: User = Depends(require("review"))):
    """One member of the sample at a time: the first not yet reviewed, or ?i=N."""
    s = _sample(request, user, ref)
    members = [m for m in s["members"] if in_scope(user, m["branch_id"])]
    if not members:
        return render(request, "queue.html", s=s, member=None, i=0, n=0)
    try:
        i = int(request.query_params["i"]) if "i" in request.query_params else next(
            (k for k, m in enumerate(members) if not m["review"]), 0)
    except ValueError:
        raise BadInput("i must be a number")
    i = max(0, min(i, len(members) - 1))
    member = members[i]
    view = recording_view(request, user, member["recording_id"])
    nxt = f"/samples/{quote(str(s['sample_id']))}/review"
    return render(request, "queue.html", s=s, member=member, i=i, n=len(members),
                  rid=member["recording_id"], t=0.0, next_url=nxt, **view)


@router.get("/reports")
def reports(request: Request, user: User = Depends(require("reports"))):
    from storage.stats import statistics

    d_from, d_to, branches = _report_scope(request, user)
    stats = statistics(store_of(request), d_from, d_to, branch=branches or (),
                       settings=request.app.state.settings)
    by_period = stats["pass_rate"]["by_period"]
    chart = bar_chart([(r["key"], r["machine_pass_rate"]) for r in by_period], percent=True,
                      title="Pass rate (双录合格率) by period")
    fails = bar_chart([(r["check_id"], float(r["recordings"]))
                       for r in stats["failures_by_check"]],
                      title="Recordings failed or sent to review, by check")
    return render(request, "reports.html", stats=stats, d_from=d_from, d_to=d_to,
                  branch=",".join(branches or []), chart=chart, fails_chart=fails)


@router.get("/reports/download/{kind}")
def report_download(request: Request, kind: str, user: User = Depends(require("reports"))):
    """The compliance report's CSV or Excel file for the period (written by
    storage.compliance_report, which audits it)."""
    from storage.compliance_report import write_report

    if kind not in ("report.csv", "report.xlsx", "report.html"):
        raise BadInput("download report.csv, report.xlsx or report.html")
    d_from, d_to, branches = _report_scope(request, user)
    work = scratch_dir(request, "report-")
    try:
        write_report(store_of(request), d_from, d_to, work, branch=branches or (),
                     settings=request.app.state.settings, actor=user.name)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    media = {"report.csv": "text/csv; charset=utf-8", "report.html": "text/html; charset=utf-8",
             "report.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    return send_and_remove(work, work / kind, media[kind], f"dualrec-{d_from}-{d_to}-{kind}")
