"""Who answered, and what the answer means (DOMAIN.md: "Silence is not consent. A leading
question answered only by the seller is not a customer confirmation").

With two microphones (sidecar `audio_channels`) every segment carries its speaker and
nothing here guesses. With one microphone every segment is "unknown", and
`infer_answer_speaker` attributes a turn from what and how it was said:

- a turn that continues the script (a ruleset phrase or question), that addresses the
  customer (请您, 您是否, 您的…; 签字, 本产品 unless said in the first person), that
  answers for the customer (是的，您已经了解了), or that is long without being a
  first-person answer, is the seller's;
- a short, answer-like turn (是的, 清楚, 我已阅读…) that starts a new recognised
  segment after the question, without those cues, is taken as the customer's;
- anything else is uncertain and goes to a person: an answer recognised in one
  segment with the question, the next script line or the seller's words (是的我已阅读。
  请您签字: no turn boundary heard), a long first-person statement, an answer that
  addresses someone as 您, a turn that is no answer.

Limits: the voice itself is not compared (no speaker model), so a seller who answers
their own question with a bare "是的" in a new segment is taken for the customer; and
whisper's segment boundaries, not measured pauses, mark the turns (its segments are
usually contiguous, so a pause is recorded as evidence but never required).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from verifier.textnorm import normalize, to_pinyin

# Defaults; configs/thresholds/speech.yaml overrides them (confirmation_*).
AFFIRMATIVE = (
    "是的", "是", "对", "对的", "清楚", "明白", "了解", "知道", "知晓", "知悉", "理解",
    "同意", "确认", "愿意", "接受", "可以", "好的", "好", "行", "嗯好", "没错",
    "已阅读", "已经阅读", "我已阅读", "本人已经阅读", "承担",
)
NEGATIVE = (
    "不是", "不对", "不清楚", "不明白", "不了解", "不知道", "不理解", "不懂", "不同意",
    "不愿意", "不确认", "不确定", "不接受", "不太", "不想", "不要", "不买", "不行",
    "不可以", "不用", "不需要", "不承担", "没有", "没看", "没听", "没懂", "没明白",
    "没搞懂", "还没", "再考虑", "考虑一下", "考虑考虑", "想一想", "想想", "算了",
)
# Sound negative, mean yes: masked before negatives are looked for.
NOT_NEGATIVE = ("没问题", "没有问题", "没有疑问", "没有异议", "没意见", "没有意见", "不错", "没错")
# Not a clear yes: 嗯 and 哦 acknowledge hearing, not understanding.
WEAK = ("嗯", "哦", "噢", "喔", "啊", "呃")
# Cues that a turn is the seller's: addressing the customer, moving the script on.
STAFF_CUES = ("请您", "您是否", "您已经", "您已", "您的", "您看", "您这边", "下面", "接下来")
# Script words a customer may repeat in the first person (本人已知晓本产品不保本).
SOFT_STAFF_CUES = ("签字", "签名", "本产品", "我们行", "本行")
# After 是的: the seller answering for the customer (是的，您已经了解了).
LEADING_CUES = ("您已经", "您已", "您也", "您都", "您是")
# The seller's acknowledgement before moving on (好的，请您签字确认).
ACKNOWLEDGEMENTS = ("好的", "好", "行", "那好", "好嘞", "ok", "嗯好")
_FIRST_PERSON = re.compile(r"我(?!们)|本人")

_CLAUSE_SPLIT = re.compile(r"[，。？！、；：,.?!;:\s]+")
_QUESTION_END = ("吗", "呢", "么")
_QUESTION_WORDS = ("什么", "怎么", "为什么", "多少", "哪", "是否", "是不是", "能不能",
                   "会不会", "要不要", "对不对", "好不好", "可不可以", "有没有", "行不行")


@dataclass(frozen=True)
class AnswerVocab:
    affirmative: tuple[str, ...] = AFFIRMATIVE
    negative: tuple[str, ...] = NEGATIVE
    not_negative: tuple[str, ...] = NOT_NEGATIVE
    weak: tuple[str, ...] = WEAK

    @classmethod
    def from_lists(cls, affirmative: Iterable[str] | None = None,
                   negative: Iterable[str] | None = None,
                   not_negative: Iterable[str] | None = None,
                   weak: Iterable[str] | None = None) -> "AnswerVocab":
        def norm(words, default):
            words = words or default   # empty or absent: the built-in list
            out = tuple(dict.fromkeys(w for w in (normalize(str(x)) for x in words) if w))
            # Longest first: 不清楚 is looked for before 清楚.
            return tuple(sorted(out, key=len, reverse=True))
        return cls(norm(affirmative, AFFIRMATIVE), norm(negative, NEGATIVE),
                   norm(not_negative, NOT_NEGATIVE), norm(weak, WEAK))


DEFAULT_VOCAB = AnswerVocab.from_lists()


@dataclass
class Answer:
    kind: str               # affirmative | negative | unclear | none
    cue: str = ""           # the word that decided
    asked_back: bool = False  # the turn asks a question instead of answering
    cues: list[str] = field(default_factory=list)  # every answer word heard


_PARTICLES = ("", "的", "啊", "呀", "吧", "嘛", "哈", "了", "呢")


def _has(clause: str, word: str, vocab: AnswerVocab | None = None) -> bool:
    if len(word) == 1:
        # One character (是, 对, 好, 行) is an answer only as the clause or its start
        # before a particle, 我, or another answer word: not 对于, 好像, 我是说.
        if not clause.startswith(word):
            return False
        rest = clause[1:]
        return (rest in _PARTICLES or rest.startswith(("我", "本人"))
                or any(len(w) > 1 and rest.startswith(w) for w in (vocab.affirmative if vocab else ())))
    if word in clause:
        return True
    # Whisper writes homophones (清除 for 清楚): words of two or more syllables also
    # match on toneless pinyin, except those whose sound is an everyday word
    # (是的 / 时的, 没有 / 每有).
    if not clause or word.endswith("的") or word == "没有":
        return False
    syl, words = to_pinyin(clause), to_pinyin(word)
    n = len(words)
    return any(syl[i : i + n] == words for i in range(len(syl) - n + 1))


def _is_question(raw: str, clause: str) -> bool:
    return (raw.rstrip().endswith(("?", "？")) or clause.endswith(_QUESTION_END)
            or any(w in clause for w in _QUESTION_WORDS))


def classify_answer(text: str, vocab: AnswerVocab = DEFAULT_VOCAB) -> Answer:
    """What a turn answers: negation wins over affirmation (不清楚 is negative, and
    "是的，不过我再考虑一下" is negative); a question asked back, or only 嗯, is unclear;
    no words at all is none."""
    kinds, cues, asked = [], [], False
    for raw in _CLAUSE_SPLIT.split(text):
        clause = normalize(raw)
        if not clause:
            continue
        if _is_question(raw, clause):
            asked = True
            continue
        masked, kind, cue = clause, "", ""
        for word in vocab.not_negative:
            if word in masked:
                masked = masked.replace(word, "")
                kind, cue = "affirmative", word
        if clause.strip("不没否") == "":   # a bare 不 / 没 / 否
            kinds.append("negative")
            cues.append(clause)
            continue
        neg = next((w for w in vocab.negative if _has(masked, w, vocab)), "")
        aff = next((w for w in vocab.affirmative if _has(masked, w, vocab)), "")
        weak = next((w for w in vocab.weak if w in masked), "")
        if neg:
            kind, cue = "negative", neg
        elif aff and not kind:
            kind, cue = "affirmative", aff
        elif weak and not kind:
            kind, cue = "weak", weak
        if kind:
            kinds.append(kind)
            cues.append(cue)
    if "negative" in kinds:
        return Answer("negative", cues[kinds.index("negative")], asked, cues)
    if "affirmative" in kinds:
        return Answer("affirmative", cues[kinds.index("affirmative")], asked, cues)
    if "weak" in kinds:
        return Answer("unclear", cues[kinds.index("weak")], asked, cues)
    if asked or normalize(text):
        return Answer("unclear", "", asked, cues)
    return Answer("none")


@dataclass
class Attribution:
    speaker: str            # staff | customer | unknown
    attribution: str        # "channel": its own microphone; "inferred": one microphone
    certain: bool
    reason: str


def channel_attribution(speaker: str) -> Attribution:
    return Attribution(speaker, "channel", speaker in ("staff", "customer"),
                       f"recorded on the {speaker} microphone")


def has_channels(segments: Sequence) -> bool:
    """True when the transcript comes from separate staff/customer channels."""
    return any(getattr(s, "speaker", "unknown") in ("staff", "customer") for s in segments)


def _staff_cue(norm: str, first_person: bool) -> str:
    return next((c for c in STAFF_CUES if c in norm), "") or (
        "" if first_person else next((c for c in SOFT_STAFF_CUES if c in norm), ""))


def infer_answer_speaker(text: str, *, answer: Answer | None = None,
                         shares_segment: str = "", script_like: bool = False,
                         gap_s: float | None = None, max_answer_chars: int = 20,
                         vocab: AnswerVocab = DEFAULT_VOCAB) -> Attribution:
    """Who said a turn heard after a confirmation question on one microphone.

    `shares_segment`: what it was recognised together with ("the question", "the next
    script line"): no turn boundary was heard, so it is uncertain. `script_like`: the
    turn holds a ruleset phrase or question. `gap_s`: silence before it, if any."""
    norm = normalize(text)
    answer = answer or classify_answer(text, vocab)
    pause = f", after {gap_s:.1f} s of silence" if gap_s and gap_s >= 0.3 else ""
    if shares_segment:
        return Attribution("unknown", "inferred", False,
                           f"recognised in one segment with {shares_segment}: no change of "
                           "speaker heard")
    if script_like:
        return Attribution("staff", "inferred", True, "continues the sales script")
    first_person = bool(_FIRST_PERSON.search(norm))
    answer_like = answer.kind in ("affirmative", "negative") or (
        answer.kind == "unclear" and bool(answer.cue))
    clauses = [c for c in (normalize(x) for x in _CLAUSE_SPLIT.split(text)) if c]
    opening = clauses[0] if clauses else ""
    # 好的 before 请您签字 is the seller's acknowledgement moving on, not an answer.
    opens_with_answer = (bool(opening) and opening not in ACKNOWLEDGEMENTS
                         and classify_answer(opening, vocab).kind in ("affirmative", "negative"))
    staff_cue = _staff_cue(opening if opens_with_answer else norm, first_person)
    if staff_cue:
        return Attribution("staff", "inferred", True,
                           f"addresses the customer or continues the script ({staff_cue})")
    later = "".join(clauses[1:]) if opens_with_answer else ""
    leading = next((c for c in LEADING_CUES if c in later), "")
    if leading:
        return Attribution("staff", "inferred", True,
                           f"answers for the customer ({leading}…): the seller")
    later_cue = _staff_cue(later, first_person)
    if later_cue:
        return Attribution("unknown", "inferred", False,
                           f"an answer and the seller's words ({later_cue}) in one segment: "
                           "no change of speaker heard")
    if len(norm) > max_answer_chars:
        if answer_like and first_person:
            return Attribution("unknown", "inferred", False,
                               f"a long turn ({len(norm)} characters) in the first person: "
                               "the customer reading a statement, or the seller")
        return Attribution("staff", "inferred", not answer_like,
                           f"a long turn ({len(norm)} characters)")
    if answer_like:
        if "您" in norm:
            return Attribution("unknown", "inferred", False,
                               "answer-like, but addresses someone as 您")
        return Attribution("customer", "inferred", True,
                           f"a short answer in its own segment after the question{pause}")
    return Attribution("unknown", "inferred", False, "not an answer; speaker unknown")
