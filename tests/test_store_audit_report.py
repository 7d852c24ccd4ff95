"""The compliance report on a real store: HTML with charts, CSV and Excel exports."""
import csv
import json
import re
from datetime import date

from sqlalchemy import select

from storage.compliance_report import write_report
from storage.models import AuditEntry
from storage.review import record_review
from tests.audit_data import add

REAL_ID = "110101199003071234"


def _store_month(store, make_recording):
    add(store, make_recording, "BR1-PASS", day="2026-11-03", customer_id=REAL_ID,
        customer_name="李晓梅")
    add(store, make_recording, "BR1-FAIL", verdict="fail", day="2026-11-03",
        checks={"speech.required": "fail", "speech.forbidden": "pass"})
    add(store, make_recording, "BR1-REV", verdict="review", day="2026-11-10",
        checks={"speech.required": "pass", "speech.forbidden": "review"})
    add(store, make_recording, "BR2-PASS", branch="BR002", day="2026-11-10")
    add(store, make_recording, "BR1-DEC", verdict="fail", day="2026-12-01")  # not in November
    record_review(store, "BR1-FAIL", "fail", "风险揭示缺失", reviewer="王审计")
    record_review(store, "BR1-REV", "pass", "=HYPERLINK(\"http://x\")", reviewer="王审计",
                  findings={"speech.forbidden": False})


def test_report_writes_html_with_charts_csv_and_excel(store, make_recording, settings, tmp_path):
    from openpyxl import load_workbook

    _store_month(store, make_recording)
    out = tmp_path / "report"
    result = write_report(store, date(2026, 11, 1), date(2026, 11, 30), out,
                          settings=settings, actor="auditor")
    st = result["statistics"]
    assert st["recordings"] == 4 and st["pass_rate"]["overall"]["machine_pass_rate"] == 0.5
    assert st["pass_rate"]["overall"]["final_pass_rate"] == 0.75  # BR1-REV passed by a person

    for name in ("pass_rate", "failures", "agreement"):
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', html)) == 3
    assert "@media print" in html and "@page" in html
    assert "50.0%" in html and "75.0%" in html
    assert "BR1-FAIL" in html and "BR1-DEC" not in html
    assert "&#34;http://x&#34;" in html or "&quot;http://x&quot;" in html  # escaped
    assert REAL_ID not in html and "李晓梅" not in html

    with open(out / "report.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert (out / "report.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # Excel: UTF-8
    assert [r["recording_id"] for r in rows] == ["BR1-FAIL", "BR1-PASS", "BR1-REV", "BR2-PASS"]
    by_id = {r["recording_id"]: r for r in rows}
    assert by_id["BR1-PASS"]["customer_id"] == "1101**********1234"
    assert by_id["BR1-FAIL"]["flagged_checks"] == "speech.required (fail)"
    assert by_id["BR1-FAIL"]["review_decision"] == "fail" and by_id["BR1-FAIL"]["reviewer"] == "王审计"
    assert by_id["BR1-REV"]["final_verdict"] == "pass"
    assert by_id["BR1-REV"]["review_reason"].startswith("'=")  # not run as a formula
    assert REAL_ID not in (out / "report.csv").read_text(encoding="utf-8-sig")

    wb = load_workbook(out / "report.xlsx")
    assert wb.sheetnames == ["Summary", "By period", "By branch", "By staff", "By product",
                             "Failures by check", "Agreement by check", "Reviewers",
                             "Recordings"]
    summary = {r[0].value: r[1].value for r in wb["Summary"].iter_rows(min_row=2)}
    assert summary["recordings"] == 4 and summary["machine pass rate"] == 0.5
    branches = [[c.value for c in r] for r in wb["By branch"].iter_rows(min_row=2)]
    assert [(b[0], b[1], b[6]) for b in branches] == [("BR001", 3, 1 / 3), ("BR002", 1, 1.0)]
    recs = list(wb["Recordings"].iter_rows(min_row=2, values_only=True))
    assert len(recs) == 4
    reason_cell = [r for r in wb["Recordings"].iter_rows(min_row=2) if r[0].value == "BR1-REV"][0][14]
    assert reason_cell.data_type == "s" and reason_cell.value.startswith("=HYPERLINK")
    checks = {r[0].value: r for r in wb["Agreement by check"].iter_rows(min_row=2)}
    assert checks["speech.forbidden"][3].value == 1  # FP: the reviewer disagreed

    with store.session() as s:
        [e] = s.scalars(select(AuditEntry).where(AuditEntry.action == "report"))
    assert e.actor == "auditor" and json.loads(e.details)["recordings"] == 4


def test_report_of_one_branch_and_of_an_empty_period(store, make_recording, settings, tmp_path):
    _store_month(store, make_recording)
    one = write_report(store, date(2026, 11, 1), date(2026, 11, 30), tmp_path / "br2",
                       branch=["BR002"], settings=settings)["statistics"]
    assert one["recordings"] == 1 and one["branch"] == ["BR002"]
    empty = write_report(store, date(2025, 1, 1), date(2025, 12, 31), tmp_path / "empty",
                         settings=settings)
    assert empty["statistics"]["recordings"] == 0
    assert empty["statistics"]["granularity"] == "month"
    html = (tmp_path / "empty" / "report.html").read_text(encoding="utf-8")
    assert "no reviewed recordings in this period" in html
