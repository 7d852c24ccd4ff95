"""Human review: a named reviewer's decision on one recording (issue 6).

A review is about the recording's current verification run: the reviewer decides
``pass`` or ``fail`` with a reason and may agree or disagree with single checks of that
run (``--finding speech.forbidden=disagree``). Reviews are append-only; a later review
of the same recording supersedes an earlier one in the statistics (storage/stats.py),
and both stay in the audit log (action ``review``). The reason is free text: a
customer's ID number or name typed into it is masked before it is stored.
"""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import select

from storage import audit
from storage.db import BadInput, Store, current_actor
from storage.ingest import scrub
from storage.models import Finding, ReviewDecision, ReviewFinding, utcnow
from storage.query import current_run, get_recording, iso

DECISIONS = ("pass", "fail")
JUDGEMENTS = {"agree": True, "disagree": False}
MAX_REASON = 4000


def parse_findings(values: Iterable[str]) -> dict[str, bool]:
    """``CHECK_ID=agree|disagree`` options -> {check_id: agree}."""
    out: dict[str, bool] = {}
    for raw in values or ():
        check, sep, word = str(raw).partition("=")
        check, word = check.strip(), word.strip().lower()
        if not sep or not check or word not in JUDGEMENTS:
            raise BadInput(f"--finding {raw!r}: write CHECK_ID=agree or CHECK_ID=disagree")
        if check in out:
            raise BadInput(f"--finding names {check} twice")
        out[check] = JUDGEMENTS[word]
    return out


def record_review(store: Store, recording_id: str, decision: str, reason: str, *,
                  reviewer: str | None = None, findings: dict[str, bool] | None = None,
                  sample: str | None = None, actor: str | None = None) -> dict[str, Any]:
    """Store one review and its audit entry in one transaction; returns it as a dict."""
    from storage.sampling import get_sample, member_count

    actor = actor or current_actor()
    reviewer = (reviewer or actor).strip()
    decision = (decision or "").strip().lower()
    if decision not in DECISIONS:
        raise BadInput(f"--decision must be pass or fail, got {decision!r}")
    if not reason or not reason.strip():
        raise BadInput("--reason is required: say why")
    if len(reason) > MAX_REASON:
        raise BadInput(f"--reason is longer than {MAX_REASON} characters")
    if not reviewer or len(reviewer) > 128:
        raise BadInput("--reviewer must be 1 to 128 characters")
    findings = findings or {}
    with store.session() as s:
        rec = get_recording(s, recording_id)
        run = current_run(s, rec)
        if run is None:
            raise BadInput(f"{recording_id}: has no verification run to review")
        by_check = {f.check_id: f for f in s.scalars(
            select(Finding).where(Finding.run_id == run.id).order_by(Finding.id))}
        unknown = sorted(set(findings) - set(by_check))
        if unknown:
            raise BadInput(f"--finding: {recording_id} has no check {', '.join(unknown)} "
                           f"(its checks: {', '.join(by_check)})")
        sample_row = None
        if sample is not None:
            sample_row = get_sample(s, sample)
            if not member_count(s, sample_row.id, rec.id):
                raise BadInput(f"{recording_id} is not in sample {sample_row.name!r}")
        review = ReviewDecision(recording_pk=rec.id, run_id=run.id,
                                sample_id=sample_row.id if sample_row else None,
                                decision=decision, machine_verdict=run.verdict,
                                reason=scrub(reason.strip(), rec.personal),
                                reviewer=reviewer, actor=actor, decided_at=utcnow())
        s.add(review)
        s.flush()
        judged = [ReviewFinding(review_id=review.id, finding_id=by_check[c].id, check_id=c,
                                machine_status=by_check[c].status, agree=agree)
                  for c, agree in sorted(findings.items())]
        s.add_all(judged)
        out = {"review_id": review.id, "recording_id": rec.recording_id, "run_id": run.id,
               "decision": decision, "machine_verdict": run.verdict,
               "agrees_with_machine": (decision == "pass") == (run.verdict == "pass"),
               "reviewer": reviewer, "reason": review.reason,
               "findings": [{"check_id": j.check_id, "machine_status": j.machine_status,
                             "agree": j.agree} for j in judged],
               "sample": sample_row.name if sample_row else None,
               "decided_at": iso(review.decided_at)}
        audit.append(s, actor, "review", rec.recording_id, {
            k: out[k] for k in ("review_id", "run_id", "decision", "machine_verdict",
                                "reviewer", "reason", "findings", "sample")})
    return out


def render_review(d: dict[str, Any]) -> str:
    agree = "agrees with" if d["agrees_with_machine"] else "overturns"
    lines = [f"{d['recording_id']}: reviewed {d['decision'].upper()} by {d['reviewer']} "
             f"({agree} the machine's {d['machine_verdict']}; review {d['review_id']})"]
    for f in d["findings"]:
        lines.append(f"  {'agree' if f['agree'] else 'DISAGREE':<9} {f['check_id']} "
                     f"(machine: {f['machine_status']})")
    if d["sample"]:
        lines.append(f"  sample    {d['sample']}")
    return "\n".join(lines)
