"""The vault: content-addressed, write-once, verified; encryption at rest; and the S3
backend with Object Lock, tested against moto's S3 server started here (server mode,
127.0.0.1, a free port)."""
import json
import os
import stat
from datetime import date, datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from storage.crypto import CryptoError
from storage.vault import LocalVault, S3Vault, VaultError, VaultLocked, open_vault

KEY = "8f" * 32


def test_local_write_once_content_addressed(tmp_path):
    v = LocalVault(tmp_path / "vault")
    src = tmp_path / "rec.mp4"
    src.write_bytes(b"\x00\x01" * 5000)
    first = v.put_file(src)
    assert first.created and first.size == 10000 and not first.encrypted
    path = v.path_of(first.sha256)
    assert path.relative_to(v.root).as_posix() == first.key == \
        f"{first.sha256[:2]}/{first.sha256[2:4]}/{first.sha256}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert v.put_file(src).created is False  # same content: a no-op
    assert v.verify(first.sha256).ok and list(v.iter_addresses()) == [first.sha256]
    assert not v.temp_files()
    # the caller's hash must match what is read
    with pytest.raises(VaultError, match="content changed"):
        v.put_file(src, expected_sha256="0" * 64)


def test_a_damaged_object_is_never_overwritten(tmp_path):
    v = LocalVault(tmp_path / "vault")
    obj = v.put_bytes(b"original evidence")
    path = v.path_of(obj.sha256)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered evidence")
    assert v.verify(obj.sha256).status == "mismatch"
    with pytest.raises(VaultError, match="damaged"):
        v.put_bytes(b"original evidence")
    assert path.read_bytes() == b"tampered evidence"  # left for the investigation


def test_leftover_temp_files_are_cleaned(tmp_path):
    v = LocalVault(tmp_path / "vault")
    obj = v.put_bytes(b"x")
    tmp = v.path_of(obj.sha256).parent / f".{obj.sha256}.dead.tmp"
    tmp.write_bytes(b"partial")
    os.utime(tmp, (0, 0))
    assert v.temp_files() == [tmp]
    assert v.cleanup_temp() == 1 and not tmp.exists()


def test_encryption_at_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("DUALREC_VAULT_KEY", KEY)
    v = open_vault(tmp_path)
    data = os.urandom(3 * 1024 * 1024 + 17)  # several chunks
    obj = v.put_bytes(data)
    raw = v.path_of(obj.sha256).read_bytes()
    assert obj.encrypted and raw.startswith(b"DRVAULT1") and data[:64] not in raw
    assert v.read_bytes(obj.sha256) == data and v.verify(obj.sha256).ok
    assert v.put_bytes(data).created is False
    # one flipped bit fails authentication
    path = v.path_of(obj.sha256)
    os.chmod(path, 0o644)
    damaged = bytearray(raw)
    damaged[len(raw) // 2] ^= 0x80
    path.write_bytes(bytes(damaged))
    check = v.verify(obj.sha256)
    assert check.status == "mismatch" and "authentication" in check.detail
    # a truncated object too
    path.write_bytes(raw[:-100])
    assert v.verify(obj.sha256).status == "mismatch"
    # without the key, or with another key, nothing is readable
    path.write_bytes(raw)
    monkeypatch.delenv("DUALREC_VAULT_KEY")
    assert "no vault key" in open_vault(tmp_path).verify(obj.sha256).detail
    monkeypatch.setenv("DUALREC_VAULT_KEY", "11" * 32)
    assert "different vault key" in open_vault(tmp_path).verify(obj.sha256).detail
    monkeypatch.setenv("DUALREC_VAULT_KEY", "abc")
    with pytest.raises(CryptoError, match="64 hex"):
        open_vault(tmp_path)


def test_encrypted_store_end_to_end(store, make_recording, tmp_path, monkeypatch):
    from storage.db import open_store
    from storage.ingest import store_recording
    from verifier.config import load_settings

    monkeypatch.setenv("DUALREC_VAULT_KEY", KEY)
    enc = open_store(load_settings())
    try:
        media, sidecar, report = make_recording("ENC1")
        store_recording(enc, media, sidecar, report, actor="tester")
        assert enc.vault.path_of(report["sha256"]).read_bytes()[:8] == b"DRVAULT1"
        from pipelines.cli import app
        runner = CliRunner()
        r = runner.invoke(app, ["integrity", "--json"])
        assert r.exit_code == 0 and json.loads(r.stdout)["files_checked"] == 2
        out = tmp_path / "ev"
        assert runner.invoke(app, ["export", "ENC1", "--out", str(out)]).exit_code == 0
        assert (out / "media" / "ENC1.mp4").read_bytes() == media.read_bytes()
    finally:
        enc.close()


# ------------------------------------------------------------------ S3 with Object Lock


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    import uuid

    import boto3

    for k, v in {"AWS_ACCESS_KEY_ID": "dualrec-test", "AWS_SECRET_ACCESS_KEY": "dualrec-test",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = "vault-" + uuid.uuid4().hex[:10]
    client = boto3.client("s3", endpoint_url=s3_server)
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    monkeypatch.setenv("DUALREC_VAULT_URL", f"s3://{bucket}/recordings")
    monkeypatch.setenv("DUALREC_S3_ENDPOINT_URL", s3_server)
    return client, bucket


def test_s3_object_lock_compliance_and_legal_hold(s3_env):
    client, bucket = s3_env
    v = open_vault(None)
    assert isinstance(v, S3Vault) and v.enforces_locks
    until = date.today() + timedelta(days=400)
    obj = v.put_bytes(b"recording bytes", retain_until=until)
    head = client.head_object(Bucket=bucket, Key="recordings/" + obj.key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] == datetime.combine(
        until + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    assert v.put_bytes(b"recording bytes", retain_until=until).created is False
    assert v.read_bytes(obj.sha256) == b"recording bytes" and v.verify(obj.sha256).ok
    with pytest.raises(VaultLocked):  # compliance mode: nobody deletes before the date
        v.delete(obj.sha256)
    assert v.exists(obj.sha256)
    v.extend_retention(obj.sha256, until + timedelta(days=30))
    v.extend_retention(obj.sha256, until)  # never shortened
    assert v.retention(obj.sha256).date() == until + timedelta(days=31)

    expired = v.put_bytes(b"old recording", retain_until=date(2020, 1, 1))
    v.set_legal_hold(expired.sha256, True)
    assert v.legal_hold(expired.sha256)
    with pytest.raises(VaultLocked):
        v.delete(expired.sha256)
    v.set_legal_hold(expired.sha256, False)
    v.delete(expired.sha256)
    assert not v.exists(expired.sha256)
    assert not client.list_object_versions(Bucket=bucket, Prefix="recordings/" + expired.key) \
        .get("Versions")
    assert list(v.iter_addresses()) == [obj.sha256]


def test_store_on_s3_holds_sweep_and_integrity(s3_env, db_url, make_recording):
    from storage.db import open_store
    from storage.ingest import store_recording
    from storage.retention import place_hold, release_hold, sweep
    from verifier.config import load_settings

    client, bucket = s3_env
    store = open_store(load_settings())
    try:
        media, sidecar, report = make_recording("S3OLD", sale_time="2019-01-10T10:00:00+08:00",
                                                maturity_date="2019-07-10")
        store_recording(store, media, sidecar, report, actor="tester")
        live, live_sidecar, live_report = make_recording("S3NEW", maturity_date=None)
        store_recording(store, live, live_sidecar, live_report, actor="tester")
        assert store.vault.legal_hold(live_report["sha256"])  # indefinite: held in S3
        assert store.vault.exists(report["sha256"])

        place_hold(store, "S3OLD", "CASE-1", "dispute", actor="tester")
        assert store.vault.legal_hold(report["sha256"])
        assert sweep(store, actor="tester").held == ["S3OLD"]
        release_hold(store, "S3OLD", "CASE-1", actor="tester")
        assert not store.vault.legal_hold(report["sha256"])
        result = sweep(store, actor="tester")
        assert result.purged == ["S3OLD"] and result.errors == []
        assert not store.vault.exists(report["sha256"])

        from storage.integrity import check
        assert check(store, log_it=False)["ok"]
        key = store.vault.s3_key(live_report["sha256"])
        client.put_object_legal_hold(Bucket=bucket, Key=key, LegalHold={"Status": "OFF"})
        client.put_object(Bucket=bucket, Key=key, Body=b"replaced")  # a new version on top
        out = check(store, log_it=False)
        assert out["mismatches"] == ["S3NEW"]
    finally:
        store.close()
