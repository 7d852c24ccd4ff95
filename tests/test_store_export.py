"""Evidence export: original media, sidecar (the one place with the customer in clear),
report, transcript, audit trail, and a manifest whose sums check out."""
import hashlib
import json
import subprocess

from typer.testing import CliRunner

from pipelines.cli import app
from storage.ingest import store_recording
from storage.retention import sweep

runner = CliRunner()

SEGMENTS = [(0.5, 3.25, "staff", "理财非存款，产品有风险，投资须谨慎。"),
            (61.0, 63.5, "customer", "我已了解，同意购买。")]


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_contents_and_manifest(store, make_recording, tmp_path):
    media, sidecar, report = make_recording("EXP1", transcript=SEGMENTS)
    real_id = report["metadata"]["customer_id"]
    store_recording(store, media, sidecar, report, actor="tester")
    cli("hold", "EXP1", "--case", "CASE-7", "--reason", "投诉")
    out = tmp_path / "evidence"
    r = cli("export", "EXP1", "--out", out)
    assert r.exit_code == 0, r.output
    assert real_id not in r.stdout

    # the original bytes, byte for byte
    assert (out / "media" / "EXP1.mp4").read_bytes() == media.read_bytes()
    assert (out / "EXP1.json").read_bytes() == sidecar.read_bytes()
    assert json.loads((out / "EXP1.json").read_text(encoding="utf-8"))["customer_id"] == real_id
    record = json.loads((out / "record.json").read_text(encoding="utf-8"))
    assert record["customer_id"] == real_id and record["legal_holds"][0]["case"] == "CASE-7"
    stored = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert stored["verdict"] == "pass" and stored["sha256"] == report["sha256"]
    assert (out / "transcript.txt").read_text(encoding="utf-8").splitlines() == [
        "[00:00:00.500 - 00:00:03.250] staff: 理财非存款，产品有风险，投资须谨慎。",
        "[00:01:01.000 - 00:01:03.500] customer: 我已了解，同意购买。"]
    assert (out / "transcript.srt").read_text(encoding="utf-8") == (
        "1\n00:00:00,500 --> 00:00:03,250\nstaff: 理财非存款，产品有风险，投资须谨慎。\n\n"
        "2\n00:01:01,000 --> 00:01:03,500\ncustomer: 我已了解，同意购买。\n")

    # the audit trail of this recording, the export itself included, with chain hashes
    trail = [json.loads(line) for line in
             (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["action"] for e in trail] == ["ingest", "verify", "hold", "export"]
    assert all(len(e["hash"]) == 64 and len(e["prev_hash"]) == 64 for e in trail)

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["recording_id"] == "EXP1" and manifest["media_sha256"] == report["sha256"]
    assert manifest["audit_entry_hash"] == trail[-1]["hash"]
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {"manifest.json", "SHA256SUMS"}
    for path, f in listed.items():
        assert f["sha256"] == sha(out / path) and f["bytes"] == (out / path).stat().st_size
    assert listed["media/EXP1.mp4"]["sha256"] == report["sha256"]
    if (out / "timeline.png").exists():
        assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert any("timeline" in n for n in manifest["notes"])
    # SHA256SUMS checks the whole folder with the standard tool
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert len(check.stdout.splitlines()) == len(on_disk) - 1

    # an export never overwrites
    r = cli("export", "EXP1", "--out", out)
    assert r.exit_code == 2 and "never overwrites" in r.stderr
    assert cli("export", "NOPE", "--out", tmp_path / "x").exit_code == 2
    assert not (tmp_path / "x").exists()


def test_export_of_a_purged_recording_says_so(store, make_recording, tmp_path):
    media, sidecar, report = make_recording("EXP2", sale_time="2019-01-10T10:00:00+08:00",
                                            maturity_date="2019-07-10")
    store_recording(store, media, sidecar, report, actor="tester")
    assert sweep(store, actor="tester").purged == ["EXP2"]
    out = tmp_path / "evidence2"
    assert cli("export", "EXP2", "--out", out).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["media_present"] is False and not (out / "media").exists()
    assert any("purged" in n and report["sha256"] in n for n in manifest["notes"])
    assert (out / "EXP2.json").exists() and (out / "report.json").exists()


def test_export_refuses_a_damaged_vault_copy(store, make_recording, tmp_path):
    import os

    media, sidecar, report = make_recording("EXP3")
    store_recording(store, media, sidecar, report, actor="tester")
    path = store.vault.path_of(report["sha256"])
    os.chmod(path, 0o644)
    path.write_bytes(b"x" + path.read_bytes()[1:])
    r = cli("export", "EXP3", "--out", tmp_path / "evidence3")
    assert r.exit_code == 1 and "damaged" in r.stderr
    assert not (tmp_path / "evidence3").exists()
    assert not list(tmp_path.glob(".evidence3.partial-*"))
