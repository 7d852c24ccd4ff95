"""The dashboard: recent batches per branch, the pass rate, holds, purges due, and the
last integrity check, all within the user's branches."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from fastapi import APIRouter, Depends, Request
from sqlalchemy import and_, exists, func, select

from console.accounts import User
from console.charts import bar_chart
from console.roles import can, scope_branches
from console.web import render, require, store_of
from storage.integrity import last_check
from storage.models import BatchItem, BatchRun, LegalHold, Recording

router = APIRouter()

RECENT_BATCHES = 10
PASS_RATE_DAYS = 30
PURGE_WINDOW_DAYS = 30


def _branch_filter(user: User):
    branches = scope_branches(user)
    return [] if branches is None else [Recording.branch_id.in_(branches)]


def dashboard_data(store, user: User, today: date | None = None) -> dict:
    today = today or date.today()
    scope = _branch_filter(user)
    with store.session() as s:
        runs = s.scalars(select(BatchRun).order_by(BatchRun.id.desc())
                         .limit(RECENT_BATCHES)).all()
        per_batch: dict[int, dict[str, dict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(int)))
        if runs:
            rows = s.execute(select(BatchItem.batch_id, Recording.branch_id, BatchItem.verdict,
                                    BatchItem.outcome, func.count())
                             .join(Recording, Recording.recording_id == BatchItem.recording_id)
                             .where(BatchItem.batch_id.in_([r.id for r in runs]), *scope)
                             .group_by(BatchItem.batch_id, Recording.branch_id,
                                       BatchItem.verdict, BatchItem.outcome))
            for batch_id, branch, verdict, outcome, n in rows:
                key = verdict or outcome
                per_batch[batch_id][branch][key] += n
        batches = []
        for r in runs:
            branches = per_batch.get(r.id)
            if not branches and (scope or r.branch_id):
                continue  # nothing of this user's branches in it
            batches.append({"started_at": r.started_at, "finished_at": r.finished_at,
                            "status": r.status, "host": r.host,
                            "branches": {b: dict(c) for b, c in sorted((branches or {}).items())},
                            "rejected": (r.summary or {}).get("rejected") if not scope else None})

        since = today - timedelta(days=PASS_RATE_DAYS - 1)
        days = {since + timedelta(days=i): [0, 0] for i in range(PASS_RATE_DAYS)}
        for day, verdict, n in s.execute(
                select(Recording.sale_date, Recording.verdict, func.count())
                .where(Recording.sale_date >= since, Recording.sale_date <= today, *scope)
                .group_by(Recording.sale_date, Recording.verdict)):
            if day in days:
                days[day][1] += n
                days[day][0] += n if verdict == "pass" else 0
        verdicts = dict(s.execute(select(Recording.verdict, func.count())
                                  .where(*scope).group_by(Recording.verdict)).all())

        active_hold = exists().where(LegalHold.recording_pk == Recording.id,
                                     LegalHold.released_at.is_(None))
        held = s.execute(select(Recording.recording_id, Recording.branch_id, LegalHold.case_id,
                                LegalHold.placed_at, LegalHold.placed_by)
                         .join(LegalHold, and_(LegalHold.recording_pk == Recording.id,
                                               LegalHold.released_at.is_(None)))
                         .where(*scope).order_by(LegalHold.placed_at.desc()).limit(50)).all()
        due = s.execute(select(Recording.recording_id, Recording.branch_id,
                               Recording.retention_until, Recording.retention_basis)
                        .where(Recording.media_present.is_(True),
                               Recording.retention_until.is_not(None),
                               Recording.retention_until < today + timedelta(days=PURGE_WINDOW_DAYS),
                               ~active_hold, *scope)
                        .order_by(Recording.retention_until).limit(50)).all()
        integrity = last_check(s)
    rate = [(d.strftime("%m-%d"), (p / n) if n else None, n) for d, (p, n) in days.items()]
    return {"batches": batches, "verdicts": verdicts, "held": held, "due": due,
            "integrity": integrity, "pass_rate": rate,
            "pass_chart": bar_chart([(lbl, v) for lbl, v, _ in rate], percent=True,
                                    title=f"Pass rate by sale date, last {PASS_RATE_DAYS} days"),
            "today": today}


@router.get("/")
def dashboard(request: Request, user: User = Depends(require("view"))):
    data = dashboard_data(store_of(request), user)
    return render(request, "dashboard.html", show_integrity=can(user, "integrity"), **data)
