"""Ingest: vault then database, one transaction, idempotent; a crash at any step leaves
no half-stored recording and a rerun completes it."""
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import BadInput
from storage.ingest import store_recording
from storage.models import (AuditEntry, Finding, Recording, TranscriptSegment, VaultObject,
                            VerificationRun)

REPO = Path(__file__).resolve().parent.parent

SEGMENTS = [(0.5, 3.2, "staff", "您好，我是本行理财经理，工号S1024。"),
            (3.4, 7.9, "staff", "理财非存款，产品有风险，投资须谨慎。"),
            (8.1, 9.0, "customer", "好的，我已了解。")]


def counts(store):
    with store.session() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t))
                for t in (Recording, VerificationRun, Finding, TranscriptSegment, VaultObject,
                          AuditEntry)}


def test_store_writes_every_row_and_vaults_read_only(store, make_recording):
    media, sidecar, report = make_recording("R1", transcript=SEGMENTS)
    result = store_recording(store, media, sidecar, report, actor="tester")
    assert result.status == "stored" and result.verdict == "pass" and result.run_id
    assert result.sha256 == report["sha256"]
    assert counts(store) == {"recordings": 1, "verification_runs": 1, "findings": 2,
                             "transcript_segments": 3, "vault_objects": 2, "audit_log": 2}
    path = store.vault.path_of(result.sha256)
    assert path.relative_to(store.vault.root).as_posix() == \
        f"{result.sha256[:2]}/{result.sha256[2:4]}/{result.sha256}"
    assert path.read_bytes() == media.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    with store.session() as s:
        rec = s.scalars(select(Recording)).one()
        assert rec.sale_time.isoformat() == "2026-11-21T02:35:00+00:00"
        assert str(rec.sale_date) == "2026-11-21" and str(rec.retention_until) == "2027-11-20"
        assert rec.customer_id_masked.count("*") == 10 and rec.customer_key != rec.customer_id
        run = s.get(VerificationRun, rec.current_run_id)
        assert (run.ruleset_id, run.ruleset_version, run.engine_version) == \
            ("wealth-standard", "2026.11", "0.1.0")
        assert run.asr_model == "whisper-base-offline" and run.face_detector == "yunet-2023mar"
        f = s.scalars(select(Finding).where(Finding.check_id == "speech.required")).one()
        assert f.severity == "critical" and f.evidence[0]["start_s"] == 1.0
        assert f.items[0]["id"] == "not-deposit"
        seg = s.scalars(select(TranscriptSegment).where(TranscriptSegment.seq == 1)).one()
        assert seg.text_norm == "理财非存款产品有风险投资须谨慎" and seg.start_s == 3.4
        assert [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))] == \
            ["ingest", "verify"]


def test_rerun_is_a_skip_and_a_new_ruleset_version_is_a_new_run(store, make_recording):
    media, sidecar, report = make_recording("R2", transcript=SEGMENTS)
    store_recording(store, media, sidecar, report, actor="tester")
    again = store_recording(store, media, sidecar, report, actor="tester")
    assert again.status == "skipped"
    assert counts(store)["verification_runs"] == 1 and counts(store)["audit_log"] == 2

    newer = json.loads(json.dumps(report))
    newer["ruleset"]["version"] = "2027.01"
    newer["verdict"] = "review"
    third = store_recording(store, media, sidecar, newer, actor="tester")
    assert third.status == "reverified" and third.verdict == "review"
    with store.session() as s:
        rec = s.scalars(select(Recording)).one()
        assert len(rec.runs) == 2 and rec.current_run_id == rec.runs[-1].id
        assert rec.verdict == "review"


def test_an_error_verdict_is_retried_not_skipped(store, make_recording):
    media, sidecar, report = make_recording("R3", verdict="error")
    store_recording(store, media, sidecar, report, actor="tester")
    second = store_recording(store, media, sidecar, report, actor="tester")
    assert second.status == "reverified"


def test_refuses_other_media_under_a_stored_id_and_foreign_reports(store, make_recording,
                                                                  tmp_path):
    media, sidecar, report = make_recording("R4")
    store_recording(store, media, sidecar, report, actor="tester")
    other, other_sidecar, other_report = make_recording("R4", folder=tmp_path / "other")
    with pytest.raises(BadInput, match="different media file"):
        store_recording(store, other, other_sidecar, other_report, actor="tester")
    media5, sidecar5, report5 = make_recording("R5")
    with pytest.raises(BadInput, match="the report is about another file"):
        store_recording(store, media5, sidecar5, report, actor="tester")
    with pytest.raises(BadInput, match="verdict"):
        store_recording(store, media5, sidecar5, {**report5, "verdict": "ok"}, actor="tester")
    assert counts(store)["recordings"] == 1


def test_personal_data_in_a_foreign_report_is_masked_when_stored(store, make_recording):
    meta_name = "李晓梅"
    media, sidecar, report = make_recording("R6", transcript=[
        (1.0, 2.0, "staff", f"请问您是{meta_name}女士吗？")])
    real_id = report["metadata"]["customer_id"]
    store_recording(store, media, sidecar, report, actor="tester")
    with store.session() as s:
        run = s.scalars(select(VerificationRun)).one()
        text = json.dumps(run.report_json, ensure_ascii=False)
        seg = s.scalars(select(TranscriptSegment)).one()
        rec = s.scalars(select(Recording)).one()
        sidecar_json = json.dumps(rec.sidecar_json, ensure_ascii=False)
        audit_text = "".join(e.details for e in s.scalars(select(AuditEntry)))
    assert real_id not in text and meta_name not in text and "李**" in text
    assert meta_name not in seg.text and real_id not in sidecar_json
    assert real_id not in audit_text
    # the real values are kept for the evidence export only
    assert rec.customer_id == real_id and rec.customer_name == meta_name


def test_separate_audio_file_is_vaulted(store, make_recording):
    media, sidecar, report = make_recording("R7")
    (media.parent / "R7.wav").write_bytes(os.urandom(2048))
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["audio_file"] = "R7.wav"
    sidecar.write_text(json.dumps(data), encoding="utf-8")
    store_recording(store, media, sidecar, report, actor="tester")
    with store.session() as s:
        rec = s.scalars(select(Recording)).one()
        assert rec.audio_name == "R7.wav" and store.vault.exists(rec.audio_sha256)
        assert s.get(VaultObject, rec.audio_sha256).kind == "audio"


# ------------------------------------------------------------------ crash safety

CHILD = """
import json, sys
from pathlib import Path
from storage.db import open_store
from storage.ingest import store_recording
from verifier.config import load_settings
report = json.loads(Path(sys.argv[3]).read_text(encoding="utf-8"))
store = open_store(load_settings())
print(store_recording(store, sys.argv[1], Path(sys.argv[2]), report, actor="batch").status)
"""


def run_child(media, sidecar, report, tmp_path, crash_at=None):
    report_file = tmp_path / "report.json"
    report_file.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DUALREC_CRASH_AT", None)
    if crash_at:
        env["DUALREC_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-c", CHILD, str(media), str(sidecar),
                           str(report_file)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


def assert_nothing_stored(store):
    assert counts(store) == {"recordings": 0, "verification_runs": 0, "findings": 0,
                             "transcript_segments": 0, "vault_objects": 0, "audit_log": 0}


def test_killed_mid_ingest_leaves_nothing_half_stored_and_rerun_completes(
        store, make_recording, tmp_path):
    from storage.integrity import check

    media, sidecar, report = make_recording("CRASH1", transcript=SEGMENTS)
    # 1. killed (SIGKILL) after the media reached the vault, before the sidecar did
    killed = run_child(media, sidecar, report, tmp_path, crash_at="after-media")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert_nothing_stored(store)  # no recording, run, finding, segment or audit entry
    assert store.vault.exists(report["sha256"])  # the vault write had happened
    orphaned = check(store, log_it=False)
    assert orphaned["ok"] and orphaned["orphans"] == [report["sha256"]]

    # 2. the rerun is killed too, inside the database transaction, just before commit
    killed = run_child(media, sidecar, report, tmp_path, crash_at="before-commit")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert_nothing_stored(store)
    assert len(check(store, log_it=False)["orphans"]) == 2  # media and sidecar

    # 3. the next rerun completes it: exactly one recording, everything adopted
    done = run_child(media, sidecar, report, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stored"
    c = counts(store)
    assert c["recordings"] == 1 and c["verification_runs"] == 1 and c["findings"] == 2
    assert c["transcript_segments"] == 3 and c["vault_objects"] == 2 and c["audit_log"] == 2
    after = check(store, log_it=False)
    assert after["ok"] and after["orphans"] == [] and after["files_checked"] == 2
    assert store_recording(store, media, sidecar, report, actor="tester").status == "skipped"
    assert counts(store)["recordings"] == 1
