"""The auditor's path through the real command line (`.venv/bin/dualrec` as a
subprocess): draw a sample, review its members, write the report; exit statuses and
masking as CONTRACT section 3 says."""
import json
import subprocess

from tests.audit_data import add
from tests.fixtures import DUALREC

REAL_ID = "440106199001173082"


def dualrec(*args):
    return subprocess.run([DUALREC, *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_sample_review_report_through_the_command_line(store, make_recording, tmp_path):
    for i in range(10):
        add(store, make_recording, f"P{i}", day=f"2026-11-{10 + i}")
    add(store, make_recording, "F1", verdict="fail", customer_id=REAL_ID,
        checks={"speech.required": "pass", "speech.forbidden": "fail"})
    add(store, make_recording, "H1", risk="R4", day="2026-11-12")
    add(store, make_recording, "LATER", verdict="fail", day="2026-12-03")

    draw = ["sample", "draw", "--from", "2026-11-01", "--to", "2026-11-30", "--rate", "0.2",
            "--per", "branch", "--seed", "42", "--name", "2026-11 monthly", "--json"]
    r = dualrec(*draw)
    assert r.returncode == 0, r.stderr
    sample = json.loads(r.stdout)
    members = {m["recording_id"]: m["reason"] for m in sample["members"]}
    assert members["F1"] == "verdict" and members["H1"] == "high-risk"
    assert sorted(members.values()).count("random") == 2 and "LATER" not in members
    assert sample["seed"] == "42" and sample["population"] == 12
    assert REAL_ID not in r.stdout

    again = dualrec(*draw)
    assert again.returncode == 2 and "was drawn" in again.stderr and "never change" in again.stderr
    listed = json.loads(dualrec("sample", "list", "--json").stdout)["samples"]
    assert [(x["name"], x["size"], x["reviewed"]) for x in listed] == [("2026-11 monthly", 4, 0)]

    r = dualrec("review", "F1", "--decision", "pass", "--reason", f"{REAL_ID} 说的是不保本",
                "--reviewer", "王审计", "--finding", "speech.forbidden=disagree",
                "--sample", "2026-11 monthly", "--json")
    assert r.returncode == 0, r.stderr
    review = json.loads(r.stdout)
    assert review["agrees_with_machine"] is False and REAL_ID not in r.stdout
    for rid in (m for m in members if m != "F1"):
        r = dualrec("review", rid, "--decision", "pass", "--reason", "looked fine",
                    "--reviewer", "李复核")
        assert r.returncode == 0 and "reviewed PASS by 李复核" in r.stdout, r.stderr
    shown = dualrec("sample", "show", "2026-11 monthly")
    assert shown.returncode == 0 and "4 reviewed" in shown.stdout

    r = dualrec("report", "--from", "2026-11-01", "--to", "2026-11-30", "--out",
                tmp_path / "report", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {k: (tmp_path / "report" / f"report.{k}").is_file() for k in ("html", "csv", "xlsx")} \
        == {"html": True, "csv": True, "xlsx": True}
    st = out["statistics"]
    assert st["recordings"] == 12 and st["reviews"]["reviewed"] == 4
    assert st["pass_rate"]["overall"]["final_pass_rate"] == 1.0
    sf = next(c for c in st["checks"] if c["check_id"] == "speech.forbidden")
    assert (sf["fp"], sf["tp"]) == (1, 0)
    assert REAL_ID not in r.stdout + (tmp_path / "report" / "report.html").read_text("utf-8")
    text = dualrec("stats", "--from", "2026-11-01", "--to", "2026-11-30")
    assert text.returncode == 0 and "speech.forbidden" in text.stdout

    integrity = json.loads(dualrec("integrity", "--json").stdout)
    assert integrity["ok"] is True and integrity["audit_log_ok"] is True

    # bad input: exit 2 with one line on stderr
    for args, needle in [
        (("review", "NOPE", "--decision", "pass", "--reason", "x"), "no recording"),
        (("review", "F1", "--decision", "maybe", "--reason", "x"), "pass or fail"),
        (("review", "F1", "--decision", "fail", "--reason", "x", "--finding", "x"), "CHECK_ID="),
        (("sample", "draw", "--from", "2026-11-30", "--to", "2026-11-01"), "after"),
        (("sample", "draw", "--from", "2026-11-01"), "--to"),
        (("sample", "draw", "--from", "2026-11-01", "--to", "2026-11-30", "--rate", "2"), "between"),
        (("sample", "show", "nope"), "no sample"),
        (("report", "--from", "2026-11-01", "--to", "2026-11-30", "--out", tmp_path / "r2",
          "--by", "year"), "--by"),
    ]:
        r = dualrec(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
