"""Finding script phrases (话术) and forbidden promises in a timed transcript.

Required phrases are matched fuzzily on toneless pinyin and on characters, because
exact matching found 0/74 phrases on ASR output while pinyin partial_ratio >= 75 found
80% with no false finds (FINDINGS.md "Matching"); windows of up to three segments
because a phrase is often cut between two. Pinyin is compared as initial+final codes
(see _sound): against letters it cut near misses of absent phrases in unrelated bank
chatter from 26 to 2 in 160 while real whisper output still matched. A phrase may hold
slots (`我是理财经理{name}`: 1-4 arbitrary characters, `{x:2-6}` for other lengths), and a
window that reverses the phrase's meaning (理财是存款 for 理财非存款, 没风险 for 有风险) is at
most a near miss however close it sounds. Forbidden terms are short, and short
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
from rapidfuzz.distance import Levenshtein

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
    start_s: float | None   # the best window's segments (evidence)
    end_s: float | None
    heard: str
    matched: str
    # Where inside those segments the phrase itself was said, estimated from the
    # aligned characters (whisper often puts several sentences in one segment).
    spoken_start_s: float | None = None
    spoken_end_s: float | None = None
    # Estimated start of the earliest window that scored "found" (a phrase said twice:
    # the recap at the end may score best, the first saying is what ordering needs).
    first_start_s: float | None = None
    note: str = ""          # why the score was capped (a meaning reversal, a missing slot)
    slots: dict[str, str] | None = None  # what filled each {slot} of the phrase


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


# --- slots ---------------------------------------------------------------------------

# `{name}` in a phrase stands for 1-4 characters said there (a name, a product name);
# `{name:2-6}` gives other bounds.
SLOT_DEFAULT = (1, 4)
SLOT_MAX = 20
_SLOT = re.compile(r"\{\s*([A-Za-z_]\w*)\s*(?::\s*(\d+)\s*-\s*(\d+)\s*)?\}")
# Fills a slot nothing was heard for: survives normalize() and matches nothing.
_PLACEHOLDER = "ㄨ"


def split_slots(text: str) -> tuple[list[str], list[tuple[str, int, int]]]:
    """The literal parts of a phrase (one more than its slots) and its slots as
    (name, min, max) characters. Raises ValueError for a malformed slot."""
    literals, slots, pos = [], [], 0
    for m in _SLOT.finditer(text):
        literals.append(text[pos : m.start()])
        lo, hi = (int(m.group(2)), int(m.group(3))) if m.group(2) else SLOT_DEFAULT
        if not 1 <= lo <= hi <= SLOT_MAX:
            raise ValueError(f"slot {m.group()!r}: bounds must be 1 <= min <= max <= {SLOT_MAX}")
        slots.append((m.group(1), lo, hi))
        pos = m.end()
    literals.append(text[pos:])
    stray = [c for c in "{}" if any(c in lit for lit in literals)]
    if stray:
        raise ValueError(f"{text!r}: unmatched or malformed slot braces "
                         "(write a slot as {name} or {name:1-4})")
    return literals, slots


@dataclass(frozen=True)
class _Pattern:
    text: str                               # as written in the ruleset
    literals: tuple[str, ...]               # normalised literal parts
    slots: tuple[tuple[str, int, int], ...]
    plain: _Text                            # the text without its slots
    literal_len: int


@lru_cache(maxsize=2048)
def _pattern(text: str) -> _Pattern | None:
    try:
        literals, slots = split_slots(text)
    except ValueError:
        literals, slots = [text], []
    norm = tuple(normalize(x) for x in literals)
    plain = _prepare("".join(literals)) if not slots else _prepare("".join(norm))
    if not plain.chars:
        return None
    return _Pattern(text, norm, tuple(slots), plain, len(plain.chars))


def _align(needle: str, hay: str) -> tuple[int, int, float]:
    """Where `needle` best fits in `hay`: (start, end, score 0-1)."""
    if not needle or not hay:
        return 0, 0, 0.0
    if len(hay) <= len(needle):
        return 0, len(hay), fuzz.ratio(needle, hay) / 100.0
    al = fuzz.partial_ratio_alignment(needle, hay)
    return al.dest_start, al.dest_end, al.score / 100.0


def _errors(candidate: str, hay: str) -> float:
    _, _, score = _align(candidate, hay)
    return (1.0 - score) * len(candidate)


def _sound_offsets(norm: str) -> list[tuple[int, int]]:
    """Per pinyin token of `norm`: (end in the sound string, end in the characters)."""
    out, pos = [], 0
    for syl, _, end in pinyin_tokens(norm):
        pos += len(_sound(syl))
        out.append((pos, end))
    return out


def _sound_anchor(text: str, window: str, edge: str) -> int | None:
    """Where `text` best fits in `window` compared by sound, as a character offset of
    the window (its end for edge="end", its start for "start"); None if nothing fits."""
    ws, ts = _prepare(window).sound, _prepare(text).sound
    if not ws or not ts:
        return None
    a, b, _ = _align(ts, ws)
    offsets = _sound_offsets(window)
    if edge == "end":
        return max((c for s, c in offsets if s <= b), default=0)
    starts = [0] + [c for s, c in offsets if s <= a]
    return max(starts)


def _fill(pattern: _Pattern, window: str) -> tuple[str, dict[str, str], list[str]]:
    """The phrase with each slot filled from the window: after the text before it
    (or, for a leading slot, just before the text after it), the length that fits the
    rest best. The text around a slot is placed by characters and by sound (whisper's
    homophones: 李裁金李 for 理财经理 shares no character with it), and the fill with
    the fewest errors either way is kept. Returns (filled text, slot values, slots
    nothing was heard for)."""
    built, fills, empty = pattern.literals[0], {}, []
    for k, (name, lo, hi) in enumerate(pattern.slots):
        after = pattern.literals[k + 1]
        options = []
        if built:
            _, anchor, _ = _align(built, window)
            for a in {anchor, _sound_anchor(built, window, "end")} - {None}:
                options += [window[a : a + n] for n in range(lo, hi + 1) if a + n <= len(window)]
        else:
            anchor, _, _ = _align(after, window)
            for a in {anchor, _sound_anchor(after, window, "start")} - {None}:
                options += [window[a - n : a] for n in range(lo, hi + 1) if a - n >= 0]
        if not options:
            fills[name] = ""
            empty.append(name)
            built += _PLACEHOLDER * lo + after
            continue
        # Fewest errors against the window; on a tie the longest (a slot at the end
        # of a phrase fits any length).
        best = min(dict.fromkeys(options),
                   key=lambda o: (_fill_errors(built + o + after, window), -len(o)))
        fills[name] = best
        built += best + after
    return built, fills, empty


def _fill_errors(candidate: str, window: str) -> float:
    """Errors of a filled phrase against the window, in characters: the fewer of
    those counted on characters and on sound (two codes a syllable)."""
    sound = _errors(_prepare(candidate).sound, _prepare(window).sound) / 2
    return min(_errors(candidate, window), sound)


# --- meaning reversals ---------------------------------------------------------------

# A window that sounds like the phrase but drops or adds a negation says the opposite:
# 理财是存款 for 理财非存款, 没风险 for 有风险, 可以提前赎回 for 不可提前赎回.
_NEGATION_CHARS = frozenset("非不无未没勿")
# Words where those characters do not negate: 非常 (very), 未来 (future), 无论, 不断...
_NOT_NEGATIONS = ("非常", "未来", "无论", "不断", "不仅", "不但", "不久", "不过", "不错")


def _negation_marks(norm: str) -> list[bool]:
    marks = [c in _NEGATION_CHARS for c in norm]
    for word in _NOT_NEGATIONS:
        i = norm.find(word)
        while i >= 0:
            for k in range(i, i + len(word)):
                marks[k] = False
            i = norm.find(word, i + 1)
    return marks


def _token_codes(tokens, codes: dict[str, str]) -> str:
    # One character per syllable (whole syllables: 非 and 飞 are both "fei"), so that
    # rapidfuzz aligns syllables.
    return "".join(codes.setdefault(t[0], chr(0xE000 + len(codes))) for t in tokens)


def reversal(phrase: str, heard: str) -> str:
    """Why `heard` (normalised) says the opposite of `phrase` (normalised), or "".
    Compares the negations of the two where their syllables align."""
    pt, wt = pinyin_tokens(phrase), pinyin_tokens(heard)
    if not pt or not wt:
        return ""
    codes: dict[str, str] = {}
    pc, wc = _token_codes(pt, codes), _token_codes(wt, codes)
    lo, hi = 0, len(wc)
    if len(wc) > len(pc):
        al = fuzz.partial_ratio_alignment(pc, wc)
        pad = max(3, len(pc) // 3)
        lo, hi = max(0, al.dest_start - pad), min(len(wc), al.dest_end + pad)
    pmarks, wmarks = _negation_marks(phrase), _negation_marks(heard)

    def negs(tokens, marks, a, b):
        return sum(1 for i in range(a, b)
                   if tokens[i][2] - tokens[i][1] == 1 and marks[tokens[i][1]])

    def text(norm, tokens, a, b):
        return norm[tokens[a][1] : tokens[b - 1][2]] if b > a else ""

    # Runs of edits between matching syllables, each compared as a whole: 非 -> 不是
    # comes out as an insert and a replace, and is no reversal.
    blocks: list[list[int]] = []
    for op in Levenshtein.opcodes(pc, wc[lo:hi]):
        if op.tag == "equal":
            blocks.append([])
        elif blocks and blocks[-1]:
            blocks[-1][1], blocks[-1][3] = op.src_end, lo + op.dest_end
        else:
            blocks.append([op.src_start, op.src_end, lo + op.dest_start, lo + op.dest_end])
    for block in blocks:
        if not block:
            continue
        ps, pe, ws, we = block
        lost, added = negs(pt, pmarks, ps, pe), negs(wt, wmarks, ws, we)
        # At the phrase's ends the window holds other speech too: there only a lost
        # negation counts, not an extra one.
        edge = ps == 0 or pe == len(pt)
        if lost > added or (added > lost and not edge):
            said, got = text(phrase, pt, ps, pe), text(heard, wt, ws, we)
            return (f"meaning reversed: the phrase's {said or '(nothing)'!r} "
                    f"heard as {got or '(nothing)'!r}")
    return ""


# --- where in a window the phrase was said ---------------------------------------------


@dataclass
class Located:
    start_s: float
    end_s: float
    first_segment: int   # index into the segments given
    start_char: int      # into normalize(that segment's text)
    last_segment: int
    end_char: int


def _char_time(seg: Segment, chars: str, k: int) -> float:
    if not chars:
        return seg.start_s
    return round(seg.start_s + (seg.end_s - seg.start_s) * min(k, len(chars)) / len(chars), 3)


def _aligned_range(pc: str, wc: str) -> tuple[int, int]:
    """Syllables of the window from the first to the last one that matches the phrase.
    partial_ratio finds the neighbourhood (it may clip an end when the window has an
    extra syllable inside the phrase); an edit alignment there finds the ends."""
    lo, hi, _ = _align(pc, wc)
    pad = max(3, len(pc) // 3)
    lo, hi = max(0, lo - pad), min(len(wc), hi + pad)
    equal = [op for op in Levenshtein.opcodes(pc, wc[lo:hi]) if op.tag == "equal"]
    if not equal:
        return _align(pc, wc)[:2]
    # An edge run of matches cut off from the rest by at least as many extra syllables
    # is a chance match (给您|您的风险…: the first 您 is not the phrase's).
    while len(equal) > 1 and equal[1].dest_start - equal[0].dest_end >= (
            equal[0].dest_end - equal[0].dest_start):
        equal.pop(0)
    while len(equal) > 1 and equal[-1].dest_start - equal[-2].dest_end >= (
            equal[-1].dest_end - equal[-1].dest_start):
        equal.pop()
    return lo + equal[0].dest_start, lo + equal[-1].dest_end


def _locate(segs: Sequence[Segment], norms: Sequence[str], phrase: str) -> Located | None:
    tokens, where = [], []
    for k, norm in enumerate(norms):
        for t in pinyin_tokens(norm):
            tokens.append(t)
            where.append(k)
    pt = pinyin_tokens(phrase)
    if not tokens or not pt:
        return None
    codes: dict[str, str] = {}
    pc, wc = _token_codes(pt, codes), _token_codes(tokens, codes)
    a, b = _aligned_range(pc, wc)
    if b <= a:
        return None
    fs, ls = where[a], where[b - 1]
    sc, ec = tokens[a][1], tokens[b - 1][2]
    return Located(_char_time(segs[fs], norms[fs], sc), _char_time(segs[ls], norms[ls], ec),
                   fs, sc, ls, ec)


def locate(segments: Sequence[Segment], text: str) -> Located | None:
    """Estimated times of `text` inside consecutive `segments`, by aligning syllables
    and spreading each segment's time evenly over its characters."""
    pattern = _pattern(text)
    norms = [normalize(s.text) for s in segments]
    if pattern is None:
        return None
    phrase = pattern.plain.chars
    if pattern.slots:
        phrase, _, _ = _fill(pattern, "".join(norms))
    return _locate(segments, norms, phrase)


# --- finding a phrase -----------------------------------------------------------------


def _window(parts: Sequence[_Text]) -> _Text:
    return _Text("".join(p.chars for p in parts), "".join(p.sound for p in parts),
                 frozenset().union(*(p.numbers for p in parts)), frozenset())


def _score_pattern(pattern: _Pattern, window: _Text, found_score: float
                   ) -> tuple[float, str, dict[str, str] | None, str]:
    """(score, note, slot values, the phrase as compared) of one window."""
    if not pattern.slots:
        phrase, fills, empty = pattern.plain, None, []
        score = _score(phrase, window, found_score)
    else:
        filled, fills, empty = _fill(pattern, window.chars)
        phrase = _prepare(filled)
        raw = _score(phrase, window, found_score)
        # The slot's characters come from the window and always match: count the
        # errors against the literal text alone, or any sentence would gain from them.
        score = max(0.0, 1.0 - (1.0 - raw) * len(phrase.chars) / pattern.literal_len)
    note = ""
    cap = found_score - NUMBER_MISMATCH_MARGIN
    if empty and score >= found_score:
        score, note = cap, f"nothing heard for {', '.join('{' + n + '}' for n in empty)}"
    if score >= found_score:
        why = reversal(phrase.chars, window.chars)
        if why:
            score, note = cap, why
    return round(score, 4), note, fills, phrase.chars


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
    patterns = [p for p in (_pattern(t) for t in texts) if p is not None]

    best_score, best_span, best = 0.0, None, ("", "", "", None, "")
    first: float | None = None
    for size in range(1, MAX_WINDOW + 1):
        for i in range(len(segs) - size + 1):
            parts = prepared[i : i + size]
            window = _window(parts)
            if not window.chars:
                continue
            for pattern in patterns:
                score, note, fills, compared = _score_pattern(pattern, window, found_score)
                if score >= found_score:
                    loc = _locate(segs[i : i + size], [p.chars for p in parts], compared)
                    t = loc.start_s if loc else segs[i].start_s
                    first = t if first is None else min(first, t)
                if score > best_score:
                    best_score, best_span = score, (i, i + size)
                    best = (window.chars, pattern.text, note, fills, compared)

    if best_span is None:
        return PhraseMatch(phrase_id, False, False, 0.0, None, None, "", "")
    heard, matched, note, fills, compared = best
    i, j = best_span
    loc = _locate(segs[i:j], [p.chars for p in prepared[i:j]], compared)
    return PhraseMatch(
        phrase_id=phrase_id,
        found=best_score >= found_score,
        near_miss=review_score <= best_score < found_score,
        score=best_score,
        start_s=segs[i].start_s,
        end_s=segs[j - 1].end_s,
        heard=heard,
        matched=matched,
        spoken_start_s=loc.start_s if loc else segs[i].start_s,
        spoken_end_s=loc.end_s if loc else segs[j - 1].end_s,
        first_start_s=first,
        note=note,
        slots=fills,
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
            for span in _sound_occurrences(tokens, syllables):
                # A shorter one only where negated: 非报本 is the disclosure 非保本
                # (a pass), never a promise read into an everyday word.
                if len(syllables) >= MIN_HOMOPHONE_SYLLABLES or _negated(norm, span[0]):
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
