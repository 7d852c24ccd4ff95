"""Tamper evidence: the audit log's hash chain and `dualrec integrity`."""
import json
import os

from sqlalchemy import select, text
from typer.testing import CliRunner

from pipelines.cli import app
from storage import audit
from storage.ingest import store_recording
from storage.models import AuditEntry, AuditHead

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def populate(store, make_recording, n=3):
    ids = []
    for i in range(n):
        media, sidecar, report = make_recording(f"T{i}", transcript=[(1.0, 2.0, "staff", "您好")])
        store_recording(store, media, sidecar, report, actor="tester")
        ids.append((f"T{i}", report["sha256"]))
    return ids


def integrity_json():
    r = cli("integrity", "--json")
    return r.exit_code, json.loads(r.stdout)


def test_chain_hashes_are_what_the_contract_says(store, make_recording):
    populate(store, make_recording, 1)
    with store.session() as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    prev = "0" * 64
    for e in entries:
        body = json.dumps({"actor": e.actor, "action": e.action, "recording_id": e.recording_id,
                           "details": json.loads(e.details), "at": audit.format_at(e.at)},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        import hashlib
        assert e.prev_hash == prev
        assert e.hash == hashlib.sha256((prev + body).encode("utf-8")).hexdigest()
        prev = e.hash
    assert [e.actor for e in entries] == ["tester", "tester"]


def test_clean_store_passes(store, make_recording):
    populate(store, make_recording)
    code, out = integrity_json()
    assert code == 0
    assert out["ok"] is True and out["audit_log_ok"] is True and out["mismatches"] == []
    assert out["files_checked"] == 6  # three media, three sidecars
    assert out["audit_entries"] == 6


def test_a_flipped_byte_in_the_vault_is_found_and_named(store, make_recording):
    ids = populate(store, make_recording)
    victim, sha = ids[1]
    path = store.vault.path_of(sha)
    os.chmod(path, 0o644)  # the vault file is read-only; an attacker would do this too
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    code, out = integrity_json()
    assert code == 1
    assert out["ok"] is False and out["mismatches"] == [victim]
    assert out["audit_log_ok"] is True
    [p] = [p for p in out["problems"] if p["kind"] == "vault"]
    assert p["recording_id"] == victim and p["role"] == "media" and p["status"] == "mismatch"
    human = cli("integrity")
    assert human.exit_code == 1 and victim in human.stdout and "MISMATCH" in human.stdout


def test_a_missing_vault_file_is_found(store, make_recording):
    ids = populate(store, make_recording, 2)
    victim, sha = ids[0]
    store.vault.path_of(sha).unlink()
    code, out = integrity_json()
    assert code == 1 and out["mismatches"] == [victim]
    assert out["problems"][0]["status"] == "missing"


def test_an_edited_audit_row_is_found_and_named(store, make_recording):
    populate(store, make_recording)
    with store.session() as s:
        target = s.scalars(select(AuditEntry).where(AuditEntry.action == "ingest",
                                                    AuditEntry.recording_id == "T1")).one()
        seq = target.id
        # an insider rewrites who did it, straight in the database
        s.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE id = :i"), {"i": seq})
    code, out = integrity_json()
    assert code == 1
    assert out["audit_log_ok"] is False and out["ok"] is False and out["mismatches"] == []
    [p] = out["audit_problems"]
    assert p["seq"] == seq and p["recording_id"] == "T1" and "was edited" in p["problem"]


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(store, make_recording):
    populate(store, make_recording)
    with store.session() as s:
        e = s.scalars(select(AuditEntry).where(AuditEntry.id == 2)).one()
        details = json.loads(e.details)
        details["verdict"] = "fail"
        new_hash = audit.entry_hash(e.prev_hash, e.actor, e.action, e.recording_id, details, e.at)
        s.execute(text("UPDATE audit_log SET details = :d, hash = :h WHERE id = 2"),
                  {"d": audit.canonical_json(details), "h": new_hash})
    code, out = integrity_json()
    assert code == 1
    assert [p["seq"] for p in out["audit_problems"]] == [3]
    assert "does not link to entry 2" in out["audit_problems"][0]["problem"]


def test_removed_rows_are_found(store, make_recording):
    populate(store, make_recording)
    with store.session() as s:
        s.execute(text("DELETE FROM audit_log WHERE id = 3"))
    code, out = integrity_json()
    assert code == 1 and out["audit_problems"][0]["seq"] == 4
    assert "removed" in out["audit_problems"][0]["problem"]


def test_a_removed_tail_is_found_by_the_head(store, make_recording):
    populate(store, make_recording)
    with store.session() as s:
        last = s.get(AuditHead, 1).last_entry_id
        s.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": last})
    code, out = integrity_json()
    assert code == 1 and out["audit_log_ok"] is False
    assert "removed from the end" in out["audit_problems"][0]["problem"]


def test_integrity_run_is_itself_logged(store, make_recording):
    populate(store, make_recording, 1)
    integrity_json()
    with store.session() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert last.action == "integrity" and json.loads(last.details)["ok"] is True


def test_concurrent_appenders_never_fork_the_chain(store):
    import threading

    errors = []

    def worker(name):
        try:
            for i in range(15):
                with store.session() as s:
                    audit.append(s, name, "view", f"R{i}", {"n": i})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"clerk{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.session() as s:
        report = audit.verify_chain(s)
        prevs = [e.prev_hash for e in s.scalars(select(AuditEntry))]
    assert report.ok and report.entries == 60
    assert len(set(prevs)) == 60  # every entry has its own predecessor: no fork
