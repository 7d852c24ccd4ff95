"""speech.confirmation: the customer answered each confirmation question as the script
requires (DOMAIN.md "The script": confirmation questions with clear affirmative answers
from the customer; "Silence is not consent. A leading question answered only by the
seller is not a customer confirmation"; 银监办发〔2017〕110号: the recording must show the
customer's 确认和反馈).

For each confirmation of the ruleset: the seller's question (fuzzy, on characters and
pinyin), then the customer's answer within `confirmation_window_s` after it (and before
the next confirmation question). Negation wins over affirmation (不清楚 is a no). With two
microphones the customer's channel is the customer; with one, `verifier.speakers`
infers who answered, says so in the item, and an uncertain attribution goes to review.
"""
from __future__ import annotations

from dataclasses import dataclass

from verifier.intervals import overlap
from verifier.phrase_match import PhraseMatch, find_phrase, locate
from verifier.report import CheckResult, fmt_time
from verifier.speakers import (Answer, AnswerVocab, Attribution, channel_attribution,
                               classify_answer, has_channels, infer_answer_speaker)
from verifier.textnorm import normalize

ID = "speech.confirmation"
SEVERITY = "critical"
NEEDS = ("transcript",)

DEFAULTS = {
    "confirmation_window_s": 15.0,
    "confirmation_overlap_s": 1.0,
    "answer_max_chars": 20,
}


def setting(ctx, key: str, default=None):
    try:
        value = ctx.threshold("speech", key)
    except Exception:  # an older config without the key: the documented default
        value = None
    return DEFAULTS.get(key, default) if value is None else value


def vocab_from(ctx) -> AnswerVocab:
    return AnswerVocab.from_lists(setting(ctx, "confirmation_affirmative"),
                                  setting(ctx, "confirmation_negative"),
                                  setting(ctx, "confirmation_not_negative"),
                                  setting(ctx, "confirmation_weak"))


@dataclass
class _Turn:
    text: str
    start_s: float
    end_s: float
    answer: Answer
    who: Attribution
    gap_s: float | None = None


def _chars_before(seg, norm: str, t: float) -> int:
    """Characters of a segment said before time t (time spread evenly over them)."""
    if seg.end_s <= seg.start_s:
        return 0
    frac = (t - seg.start_s) / (seg.end_s - seg.start_s)
    return max(0, min(len(norm), round(frac * len(norm))))


def _script_starts(script_spans, seg) -> list[float]:
    return [a for a, b in script_spans if seg.start_s - 1e-6 <= a < seg.end_s]


def evaluate(transcript, conf, m: PhraseMatch, *, stage: str | None, window_s: float,
             overlap_s: float, limit_s: float | None, script_spans, vocab: AnswerVocab,
             max_answer_chars: int, review_score: float, levels=None) -> dict:
    """The item for one confirmation: the question heard, the answer heard, who gave it
    and the decision (pass / fail / review) with its reason. `levels`: the loudness of
    each microphone ({speaker: [(second, dBFS)]}), which tells which heard a voice first."""
    heard = m.found or m.near_miss   # a low-scoring best window is not "heard"
    item = {
        "id": conf.id, "stage": stage, "critical": conf.critical, "expect": conf.expect,
        "question": conf.question, "question_heard": (m.heard or None) if heard else None,
        "question_start_s": m.start_s if heard else None,
        "question_end_s": m.end_s if heard else None,
        "question_score": round(m.score, 3),
        "answer_heard": None, "answer_start_s": None, "answer_end_s": None,
        "speaker": None, "attribution": None, "attribution_note": None,
        "answer": None, "answer_cue": None, "decision": None, "why": None,
        "other_turns": [],
    }
    if not m.found:
        if m.near_miss:
            item["decision"] = "review"
            item["why"] = (f"question not clearly heard: best candidate {m.heard!r} at "
                           f"{fmt_time(m.start_s)} (score {m.score:.2f})"
                           + (f"; {m.note}" if m.note else ""))
        else:
            item["decision"] = "fail" if conf.critical else "review"
            item["why"] = "question not heard"
        return item

    q_end = m.spoken_end_s if m.spoken_end_s is not None else m.end_s
    end = q_end + window_s
    if limit_s is not None:
        # the next question may be placed right where this one ends (whisper puts the
        # silence before a segment into it): then nothing after counts as the answer
        end = max(q_end, min(end, limit_s))
    channels = has_channels(transcript)
    required_role = conf.speaker
    turns = _turns(transcript, conf, m, q_end, end, channels=channels, overlap_s=overlap_s,
                   script_spans=script_spans, vocab=vocab, max_answer_chars=max_answer_chars,
                   review_score=review_score, levels=levels)

    def role_ok(t: _Turn) -> bool:
        return required_role == "any" or t.who.speaker == required_role

    answers = [t for t in turns if t.answer.kind != "none"]
    by_role = [t for t in answers if t.who.certain and role_ok(t)]
    uncertain = [t for t in answers if not t.who.certain]
    others = [t for t in answers if t.who.certain and not role_ok(t)]
    item["other_turns"] = [
        {"text": t.text, "start_s": t.start_s, "end_s": t.end_s, "speaker": t.who.speaker,
         "attribution": t.who.attribution, "answer": t.answer.kind,
         "note": t.who.reason}
        for t in answers if not (t.who.certain and role_ok(t))]

    def show(t: _Turn, decision: str, why: str) -> dict:
        item.update(answer_heard=t.text, answer_start_s=t.start_s, answer_end_s=t.end_s,
                    speaker=t.who.speaker, attribution=t.who.attribution,
                    attribution_note=t.who.reason, answer=t.answer.kind,
                    answer_cue=t.answer.cue or None, decision=decision, why=why)
        return item

    span = (f"within {window_s:.0f} s after the question" if end == q_end + window_s
            else "after the question and before the next one")
    fail = "fail" if conf.critical else "review"
    inferred = " (speaker inferred: one microphone)" if not channels else ""
    if by_role:
        want = conf.expect
        neg = next((t for t in by_role if t.answer.kind == "negative"), None)
        aff = next((t for t in by_role if t.answer.kind == "affirmative"), None)
        if want == "affirmative":
            if neg:
                return show(neg, fail, f"the customer said {neg.answer.cue!r}: a negative "
                                       "answer is not consent" + inferred)
            if aff:
                return show(aff, "pass", f"affirmative answer ({aff.answer.cue!r}){inferred}")
        else:
            if neg and not aff:
                return show(neg, "pass", f"answered no ({neg.answer.cue!r}) as expected{inferred}")
            if aff and not neg:
                return show(aff, fail, f"the customer answered {aff.answer.cue!r}; "
                                       f"the expected answer is no{inferred}")
            if aff and neg:
                return show(neg, "review", "the customer answered both yes and no")
        t = by_role[0]
        what = (f"only {t.answer.cue!r}" if t.answer.cue else
                "a question back" if t.answer.asked_back else "no clear yes or no")
        return show(t, "review", f"unclear answer: {what}{inferred}")
    if uncertain:
        t = uncertain[0]
        return show(t, "review", f"an answer ({t.answer.kind}) was heard but who gave it is "
                                 f"uncertain: {t.who.reason}")
    if others:
        t = others[0]
        who = {"staff": "seller", "customer": "customer"}.get(t.who.speaker, t.who.speaker)
        return show(t, fail, f"answered only by the {who} ({t.who.reason}): "
                             "not the customer's confirmation")
    item["decision"] = fail
    item["why"] = (f"no answer {span} "
                   f"({fmt_time(q_end)}-{fmt_time(end)}): silence is not consent")
    return item


# A voice this much louder on the customer's microphone than on the seller's is the
# customer's own, whatever the seller's microphone made of it faintly.
OWN_VOICE_DB = 10.0


def _louder(levels, speaker: str, other: str, start_s: float, end_s: float) -> float | None:
    """How much louder (dB) `speaker`'s microphone was than `other`'s over the whole
    seconds within [start_s, end_s]; None without levels for both."""
    if not levels or speaker not in levels or other not in levels:
        return None

    def mean(rows):
        vals = [db for t, db in rows if start_s - 0.5 <= t and t + 1 <= end_s + 0.5]
        return sum(vals) / len(vals) if vals else None

    a, b = mean(levels[speaker]), mean(levels[other])
    return None if a is None or b is None else a - b


def _echo(seg, conf, transcript, review_score: float, levels=None) -> bool:
    """The customer's microphone also hears the seller: the question again, or what the
    seller's microphone recorded at the same time, is not the customer's answer."""
    echo = find_phrase([seg], conf.texts, review_score=review_score)
    if echo.found:
        return True
    louder = _louder(levels, "customer", "staff", seg.start_s, seg.end_s)
    if louder is not None and louder >= OWN_VOICE_DB:
        # the seller's microphone heard the customer (是的，我确认购买 on both, 26 dB
        # down on the seller's): the customer's answer, not an echo of the seller
        return False
    # Otherwise only what the seller's microphone recorded over (most of) the same
    # time. An answer that repeats the question's words (是的，我坚持购买 for 您是否仍
    # 坚持购买: a near miss) or only touches the question's segment (whisper's segment
    # times are loose) is the customer's own.
    def mostly_during(start_s: float, end_s: float) -> bool:
        return overlap(seg.start_s, seg.end_s, start_s, end_s) >= 0.5 * (seg.end_s - seg.start_s)

    staff = [o for o in transcript if o.speaker == "staff" and o.start_s < seg.end_s
             and seg.start_s < o.end_s]
    if not staff or sum(overlap(seg.start_s, seg.end_s, o.start_s, o.end_s)
                        for o in staff) < 0.5 * (seg.end_s - seg.start_s):
        return False
    if echo.near_miss:
        return True
    # the words must be in what the seller said at that time, not in an earlier segment
    # that only touches it
    same = find_phrase(staff, [seg.text], review_score=review_score)
    return same.found and mostly_during(same.start_s, same.end_s)


def _turns(transcript, conf, m: PhraseMatch, q_end: float, end: float, *, channels: bool,
           overlap_s: float, script_spans, vocab, max_answer_chars, review_score,
           levels=None) -> list[_Turn]:
    """What was said after the question and before `end`, each with who said it."""
    turns: list[_Turn] = []
    q_speakers = ("staff", "unknown")
    q_segs = [s for s in transcript if s.speaker in q_speakers
              and s.start_s >= m.start_s - 1e-6 and s.end_s <= m.end_s + 1e-6]
    q_ids = {id(s) for s in q_segs}
    others_spans = [(a, b) for a, b in script_spans if not (a <= q_end and b >= m.spoken_start_s)]
    # The rest of the question's last segment: whisper often puts the answer there.
    if q_segs:
        loc = locate(q_segs, m.matched or conf.question)
        last = q_segs[-1]
        norm = normalize(last.text)
        if loc is not None and loc.last_segment == len(q_segs) - 1 and loc.end_char < len(norm):
            tail = norm[loc.end_char:]
            cut = [_chars_before(last, norm, a) for a in _script_starts(others_spans, last)]
            cut = [c for c in cut if c > loc.end_char]
            shares = "the question"
            if cut:
                tail = norm[loc.end_char : min(cut)]
                shares = "the question and the next script line"
            if tail:
                ans = classify_answer(tail, vocab)
                who = (channel_attribution(last.speaker) if channels else
                       infer_answer_speaker(tail, answer=ans, shares_segment=shares,
                                            max_answer_chars=max_answer_chars, vocab=vocab))
                turns.append(_Turn(tail, q_end, last.end_s, ans, who))
    prev_end = q_end
    for seg in transcript:
        if id(seg) in q_ids or seg.start_s < q_end - overlap_s or seg.start_s >= end:
            continue
        if (channels and seg.speaker == "customer"
                and _echo(seg, conf, transcript, review_score, levels)):
            continue
        text, shares, script_like = seg.text, "", False
        norm = normalize(seg.text)
        starts = _script_starts(others_spans, seg)
        covered = any(a <= seg.start_s + 0.05 and b >= seg.end_s - 0.05 for a, b in others_spans)
        if starts or covered:
            first = min(starts) if starts else seg.start_s
            k = _chars_before(seg, norm, first)
            if k <= 1 or covered:
                script_like = True       # the segment opens with script: the seller's
            else:
                text, shares = norm[:k], "the next script line"
        # A script line is the seller moving on, not an answer.
        ans = Answer("none") if script_like else classify_answer(text, vocab)
        if channels:
            who = channel_attribution(seg.speaker)
        else:
            gap = seg.start_s - prev_end if seg.start_s > prev_end else None
            who = infer_answer_speaker(text, answer=ans, shares_segment=shares,
                                       script_like=script_like, gap_s=gap,
                                       max_answer_chars=max_answer_chars, vocab=vocab)
        turns.append(_Turn(text if not script_like else seg.text, seg.start_s, seg.end_s,
                           ans, who, seg.start_s - prev_end))
        prev_end = max(prev_end, seg.end_s)
    return turns


def script_spans_of(ctx) -> list[tuple[float, float]]:
    """When the script (required phrases, confirmation questions) was heard."""
    spans = []
    for _, _, m in [*ctx.required_matches(), *ctx.question_matches()]:
        if m.found:
            spans.append((m.spoken_start_s, m.spoken_end_s))
    return spans


def question_starts(ctx) -> list[float]:
    return sorted(m.spoken_start_s for _, _, m in ctx.question_matches() if m.found)


def evaluate_all(ctx, pairs) -> list[dict]:
    """Items for (stage id, Confirmation, PhraseMatch of its question) pairs."""
    window = float(setting(ctx, "confirmation_window_s"))
    overlap = float(setting(ctx, "confirmation_overlap_s"))
    max_chars = int(setting(ctx, "answer_max_chars"))
    review_score = float(ctx.threshold("speech", "review_score"))
    vocab = vocab_from(ctx)
    spans = script_spans_of(ctx)
    starts = question_starts(ctx) + [m.spoken_start_s for _, _, m in pairs if m.found]
    items = []
    for stage, conf, m in pairs:
        limit = None
        if m.found:
            q_end = m.spoken_end_s
            # the next question: one starting after this one, at or after its end
            # (a match overlapping this question is another reading of the same words)
            later = [s for s in starts if s > m.spoken_start_s + 0.05 and s >= q_end - 0.05]
            limit = min(later) if later else None
        w = conf.window_s or window
        items.append(_finish(evaluate(
            ctx.transcript, conf, m, stage=stage, window_s=w, overlap_s=overlap,
            limit_s=limit, script_spans=spans, vocab=vocab, max_answer_chars=max_chars,
            review_score=review_score, levels=getattr(ctx, "audio_levels", None)), w))
    return items


def _finish(item: dict, window_s: float) -> dict:
    """`status` (= decision) and the item's span, as the report's other items have them:
    from the question to the answer (or to the end of the answer window)."""
    item["status"] = item["decision"]
    start = item["question_start_s"]
    if item["answer_end_s"] is not None:
        end = item["answer_end_s"]
    elif start is not None:
        end = item["question_end_s"] + (window_s if item["decision"] != "pass" else 0.0)
    else:
        end = None
    item["start_s"], item["end_s"] = start, end
    return item


def evidence_of(items: list[dict]) -> list[dict]:
    out = []
    for i in items:
        if i["question_start_s"] is None:
            continue
        end = i["answer_end_s"] if i["answer_end_s"] is not None else i["question_end_s"]
        answer = (f"{i['speaker']} ({i['attribution']}) answered {i['answer_heard']!r}"
                  if i["answer_heard"] is not None else "no answer")
        out.append({"start_s": i["question_start_s"], "end_s": end,
                    "detail": f"{i['id']}: asked {i['question_heard']!r} at "
                              f"{fmt_time(i['question_start_s'])}; {answer}: "
                              f"{i['decision']} ({i['why']})"})
    return out


def run(ctx) -> CheckResult:
    pairs = [(stage.id, conf, m) for stage, conf, m in ctx.question_matches()]
    if not pairs:
        return CheckResult(ID, "pass", SEVERITY, "the ruleset has no confirmation questions",
                           [], [])
    items = evaluate_all(ctx, pairs)
    evidence = evidence_of(items)
    failed = [i for i in items if i["decision"] == "fail"]
    review = [i for i in items if i["decision"] == "review"]
    mono = not has_channels(ctx.transcript)
    note = " (one microphone: who answered is inferred from the turns)" if mono else ""
    if failed:
        msg = "; ".join(f"{i['id']}: {i['why']}" for i in failed)
        if review:
            msg += "; uncertain: " + ", ".join(i["id"] for i in review)
        return CheckResult(ID, "fail", SEVERITY, msg + note, evidence, items)
    if review:
        return CheckResult(ID, "review", SEVERITY,
                           "; ".join(f"{i['id']}: {i['why']}" for i in review) + note,
                           evidence, items)
    return CheckResult(ID, "pass", SEVERITY,
                       f"all {len(items)} confirmations answered by the customer as "
                       f"required{note}", evidence, items)

