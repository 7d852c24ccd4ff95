"""Finding script phrases (话术) and forbidden promises in a timed transcript.

Required phrases are matched fuzzily on toneless pinyin and on characters, because
exact matching found 0/74 phrases on ASR output while pinyin partial_ratio >= 75 found
80% with no false finds (FINDINGS.md "Matching"); windows of up to three segments
because a phrase is often cut between two. Pinyin is compared as initial+final codes
(see _sound): against letters it cut near misses of absent phrases in unrelated bank
chatter from 26 to 2 in 160 while real whisper output still matched. Forbidden terms are short, and short
words fuzzy-match everything, so they are matched exactly (on characters, or on the
pinyin syllable sequence to catch homophones) and negation decides whether the
sentence is a promise or a disclosure (DOMAIN.md "Forbidden promises").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from .textnorm import normalize, number_values, pinyin_tokens
from .transcript import Segment

MAX_WINDOW = 3
# FINDINGS "Matching": a transcript shorter than 0.8 x the phrase must not score 100
# just because it is a substring of the phrase.
MIN_LENGTH_RATIO = 0.8
FRAGMENT_CEILING = 0.9
NUMBER_MISMATCH_MARGIN = 0.01


@dataclass
class PhraseMatch:
    phrase_id: str | None
    found: bool
    near_miss: bool
    score: float
    start_s: float | None
    end_s: float | None
    heard: str
    matched: str


@dataclass
class ForbiddenHit:
    term: str
    start_s: float
    end_s: float
    heard: str
    negated: bool
    # Found only by sound (e.g. 零封险 for 零风险): worth a human look at the audio.
    homophone: bool = False


@dataclass(frozen=True)
class _Text:
    chars: str
    sound: str  # _sound() codes of its pinyin
    numbers: frozenset[str]  # Arabic and Chinese: what a window may offer
    digits: frozenset[str]  # Arabic only: what a phrase insists on (R3, 3.8%)


_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h",
             "j", "q", "x", "r", "z", "c", "s", "y", "w")
_FINALS = ("a", "ai", "an", "ang", "ao", "e", "ei", "en", "eng", "er", "i", "ia", "ian",
           "iang", "iao", "ie", "in", "ing", "iong", "iu", "o", "ong", "ou", "u", "ua",
           "uai", "uan", "uang", "ue", "ui", "un", "uo", "v", "ve", "van", "vn")
# A fixed table (not assigned on first sight) so codes never depend on call order.
_CODES = {p: chr(0xF0000 + k) for k, p in enumerate(("",) + _INITIALS + _FINALS)}


@lru_cache(maxsize=4096)
def _sound(syllable: str) -> str:
    """Two characters per syllable: its initial and its final. Comparing letters gave
    unrelated sentences chance credit (en/eng/in...); comparing whole syllables gave
    none to near-homophones (佛 fo for 房 fang): this halfway scores a syllable with
    the same initial or the same final as half right."""
    if not (syllable.isascii() and syllable.isalpha()):
        return syllable  # numbers and other tokens compare as written
    ini = next((i for i in _INITIALS if syllable.startswith(i)), "")
    final = syllable[len(ini):]
    if final not in _CODES:  # interjections such as hm, ng: compare as written
        return syllable
    return _CODES[ini] + _CODES[final]


@lru_cache(maxsize=8192)
def _prepare(text: str) -> _Text:
    norm = normalize(text)
    sound = "".join(_sound(t[0]) for t in pinyin_tokens(norm))
    return _Text(norm, sound, number_values(norm), number_values(norm, chinese=False))


def _similarity(phrase: str, window: str) -> float:
    if len(window) < len(phrase):
        # A shorter window has to cover the phrase: compare whole strings so that
        # missing syllables cost.
        score, covered = fuzz.ratio(phrase, window) / 100.0, len(window) / len(phrase)
    else:
        # Look for the phrase inside the window. partial_ratio also aligns the phrase
        # hanging off either end of the window, so a window ending with the phrase's
        # first half would score 80: measure how much of the phrase it really covers.
        al = fuzz.partial_ratio_alignment(phrase, window)
        score, covered = al.score / 100.0, (al.dest_end - al.dest_start) / len(phrase)
    return _guard(score, covered)


def _guard(score: float, covered: float) -> float:
    # FINDINGS guard: a window covering under 0.8 of the phrase scores at most
    # 0.9 x coverage (< 0.72, below the default found band), so a fragment of a long
    # phrase is never found, while two thirds of it still reach review.
    if covered < MIN_LENGTH_RATIO:
        return min(score, FRAGMENT_CEILING * covered)
    return score


def _score(phrase: _Text, window: _Text, found_score: float) -> float:
    score = max(_similarity(phrase.sound, window.sound), _similarity(phrase.chars, window.chars))
    # Sound strings count two per syllable and a number as written; the FINDINGS
    # guard is stated in characters, so apply it in characters too.
    score = _guard(score, len(window.chars) / len(phrase.chars))
    # One wrong digit barely moves a fuzzy score, but "风险等级为R4" is not the
    # required "风险等级为R3": without the phrase's digits a window is at best a near
    # miss. Only digits: 一 in 一下 / 统一 is a word, and whisper may write it 衣.
    if not phrase.digits <= window.numbers:
        score = min(score, found_score - NUMBER_MISMATCH_MARGIN)
    return score


def _eligible(seg: Segment, speaker: str | None) -> bool:
    if speaker not in ("staff", "customer"):
        return True
    return seg.speaker in (speaker, "unknown")


def find_phrase(
    segments: Sequence[Segment],
    texts: Sequence[str],
    *,
    found_score: float = 0.75,
    review_score: float = 0.6,
    speaker: str | None = None,
    phrase_id: str | None = None,
) -> PhraseMatch:
    """Best window of 1..MAX_WINDOW consecutive segments for a phrase or any of its
    alternatives; on equal scores the narrowest, then earliest, window wins."""
    segs = [s for s in segments if _eligible(s, speaker)]
    prepared = [_prepare(s.text) for s in segs]
    alts = [(t, _prepare(t)) for t in texts]
    alts = [(t, p) for t, p in alts if p.chars]

    best_score, best_span, best_text, best_alt = 0.0, None, "", ""
    for size in range(1, MAX_WINDOW + 1):
        for i in range(len(segs) - size + 1):
            parts = prepared[i : i + size]
            window = _Text(
                "".join(p.chars for p in parts),
                "".join(p.sound for p in parts),
                frozenset().union(*(p.numbers for p in parts)),
                frozenset(),
            )
            if not window.chars:
                continue
            for text, phrase in alts:
                score = round(_score(phrase, window, found_score), 4)
                if score > best_score:
                    best_score, best_span = score, (i, i + size)
                    best_text, best_alt = window.chars, text

    if best_span is None:
        return PhraseMatch(phrase_id, False, False, 0.0, None, None, "", "")
    first, last = segs[best_span[0]], segs[best_span[1] - 1]
    return PhraseMatch(
        phrase_id=phrase_id,
        found=best_score >= found_score,
        near_miss=review_score <= best_score < found_score,
        score=best_score,
        start_s=first.start_s,
        end_s=last.end_s,
        heard=best_text,
        matched=best_alt,
    )


# Two-syllable homophones are everyday words (收支 sounds like 首只, 作为一个 contains
# the sound of 唯一), so only longer terms are matched by sound.
MIN_HOMOPHONE_SYLLABLES = 3
NEGATION_GAP = 2
_NEGATIONS = (
    "不可能", "不是", "不能", "不会", "不得", "不一定", "并不", "并非", "绝不", "绝非",
    "决不", "从不", "从未", "没有", "没", "无法", "未", "非", "不",
)
# What may stand between a negation and the term: 不承诺保本, 不能够保证收益,
# 并不是零风险. Anything else (不仅保本, 不怕保本) means the negation is not about the term.
_GAP_WORDS = re.compile(r"(?:一定|承诺|保证|代表|等于|意味着|属于|能够|可以|能|会|是|可|为|敢)+")


def _negated(norm: str, start: int) -> bool:
    for gap in range(NEGATION_GAP + 1):
        end = start - gap
        if end <= 0:
            break
        if gap and not _GAP_WORDS.fullmatch(norm[end:start]):
            continue
        if norm[:end].endswith(_NEGATIONS):
            return True
    return False


def _occurrences(norm: str, term: str):
    i = norm.find(term)
    while i >= 0:
        yield i, i + len(term)
        i = norm.find(term, i + 1)


def _sound_occurrences(tokens, syllables: tuple[str, ...]):
    n = len(syllables)
    sounds = [t[0] for t in tokens]
    for i in range(len(sounds) - n + 1):
        if tuple(sounds[i : i + n]) == syllables:
            yield tokens[i][1], tokens[i + n - 1][2]


def find_forbidden(segments: Sequence[Segment], terms: Sequence[str]) -> list[ForbiddenHit]:
    """Every forbidden term said, per segment, sorted by time; where terms overlap
    (保本保息 and 保本) only the longest is reported."""
    prepared: list[tuple[str, str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for term in terms:
        norm = normalize(term)
        if norm and norm not in seen:
            seen.add(norm)
            prepared.append((term, norm, tuple(t[0] for t in pinyin_tokens(norm))))

    hits: list[ForbiddenHit] = []
    for seg in segments:
        norm = normalize(seg.text)
        if not norm:
            continue
        tokens = pinyin_tokens(norm)
        found: dict[tuple[int, int], tuple[str, bool]] = {}
        for term, tnorm, syllables in prepared:
            for span in _occurrences(norm, tnorm):
                found.setdefault(span, (term, False))
            if len(syllables) >= MIN_HOMOPHONE_SYLLABLES:
                for span in _sound_occurrences(tokens, syllables):
                    found.setdefault(span, (term, norm[span[0] : span[1]] != tnorm))
        # Longest first, exact spelling before homophone, then position.
        order = sorted(found.items(), key=lambda kv: (kv[0][0] - kv[0][1], kv[1][1], kv[0][0]))
        taken: list[tuple[int, int, str, bool]] = []
        for (a, b), (term, homophone) in order:
            if not any(a < y and x < b for x, y, _, _ in taken):
                taken.append((a, b, term, homophone))
        for a, _, term, homophone in sorted(taken):
            negated = _negated(norm, a)
            hits.append(ForbiddenHit(term, seg.start_s, seg.end_s, norm, negated, homophone))
    hits.sort(key=lambda h: (h.start_s, h.end_s))
    return hits
