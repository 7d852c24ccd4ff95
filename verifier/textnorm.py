"""Text normalisation for matching speech-recognition output against script phrases.

Whisper writes Traditional characters, full-width digits, stray U+FFFD and homophones
(DOMAIN.md "Recognition realities"), so both the script and the transcript go through
the same `normalize` and are compared on characters and on toneless pinyin.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

_t2s = None


def _opencc():
    # Building the converter loads its dictionaries (~0.2 s); do it once, on first use.
    global _t2s
    if _t2s is None:
        from opencc import OpenCC

        _t2s = OpenCC("t2s")
    return _t2s


_CN_DIGIT = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "两": 2, "贰": 2, "三": 3, "叁": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7,
    "八": 8, "捌": 8, "九": 9, "玖": 9,
}
_CN_UNIT = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_DIGIT_CHARS = "".join(_CN_DIGIT)
_NUM_CHARS = _DIGIT_CHARS + "".join(_CN_UNIT)

# R3 / C3 written "R三" / "C三": rewritten only next to the letter, because 三 alone
# is too common a character (三级医院, 一二线城市) to rewrite blindly.
_RISK_LETTER = re.compile(r"(?<![a-z])([rc])[\s\-_]*([一二三四五壹贰叁肆伍])")
# Whisper also writes the spoken "R三" (a'er san) as 阿山 or 二三 (FINDINGS "Matching").
# Sound-alike digits are only trusted right after 等级(为|是), where a level must follow.
_R_SOUND = "阿尔|阿|二|儿|尔|耳|r|a"
# Characters whisper writes for a level digit said after R (only read as one there, or
# before 级): R四 as 阿斯 / R丝, R三 as 阿山 / 阿衫.
_LEVEL_SOUNDS = ["", "一衣医依壹", "二儿而贰", "三山散伞叁衫", "四死似寺肆斯思司丝", "五舞午武伍吴"]
_LEVEL_DIGIT = {c: d for d, cs in enumerate(_LEVEL_SOUNDS) for c in cs + (str(d) if d else "")}
_LEVEL_CHARS = "".join(_LEVEL_DIGIT)
_SPOKEN_LEVEL = re.compile(
    rf"(等级(?:为|是)?)(?:(?:{_R_SOUND})([{_LEVEL_CHARS}])|([{_LEVEL_CHARS}])(?=级))"
)
# "R三级" spoken 阿尔三级 anywhere, not only after 等级为: 阿尔 + a digit + 级 is no
# other word.
_ALR_LEVEL = re.compile(r"阿尔([一二三四五12345])(?=级)")
# ... and as R23级 / R二三级: whisper writes 阿 as the letter and 尔 as 二 (2), so the
# digit after it is the level (a level has one digit: R23 is no level of its own).
_R_ER_LEVEL = re.compile(r"(?<![a-z])r[2二儿尔耳]([1-5一二三四五])(?=级)")
_PERCENT_CN = re.compile(rf"百分之([{_NUM_CHARS}\d]+)(?:[点.]([{_DIGIT_CHARS}\d]+))?%?")
_CN_NUMBER = re.compile(rf"[{_NUM_CHARS}]+(?:点[{_DIGIT_CHARS}]+)?")
_NUMBER_TOKEN = re.compile(r"\d+(?:\.\d+)?")


def _cn_int(s: str) -> str:
    """'十二' -> '12', '三' -> '3', '一二' -> '12', '12' -> '12'."""
    if not any(c in _CN_UNIT for c in s):
        return "".join(str(_CN_DIGIT[c]) if c in _CN_DIGIT else c for c in s)
    total, digit = 0, None
    for c in s:
        if c in _CN_UNIT:
            total += (1 if digit is None else digit) * _CN_UNIT[c]
            digit = None
        elif c in _CN_DIGIT:
            digit = _CN_DIGIT[c]
        elif c.isdigit():
            digit = int(c)
    return str(total + (digit or 0))


def _cn_number(whole: str, frac: str | None) -> str:
    out = _cn_int(whole)
    if frac:
        out += "." + "".join(str(_CN_DIGIT.get(c, c)) for c in frac)
    return out


def _percent(m: re.Match) -> str:
    return _cn_number(m.group(1), m.group(2)) + "%"


def _risk_letter(m: re.Match) -> str:
    return m.group(1) + str(_CN_DIGIT[m.group(2)])


def _spoken_level(m: re.Match) -> str:
    return m.group(1) + "r" + str(_LEVEL_DIGIT[m.group(2) or m.group(3)])


def to_simplified(text: str) -> str:
    """For people to read: NFKC, Simplified characters, U+FFFD and controls dropped,
    punctuation kept (unlike `normalize`, which is for matching)."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if c != "\ufffd" and unicodedata.category(c) != "Cc")
    return _opencc().convert(text).strip()


@lru_cache(maxsize=8192)
def number_values(norm: str, chinese: bool = True) -> frozenset[str]:
    """Numbers in a normalised string, without "%": Arabic ones, and with `chinese`
    Chinese ones too ("十五" -> "15", "三点八" -> "3.8"). Lets a matcher insist that
    R3 is not R4."""
    found = {m.group() for m in _NUMBER_TOKEN.finditer(norm)}
    if chinese:
        for m in _CN_NUMBER.finditer(norm):
            whole, _, frac = m.group().partition("点")
            found.add(_cn_number(whole, frac))
    return frozenset(found)


def _keep(text: str, i: int) -> bool:
    c = text[i]
    cat = unicodedata.category(c)
    if cat[0] in "LN":
        return True
    # "3.8%" must not collapse into "38": keep a decimal point and a percent sign
    # that belong to a number.
    prev_digit = i > 0 and text[i - 1].isdigit()
    if c == ".":
        return prev_digit and i + 1 < len(text) and text[i + 1].isdigit()
    if c == "%":
        return prev_digit
    return False


def _strip(t: str) -> str:
    return "".join(c for i, c in enumerate(t) if _keep(t, i))


@lru_cache(maxsize=8192)
def normalize(text: str) -> str:
    """NFKC, no control chars or U+FFFD, Simplified, lower-case, canonical numbers,
    no punctuation or whitespace."""
    t = unicodedata.normalize("NFKC", text)
    t = "".join(c for c in t if c != "\ufffd" and unicodedata.category(c)[0] != "C")
    t = _opencc().convert(t).lower()
    # Number rules run on stripped text and are stripped again after, so that
    # normalize(normalize(x)) == normalize(x); the letter rule also runs first, while
    # "abc r三" still has its space.
    t = _strip(_RISK_LETTER.sub(_risk_letter, t))
    t = _RISK_LETTER.sub(_risk_letter, t)
    t = _ALR_LEVEL.sub(lambda m: "r" + str(_LEVEL_DIGIT[m.group(1)]), t)
    t = _R_ER_LEVEL.sub(lambda m: "r" + str(_LEVEL_DIGIT[m.group(1)]), t)
    t = _PERCENT_CN.sub(_percent, t)
    return _strip(_SPOKEN_LEVEL.sub(_spoken_level, t))


_HAN = "\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff〇"
# Numbers ("3.8%") and other-script runs ("r", "abc", kana) are one token each.
_RUNS = re.compile(f"(?P<han>[{_HAN}]+)|\\d[\\d.%]*|[^{_HAN}\\d]+")


@lru_cache(maxsize=8192)
def pinyin_tokens(norm: str) -> tuple[tuple[str, int, int], ...]:
    """(syllable, start, end) per Han character of an already normalised string;
    a number ("3", "3.8%") or a run of other letters ("r", "abc") is one token."""
    out: list[tuple[str, int, int]] = []
    for m in _RUNS.finditer(norm):
        run, base = m.group(), m.start()
        if m.group("han") is None:
            out.append((run, base, m.end()))
            continue
        # Whole-run conversion lets pypinyin pick the reading from context
        # (银行 hang, 行为 xing); the same word then reads the same on both sides.
        syl = lazy_pinyin(run, style=Style.NORMAL, errors=lambda s: list(s))
        if len(syl) != len(run):  # never seen, but positions must stay aligned
            syl = [lazy_pinyin(c, style=Style.NORMAL, errors=lambda s: list(s))[0] for c in run]
        out.extend((s, base + k, base + k + 1) for k, s in enumerate(syl))
    return tuple(out)


def to_pinyin(text: str) -> list[str]:
    """Toneless pinyin syllables of `text` (normalised first if it is not already)."""
    return [t[0] for t in pinyin_tokens(normalize(text))]


# --- risk levels said aloud ------------------------------------------------------------

# Product risk levels in words (银行理财 R1 低 / R2 中低 / R3 中 / R4 中高 / R5 高).
PRODUCT_LEVEL_WORDS = {"低": 1, "中低": 2, "中": 3, "中等": 3, "中高": 4, "高": 5}
# Customer risk tolerance in words; banks differ, so the check takes its table from
# configs/thresholds/speech.yaml (customer_level_words); this is the default.
CUSTOMER_LEVEL_WORDS = {"保守型": 1, "谨慎型": 2, "稳健型": 3, "积极型": 4, "进取型": 4,
                        "激进型": 5}

_LEVEL_SOUND = f"[{_LEVEL_CHARS}]"
_R_PATTERNS = (
    # r3 (R3, R三, Ｒ３, and 等级为阿山 / 二三 / 三级 / 阿尔三级, all normalised to r3)
    re.compile(r"(?<![a-z])r([1-5])(?![0-9])"),
    # the same split over two segments: 风险等级为 | 阿山级
    re.compile(rf"等级(?:为|是)?(?:{_R_SOUND})?({_LEVEL_SOUND})(?=级)"),
    re.compile(rf"等级(?:为|是)?(?:{_R_SOUND})({_LEVEL_SOUND})"),
    # 三级风险
    re.compile(r"([一二三四五1-5])级风险"),
)
_R_WORDS = re.compile(r"(?:属于|为|是|系)([^风不非无没]{0,4}?)(中低|中高|中等|低|中|高)风险")
_C_PATTERNS = (
    re.compile(r"(?<![a-z])c([1-5])(?![0-9])"),
    # C spoken "西" by whisper: 西三级 (only as a level: followed by 级)
    re.compile(rf"西({_LEVEL_SOUND})(?=级)"),
)


def risk_level_mentions(norm: str, customer_words: dict[str, int] | None = None
                        ) -> list[tuple[str, int, int, int, str]]:
    """Risk levels said in a normalised text: (kind "R" or "C", level 1-5, start, end,
    as heard), sorted by position. R: R3 / R三 / 三级 / 阿尔三级 / 阿山 / 二三 after 等级为,
    三级风险, 属于中风险; C: C3 / C三 / 西三级 and the tolerance words (稳健型)."""
    out: dict[tuple[int, int], tuple[str, int, int, int, str]] = {}
    for pat in _R_PATTERNS:
        for m in pat.finditer(norm):
            out.setdefault((m.start(), m.end()), ("R", _LEVEL_DIGIT[m.group(1)], m.start(),
                                                  m.end(), m.group()))
    for m in _R_WORDS.finditer(norm):
        a = m.start(2)
        out.setdefault((a, m.end()), ("R", PRODUCT_LEVEL_WORDS[m.group(2)], a, m.end(),
                                      norm[a : m.end()]))
    for pat in _C_PATTERNS:
        for m in pat.finditer(norm):
            out.setdefault((m.start(), m.end()), ("C", _LEVEL_DIGIT[m.group(1)], m.start(),
                                                  m.end(), m.group()))
    for word, level in (customer_words or CUSTOMER_LEVEL_WORDS).items():
        w = normalize(word)
        i = norm.find(w) if w else -1
        while i >= 0:
            out.setdefault((i, i + len(w)), ("C", int(level), i, i + len(w), w))
            i = norm.find(w, i + 1)
    # Overlapping finds (等级为r3 and r3): keep the first, longest.
    kept: list[tuple[str, int, int, int, str]] = []
    for item in sorted(out.values(), key=lambda x: (x[2], -(x[3] - x[2]))):
        if not any(item[2] < k[3] and k[2] < item[3] for k in kept):
            kept.append(item)
    return kept
