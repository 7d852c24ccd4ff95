"""The formulas of the audit statistics and the sampling draw, against hand-computed
values (no store: storage/stats.py and storage/sampling.py as pure functions)."""
import random
from datetime import date

import pytest

from storage.sampling import Candidate, Plan, per_stratum, select_members
from storage.stats import (Confusion, cohen_kappa, granularity_for, judge, period_key,
                           period_keys)


def test_cohen_kappa_textbook_example():
    # 50 items: both yes 20, first yes / second no 5, first no / second yes 10, both no 15
    # po = 35/50 = 0.7, pe = 0.5 * 0.6 + 0.5 * 0.4 = 0.5, kappa = 0.2 / 0.5 = 0.4
    pairs = ([("pass", "pass")] * 20 + [("pass", "fail")] * 5 + [("fail", "pass")] * 10
             + [("fail", "fail")] * 15)
    k = cohen_kappa(pairs)
    assert k["n"] == 50 and k["machine_pass_human_fail"] == 5 and k["machine_fail_human_pass"] == 10
    assert k["observed"] == pytest.approx(0.7)
    assert k["expected"] == pytest.approx(0.5)
    assert k["kappa"] == pytest.approx(0.4)


def test_cohen_kappa_edges():
    assert cohen_kappa([])["kappa"] is None
    # every recording passed by both: chance agreement is 1, kappa undefined
    assert cohen_kappa([("pass", "pass")] * 4)["kappa"] is None
    assert cohen_kappa([("pass", "pass"), ("fail", "fail")])["kappa"] == pytest.approx(1.0)
    # complete disagreement with balanced shares: -1
    assert cohen_kappa([("pass", "fail"), ("fail", "pass")])["kappa"] == pytest.approx(-1.0)


def test_judge_uses_the_explicit_judgement_else_the_recording_decision():
    assert judge("fail", "pass", None) == (True, False)     # FP: reviewer passed the sale
    assert judge("review", "fail", None) == (True, True)    # TP
    assert judge("pass", "pass", None) == (False, True)     # TN
    assert judge("pass", "fail", None) == (False, True)     # TN: no check named
    assert judge("pass", "fail", False) == (False, False)   # FN: this check should have flagged
    assert judge("fail", "fail", False) == (True, False)    # FP although the sale failed
    assert judge("skipped", "fail", None) is None
    assert judge("error", "pass", True) is None


def test_confusion_precision_recall_and_direction():
    c = Confusion("speech.required")
    for flagged, agree in [(True, True)] * 3 + [(True, False)] + [(False, False)] * 2 + \
            [(False, True)] * 4:
        c.add(flagged, agree)
    d = c.to_dict()
    assert (d["tp"], d["fp"], d["fn"], d["tn"], d["judged"]) == (3, 1, 2, 4, 10)
    assert d["precision"] == pytest.approx(3 / 4)
    assert d["recall"] == pytest.approx(3 / 5)
    assert d["agreement"] == pytest.approx(7 / 10)
    assert d["disagreement_rate"] == pytest.approx(3 / 10)
    assert d["direction"].startswith("too lenient")
    empty = Confusion("x").to_dict()
    assert empty["precision"] is None and empty["recall"] is None and empty["direction"] is None


@pytest.mark.parametrize("n,rate,size,expected", [
    (30, 0.1, None, 3),    # 0.1 x 30 in binary floating point is 3.0000000000000004
    (21, 0.1, None, 3),    # 2.1 rounded up
    (20, 0.05, None, 1),
    (3, 0.05, None, 1),    # every non-empty stratum is looked at
    (0, 0.5, None, 0),
    (7, 0.0, None, 0),
    (7, 1.0, None, 7),
    (5, None, 10, 5),
    (12, None, 4, 4),
])
def test_per_stratum(n, rate, size, expected):
    assert per_stratum(n, rate, size) == expected


def test_periods():
    assert period_key(date(2026, 11, 16), "week") == "2026-W47"
    assert period_key(date(2026, 11, 16), "month") == "2026-11"
    assert period_keys(date(2026, 11, 29), date(2026, 12, 2), "day") == [
        "2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]
    assert period_keys(date(2026, 11, 1), date(2027, 1, 10), "month") == [
        "2026-11", "2026-12", "2027-01"]
    assert granularity_for(date(2026, 11, 1), date(2026, 11, 30)) == "day"
    assert granularity_for(date(2026, 1, 1), date(2026, 3, 31)) == "week"
    assert granularity_for(date(2026, 1, 1), date(2026, 12, 31)) == "month"


def _cands():
    out = []
    for i in range(40):
        stratum = "branch=BR001" if i % 3 else "branch=BR002"
        verdict = "fail" if i % 11 == 0 else "pass"
        out.append(Candidate(i + 1, f"R{i:03d}", i + 100, verdict, "R4" if i == 7 else "R3",
                             stratum))
    return out


def _plan(**kw):
    return Plan(date(2026, 11, 1), date(2026, 11, 30), rate=kw.pop("rate", 0.2),
                strata=["branch"], **kw)


def test_draw_is_a_function_of_the_sorted_candidates_and_the_seed():
    cands = _cands()
    shuffled = cands[:]
    random.Random(3).shuffle(shuffled)
    a = select_members(cands, _plan(), "s1")
    assert a == select_members(shuffled, _plan(), "s1")
    assert [m.candidate.recording_id for m in a] != \
        [m.candidate.recording_id for m in select_members(cands, _plan(), "s2")]
    reasons = {m.candidate.recording_id: m.reason for m in a}
    assert reasons["R007"] == "high-risk"
    assert all(reasons[c.recording_id] == "verdict" for c in cands if c.verdict == "fail")


def test_one_strata_draw_does_not_depend_on_another_stratum():
    cands = _cands()
    more = cands + [Candidate(999, "R999", 999, "pass", "R3", "branch=BR002")]
    br001 = lambda ms: [m.candidate.recording_id for m in ms  # noqa: E731
                        if m.candidate.stratum == "branch=BR001" and m.reason == "random"]
    assert br001(select_members(cands, _plan(), "s1")) == br001(select_members(more, _plan(), "s1"))
