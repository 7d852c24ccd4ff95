from pathlib import Path

import pytest

from verifier.config import CONFIGS_DIR
from verifier.ruleset import RulesetError, RulesetLibrary, load_ruleset

RULESETS = CONFIGS_DIR / "rulesets"


def test_shipped_rulesets_load_and_cover_every_wealth_risk_level():
    lib = RulesetLibrary([RULESETS])
    for level in ("R1", "R2", "R3", "R4", "R5"):
        assert lib.select("wealth", level).id


def test_wealth_standard_has_the_domain_disclosures():
    r = load_ruleset(RULESETS / "wealth-standard.yaml")
    texts = {p.id: p.text for _, p in r.required_phrases}
    assert texts["not-deposit"] == "理财非存款，产品有风险，投资须谨慎"
    assert "保本保息" in r.forbidden and "稳赚不赔" in r.forbidden
    assert [s.id for s in r.stages][-1] == "confirmation"


def test_sidecar_ruleset_overrides_selection():
    lib = RulesetLibrary([RULESETS])
    with pytest.raises(RulesetError, match="unknown ruleset 'nope'"):
        lib.select("wealth", "R3", "nope")


def test_no_applicable_ruleset_is_a_clear_error(tmp_path):
    (tmp_path / "only.yaml").write_text(
        "id: only\nversion: '1'\napplies_to: {product_category: [agency_fund]}\n"
        "stages: [{id: s, required: [{id: a, text: 你好}]}]\n", encoding="utf-8")
    lib = RulesetLibrary([tmp_path])
    with pytest.raises(RulesetError, match="no ruleset applies to product_category=wealth"):
        lib.select("wealth", "R3")
    assert lib.select("agency_fund", "R5").id == "only"


def test_most_specific_ruleset_wins(tmp_path):
    base = "stages: [{id: s, required: [{id: a, text: 你好}]}]\n"
    (tmp_path / "a.yaml").write_text("id: broad\nversion: '1'\n" + base, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        "id: narrow\nversion: '1'\napplies_to: {product_category: [wealth], "
        "product_risk_level: [R4, R5]}\n" + base, encoding="utf-8")
    lib = RulesetLibrary([tmp_path])
    assert lib.select("wealth", "R5").id == "narrow"
    assert lib.select("wealth", "R1").id == "broad"


@pytest.mark.parametrize("body, where", [
    ("id: x\nversion: '1'\nstages: []\n", "stages"),
    ("id: ../evil\nversion: '1'\nstages: [{id: s}]\n", "id"),
    ("id: x\nversion: '1'\nstages: [{id: s, required: [{id: a, text: 你好, speaker: boss}]}]\n",
     "speaker"),
    ("id: x\nversion: '1'\nstages: [{id: s, required: [{id: a, text: 甲}, {id: a, text: 乙}]}]\n",
     "used twice"),
    ("id: x\nversion: '1'\nstages: [{id: s}]\nsurprise: 1\n", "surprise"),
    ("- just\n- a list\n", "top level"),
    ("id: [unclosed\n", "unreadable"),
])
def test_bad_rulesets_name_the_problem(tmp_path, body, where):
    path = tmp_path / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RulesetError) as err:
        load_ruleset(path)
    assert where in str(err.value) and str(path) in str(err.value)


def test_duplicate_ids_across_files(tmp_path):
    body = "id: same\nversion: '1'\nstages: [{id: s}]\n"
    (tmp_path / "a.yaml").write_text(body, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(RulesetError, match="defined twice"):
        RulesetLibrary([tmp_path])


def test_missing_file():
    with pytest.raises(RulesetError, match="not found"):
        load_ruleset(Path("/nonexistent/r.yaml"))


def test_every_category_has_a_default_ruleset():
    lib = RulesetLibrary([RULESETS])
    assert [lib.select("wealth", lv).id for lv in ("R1", "R2", "R3", "R4", "R5")] == [
        "wealth-standard"] * 3 + ["wealth-high-risk"] * 2
    for level in ("R1", "R3", "R5"):
        assert lib.select("agency_fund", level).id == "agency-fund"
        assert lib.select("agency_insurance", level).id == "agency-insurance"
        assert lib.select("agency_trust", level).id == "agency-general"
        assert lib.select("agency_other", level).id == "agency-general"
    assert lib.select("agency_fund", "R3", "wealth-standard").id == "wealth-standard"


def _texts(r):
    out = {}
    for _, p in r.required_phrases:
        out[p.id] = " ".join(p.texts)
    for stage in r.stages:
        for c in stage.confirmations:
            out[c.id] = " ".join(c.texts)
    return out


def test_agency_insurance_has_the_265_notice_and_cooling_off():
    r = load_ruleset(RULESETS / "agency-insurance.yaml")
    texts = _texts(r)
    assert "此次录音录像过程对于今后您维护权益非常关键，请您认真阅读您签署文件的具体内容，如实回答相关问题" in texts[
        "rights-notice-265"]
    assert "犹豫期" in texts["cooling-off"] and "十五天" in texts["cooling-off"]
    assert "犹豫期" in texts["surrender-loss"]
    assert r.risk_level.said == "optional"
    assert {c.id: c.expect for s in r.stages for c in s.confirmations}["no-promise"] == "negative"


def test_agency_fund_and_high_risk_extras():
    fund = _texts(load_ruleset(RULESETS / "agency-fund.yaml"))
    assert "基金有风险" in fund["fund-risk"] and "代销" in fund["agency-role"]
    high = load_ruleset(RULESETS / "wealth-high-risk.yaml")
    texts = _texts(high)
    assert "全部本金" in texts["high-risk-loss"] and "high-risk-understood" in texts
    standard = _texts(load_ruleset(RULESETS / "wealth-standard.yaml"))
    assert set(standard) < set(texts)   # the standard script and more


def test_shipped_rulesets_have_a_mismatch_disclosure():
    lib = RulesetLibrary([RULESETS])
    for rid in lib.ids():
        r = lib.get(rid)
        assert r.risk_mismatch is not None and r.risk_mismatch.required, rid
        assert r.forbidden, rid
        assert r.stages[-1].confirmations, rid


def test_extended_schema(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(
        "id: x\nversion: '1'\n"
        "stages: [{id: s, required: [{id: a, text: '我是{name}'}],\n"
        "          confirmations: [{id: q, question: 是否有人承诺保本, expect: negative, window_s: 20}]}]\n"
        "risk_level: {said: optional}\n"
        "risk_mismatch: {required: [{id: w, text: 您的风险承受能力低于本产品风险等级}],\n"
        "                confirmations: [{id: i, question: 您是否仍坚持购买}]}\n",
        encoding="utf-8")
    r = load_ruleset(path)
    conf = r.stages[0].confirmations[0]
    assert (conf.expect, conf.window_s, conf.texts) == ("negative", 20, ["是否有人承诺保本"])
    assert r.risk_level.said == "optional"
    assert [p.id for p in r.risk_mismatch.required] == ["w"]
    defaults = load_ruleset(RULESETS / "wealth-standard.yaml")
    assert defaults.stages[0].confirmations == [] and defaults.risk_level.said == "required"


@pytest.mark.parametrize("body, where", [
    ("stages: [{id: s, required: [{id: a, text: '我是{name'}]}]\n", "slot"),
    ("stages: [{id: s, required: [{id: a, text: '{name}'}]}]\n", "besides its slots"),
    ("stages: [{id: s, required: [{id: a, text: 好, alternatives: ['{x:9-2}好']}]}]\n", "bounds"),
    ("stages: [{id: s, confirmations: [{id: q, question: 好吗, expect: maybe}]}]\n", "expect"),
    ("stages: [{id: s}]\nrisk_level: {said: sometimes}\n", "said"),
    ("stages: [{id: s}]\nrisk_mismatch: {required: []}\n", "risk_mismatch"),
    ("stages: [{id: s, required: [{id: a, text: 好}]}]\n"
     "risk_mismatch: {required: [{id: a, text: 您的风险承受能力低于本产品风险等级}]}\n", "used twice"),
])
def test_bad_extensions_name_the_problem(tmp_path, body, where):
    path = tmp_path / "bad.yaml"
    path.write_text("id: x\nversion: '1'\n" + body, encoding="utf-8")
    with pytest.raises(RulesetError) as err:
        load_ruleset(path)
    assert where in str(err.value), str(err.value)
