"""Retention dates (DOMAIN.md "Retention"): calendar months with month-end clamping, the
maximum of every applicable rule, open-ended products and redemption dates, sector
floors, and the policy as configuration."""
import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from storage.db import BadInput, StoreError
from storage.retention import Facts, Period, add_months, compute, load_policy

POLICY = load_policy()


@pytest.mark.parametrize("start, months, expected", [
    (date(2026, 8, 31), 6, date(2027, 2, 28)),    # DOMAIN.md: clamped to February's end
    (date(2027, 8, 31), 6, date(2028, 2, 29)),    # ... in a leap year
    (date(2026, 5, 20), 6, date(2026, 11, 20)),
    (date(2026, 12, 31), 2, date(2027, 2, 28)),
    (date(2024, 2, 29), 12, date(2025, 2, 28)),   # a leap day plus a year
    (date(2027, 7, 31), 7, date(2028, 2, 29)),
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2026, 10, 31), 1, date(2026, 11, 30)),
    (date(2026, 11, 15), 3, date(2027, 2, 15)),   # over the year end
])
def test_calendar_months_clamp_to_month_end(start, months, expected):
    assert add_months(start, months) == expected


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2150, 12, 31)),
       st.integers(min_value=0, max_value=600))
def test_add_months_properties(d, n):
    out = add_months(d, n)
    assert (out.year * 12 + out.month) - (d.year * 12 + d.month) == n  # exactly n months on
    assert out.day == min(d.day, calendar.monthrange(out.year, out.month)[1])
    assert out >= d


def wealth(sale, maturity, redemption=None, category="wealth", **extra):
    return Facts(category, sale, maturity, redemption, extra)


def test_fixed_term_product_six_months_after_maturity():
    r = compute(wealth(date(2026, 2, 28), date(2026, 8, 31)), POLICY)
    assert r.until == date(2027, 2, 28)
    assert r.basis.startswith("payout-plus-6m:") and "2026-08-31" in r.basis
    r = compute(wealth(date(2027, 3, 1), date(2027, 8, 31)), POLICY)
    assert r.until == date(2028, 2, 29)


def test_open_ended_product_is_kept_until_redemption_is_known():
    r = compute(wealth(date(2026, 11, 21), None), POLICY)
    assert r.until is None
    assert r.basis.startswith("payout-plus-6m:") and "not known yet" in r.basis
    # the floor is listed among the rules that apply
    floor = next(x for x in r.rules if x["rule"] == "open-ended-floor")
    assert floor["until"] == "2031-11-21"


def test_open_ended_redeemed_early_keeps_the_floor():
    r = compute(wealth(date(2026, 11, 21), None, redemption=date(2027, 1, 10)), POLICY)
    assert r.until == date(2031, 11, 21)
    assert r.basis.startswith("open-ended-floor:")


def test_open_ended_redeemed_late_keeps_six_months_after_redemption():
    r = compute(wealth(date(2020, 1, 1), None, redemption=date(2026, 8, 31)), POLICY)
    assert r.until == date(2027, 2, 28)
    assert r.basis.startswith("payout-plus-6m:")


def test_redemption_after_maturity_counts_from_the_later_date():
    r = compute(wealth(date(2026, 1, 5), date(2026, 7, 5), redemption=date(2026, 9, 30)), POLICY)
    assert r.until == date(2027, 3, 30)


def test_insurance_sector_floors_by_policy_term():
    short = compute(wealth(date(2026, 1, 1), date(2026, 12, 31), category="agency_insurance"),
                    POLICY)
    assert short.until == date(2031, 12, 31) and short.basis.startswith("insurance-short-term:")
    long = compute(wealth(date(2026, 1, 1), date(2036, 1, 1), category="agency_insurance"),
                   POLICY)
    assert long.until == date(2046, 1, 1) and long.basis.startswith("insurance-long-term:")
    # the maximum of every rule: the 6-month rule applied too, and lost
    assert {x["rule"] for x in long.rules} == {"payout-plus-6m", "insurance-long-term"}


def test_rule_matching_an_extra_sidecar_field():
    r = compute(wealth(date(2026, 1, 1), date(2027, 1, 1), issuer_type="wealth_company"), POLICY)
    assert r.until == date(2047, 1, 1) and r.basis.startswith("wealth-company-termination:")


@hsettings(max_examples=300)
@given(sale=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
       term=st.one_of(st.none(), st.integers(min_value=0, max_value=40 * 366)),
       redeem=st.one_of(st.none(), st.integers(min_value=0, max_value=40 * 366)),
       category=st.sampled_from(["wealth", "agency_fund", "agency_insurance", "agency_trust",
                                 "agency_other"]))
def test_never_earlier_than_any_rule(sale, term, redeem, category):
    maturity = sale + timedelta(days=term) if term is not None else None
    redemption = sale + timedelta(days=redeem) if redeem is not None else None
    r = compute(Facts(category, sale, maturity, redemption), POLICY)
    end = max([d for d in (maturity, redemption) if d is not None], default=None)
    if end is None:
        assert r.until is None  # nothing may be purged before the end is known
        return
    assert r.until is not None
    assert r.until >= add_months(end, 6)           # 到期兑付后6个月, at least
    if maturity is None:
        assert r.until >= add_months(sale, 60)     # the open-ended floor
    if category == "agency_insurance":
        assert r.until >= add_months(end, 60)
    for rule in r.rules:                           # the maximum of every rule
        assert rule["until"] is None or date.fromisoformat(rule["until"]) <= r.until
    assert r.basis.split(":")[0] in {x["rule"] for x in r.rules}


def test_the_floor_is_configuration(tmp_path, monkeypatch):
    text = (load_policy.__globals__["policy_path"]()).read_text(encoding="utf-8")
    custom = text.replace("add: {years: 5}\n\n  - id: insurance-short-term",
                          "add: {months: 12}\n\n  - id: insurance-short-term")
    assert custom != text
    path = tmp_path / "retention.yaml"
    path.write_text(custom, encoding="utf-8")
    monkeypatch.setenv("DUALREC_RETENTION_CONFIG", str(path))
    r = compute(wealth(date(2026, 11, 21), None, redemption=date(2026, 12, 1)), load_policy())
    assert r.until == date(2027, 11, 21) and r.basis.startswith("open-ended-floor:")


def test_invalid_policy_names_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("policy: x\nrules:\n  - id: a\n    from: sale_day\n    add: {months: 6}\n",
                    encoding="utf-8")
    with pytest.raises(StoreError, match=r"rules\.0\.from"):
        load_policy(path)


def test_period_text():
    assert str(Period(years=5)) == "5 years" and str(Period(months=1, days=2)) == "1 month 2 days"


# ------------------------------------------------------------------ through the store


def test_redemption_date_in_an_updated_sidecar_recomputes(store, make_recording):
    import json

    from sqlalchemy import select

    from storage.ingest import store_recording
    from storage.models import AuditEntry, Recording

    media, sidecar, report = make_recording("OPEN1", maturity_date=None,
                                            sale_time="2026-03-10T10:00:00+08:00")
    first = store_recording(store, media, sidecar, report, actor="tester")
    assert first.status == "stored" and first.retention_until is None
    assert "not known yet" in first.retention_basis

    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["redemption_date"] = "2033-04-30"
    sidecar.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    second = store_recording(store, media, sidecar, report, actor="tester")
    assert second.status == "updated"
    assert second.retention_until == "2033-10-30"
    assert second.retention_basis.startswith("payout-plus-6m: end_date 2033-04-30")
    with store.session() as s:
        rec = s.scalars(select(Recording)).one()
        assert rec.redemption_date == date(2033, 4, 30) and len(rec.runs) == 1
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert last.action == "ingest" and "metadata-updated" in last.details
        assert '"retention_before":{"retention_basis"' in last.details


def test_bad_redemption_date_is_bad_input(store, make_recording):
    from storage.ingest import store_recording

    media, sidecar, report = make_recording("OPEN2", maturity_date=None,
                                            redemption_date="2020-01-01")
    with pytest.raises(BadInput, match="redemption_date: 2020-01-01 is before the sale date"):
        store_recording(store, media, sidecar, report, actor="tester")


def test_recompute_after_a_policy_change(store, make_recording, tmp_path, monkeypatch):
    import json as _json

    from typer.testing import CliRunner

    from pipelines.cli import app
    from storage.ingest import store_recording

    media, sidecar, report = make_recording("POL1", sale_time="2026-01-10T10:00:00+08:00",
                                            maturity_date="2026-07-10")
    store_recording(store, media, sidecar, report, actor="tester")
    text = load_policy.__globals__["policy_path"]().read_text(encoding="utf-8")
    path = tmp_path / "retention.yaml"
    path.write_text(text.replace('policy: "2026.11"', 'policy: "2027.01"') + """
  - id: bank-minimum-3y
    text: this bank keeps every sales recording at least 3 years from the sale
    from: sale_date
    add: {years: 3}
""", encoding="utf-8")
    monkeypatch.setenv("DUALREC_RETENTION_CONFIG", str(path))
    r = CliRunner().invoke(app, ["retention", "recompute", "--json"])
    assert r.exit_code == 0, r.output
    out = _json.loads(r.stdout)
    assert out["policy"] == "2027.01" and out["checked"] == 1
    assert out["changed"] == [{"recording_id": "POL1", "from": "2027-01-10", "to": "2029-01-10",
                               "basis": "bank-minimum-3y: sale_date 2026-01-10 + 3 years"}]
    again = _json.loads(CliRunner().invoke(app, ["retention", "recompute", "--json"]).stdout)
    assert again["changed"] == []
