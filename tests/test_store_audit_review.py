"""Human review on a real store, and the statistics against hand-computed values."""
import json
from datetime import date

import pytest
from sqlalchemy import select

from storage.db import BadInput, NotFound
from storage.models import AuditEntry
from storage.review import parse_findings, record_review
from storage.sampling import Plan, draw, show
from storage.stats import statistics
from tests.audit_data import add

NOV = (date(2026, 11, 1), date(2026, 11, 30))
SR, SF, FB = "speech.required", "speech.forbidden", "face.both_visible"


def _checks(sr="pass", sf="pass", fb="pass"):
    return {SR: sr, SF: sf, FB: fb}


def scenario(store, make_recording):
    """Nine sales in November reviewed as in the table below, and one in October.

    rec  machine (SR SF FB)        reviewer  decision  --finding
    R1   pass   (p  p  p)          wang      pass
    R2   fail   (F  p  p)          wang      fail
    R3   fail   (p  F  p)          wang      pass      SF=disagree
    R4   review (p  p  R)          wang      fail      FB=agree
    R5   pass   (p  p  p)          li        fail      SR=disagree
    R6   pass   (p  p  p)          li        fail                  (no check named)
    R7   fail   (F  F  p)          wang pass, then li fail SF=disagree (latest counts)
    R8   error  (E  S  p)          li        fail
    R9   pass                       not reviewed
    """
    rows = [("R1", "pass", _checks(), "BR001"), ("R2", "fail", _checks(sr="fail"), "BR001"),
            ("R3", "fail", _checks(sf="fail"), "BR001"),
            ("R4", "review", _checks(fb="review"), "BR001"),
            ("R5", "pass", _checks(), "BR001"), ("R6", "pass", _checks(), "BR002"),
            ("R7", "fail", _checks(sr="fail", sf="fail"), "BR002"),
            ("R8", "error", _checks(sr="error", sf="skipped"), "BR002"),
            ("R9", "pass", _checks(), "BR002")]
    for rid, verdict, checks, branch in rows:
        add(store, make_recording, rid, verdict=verdict, checks=checks, branch=branch)
    add(store, make_recording, "OCT", verdict="fail", checks=_checks(sr="fail"),
        day="2026-10-20")
    w, li = "王审计", "李复核"
    record_review(store, "R1", "pass", "all fine", reviewer=w)
    record_review(store, "R2", "fail", "风险揭示缺失", reviewer=w)
    record_review(store, "R3", "pass", "不保本 is a disclosure", reviewer=w,
                  findings={SF: False})
    record_review(store, "R4", "fail", "customer left the booth", reviewer=w,
                  findings={FB: True})
    record_review(store, "R5", "fail", "phrase mumbled", reviewer=li, findings={SR: False})
    record_review(store, "R6", "fail", "wrong customer", reviewer=li)
    record_review(store, "R7", "pass", "first look", reviewer=w)
    record_review(store, "R7", "fail", "on second look the disclosure is missing",
                  reviewer=li, findings={SF: False})
    record_review(store, "R8", "fail", "file truncated", reviewer=li)
    record_review(store, "OCT", "pass", "outside the period", reviewer=li, findings={SR: False})


def test_statistics_match_hand_computed_values(store, make_recording, settings):
    scenario(store, make_recording)
    st = statistics(store, *NOV, settings=settings)
    assert st["recordings"] == 9 and st["reviews"]["reviewed"] == 8
    o = st["pass_rate"]["overall"]
    assert (o["pass"], o["fail"], o["review"], o["error"]) == (4, 3, 1, 1)
    assert o["machine_pass_rate"] == pytest.approx(4 / 9)
    assert o["final_pass"] == 3 and o["final_pass_rate"] == pytest.approx(3 / 9)  # R1 R3 R9
    branches = {r["key"]: r for r in st["pass_rate"]["by_branch"]}
    assert branches["BR001"]["machine_pass_rate"] == pytest.approx(2 / 5)
    assert branches["BR001"]["final_pass_rate"] == pytest.approx(2 / 5)
    assert branches["BR002"]["machine_pass_rate"] == pytest.approx(2 / 4)
    assert branches["BR002"]["final_pass_rate"] == pytest.approx(1 / 4)
    [day] = [p for p in st["pass_rate"]["by_period"] if p["recordings"]]
    assert day["key"] == "2026-11-05" and len(st["pass_rate"]["by_period"]) == 30

    checks = {c["check_id"]: c for c in st["checks"]}
    sr, sf, fb = checks[SR], checks[SF], checks[FB]
    assert (sr["tp"], sr["fp"], sr["fn"], sr["tn"]) == (2, 0, 1, 4)  # R8's error not judged
    assert sr["precision"] == pytest.approx(1.0) and sr["recall"] == pytest.approx(2 / 3)
    assert (sf["tp"], sf["fp"], sf["fn"], sf["tn"]) == (0, 2, 0, 5)  # R8 skipped
    assert sf["precision"] == pytest.approx(0.0) and sf["recall"] is None
    assert (fb["tp"], fb["fp"], fb["fn"], fb["tn"]) == (1, 0, 0, 7)
    assert fb["precision"] == fb["recall"] == pytest.approx(1.0)
    assert st["unattributed_misses"] == 1  # R6

    # pairs (machine, human): R1 pp, R2 ff, R3 fp, R4 ff, R5 pf, R6 pf, R7 ff; R8 left out
    # po = 4/7; pe = 3/7 * 2/7 + 4/7 * 5/7 = 26/49; kappa = (28/49 - 26/49) / (23/49) = 2/23
    va = st["verdict_agreement"]
    assert (va["n"], va["machine_pass_human_pass"], va["machine_pass_human_fail"],
            va["machine_fail_human_pass"], va["machine_fail_human_fail"]) == (7, 1, 2, 1, 3)
    assert va["excluded_machine_error"] == 1
    assert va["observed"] == pytest.approx(4 / 7)
    assert va["expected"] == pytest.approx(26 / 49)
    assert va["kappa"] == pytest.approx(2 / 23)

    assert [(c["check_id"], c["disagreement_rate"]) for c in st["most_disagreeing"]] == [
        (SF, pytest.approx(2 / 7)), (SR, pytest.approx(1 / 7))]
    assert st["most_disagreeing"][0]["direction"].startswith("too strict")
    assert st["most_disagreeing"][1]["direction"].startswith("too lenient")
    assert st["reviews"]["by_reviewer"] == [
        {"reviewer": "李复核", "reviews": 4, "agree_with_machine": 2},   # R7, R8
        {"reviewer": "王审计", "reviews": 4, "agree_with_machine": 3}]   # R1, R2, R4

    failures = {f["check_id"]: f for f in st["failures_by_check"]}
    assert failures[SR] == {"check_id": SR, "fail": 2, "review": 0, "recordings": 2}
    assert failures[FB]["review"] == 1 and SR in failures and st["failures_by_check"][0]["recordings"] == 2

    only_br002 = statistics(store, *NOV, branch=["BR002"], settings=settings)
    assert only_br002["recordings"] == 4 and only_br002["reviews"]["reviewed"] == 3


def test_a_review_is_stored_audited_and_masks_personal_data(store, make_recording):
    real_id, name = "110101199003071234", "李晓梅"
    add(store, make_recording, "R1", verdict="fail", checks=_checks(sf="fail"),
        customer_id=real_id, customer_name=name)
    out = record_review(store, "R1", "pass", f"客户{name}（{real_id}）说的是不保本",
                        reviewer="王审计", findings={SF: False}, actor="ops")
    assert out["decision"] == "pass" and out["machine_verdict"] == "fail"
    assert out["agrees_with_machine"] is False and out["reviewer"] == "王审计"
    assert out["findings"] == [{"check_id": SF, "machine_status": "fail", "agree": False}]
    assert real_id not in out["reason"] and name not in out["reason"]
    assert "1101**********1234" in out["reason"] and "李**" in out["reason"]
    with store.session() as s:
        [e] = s.scalars(select(AuditEntry).where(AuditEntry.action == "review"))
        details = json.loads(e.details)
    assert e.actor == "ops" and e.recording_id == "R1"
    assert details["reviewer"] == "王审计" and details["decision"] == "pass"
    assert details["findings"][0]["check_id"] == SF
    assert real_id not in e.details and name not in e.details


def test_a_review_masks_an_id_number_whatever_the_case_of_its_check_character(
        store, make_recording):
    # the stored ID ends in X; a reviewer typing x left it in clear (exact-case scrub)
    real_id = "11010119900307123X"
    add(store, make_recording, "R1", verdict="fail", checks=_checks(sf="fail"),
        customer_id=real_id)
    out = record_review(store, "R1", "pass", f"客户证件号{real_id.lower()}核对无误",
                        reviewer="王审计", actor="ops")
    assert real_id.lower() not in out["reason"].lower()
    assert "1101**********123X" in out["reason"]


def test_reviews_of_sample_members_show_in_the_sample(store, make_recording, settings):
    for rid in ("R1", "R2", "R3"):
        add(store, make_recording, rid, verdict="fail")
    add(store, make_recording, "OTHER", verdict="fail", day="2026-12-05")
    sample = draw(store, Plan.from_settings(settings, *NOV, seed="1", name="nov"))
    record_review(store, "R1", "fail", "confirmed", reviewer="a", sample="nov")
    record_review(store, "R2", "pass", "fine", reviewer="b")  # without --sample: still counts
    shown = show(store, str(sample["sample_id"]))
    assert shown["reviewed"] == 2 and shown["intact"]
    assert {m["recording_id"]: (m["review"] or {}).get("decision") for m in shown["members"]} \
        == {"R1": "fail", "R2": "pass", "R3": None}
    with pytest.raises(BadInput, match="not in sample"):
        record_review(store, "OTHER", "fail", "x", sample="nov")


@pytest.mark.parametrize("kw,error,message", [
    ({"recording_id": "NOPE"}, NotFound, "no recording"),
    ({"decision": "maybe"}, BadInput, "pass or fail"),
    ({"reason": "  "}, BadInput, "reason"),
    ({"findings": {"speech.nope": True}}, BadInput, "no check speech.nope"),
    ({"sample": "nope"}, NotFound, "no sample"),
])
def test_bad_reviews_are_refused_and_store_nothing(store, make_recording, kw, error, message):
    add(store, make_recording, "R1")
    args = {"recording_id": "R1", "decision": "fail", "reason": "because", **kw}
    with pytest.raises(error, match=message):
        record_review(store, args.pop("recording_id"), args.pop("decision"),
                      args.pop("reason"), **args)
    with store.session() as s:
        assert not list(s.scalars(select(AuditEntry).where(AuditEntry.action == "review")))


def test_parse_findings():
    assert parse_findings(["speech.forbidden=disagree", "face.both_visible = Agree"]) == {
        "speech.forbidden": False, "face.both_visible": True}
    for bad in (["speech.forbidden"], ["=agree"], ["x=maybe"], ["x=agree", "x=disagree"]):
        with pytest.raises(BadInput):
            parse_findings(bad)
