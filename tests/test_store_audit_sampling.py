"""Audit samples on a real store (SQLite, and PostgreSQL in CI): reproducible with a
seed, strata sizes as asked, every fail/review/error and every high-risk sale included,
nothing sold outside the period, and a drawn sample never changes."""
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import select, update

from storage.db import BadInput, NotFound
from storage.models import AuditEntry, AuditSample
from storage.sampling import Plan, draw, list_samples, show
from tests.audit_data import add

NOV = (date(2026, 11, 1), date(2026, 11, 30))
A = "branch=BR001|staff=S1|product_category=wealth|product_risk_level=R3"
B = "branch=BR001|staff=S2|product_category=wealth|product_risk_level=R2"
C = "branch=BR002|staff=S3|product_category=agency_fund|product_risk_level=R3"


def populate(store, make_recording):
    """38 sales in November 2026 and 3 just outside it."""
    for i in range(20):
        add(store, make_recording, f"A{i:02d}", day=f"2026-11-{1 + i:02d}", staff="S1")
    # 23:30 Beijing time on the 30th is still November (its sale date is local)
    add(store, make_recording, "A20", day="2026-11-30", at="23:30:00", staff="S1")
    add(store, make_recording, "AF1", verdict="fail", staff="S1")
    add(store, make_recording, "AF2", verdict="fail", staff="S1", day="2026-11-01")
    add(store, make_recording, "AR1", verdict="review", staff="S1")
    for i in range(7):
        add(store, make_recording, f"B{i}", staff="S2", risk="R2")
    for i in range(3):
        add(store, make_recording, f"C{i}", branch="BR002", staff="S3", category="agency_fund")
    add(store, make_recording, "CE1", verdict="error", branch="BR002", staff="S3",
        category="agency_fund")
    add(store, make_recording, "H4a", branch="BR002", staff="S3", risk="R4")
    add(store, make_recording, "H4b", branch="BR002", staff="S3", risk="R4")
    add(store, make_recording, "H5", branch="BR002", staff="S3", risk="R5")
    # outside the period, although they fail and are high-risk
    add(store, make_recording, "OUT-1031", verdict="fail", day="2026-10-31", at="23:59:00")
    add(store, make_recording, "OUT-1201", verdict="fail", day="2026-12-01", at="00:30:00",
        risk="R5")  # 2026-11-30 16:30 UTC, but sold on 1 December in Beijing
    add(store, make_recording, "OUT-1202", day="2026-12-02", risk="R5")


def _plan(settings, **kw):
    return Plan.from_settings(settings, *NOV, **kw)


def _ids(sample, reason=None):
    return sorted(m["recording_id"] for m in sample["members"]
                  if reason is None or m["reason"] == reason)


def test_every_fail_review_error_and_high_risk_sale_and_nothing_outside_the_period(
        store, make_recording, settings):
    populate(store, make_recording)
    s = draw(store, _plan(settings, rate=0.1, seed="20261130", name="nov"))
    assert s["population"] == 38
    assert _ids(s, "verdict") == ["AF1", "AF2", "AR1", "CE1"]
    assert _ids(s, "high-risk") == ["H4a", "H4b", "H5"]
    assert not [i for i in _ids(s) if i.startswith("OUT")]
    assert all("2026-11-01" <= m["sale_date"] <= "2026-11-30" for m in s["members"])
    # the random share comes only from the rest: pass verdicts below R4
    assert {m["verdict"] for m in s["members"] if m["reason"] == "random"} == {"pass"}
    assert s["by_reason"] == {"verdict": 4, "high-risk": 3, "random": 5}
    assert s["size"] == len(s["members"]) == 12


def test_strata_sizes_follow_the_rate_rounded_up_or_the_size(store, make_recording, settings):
    populate(store, make_recording)
    by_rate = draw(store, _plan(settings, rate=0.1, seed="1", name="rate"))
    assert Counter(m["stratum"] for m in by_rate["members"] if m["reason"] == "random") == {
        A: 3,   # 21 passes: 2.1 rounded up
        B: 1,   # 7: 0.7 rounded up
        C: 1}   # 3 (the error is always in, the R4/R5 sales are high-risk)
    by_size = draw(store, _plan(settings, size=2, seed="1", name="size"))
    assert Counter(m["stratum"] for m in by_size["members"] if m["reason"] == "random") == {
        A: 2, B: 2, C: 2}
    per_branch = draw(store, _plan(settings, rate=0.1, strata=["branch"], seed="1",
                                   name="per-branch"))
    assert Counter(m["stratum"] for m in per_branch["members"] if m["reason"] == "random") == {
        "branch=BR001": 3,  # 28 passes
        "branch=BR002": 1}
    everything = draw(store, _plan(settings, rate=1.0, seed="1", name="all"))
    assert everything["size"] == everything["population"] == 38


def test_same_seed_same_sample_other_seed_other_sample(store, make_recording, settings):
    populate(store, make_recording)
    first = draw(store, _plan(settings, rate=0.1, seed="audit-2026-11", name="first"))
    again = draw(store, _plan(settings, rate=0.1, seed="audit-2026-11", name="again"))
    other = draw(store, _plan(settings, rate=0.1, seed="audit-2026-12", name="other"))
    assert _ids(first) == _ids(again)
    assert first["members_sha256"] == again["members_sha256"]
    assert _ids(first, "random") != _ids(other, "random")
    assert _ids(first, "verdict") == _ids(other, "verdict")  # the guarantees do not depend on it


def test_an_unseeded_draw_stores_its_seed_and_can_be_repeated(store, make_recording, settings):
    populate(store, make_recording)
    s = draw(store, _plan(settings, rate=0.1))
    assert s["seed"] and s["name"] == f"2026-11-01..2026-11-30 all branches seed {s['seed']}"
    repeat = draw(store, _plan(settings, rate=0.1, seed=s["seed"], name="repeat"))
    assert _ids(repeat) == _ids(s)
    assert s["parameters"] == {"rate": 0.1, "size": None, "high_risk_from": "R4",
                               "always_verdicts": ["fail", "review", "error"],
                               "strata": ["branch", "staff", "product_category",
                                          "product_risk_level"]}


def test_defaults_come_from_the_audit_configuration(store, make_recording, settings):
    populate(store, make_recording)
    assert settings.thresholds["audit"]["high_risk_from"] == "R4"
    s = draw(store, _plan(settings, seed="1", name="defaults"))
    assert s["parameters"]["rate"] == settings.thresholds["audit"]["pass_rate"] == 0.05
    settings5 = settings.model_copy(deep=True)
    settings5.thresholds["audit"]["high_risk_from"] = "R5"
    s5 = draw(store, _plan(settings5, seed="1", name="R5 only"))
    assert _ids(s5, "high-risk") == ["H5"]
    off = draw(store, _plan(settings, high_risk_from="off", seed="1", name="off"))
    assert _ids(off, "high-risk") == [] and off["parameters"]["high_risk_from"] is None


def test_scope(store, make_recording, settings):
    populate(store, make_recording)
    s = draw(store, _plan(settings, rate=0.5, branch=["BR002"], seed="1", name="BR002"))
    assert s["scope"] == {"branch": ["BR002"]}
    assert {m["branch_id"] for m in s["members"]} == {"BR002"} and s["population"] == 7
    fund = draw(store, _plan(settings, rate=1.0, product_category=["agency_fund"],
                             staff=["S3"], seed="1", name="funds"))
    assert _ids(fund) == ["C0", "C1", "C2", "CE1"]


def test_a_drawn_sample_never_changes(store, make_recording, settings):
    populate(store, make_recording)
    s = draw(store, _plan(settings, rate=0.1, seed="7", name="2026-11 monthly"))
    # later sales, verdicts and draws do not change it
    add(store, make_recording, "LATE-FAIL", verdict="fail", day="2026-11-15")
    with pytest.raises(BadInput, match="already|was drawn"):
        draw(store, _plan(settings, rate=0.5, seed="8", name="2026-11 monthly"))
    now = show(store, "2026-11 monthly")
    assert _ids(now) == _ids(s) and now["intact"] and now["seed"] == "7"
    assert now == show(store, str(s["sample_id"]))
    listed = list_samples(store)["samples"]
    assert [x["name"] for x in listed] == ["2026-11 monthly"] and listed[0]["size"] == s["size"]
    # the draw is in the audit log with the members' hash
    with store.session() as sess:
        entries = [e for e in sess.scalars(select(AuditEntry).where(AuditEntry.action == "sample"))]
        assert len(entries) == 1 and s["members_sha256"] in entries[0].details
        # an edit behind the store's back is noticed
        sess.execute(update(AuditSample).where(AuditSample.sample_id == s["sample_id"],
                                               AuditSample.reason == "random")
                     .values(reason="verdict"))
    assert show(store, "2026-11 monthly")["intact"] is False


@pytest.mark.parametrize("kw,message", [
    ({"rate": 0.1, "size": 3}, "either --rate or --size"),
    ({"rate": 1.5}, "between 0 and 1"),
    ({"rate": 0.1, "strata": ["region"]}, "unknown stratum"),
    ({"rate": 0.1, "high_risk_from": "R9"}, "R1..R5"),
    ({"rate": 0.1, "name": " "}, "must not be empty"),
])
def test_bad_plans_are_refused(store, settings, kw, message):
    with pytest.raises(BadInput, match=message):
        draw(store, _plan(settings, **kw))


def test_period_backwards_and_unknown_sample(store, settings):
    with pytest.raises(BadInput, match="after"):
        draw(store, Plan.from_settings(settings, date(2026, 12, 1), date(2026, 11, 1)))
    with pytest.raises(NotFound):
        show(store, "nope")
