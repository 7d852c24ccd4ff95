"""speech.forbidden: no promise the rules forbid (保本、保收益、稳赚不赔…, DOMAIN.md).

Negation matters: 不保本 / 非保本浮动收益型 is the required disclosure, not a promise.
A customer asking "保本吗" is not a seller's promise, so customer-channel speech is
listed but does not fail the check. With one microphone nobody's speech is known: a
short question of its own (这个保本吗？) may be the customer's, so it goes to review
(verifier.speakers: turn-taking heuristics), while anything else counts as the seller's.
"""
from __future__ import annotations

from verifier.phrase_match import find_forbidden
from verifier.report import CheckResult, fmt_time
from verifier.speakers import classify_answer, has_channels, infer_answer_speaker

ID = "speech.forbidden"
SEVERITY = "critical"
NEEDS = ("transcript",)


def _max_chars(ctx) -> int:
    try:
        return int(ctx.threshold("speech", "answer_max_chars"))
    except Exception:
        return 20


def _maybe_customer_question(text: str, max_chars: int) -> str:
    """One microphone: why a segment may be the customer asking, or ""."""
    answer = classify_answer(text)
    if not answer.asked_back or answer.kind in ("affirmative", "negative"):
        return ""
    who = infer_answer_speaker(text, answer=answer, max_answer_chars=max_chars)
    if who.speaker == "staff":
        return ""
    return ("one microphone: a short question of its own, possibly the customer's; "
            "a person must listen")


def run(ctx) -> CheckResult:
    hits = find_forbidden(ctx.transcript, ctx.ruleset.forbidden)
    mono = not has_channels(ctx.transcript)
    max_chars = _max_chars(ctx)
    items, violations, uncertain = [], [], []
    for hit in hits:
        seg = _segment_at(ctx.transcript, hit.start_s, hit.end_s)
        speaker = seg.speaker if seg is not None else "unknown"
        asked = (_maybe_customer_question(seg.text, max_chars)
                 if mono and seg is not None and not hit.negated else "")
        violation = not hit.negated and speaker != "customer" and not asked
        why = ("negated: a disclosure, not a promise" if hit.negated
               else "said by the customer" if speaker == "customer" else asked or "promise")
        items.append({"term": hit.term, "start_s": hit.start_s, "end_s": hit.end_s,
                      "heard": hit.heard, "speaker": speaker, "negated": hit.negated,
                      "violation": violation, "note": why,
                      "status": "fail" if violation else "review" if asked else "pass"})
        if asked:
            uncertain.append(hit)
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
    if uncertain:
        first = uncertain[0]
        evidence = [{"start_s": h.start_s, "end_s": h.end_s,
                     "detail": f"heard {h.heard!r}: forbidden {h.term!r} in a question"}
                    for h in uncertain]
        return CheckResult(ID, "review", SEVERITY,
                           f"{first.term!r} heard in a question at {fmt_time(first.start_s)} "
                           f"({first.heard!r}): one microphone, possibly the customer asking",
                           evidence, items)
    excused = len(items)
    msg = "no forbidden promise heard"
    if excused:
        msg += f" ({excused} negated or customer mention(s) excused)"
    return CheckResult(ID, "pass", SEVERITY, msg, evidence, items)


def _segment_at(transcript, start_s, end_s):
    for seg in transcript:
        if seg.start_s <= start_s and end_s <= seg.end_s + 1e-6:
            return seg
    return None
