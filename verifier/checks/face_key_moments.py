"""face.key_moments: seller and customer identifiable while the key sentences are said.

The recording must "完整客观地记录营销推介、相关风险和关键信息提示、消费者确认和反馈等重点销售环节"
and "录像中应可明确辨别银行员工和消费者面部特征" (银监办发〔2017〕110号): a customer who
steps out exactly while the risk disclosure is read, or is off camera while "agreeing",
breaks the rule even if the recording as a whole passes face.both_visible.

Key moments are the ruleset's critical required phrases (while the phrase is spoken:
phrase_match's estimate of where inside the matched segments it was said) and its
critical confirmations (the staff's question plus an answer window after it).
A phrase or question the speech checks did not find is listed as skipped here:
speech.required / speech.confirmation report it.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right

from verifier.faces import ROLES
from verifier.report import CheckResult, fmt_time

ID = "face.key_moments"
SEVERITY = "critical"
NEEDS = ("frames", "transcript")


def hold_intervals(frames, max_hold_s: float, end_s: float | None) -> list[tuple[float, float]]:
    """The time each sample stands for: from its own time to the next sample's (the
    model of verifier.intervals and of the report's presence intervals), at most
    `max_hold_s` (a longer hole in the video is time nobody saw). The last sample holds
    to the end of the recording, within the same limit."""
    out = []
    for i, f in enumerate(frames):
        nxt = frames[i + 1].t if i + 1 < len(frames) else max(end_s or f.t, f.t)
        out.append((f.t, min(nxt, f.t + max_hold_s)))
    return out


def window_view(frames, holds, start_s: float, end_s: float, max_hold_s: float
                ) -> tuple[list, list[float], float, str | None]:
    """The samples that show [start_s, end_s] and the time each one covers of it.

    Frames are sampled unevenly (keyframes, densely only where something changes), so
    a share of *samples* would over-weight the changes; each sample's weight is the part
    of the window it stands for. A window shorter than the sampling (or a single
    instant) is judged by the sample holding at that time, else by the nearest sample
    within `max_hold_s`. Returns (samples, weights, what the weights are shares of,
    note); time no sample stands for (before the first frame, a hole) is unseen."""
    times = [f.t for f in frames]
    lo = max(bisect_right(times, start_s) - 1, 0)
    hi = bisect_left(times, end_s)
    shown, weights = [], []
    for i in range(lo, min(hi + 1, len(frames))):
        a, b = holds[i]
        w = min(b, end_s) - max(a, start_s)
        if w > 1e-9 or (end_s - start_s <= 1e-9 and a <= start_s <= b):
            shown.append(frames[i])
            weights.append(max(w, 0.0))
    if shown:
        if end_s - start_s <= 1e-9 or sum(weights) <= 1e-9:  # an instant
            return shown, [1.0] * len(shown), float(len(shown)), None
        return shown, weights, end_s - start_s, None
    near = min(range(len(frames)), key=lambda i: min(abs(times[i] - start_s),
                                                     abs(times[i] - end_s)))
    gap = min(abs(times[near] - start_s), abs(times[near] - end_s))
    if gap <= max_hold_s:
        return ([frames[near]], [1.0], 1.0,
                f"no frame covers the window; judged from the nearest at {times[near]:.1f} s")
    return [], [], 1.0, f"no video frame within {max_hold_s:g} s of the window"


def spoken(m) -> tuple[float, float]:
    """When the phrase itself was said: phrase_match's estimate inside the matched
    segments when it has one (whisper often puts several sentences in one segment, and
    a customer gone for one of them must not be averaged away over the others), else
    the segments' span."""
    start = getattr(m, "spoken_start_s", None)
    end = getattr(m, "spoken_end_s", None)
    if start is None or end is None or end < start:
        start, end = m.start_s, m.end_s
    return float(start), float(end)


def _moments(ctx, answer_window_s: float, end_limit: float | None):
    """(id, kind, stage id, window or None, skip note) per critical key moment."""
    out = []
    for stage, phrase, m in ctx.required_matches():
        if not phrase.critical:
            continue
        if not m.found:
            why = (f"near miss at {fmt_time(m.start_s)}" if m.near_miss and m.start_s is not None
                   else "not heard")
            out.append((phrase.id, "phrase", stage.id, None,
                        f"phrase {why}: not checked here; speech.required reports it"))
            continue
        out.append((phrase.id, "phrase", stage.id, spoken(m), None))
    for stage, conf, m in ctx.question_matches():
        if not conf.critical:
            continue
        if not m.found:
            out.append((conf.id, "confirmation", stage.id, None,
                        "question not heard: not checked here; speech.confirmation reports it"))
            continue
        start, q_end = spoken(m)
        end = q_end + answer_window_s
        if end_limit is not None:
            end = max(q_end, min(end, end_limit))
        out.append((conf.id, "confirmation", stage.id, (start, end), None))
    return out


def run(ctx) -> CheckResult:
    frames = ctx.frames
    if not frames:
        return CheckResult(ID, "error", SEVERITY, "no video frames could be analysed")
    answer_window = float(ctx.threshold("faces", "key_moment_answer_window_s"))
    min_share = float(ctx.threshold("faces", "key_moment_min_share"))
    # A sample stands for the picture until the next one, but not across a hole in the
    # video longer than the absence face.both_visible tolerates.
    max_hold = float(ctx.threshold("faces", "max_absence_s"))
    holds = hold_intervals(frames, max_hold, ctx.duration_s)

    items, evidence, findings = [], [], []
    for mid, kind, stage, window, skip in _moments(ctx, answer_window, ctx.duration_s):
        if window is None:
            items.append({"id": mid, "kind": kind, "stage": stage, "window": None,
                          "samples": 0, "staff_visible": None, "customer_visible": None,
                          "status": "skipped", "note": skip})
            continue
        start, end = window
        shown, weights, total, note = window_view(frames, holds, start, end, max_hold)
        share = {role: min(1.0, sum(w for f, w in zip(shown, weights) if f.present(role))
                           / total) for role in ROLES}
        missing = [r for r in ROLES if share[r] < min_share]
        item = {"id": mid, "kind": kind, "stage": stage,
                "window": [round(start, 2), round(end, 2)], "samples": len(shown),
                "staff_visible": round(share["staff"], 3),
                "customer_visible": round(share["customer"], 3),
                "status": "fail" if missing else "pass"}
        if note:
            item["note"] = note
        items.append(item)
        what = "said" if kind == "phrase" else "asked and answered"
        for role in missing:
            # What the camera saw instead: the absent frame that stands for longest.
            absent = [(w, f) for f, w in zip(shown, weights) if not f.present(role)]
            worst = max(absent, key=lambda x: x[0])[1] if absent else None
            seen = f"at {worst.t:.1f} s: {worst.describe()}" if worst else "no frame"
            evidence.append({"start_s": round(start, 2), "end_s": round(end, 2), "role": role,
                             "moment": mid, "kind": kind,
                             "detail": f"{role} face identifiable for {share[role]:.0%} of "
                                       f"the time {mid} was {what} ({len(shown)} frame(s)); "
                                       f"{seen}" + (f"; {note}" if note else "")})
            findings.append(f"{role} face not identifiable while {mid} was {what} "
                            f"({fmt_time(start)}-{fmt_time(end)}, visible {share[role]:.0%} "
                            f"of the time)")

    checked = [i for i in items if i["status"] != "skipped"]
    skipped = [i["id"] for i in items if i["status"] == "skipped"]
    tail = (f"; not checked, not found in the speech (the speech checks report them): "
            f"{', '.join(skipped)}" if skipped else "")
    if findings:
        return CheckResult(ID, "fail", SEVERITY, "; ".join(findings) + tail, evidence, items)
    if not checked:
        why = ("no critical phrase or confirmation in the ruleset" if not items
               else "none of the key phrases or questions was found in the speech")
        return CheckResult(ID, "skipped", SEVERITY, f"not run: {why}{tail}", evidence, items)
    return CheckResult(ID, "pass", SEVERITY,
                       f"both faces identifiable at all {len(checked)} key moment(s){tail}",
                       evidence, items)
