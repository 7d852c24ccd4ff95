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
