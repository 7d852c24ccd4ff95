"""Statistics for the audit team (issue 6): pass rates, and how the machine agrees with
the reviewers.

Population: recordings sold in the period (``sale_date`` from..to, inclusive) and
scope, with their current run's verdict.

**Pass rate (双录合格率)** = recordings whose verdict is ``pass`` / all recordings
(``error`` counts as not passed: an unverifiable recording is not qualified). The
*final* pass rate takes a reviewed recording's human decision instead of the machine's
verdict. By branch, staff, product (code) and period (day, ISO week or month of sale).

**Reviews.** Each recording counts once, with its latest review, compared with the run
that review looked at (``review_decisions.run_id``).

**Verdict agreement**: machine verdict (``pass`` vs not ``pass``: fail and review)
against the human decision (pass / fail), over reviewed recordings whose run did not
end in ``error``. Cohen's kappa = (po - pe) / (1 - pe), po the observed agreement, pe
the agreement expected by chance from both raters' pass shares; undefined (None) when
pe = 1 (both raters gave every recording the same verdict).

**Per check**: each finding of a reviewed run with status pass (machine passed) or
fail/review (machine flagged); skipped and error findings are not judged. Ground truth
for "this check should have flagged" is the reviewer's ``--finding CHECK=agree|disagree``
when given; otherwise the recording-level decision: a ``pass`` decision disagrees with
every flagged check and agrees with every passed one; a ``fail`` decision agrees with
every flagged check and with the passed ones too (it says the machine's flags are
right, not which passing check should also have flagged: a reviewer who thinks a check
missed something says so with ``--finding CHECK=disagree``). Then:
TP = flagged and agreed, FP = flagged and disagreed, FN = passed and disagreed, TN =
passed and agreed; precision = TP / (TP + FP), recall = TP / (TP + FN) (None when the
denominator is 0). Recordings the machine passed and the reviewer failed without naming
a check are counted as ``unattributed_misses``.

**Disagreeing most**: checks judged at least ``min_judged`` times with a disagreement,
by disagreement rate (FP + FN) / judged, then count. More FP than FN: the check flags
what people accept (threshold too strict); more FN: it misses (too lenient).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import select

from storage.db import BadInput, Store
from storage.models import Finding, Recording, ReviewDecision, ReviewFinding
from storage.query import iso

FLAGGED = ("fail", "review")
JUDGED = ("pass",) + FLAGGED
GRANULARITIES = ("day", "week", "month")


# --------------------------------------------------------------------------- formulas


def ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def cohen_kappa(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Cohen's kappa of two raters over the categories pass / fail; `pairs` are
    (machine, human) with machine already reduced to pass / fail."""
    table = {("pass", "pass"): 0, ("pass", "fail"): 0, ("fail", "pass"): 0, ("fail", "fail"): 0}
    for m, h in pairs:
        table[(m, h)] += 1
    n = sum(table.values())
    out = {"n": n, "machine_pass_human_pass": table[("pass", "pass")],
           "machine_pass_human_fail": table[("pass", "fail")],
           "machine_fail_human_pass": table[("fail", "pass")],
           "machine_fail_human_fail": table[("fail", "fail")],
           "observed": None, "expected": None, "kappa": None}
    if not n:
        return out
    po = (table[("pass", "pass")] + table[("fail", "fail")]) / n
    m_pass = (table[("pass", "pass")] + table[("pass", "fail")]) / n
    h_pass = (table[("pass", "pass")] + table[("fail", "pass")]) / n
    pe = m_pass * h_pass + (1 - m_pass) * (1 - h_pass)
    out.update(observed=po, expected=pe,
               kappa=(po - pe) / (1 - pe) if pe < 1 - 1e-12 else None)
    return out


@dataclass
class Confusion:
    check_id: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, flagged: bool, agree: bool) -> None:
        if flagged:
            if agree:
                self.tp += 1
            else:
                self.fp += 1
        elif agree:
            self.tn += 1
        else:
            self.fn += 1

    def to_dict(self) -> dict[str, Any]:
        judged = self.tp + self.fp + self.fn + self.tn
        disagreements = self.fp + self.fn
        direction = None
        if disagreements:
            direction = ("too strict (flags what reviewers accept)" if self.fp > self.fn else
                         "too lenient (misses what reviewers fail)" if self.fn > self.fp else
                         "both ways")
        return {"check_id": self.check_id, "judged": judged, "tp": self.tp, "fp": self.fp,
                "fn": self.fn, "tn": self.tn, "precision": ratio(self.tp, self.tp + self.fp),
                "recall": ratio(self.tp, self.tp + self.fn),
                "agreement": ratio(self.tp + self.tn, judged),
                "disagreements": disagreements,
                "disagreement_rate": ratio(disagreements, judged), "direction": direction}


def judge(status: str, decision: str, explicit: bool | None) -> tuple[bool, bool] | None:
    """(machine flagged, reviewer agrees) for one finding of a reviewed run, or None
    when the finding is not judged (skipped, error). See the module docstring."""
    if status not in JUDGED:
        return None
    flagged = status in FLAGGED
    if explicit is not None:
        return flagged, explicit
    return flagged, (not flagged) if decision == "pass" else True


# --------------------------------------------------------------------------- periods


def granularity_for(date_from: date, date_to: date, requested: str = "auto") -> str:
    if requested != "auto":
        if requested not in GRANULARITIES:
            raise BadInput(f"--by must be day, week, month or auto, got {requested!r}")
        return requested
    span = (date_to - date_from).days + 1
    return "day" if span <= 31 else "week" if span <= 182 else "month"


def period_key(d: date, granularity: str) -> str:
    if granularity == "day":
        return d.isoformat()
    if granularity == "week":
        y, w, _ = d.isocalendar()
        return f"{y}-W{w:02d}"
    return f"{d.year}-{d.month:02d}"


def period_keys(date_from: date, date_to: date, granularity: str) -> list[str]:
    """Every period of the range, so days without sales still show on the chart."""
    keys, d = [], date_from
    while d <= date_to:
        k = period_key(d, granularity)
        if not keys or keys[-1] != k:
            keys.append(k)
        d += timedelta(days=1)
    return keys


# --------------------------------------------------------------------------- data


@dataclass
class Reviewed:
    review_id: int
    run_id: int
    decision: str
    machine_verdict: str
    reviewer: str
    reason: str
    decided_at: Any
    explicit: dict[str, bool] = field(default_factory=dict)  # check_id -> agree
    statuses: dict[str, str] = field(default_factory=dict)  # reviewed run's check statuses


@dataclass
class Row:
    """One recording of the period, as the statistics and the exports see it."""

    pk: int
    recording_id: str
    sale_date: date
    branch_id: str
    staff_id: str
    product_code: str
    product_name: str
    product_category: str
    product_risk_level: str
    customer_id_masked: str
    verdict: str | None
    flagged: dict[str, str] = field(default_factory=dict)  # current run: check -> fail/review
    review: Reviewed | None = None

    @property
    def final(self) -> str | None:
        return self.review.decision if self.review else self.verdict


def load_rows(store: Store, date_from: date, date_to: date,
              branch: Sequence[str] = ()) -> list[Row]:
    if date_from > date_to:
        raise BadInput(f"--from {date_from} is after --to {date_to}")
    conds = [Recording.sale_date >= date_from, Recording.sale_date <= date_to]
    if branch:
        conds.append(Recording.branch_id.in_(list(branch)))
    in_period = select(Recording.id).where(*conds)
    with store.session() as s:
        rows = {r.id: Row(r.id, r.recording_id, r.sale_date, r.branch_id, r.staff_id,
                          r.product_code, r.product_name, r.product_category,
                          r.product_risk_level, r.customer_id_masked, r.verdict)
                for r in s.scalars(select(Recording).where(*conds)
                                   .order_by(Recording.sale_date, Recording.recording_id))}
        for rec_pk, check_id, status in s.execute(
                select(Recording.id, Finding.check_id, Finding.status)
                .join(Finding, Finding.run_id == Recording.current_run_id)
                .where(*conds, Finding.status.in_(FLAGGED)).order_by(Finding.id)):
            rows[rec_pk].flagged[check_id] = status
        latest: dict[int, Reviewed] = {}
        for r in s.scalars(select(ReviewDecision)
                           .where(ReviewDecision.recording_pk.in_(in_period))
                           .order_by(ReviewDecision.id)):
            latest[r.recording_pk] = Reviewed(r.id, r.run_id, r.decision, r.machine_verdict,
                                              r.reviewer, r.reason, r.decided_at)
        by_review = {v.review_id: v for v in latest.values()}
        if by_review:
            review_ids = select(ReviewDecision.id).where(
                ReviewDecision.recording_pk.in_(in_period))
            for j in s.scalars(select(ReviewFinding)
                               .where(ReviewFinding.review_id.in_(review_ids))):
                if j.review_id in by_review:
                    by_review[j.review_id].explicit[j.check_id] = j.agree
            run_ids = select(ReviewDecision.run_id).where(
                ReviewDecision.recording_pk.in_(in_period))
            statuses: dict[int, dict[str, str]] = {}
            for run_id, check_id, status in s.execute(
                    select(Finding.run_id, Finding.check_id, Finding.status)
                    .where(Finding.run_id.in_(run_ids)).order_by(Finding.id)):
                statuses.setdefault(run_id, {})[check_id] = status
            for v in latest.values():
                v.statuses = statuses.get(v.run_id, {})
        for pk, v in latest.items():
            rows[pk].review = v
    return list(rows.values())


# --------------------------------------------------------------------------- statistics


def _rate_row(key: str, rows: Sequence[Row]) -> dict[str, Any]:
    counts = {v: sum(1 for r in rows if r.verdict == v) for v in ("pass", "fail", "review",
                                                                   "error")}
    final_pass = sum(1 for r in rows if r.final == "pass")
    return {"key": key, "recordings": len(rows), **counts,
            "machine_pass_rate": ratio(counts["pass"], len(rows)),
            "reviewed": sum(1 for r in rows if r.review),
            "final_pass": final_pass, "final_pass_rate": ratio(final_pass, len(rows))}


def _grouped(rows: Sequence[Row], key, keys: Sequence[str] | None = None) -> list[dict]:
    groups: dict[str, list[Row]] = {k: [] for k in keys or ()}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    order = list(keys) if keys else sorted(groups)
    return [_rate_row(k, groups[k]) for k in order]


def compute(rows: Sequence[Row], date_from: date, date_to: date, granularity: str = "auto",
            min_judged: int = 1) -> dict[str, Any]:
    """Every figure of the report from the period's rows (see the module docstring)."""
    gran = granularity_for(date_from, date_to, granularity)
    reviewed = [r for r in rows if r.review]
    checks: dict[str, Confusion] = {}
    pairs, unattributed, excluded_error = [], 0, 0
    reviewers: dict[str, dict[str, int]] = {}
    for r in reviewed:
        v = r.review
        rv = reviewers.setdefault(v.reviewer, {"reviews": 0, "agree_with_machine": 0})
        rv["reviews"] += 1
        rv["agree_with_machine"] += int((v.decision == "pass") == (v.machine_verdict == "pass"))
        if v.machine_verdict == "error":
            excluded_error += 1
        else:
            pairs.append(("pass" if v.machine_verdict == "pass" else "fail", v.decision))
        named_miss = False
        for check_id, status in v.statuses.items():
            j = judge(status, v.decision, v.explicit.get(check_id))
            if j is None:
                continue
            checks.setdefault(check_id, Confusion(check_id)).add(*j)
            named_miss |= not j[0] and not j[1]
        if v.machine_verdict == "pass" and v.decision == "fail" and not named_miss:
            unattributed += 1
    check_rows = [c.to_dict() for _, c in sorted(checks.items())]
    worst = sorted((c for c in check_rows if c["judged"] >= min_judged and c["disagreements"]),
                   key=lambda c: (-c["disagreement_rate"], -c["disagreements"], c["check_id"]))
    return {
        "period": {"from": iso(date_from), "to": iso(date_to)}, "granularity": gran,
        "recordings": len(rows),
        "pass_rate": {
            "overall": _rate_row("all", rows),
            "by_period": _grouped(rows, lambda r: period_key(r.sale_date, gran),
                                  period_keys(date_from, date_to, gran)),
            "by_branch": _grouped(rows, lambda r: r.branch_id),
            "by_staff": _grouped(rows, lambda r: r.staff_id),
            "by_product": _grouped(rows, lambda r: r.product_code),
        },
        "failures_by_check": _failures(rows),
        "reviews": {"reviewed": len(reviewed),
                    "by_reviewer": [{"reviewer": k, **v} for k, v in sorted(reviewers.items())]},
        "verdict_agreement": {**cohen_kappa(pairs), "excluded_machine_error": excluded_error},
        "checks": check_rows,
        "unattributed_misses": unattributed,
        "most_disagreeing": worst,
    }


def _failures(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Per check, how many recordings of the period it failed or sent to review (current
    run), most first."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        for c, status in r.flagged.items():
            out.setdefault(c, {"fail": 0, "review": 0})[status] += 1
    return sorted(({"check_id": c, **n, "recordings": n["fail"] + n["review"]}
                   for c, n in out.items()),
                  key=lambda x: (-x["recordings"], x["check_id"]))


def statistics(store: Store, date_from: date, date_to: date, branch: Sequence[str] = (),
               granularity: str = "auto", settings=None) -> dict[str, Any]:
    cfg = ((getattr(settings, "thresholds", None) or {}).get("audit", {})
           if settings is not None else {})
    rows = load_rows(store, date_from, date_to, branch)
    out = compute(rows, date_from, date_to, granularity, int(cfg.get("min_judged", 1)))
    out["branch"] = list(branch) or None
    return out


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def render_stats(d: dict[str, Any]) -> str:
    o = d["pass_rate"]["overall"]
    va = d["verdict_agreement"]
    kappa = "-" if va["kappa"] is None else f"{va['kappa']:.2f}"
    lines = [f"{d['period']['from']} .. {d['period']['to']}"
             + (f" branch {', '.join(d['branch'])}" if d.get("branch") else "")
             + f": {o['recordings']} recordings, pass rate {_pct(o['machine_pass_rate'])}, "
             f"after review {_pct(o['final_pass_rate'])}",
             f"reviewed {d['reviews']['reviewed']}: verdict agreement {_pct(va['observed'])}, "
             f"Cohen's kappa {kappa} (n={va['n']})"]
    for title, key in (("branch", "by_branch"), ("staff", "by_staff"), ("product", "by_product")):
        lines.append(f"by {title}:")
        for r in d["pass_rate"][key]:
            lines.append(f"  {r['key']:<16} {r['recordings']:>6} recordings  pass "
                         f"{_pct(r['machine_pass_rate']):>6}  after review "
                         f"{_pct(r['final_pass_rate']):>6}")
    if d["checks"]:
        lines.append("per check (against reviewers):")
        for c in d["checks"]:
            lines.append(f"  {c['check_id']:<22} n={c['judged']:<4} TP {c['tp']:<3} FP "
                         f"{c['fp']:<3} FN {c['fn']:<3} TN {c['tn']:<3} precision "
                         f"{_pct(c['precision']):>6} recall {_pct(c['recall']):>6}")
    if d["most_disagreeing"]:
        lines.append("disagree most with reviewers:")
        for c in d["most_disagreeing"]:
            lines.append(f"  {c['check_id']:<22} {_pct(c['disagreement_rate'])} of "
                         f"{c['judged']}: {c['direction']}")
    return "\n".join(lines)
