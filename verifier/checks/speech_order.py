"""speech.order: the script's stages were said in the ruleset's order (DOMAIN.md "The
script": introduction → identity → risk levels → product → risk disclosure → rights →
confirmations; a confirmation before the risk was disclosed confirms nothing).

Each stage's time is the earliest moment one of its phrases or questions was found
(the estimated start inside its segment: whisper often puts several sentences in one
segment). Stages in order = the longest run of stages whose times do not go back; every
other located stage is out of order and reported with its time and the stage it came
before. Stages not heard at all are left to speech.required / speech.confirmation.
Tolerance: `speech.order_tolerance_s`.
"""
from __future__ import annotations

from verifier.report import CheckResult, fmt_time

ID = "speech.order"
SEVERITY = "major"
NEEDS = ("transcript",)


def _tolerance(ctx) -> float:
    try:
        return float(ctx.threshold("speech", "order_tolerance_s"))
    except Exception:
        return 1.0


def stage_times(ctx) -> dict[str, tuple[float, str]]:
    """Stage id -> (first time any of its phrases or questions was found, which one)."""
    times: dict[str, tuple[float, str]] = {}
    for stage, item, m in [*ctx.required_matches(), *ctx.question_matches()]:
        if not m.found:
            continue
        t = m.first_start_s if m.first_start_s is not None else (
            m.spoken_start_s if m.spoken_start_s is not None else m.start_s)
        if stage.id not in times or t < times[stage.id][0]:
            times[stage.id] = (t, item.id)
    return times


def _in_order(seq: list[float], tol: float) -> list[int]:
    """Indices of the longest subsequence whose times never go back by more than tol
    (ties broken towards keeping earlier stages)."""
    n = len(seq)
    best = [1] * n
    prev = [-1] * n
    for j in range(n):
        for i in range(j):
            if seq[i] <= seq[j] + tol and best[i] + 1 > best[j]:
                best[j], prev[j] = best[i] + 1, i
    if not n:
        return []
    k = max(range(n), key=lambda j: (best[j], -j))
    keep = []
    while k >= 0:
        keep.append(k)
        k = prev[k]
    return sorted(keep)


def run(ctx) -> CheckResult:
    tol = _tolerance(ctx)
    times = stage_times(ctx)
    order = [s.id for s in ctx.ruleset.stages]
    located = [sid for sid in order if sid in times]
    keep = {located[k] for k in _in_order([times[s][0] for s in located], tol)}
    items, evidence, wrong = [], [], []
    for pos, sid in enumerate(order):
        if sid not in times:
            items.append({"id": sid, "stage": sid, "position": pos + 1, "located": False,
                          "first_s": None, "by": None, "in_order": None,
                          "status": "skipped", "note": "not heard"})
            continue
        t, by = times[sid]
        ok = sid in keep
        item = {"id": sid, "stage": sid, "position": pos + 1, "located": True,
                "first_s": round(t, 3), "start_s": round(t, 3), "end_s": round(t, 3),
                "by": by, "in_order": ok, "status": "pass" if ok else "fail"}
        if not ok:
            # The stages it should follow, but came before.
            before = [p for p in located[: located.index(sid)] if times[p][0] > t + tol]
            after = [p for p in located[located.index(sid) + 1 :] if times[p][0] < t - tol]
            parts = []
            if before:
                parts.append("before " + ", ".join(
                    f"{p} ({fmt_time(times[p][0])})" for p in before))
            if after:
                parts.append("after " + ", ".join(
                    f"{p} ({fmt_time(times[p][0])})" for p in after))
            item["note"] = (f"{sid} first heard at {fmt_time(t)} ({by}), "
                            + " and ".join(parts))
            wrong.append(item)
            evidence.append({"start_s": round(t, 3), "end_s": round(t, 3),
                             "detail": item["note"]})
        items.append(item)
    missing = [sid for sid in order if sid not in times]
    tail = f"; not heard: {', '.join(missing)}" if missing else ""
    if len(located) < 2:
        return CheckResult(ID, "pass", SEVERITY,
                           f"{len(located)} stage(s) located: nothing to order{tail}",
                           evidence, items)
    if wrong:
        return CheckResult(ID, "fail", SEVERITY,
                           "stages out of order: " + "; ".join(i["note"] for i in wrong) + tail,
                           evidence, items)
    return CheckResult(ID, "pass", SEVERITY,
                       f"{len(located)} stages in the ruleset's order{tail}", evidence, items)
