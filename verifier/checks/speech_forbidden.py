"""speech.forbidden: no promise the rules forbid (保本、保收益、稳赚不赔…, DOMAIN.md).

Negation matters: 不保本 / 非保本浮动收益型 is the required disclosure, not a promise.
A customer asking "保本吗" is not a seller's promise, so customer-channel speech is
listed but does not fail the check.
"""
from __future__ import annotations

from verifier.phrase_match import find_forbidden
from verifier.report import CheckResult, fmt_time

ID = "speech.forbidden"
SEVERITY = "critical"
NEEDS = ("transcript",)


def run(ctx) -> CheckResult:
    hits = find_forbidden(ctx.transcript, ctx.ruleset.forbidden)
    items, violations = [], []
    for hit in hits:
        speaker = _speaker_at(ctx.transcript, hit.start_s, hit.end_s) or "unknown"
        violation = not hit.negated and speaker != "customer"
        why = ("negated: a disclosure, not a promise" if hit.negated
               else "said by the customer" if speaker == "customer" else "promise")
        items.append({"term": hit.term, "start_s": hit.start_s, "end_s": hit.end_s,
                      "heard": hit.heard, "speaker": speaker, "negated": hit.negated,
                      "violation": violation, "note": why})
        if violation:
            violations.append(hit)
    evidence = [{"start_s": h.start_s, "end_s": h.end_s,
                 "detail": f"heard {h.heard!r}: forbidden {h.term!r}"} for h in violations]
    if violations:
        first = violations[0]
        terms = ", ".join(dict.fromkeys(h.term for h in violations))
        return CheckResult(ID, "fail", SEVERITY,
                           f"forbidden promise(s) {terms}: first at {fmt_time(first.start_s)} "
                           f"heard {first.heard!r}", evidence, items)
    excused = len(items)
    msg = "no forbidden promise heard"
    if excused:
        msg += f" ({excused} negated or customer mention(s) excused)"
    return CheckResult(ID, "pass", SEVERITY, msg, evidence, items)


def _speaker_at(transcript, start_s, end_s) -> str | None:
    for seg in transcript:
        if seg.start_s <= start_s and end_s <= seg.end_s + 1e-6:
            return seg.speaker
    return None
