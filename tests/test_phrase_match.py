import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.phrase_match import (ForbiddenHit, PhraseMatch, find_forbidden, find_phrase, locate,
                                   reversal, split_slots)
from verifier.transcript import Segment

NOT_DEPOSIT = "理财非存款，产品有风险，投资须谨慎"
NON_GUARANTEED = "本产品为非保本浮动收益型理财，不保证本金和收益"
RISK_LEVEL = "本产品风险等级为R3"
FORBIDDEN = [
    "保本", "保本保息", "保收益", "保证收益", "保证回报", "无风险", "零风险", "稳赚",
    "稳赚不赔", "绝对安全", "和存款一样", "刚性兑付", "高收益无风险", "最好", "唯一", "首只",
]
CHATTER = [
    "您好请坐今天想办理什么业务", "这款产品的期限是一百八十天", "我们这边最近有几款新产品",
    "您之前买过我们行的基金吗", "收益是按月分配到您的账户", "这个需要您本人签字",
    "您的手机号码是多少", "我帮您查一下账户余额", "今天天气不错啊",
    "这个产品起购金额是一万元", "您可以通过手机银行随时查看", "赎回资金一般两个工作日到账",
    "您的风险评估已经过期了需要重新做", "这款是我们行代销的基金产品", "最近市场波动比较大",
]


def segs(*texts, step=4.0):
    return [Segment(i * step, i * step + step - 0.5, t) for i, t in enumerate(texts)]


def one(text):
    return [Segment(0.0, 3.0, text)]


# --- find_phrase -------------------------------------------------------------------


def test_exact_phrase_is_found_with_its_times():
    m = find_phrase(segs("您好", NOT_DEPOSIT, "好的"), [NOT_DEPOSIT], phrase_id="not-deposit")
    assert isinstance(m, PhraseMatch)
    assert (m.phrase_id, m.found, m.near_miss, m.score) == ("not-deposit", True, False, 1.0)
    assert (m.start_s, m.end_s) == (4.0, 7.5)
    assert m.heard == "理财非存款产品有风险投资须谨慎"
    assert m.matched == NOT_DEPOSIT


def test_traditional_transcript_matches_simplified_phrase():
    m = find_phrase(one("理財非存款，產品有風險，投資須謹慎"), [NOT_DEPOSIT])
    assert m.found and m.score == 1.0


def test_homophones_are_found_through_pinyin():
    # 封顯 for 风险, 須 -> 需, 飞 for 非: all sound the same
    m = find_phrase(one("理财飞存款，产品有封顯，投资需谨慎"), [NOT_DEPOSIT])
    assert m.found and m.score >= 0.9


def test_punctuation_full_width_digits_and_replacement_chars_do_not_matter():
    m = find_phrase(one("本產品風險等級為：Ｒ３\ufffd。"), [RISK_LEVEL])
    assert m.found and m.score == 1.0


@pytest.mark.parametrize("heard", ["本产品风险等级为R三", "本产品风险等级为r3", "本产品风险等级为阿山", "本产品风险等级为二三"])
def test_risk_level_however_written(heard):
    assert find_phrase(one(heard), [RISK_LEVEL]).found


def test_wrong_risk_level_is_only_a_near_miss():
    m = find_phrase(one("本产品风险等级为R4"), [RISK_LEVEL])
    assert not m.found and m.near_miss


def test_phrase_split_across_two_segments_gets_both_segments_times():
    transcript = [
        Segment(0.0, 5.0, "您好请坐今天想办理什么业务"),
        Segment(5.0, 9.0, "好的，下面我跟您说明一下，理财非存款，产品有风险"),
        Segment(9.2, 12.0, "投资须谨慎，请您知悉"),
        Segment(12.5, 15.0, "好的我知道了"),
    ]
    m = find_phrase(transcript, [NOT_DEPOSIT])
    assert m.found and m.score == 1.0
    assert (m.start_s, m.end_s) == (5.0, 12.0)


def test_narrowest_window_wins():
    m = find_phrase(segs("您好", "理财非存款", NOT_DEPOSIT, "好的"), [NOT_DEPOSIT])
    assert (m.start_s, m.end_s) == (8.0, 11.5)


def test_half_of_the_phrase_at_the_end_of_a_segment_is_not_found():
    # partial_ratio aligns the phrase hanging off the window's end: must not count
    m = find_phrase(one("好的，下面我跟您说明一下，理财非存款，产品有风险"), [NOT_DEPOSIT])
    assert not m.found


@pytest.mark.parametrize("fragment", ["理财非存款", "投资须谨慎", "不保证本金和收益", "本产品为非保本"])
def test_short_fragment_of_a_long_phrase_is_not_found(fragment):
    # FINDINGS guard: a substring scores 100 on partial_ratio, it must not here
    phrase = NOT_DEPOSIT if fragment in NOT_DEPOSIT else NON_GUARANTEED
    m = find_phrase(one(fragment), [phrase])
    assert not m.found and not m.near_miss
    assert m.score < 0.6


def test_two_thirds_of_a_phrase_is_a_near_miss():
    m = find_phrase(one("产品有风险投资须谨慎"), [NOT_DEPOSIT])
    assert not m.found and m.near_miss


def test_unrelated_sentence_is_not_found_and_scores_low():
    m = find_phrase(one("这个产品收益还不错您可以考虑一下"), [NOT_DEPOSIT])
    assert not m.found and not m.near_miss
    assert m.score < 0.5


def test_no_phrase_found_in_a_long_unrelated_transcript():
    transcript = segs(*(CHATTER * 4))
    for phrase in [NOT_DEPOSIT, NON_GUARANTEED, RISK_LEVEL, "过往业绩不代表未来表现",
                   "本人已经阅读风险揭示，愿意承担投资风险", "我已了解，同意购买"]:
        m = find_phrase(transcript, [phrase])
        assert not m.found, (phrase, m)


def test_alternatives_are_tried_and_reported():
    m = find_phrase(one("理财产品不是存款"), [NOT_DEPOSIT, "理财产品不是存款"])
    assert m.found and m.matched == "理财产品不是存款"


def test_speaker_filter():
    transcript = [
        Segment(0.0, 3.0, "我已了解，同意购买", speaker="staff"),
        Segment(3.0, 6.0, "您看还有什么问题", speaker="staff"),
        Segment(6.0, 9.0, "我已了解，同意购买", speaker="customer"),
    ]
    m = find_phrase(transcript, ["我已了解，同意购买"], speaker="customer")
    assert m.found and (m.start_s, m.end_s) == (6.0, 9.0)
    assert not find_phrase(transcript[:2], ["我已了解，同意购买"], speaker="customer").found
    # "unknown" (one mixed microphone) may be either
    mixed = [Segment(0.0, 3.0, "我已了解，同意购买")]
    assert find_phrase(mixed, ["我已了解，同意购买"], speaker="customer").found
    # no filter, or "any": every segment counts
    assert find_phrase(transcript[:1], ["我已了解，同意购买"]).found
    assert find_phrase(transcript[:1], ["我已了解，同意购买"], speaker="any").found


def test_near_miss_band_follows_thresholds():
    m = find_phrase(one("理财产品有一定风险投资要注意"), [NOT_DEPOSIT])
    assert 0.6 <= m.score < 0.75
    assert not m.found and m.near_miss
    heard = one("理财非存款，产品有风险，投资要小心")
    strict = find_phrase(heard, [NOT_DEPOSIT], found_score=0.95, review_score=0.5)
    assert not strict.found and strict.near_miss
    lax = find_phrase(heard, [NOT_DEPOSIT], found_score=0.8)
    assert lax.found and not lax.near_miss


def test_empty_inputs():
    m = find_phrase([], [NOT_DEPOSIT], phrase_id="x")
    assert (m.found, m.near_miss, m.score, m.start_s, m.end_s, m.heard, m.phrase_id) == (
        False, False, 0.0, None, None, "", "x")
    assert not find_phrase(one("，。"), [NOT_DEPOSIT]).found
    assert not find_phrase(one(NOT_DEPOSIT), []).found
    assert not find_phrase(one(NOT_DEPOSIT), ["。"]).found


# Real whisper-base output on AISHELL-1 speech (../shared/media/speech) and its reference.
REAL_ASR = [
    ("甚至出现交易几乎停制的情况", "甚至出现交易几乎停滞的情况"),
    ("廣州市佛地產中間協會分析", "广州市房地产中介协会分析"),
    ("12線城市雖然也處於調整中", "一二线城市虽然也处于调整中"),
]


@pytest.mark.parametrize("heard,reference", REAL_ASR)
def test_real_asr_output_matches_its_reference(heard, reference):
    assert find_phrase(one(heard), [reference]).found


@pytest.mark.parametrize("heard,reference", REAL_ASR)
def test_real_asr_output_does_not_match_other_sentences(heard, reference):
    others = [r for _, r in REAL_ASR if r != reference] + [
        "理财非存款产品有风险投资须谨慎", "本产品风险等级为", NON_GUARANTEED, "我已了解，同意购买"]
    for other in others:
        m = find_phrase(one(heard), [other])
        assert not m.found, (heard, other, m.score)


def test_real_asr_across_segments():
    transcript = segs(*(h for h, _ in REAL_ASR))
    m = find_phrase(transcript, ["广州市房地产中介协会分析"])
    assert m.found and (m.start_s, m.end_s) == (4.0, 7.5)


def test_speed_of_a_ten_minute_transcript():
    texts = [CHATTER[i % len(CHATTER)] + CHATTER[(i * 7) % len(CHATTER)] for i in range(200)]
    transcript = segs(*texts, step=3.0)
    phrases = [NOT_DEPOSIT, NON_GUARANTEED, RISK_LEVEL, "业绩比较基准不代表实际收益",
               "过往业绩不代表未来表现", "封闭期内不可提前赎回", "本金及收益风险由投资者自行承担",
               "本人已经阅读风险揭示，愿意承担投资风险", "我已了解，同意购买",
               "您的风险承受能力评估结果为稳健型", "此次录音录像过程对于今后您维护权益非常关键",
               "请您出示您的身份证件", "我是本行理财经理，这是我的工作证", "您是否已了解本产品不保本",
               "请您认真阅读您签署文件的具体内容，如实回答相关问题"]
    t0 = time.perf_counter()
    for p in phrases:
        find_phrase(transcript, [p, p[:6] + "的"])
    find_forbidden(transcript, FORBIDDEN)
    assert time.perf_counter() - t0 < 5.0  # about 0.2 s here; generous for a loaded box


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=6), st.text(max_size=30))
def test_scores_stay_in_range(texts, phrase):
    m = find_phrase(segs(*texts), [phrase])
    assert 0.0 <= m.score <= 1.0
    assert not (m.found and m.near_miss)
    assert (m.start_s is None) == (m.heard == "")


# --- find_forbidden ----------------------------------------------------------------


def hits(text):
    return [(h.term, h.negated) for h in find_forbidden(one(text), FORBIDDEN)]


def test_forbidden_promise_longest_term_only():
    found = find_forbidden(one("我们这个产品保本保息，您放心"), FORBIDDEN)
    assert found == [ForbiddenHit("保本保息", 0.0, 3.0, "我们这个产品保本保息您放心", False, False)]


def test_negated_term_is_a_disclosure():
    assert hits("这个产品不保本") == [("保本", True)]
    assert hits(NON_GUARANTEED) == [("保本", True)]
    assert hits("我们不能保证收益") == [("保证收益", True)]
    assert hits("并非无风险") == [("无风险", True)]
    assert hits("不是零风险哦") == [("零风险", True)]
    assert hits("我们不承诺保本") == [("保本", True)]
    assert hits("不保本保息") == [("保本保息", True)]


def test_negation_inside_the_term_does_not_negate_it():
    assert hits("放心，稳赚不赔") == [("稳赚不赔", False)]


def test_words_that_merely_start_with_bu_are_not_negations():
    assert hits("不仅保本还保收益") == [("保本", False), ("保收益", False)]
    assert hits("不怕，保本的") == [("保本", False)]
    assert hits("非常保本") == [("保本", False)]


def test_negation_and_promise_in_one_sentence():
    assert hits("我们不保证收益但是保本") == [("保证收益", True), ("保本", False)]


def test_exact_sequences_only():
    assert hits("投资有风险") == []
    assert hits("产品有风险，投资须谨慎") == []
    assert hits("作为一个理财经理，我看收支平衡") == []  # sounds of 唯一 and 首只


def test_traditional_forbidden_term():
    found = find_forbidden(one("穩賺不賠的"), FORBIDDEN)
    assert [(h.term, h.negated, h.homophone) for h in found] == [("稳赚不赔", False, False)]


def test_homophone_forbidden_term():
    found = find_forbidden(one("这个是零封險的产品"), FORBIDDEN)
    assert [(h.term, h.negated, h.homophone) for h in found] == [("零风险", False, True)]
    assert found[0].heard == "这个是零封险的产品"


def test_a_short_term_is_matched_by_sound_only_where_negated():
    # corpus forbidden-promise (AVX2): the disclosure 非保本 heard as 非报本 is found,
    # negated (a pass); 报本 on its own is an everyday sound, never read as a promise
    found = find_forbidden(one("本产品为非报本浮动收益型理财产品"), FORBIDDEN)
    assert [(h.term, h.negated, h.homophone) for h in found] == [("保本", True, True)]
    assert find_forbidden(one("我们要报本答恩"), FORBIDDEN) == []


def test_forbidden_hits_sorted_by_time_with_segment_evidence():
    transcript = [
        Segment(10.0, 12.0, "保证收益的"),
        Segment(2.0, 4.0, "本产品不保本"),
        Segment(5.0, 7.0, "好的"),
    ]
    found = find_forbidden(transcript, FORBIDDEN)
    assert [(h.term, h.start_s, h.end_s, h.negated) for h in found] == [
        ("保本", 2.0, 4.0, True), ("保证收益", 10.0, 12.0, False)]
    assert found[0].heard == "本产品不保本"


def test_forbidden_nothing_to_find():
    assert find_forbidden([], FORBIDDEN) == []
    assert find_forbidden(one("保本"), []) == []
    assert find_forbidden(one("，。"), FORBIDDEN) == []


# --- slots (wildcards) ------------------------------------------------------------------

INTRO_SLOT = "我是本行理财经理{name}，这是我的工作证"


def test_slot_matches_a_name_and_reports_it():
    m = find_phrase(one("您好，我是本行理财经理王芳，这是我的工作证。"), [INTRO_SLOT])
    assert m.found and m.score == 1.0 and m.slots == {"name": "王芳"}
    assert m.matched == INTRO_SLOT


def test_slot_survives_whisper_homophones():
    # real whisper output on the demo: 理财经理 -> 李财经李
    m = find_phrase(one("您好,我是本行李财经李王芳,这是我的工作证明,请您出示一下身份证语。"), [INTRO_SLOT])
    assert m.found and m.slots["name"].endswith("王芳")


def test_slot_placed_by_sound_when_no_character_matches():
    # real whisper output (corpus risk-level-wrong, AVX2): 理财经理 -> 李裁金李, no
    # character in common; placed by characters the slot took 李裁金李 (score 0.59)
    m = find_phrase(one("您好我是本行李裁金李王芳您的风险承受能力评估结果未稳健行其三极"),
                    ["我是本行理财经理{name}"])
    assert m.found and m.slots["name"].startswith("王芳")


def test_slot_at_the_end_and_at_the_start():
    m = find_phrase(one("我是本行理财经理李娜"), ["我是本行理财经理{name}"])
    assert m.found and m.slots["name"].startswith("李娜")
    m = find_phrase(one("王先生您好请坐"), ["{name}您好"])
    assert m.found and m.slots["name"].endswith("先生")


def test_nothing_said_for_a_slot_is_at_most_a_near_miss():
    m = find_phrase(one("我是本行理财经理"), ["我是本行理财经理{name}"])
    assert not m.found and m.near_miss and "{name}" in m.note


def test_slot_characters_do_not_lift_a_poor_match():
    # the four characters copied into the slot always match: they must not carry an
    # unrelated sentence over the found threshold
    for heard in ["今天天气不错我们聊聊", "我们这边最近有几款新产品", "您之前买过我们行的基金吗"]:
        m = find_phrase(one(heard), ["我是本行理财经理{name}"])
        assert not m.found and m.score < 0.6, (heard, m)


def test_slot_bounds():
    assert find_phrase(one("本产品由易方达基金管理有限公司发行"),
                       ["本产品由{manager:2-12}发行"]).found
    assert split_slots("我是{name}") == (["我是", ""], [("name", 1, 4)])
    assert split_slots("由{x:2-12}发行") == (["由", "发行"], [("x", 2, 12)])
    for bad in ["我是{name", "我是name}", "{x:0-3}好", "{x:5-2}好", "{}好"]:
        with pytest.raises(ValueError):
            split_slots(bad)


# --- meaning reversals ---------------------------------------------------------------------


def test_known_false_positive_reversed_disclosure_is_not_found():
    # the matcher's author's example: 0.76 before, counted as found
    m = find_phrase(one("理财是存款，产品没风险，投资放心"), [NOT_DEPOSIT])
    assert not m.found and m.near_miss
    assert "meaning reversed" in m.note and "'非'" in m.note


@pytest.mark.parametrize("phrase,heard", [
    (NOT_DEPOSIT, "理财非存款，产品没风险，投资须谨慎"),          # 有 -> 没
    (NOT_DEPOSIT, "理财存款，产品有风险，投资须谨慎"),            # 非 dropped
    ("封闭期内不可提前赎回", "封闭期内可以提前赎回"),
    ("业绩比较基准不代表实际收益", "业绩比较基准代表实际收益"),
    (NON_GUARANTEED, "本产品为保本浮动收益型理财，保证本金和收益"),
])
def test_reversals_are_not_found(phrase, heard):
    m = find_phrase(one(heard), [phrase])
    assert not m.found and "meaning reversed" in m.note, m


@pytest.mark.parametrize("phrase,heard", [
    (NOT_DEPOSIT, "理财不是存款，产品有风险，投资须谨慎"),        # 非 said as 不是
    (NOT_DEPOSIT, "理财飞存款，产品有封顯，投资需谨慎"),          # homophone of 非
    ("过往业绩不代表未来表现", "过往业绩不代表将来表现"),          # 未来 is no negation
    ("此次录音录像过程对于今后您维护权益非常关键", "此次录音录像过程对于今后您维护权益很关键"),
    ("封闭期内不可提前赎回", "封闭期内不能提前赎回"),
])
def test_same_meaning_is_still_found(phrase, heard):
    m = find_phrase(one(heard), [phrase])
    assert m.found and not m.note, m


def test_negation_in_speech_around_the_phrase_does_not_count():
    m = find_phrase(one("不要紧，下面理财非存款，产品有风险，投资须谨慎，不要忘了"), [NOT_DEPOSIT])
    assert m.found, m
    assert reversal("理财非存款", "理财是存款") and not reversal("理财非存款", "理财非存款")


# --- where in the segments -------------------------------------------------------------------


def test_spoken_times_inside_a_merged_segment():
    text = "产品期限一百八十天。" + NOT_DEPOSIT + "好的"
    m = find_phrase([Segment(10.0, 20.0, text)], [NOT_DEPOSIT])
    assert (m.start_s, m.end_s) == (10.0, 20.0)
    assert 13.0 < m.spoken_start_s < 14.0 and 19.0 < m.spoken_end_s < 20.0


def test_first_start_is_the_earliest_found_saying():
    transcript = [Segment(0, 4, "理财非存款产品有风险"), Segment(4, 8, "投资须谨慎"),
                  Segment(8, 12, "您好"), Segment(50, 54, NOT_DEPOSIT)]
    m = find_phrase(transcript, [NOT_DEPOSIT])
    assert m.start_s == 50 and m.first_start_s == 0.0


def test_locate_in_segments():
    loc = locate([Segment(0, 4, "好的"), Segment(4, 10, "您是否已經閱讀病例界產品說明書是的")],
                 "您是否已经阅读并理解产品说明书")
    assert loc.first_segment == loc.last_segment == 1
    assert loc.start_char == 0 and loc.end_char == 15 and loc.end_s < 10.0
