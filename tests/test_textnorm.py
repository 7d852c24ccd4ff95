from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.textnorm import normalize, number_values, pinyin_tokens, to_pinyin
from verifier.transcript import Segment, join_text


def test_traditional_becomes_simplified_without_punctuation():
    assert normalize("理財非存款，產品有風險，投資須謹慎。") == "理财非存款产品有风险投资须谨慎"


def test_punctuation_whitespace_controls_and_replacement_char_are_dropped():
    assert normalize(" 风险\ufffd 提示！\t“请”\n\x07确认? ") == "风险提示请确认"
    assert normalize("\u200b保本\u200d") == "保本"  # zero-width format characters
    assert normalize("……，。、；：？！") == ""


def test_full_width_digits_and_latin_are_folded_and_lowercased():
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("Hello World") == "helloworld"


def test_risk_levels_compare_equal_however_written():
    forms = ["R3", "R三", "r3", "Ｒ３", "R 3", "r-三", "Ｒ三"]
    assert {normalize(f) for f in forms} == {"r3"}
    assert normalize("C三") == normalize("C3") == "c3"
    assert normalize("R4") != normalize("R3")


def test_spoken_risk_level_after_dengji():
    # whisper writes the spoken "R三" (a'er san) as 阿山 or 二三 (FINDINGS "Matching")
    for heard in ["风险等级为阿山", "风险等级为二三", "風險等級為R三", "风险等级为三级"]:
        assert normalize(heard).startswith("风险等级为r3"), heard


def test_numerals_away_from_risk_context_are_left_alone():
    assert normalize("一二线城市") == "一二线城市"
    assert normalize("三级医院") == "三级医院"
    assert normalize("统一") == "统一"
    assert normalize("abc三") == "abc三"


def test_percentages_spoken_or_written_compare_equal():
    assert normalize("百分之三点八") == normalize("3.8%") == normalize("３．８％") == "3.8%"
    assert normalize("年化百分之十二") == "年化12%"
    assert normalize("百分之3.8") == "3.8%"
    assert normalize("百分之一百") == "100%"


def test_decimal_point_and_percent_kept_only_inside_numbers():
    assert normalize("a.b 50%的。") == "ab50%的"
    assert normalize("3.8") == "3.8"
    assert normalize("3. 8") == "38"


def test_number_values():
    assert number_values(normalize("本产品风险等级为R3")) == {"3"}
    assert number_values("十五天犹豫期") == {"15"}
    assert number_values("三点八") == {"3.8"}
    assert number_values("3.8%") == {"3.8"}
    assert number_values("理财非存款") == frozenset()


def test_to_pinyin_is_toneless_one_syllable_per_character():
    assert to_pinyin("风险") == ["feng", "xian"]
    assert to_pinyin("風險") == ["feng", "xian"]


def test_homophone_has_the_same_pinyin():
    # whisper hears 风险 as 封顯 (DOMAIN "Recognition realities")
    assert to_pinyin("封顯") == to_pinyin("风险")


def test_non_chinese_runs_are_their_own_tokens():
    assert to_pinyin("R3产品") == ["r", "3", "chan", "pin"]
    assert to_pinyin("年化3.8%") == ["nian", "hua", "3.8%"]
    assert to_pinyin("abc中") == ["abc", "zhong"]
    assert to_pinyin("12線城市") == ["12", "xian", "cheng", "shi"]


def test_reading_follows_the_word():
    assert to_pinyin("银行") == ["yin", "hang"]
    assert to_pinyin("行为") == ["xing", "wei"]


def test_pinyin_tokens_point_back_into_the_normalized_text():
    norm = normalize("本产品R3，年化3.8%")
    for syllable, start, end in pinyin_tokens(norm):
        assert 0 <= start < end <= len(norm)
    assert [norm[s:e] for _, s, e in pinyin_tokens(norm)] == [
        "本", "产", "品", "r", "3", "年", "化", "3.8%",
    ]


def test_join_text():
    segs = [Segment(0, 1, "理财非存款，"), Segment(1, 2, "产品有风险")]
    assert join_text(segs) == "理财非存款，产品有风险"
    assert segs[0].speaker == "unknown"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_is_idempotent_and_pinyin_never_fails(text):
    once = normalize(text)
    assert normalize(once) == once
    tokens = pinyin_tokens(once)
    assert "".join(once[s:e] for _, s, e in tokens) == once


def test_to_simplified_keeps_punctuation_for_reading():
    from verifier.textnorm import to_simplified
    assert to_simplified("理財非存款，產品有風險\ufffd！") == "理财非存款,产品有风险!"
    assert to_simplified("ＲＩＳＫ　３") == "RISK 3"


def test_alr_level_anywhere():
    # whisper writes the spoken R三 as 阿尔三级 (samples/README.md)
    assert normalize("本产品为阿尔三级产品") == "本产品为r3级产品"
    assert normalize("阿尔卑斯山") == "阿尔卑斯山"


def test_risk_level_mentions():
    from verifier.textnorm import risk_level_mentions

    def levels(text):
        return [(k, n, heard) for k, n, _, _, heard in risk_level_mentions(normalize(text))]

    assert levels("本产品风险等级为R3级，属于中等风险") == [("R", 3, "等级为r3"), ("R", 3, "中等风险")]
    assert levels("本产品属于中高风险产品") == [("R", 4, "中高风险")]
    assert levels("这是三级风险的产品") == [("R", 3, "三级风险")]
    assert levels("风险等级为阿山级") == [("R", 3, "等级为r3")]
    assert levels("本产品风险等级为阿斯级") == [("R", 4, "等级为r4")]
    assert levels("本产品风险等级为R思级") == [("R", 4, "等级为r4")]
    assert levels("公司斯文的员工") == []
    # spoken 阿尔三级 written R23级 / R二三级 (阿 as the letter, 尔 as 二): R3, not R2
    assert levels("本产品风险等级为R23级") == [("R", 3, "等级为r3")]
    assert levels("这款产品的风险等级是R二三级") == [("R", 3, "等级是r3")]
    assert levels("本产品为R24级产品") == [("R", 4, "r4")]
    assert levels("本产品风险等级为R2级") == [("R", 2, "等级为r2")]
    # a level split from 等级为 by a segment boundary: matched on the joined text
    assert [x[:2] for x in risk_level_mentions("风险等级为" + "阿山级")] == [("R", 3)]
    assert levels("评估结果为稳健型，C3级") == [("C", 3, "稳健型"), ("C", 3, "c3")]
    assert levels("评估结果未稳进行,西三级") == [("C", 3, "西三")]
    assert levels("三级医院和一二线城市") == []
    assert levels("产品有风险，投资须谨慎") == []
