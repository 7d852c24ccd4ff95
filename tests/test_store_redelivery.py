"""What a second delivery under a stored recording id does: the same files are a skip;
new sale metadata that the verdict turns on is verified again; retention dates alone
only update retention; other media or audio replaces a never-verified recording's (a
file cut short while being copied) and is refused for a verified one."""
import hashlib
import json
import os
from datetime import date

import pytest
from sqlalchemy import select

from storage.db import BadInput
from storage.ingest import redelivery_problem, reusable_report, store_recording
from verifier.sidecar import load_sidecar
from storage.models import AuditEntry, Recording, ReplacedMedia, VaultObject, VerificationRun


def _rewrite_sidecar(sidecar, **changes):
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    meta.update(changes)
    sidecar.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return meta


def _runs(store, recording_id):
    with store.session() as s:
        rec = s.scalars(select(Recording).where(Recording.recording_id == recording_id)).one()
        return [(r.verdict, r.media_sha256) for r in
                s.scalars(select(VerificationRun).where(VerificationRun.recording_pk == rec.id)
                          .order_by(VerificationRun.id))]


def _with_audio(media, sidecar, report, audio_bytes):
    audio = media.with_name(media.stem + "-audio.wav")
    audio.write_bytes(audio_bytes)
    meta = _rewrite_sidecar(sidecar, audio_file=audio.name)
    report["metadata"] = meta
    return audio


def test_a_changed_risk_level_is_verified_again_not_just_updated(store, make_recording):
    media, sidecar, report = make_recording("R1", product_risk_level="R3")
    assert store_recording(store, media, sidecar, report).status == "stored"
    meta = _rewrite_sidecar(sidecar, product_risk_level="R2")
    sc = load_sidecar(media, sidecar)
    sha = report["sha256"]
    assert reusable_report(store, sc, sha, "wealth-standard", "2026.11", "0.1.0") is None
    # the stored report was made with R3: it is no verdict about an R2 sale
    with pytest.raises(BadInput, match="product_risk_level"):
        store_recording(store, media, sidecar, report)
    fresh = {**report, "verdict": "fail", "metadata": meta}
    result = store_recording(store, media, sidecar, fresh)
    assert (result.status, result.verdict) == ("reverified", "fail")
    assert _runs(store, "R1") == [("pass", sha), ("fail", sha)]
    with store.session() as s:
        assert s.scalars(select(Recording)).one().product_risk_level == "R2"


def test_retention_dates_alone_update_retention_without_verifying_again(store, make_recording):
    media, sidecar, report = make_recording("R2")
    store_recording(store, media, sidecar, report)
    _rewrite_sidecar(sidecar, maturity_date="2028-05-20", redemption_date="2028-01-10")
    sc = load_sidecar(media, sidecar)
    assert reusable_report(store, sc, report["sha256"], "wealth-standard", "2026.11",
                           "0.1.0") is not None
    result = store_recording(store, media, sidecar, report)
    assert result.status == "updated"
    assert len(_runs(store, "R2")) == 1
    with store.session() as s:
        assert s.scalars(select(Recording)).one().maturity_date == date(2028, 5, 20)


def test_a_cut_short_file_is_replaced_by_its_redelivery(store, make_recording):
    whole = os.urandom(8192)
    media, sidecar, report = make_recording("R3", verdict="error", media_bytes=whole[:1000])
    report["checks"][0]["status"] = "error"
    first = store_recording(store, media, sidecar, report)
    assert (first.status, first.verdict) == ("stored", "error")
    cut_sha = first.sha256

    media.write_bytes(whole)  # the copy finished
    sha = hashlib.sha256(whole).hexdigest()
    assert redelivery_problem(store, load_sidecar(media, sidecar), sha, None) is None
    again = store_recording(store, media, sidecar, {**report, "sha256": sha, "verdict": "pass"})
    assert (again.status, again.verdict, again.sha256) == ("replaced", "pass", sha)
    assert _runs(store, "R3") == [("error", cut_sha), ("pass", sha)]
    with store.session() as s:
        rec = s.scalars(select(Recording)).one()
        assert (rec.sha256, rec.media_bytes) == (sha, len(whole))
        old = s.scalars(select(ReplacedMedia)).one()
        assert (old.kind, old.sha256, old.recording_pk) == ("media", cut_sha, rec.id)
        # the cut file is kept (write-once), listed, and said in the audit log
        assert s.get(VaultObject, cut_sha).state == "present"
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "ingest")
                          .order_by(AuditEntry.id.desc())).first()
    assert store.vault.path_of(cut_sha).read_bytes() == whole[:1000]
    assert "media-replaced" in json.dumps(entry.details)
    from storage.integrity import check
    assert check(store)["ok"]

    # now verified: no further file replaces it
    media.write_bytes(os.urandom(100))
    other = hashlib.sha256(media.read_bytes()).hexdigest()
    assert "never replaced" in redelivery_problem(store, load_sidecar(media, sidecar), other, None)
    with pytest.raises(BadInput, match="different media file"):
        store_recording(store, media, sidecar, {**report, "sha256": other})


def test_the_purge_removes_the_replaced_file_too(store, make_recording):
    from storage.retention import sweep

    media, sidecar, report = make_recording("R4", verdict="error", media_bytes=b"cut" * 100)
    cut = store_recording(store, media, sidecar, report).sha256
    media.write_bytes(b"whole" * 500)
    sha = hashlib.sha256(media.read_bytes()).hexdigest()
    store_recording(store, media, sidecar, {**report, "sha256": sha, "verdict": "pass"})
    result = sweep(store, date(2031, 1, 1), today=date(2031, 1, 1))
    assert result.purged == ["R4"] and not result.errors
    with store.session() as s:
        assert s.get(VaultObject, cut).state == "deleted"
        assert s.get(VaultObject, sha).state == "deleted"
    assert not store.vault.path_of(cut).exists()


def test_a_legal_hold_keeps_even_a_never_verified_file(store, make_recording):
    from storage.retention import place_hold

    media, sidecar, report = make_recording("R5", verdict="error", media_bytes=b"cut")
    store_recording(store, media, sidecar, report)
    place_hold(store, "R5", "complaint 2026-118", "customer disputes the sale", actor="legal")
    media.write_bytes(b"whole file")
    sha = hashlib.sha256(media.read_bytes()).hexdigest()
    assert "legal hold" in redelivery_problem(store, load_sidecar(media, sidecar), sha, None)
    with pytest.raises(BadInput, match="legal hold"):
        store_recording(store, media, sidecar, {**report, "sha256": sha, "verdict": "pass"})


def test_other_audio_under_a_verified_recording_is_refused(store, make_recording):
    media, sidecar, report = make_recording("R6")
    audio = _with_audio(media, sidecar, report, b"RIFF first take")
    assert store_recording(store, media, sidecar, report).status == "stored"
    assert store_recording(store, media, sidecar, report).status == "skipped"
    audio.write_bytes(b"RIFF another take")
    sc = load_sidecar(media, sidecar)
    assert reusable_report(store, sc, report["sha256"], "wealth-standard", "2026.11",
                           "0.1.0") is None
    new_audio = hashlib.sha256(audio.read_bytes()).hexdigest()
    assert "different audio file" in redelivery_problem(store, sc, report["sha256"], new_audio)
    with pytest.raises(BadInput, match="different audio file"):
        store_recording(store, media, sidecar, report)


def test_cut_short_audio_of_a_never_verified_recording_is_replaced(store, make_recording):
    media, sidecar, report = make_recording("R7", verdict="error")
    audio = _with_audio(media, sidecar, report, b"RIFF cut")
    store_recording(store, media, sidecar, report)
    cut = hashlib.sha256(b"RIFF cut").hexdigest()
    audio.write_bytes(b"RIFF the whole take")
    result = store_recording(store, media, sidecar, {**report, "verdict": "pass"})
    assert (result.status, result.verdict) == ("replaced", "pass")
    with store.session() as s:
        rec = s.scalars(select(Recording)).one()
        assert rec.audio_sha256 == hashlib.sha256(b"RIFF the whole take").hexdigest()
        assert [(r.kind, r.sha256) for r in s.scalars(select(ReplacedMedia))] == \
            [("audio", cut)]


def test_show_lists_the_replaced_file(store, make_recording):
    from storage.query import render_show, show

    media, sidecar, report = make_recording("R8", verdict="error", media_bytes=b"cut")
    cut = store_recording(store, media, sidecar, report).sha256
    media.write_bytes(b"the whole file")
    sha = hashlib.sha256(media.read_bytes()).hexdigest()
    store_recording(store, media, sidecar, {**report, "sha256": sha, "verdict": "pass"})
    out = show(store, "R8")
    assert [(r["kind"], r["sha256"]) for r in out["files"]["replaced"]] == [("media", cut)]
    assert f"replaced media   {cut}" in render_show(out)


def test_the_evidence_export_carries_the_replaced_file(store, make_recording, tmp_path):
    import subprocess

    from storage.export import export

    media, sidecar, report = make_recording("R9", verdict="error", media_bytes=b"cut")
    cut = store_recording(store, media, sidecar, report).sha256
    media.write_bytes(b"the whole file")
    sha = hashlib.sha256(media.read_bytes()).hexdigest()
    store_recording(store, media, sidecar, {**report, "sha256": sha, "verdict": "pass"})
    out = tmp_path / "evidence"
    export(store, "R9", out, actor="legal")
    [old] = (out / "media" / "replaced").iterdir()
    assert old.name == f"{cut[:12]}-{media.name}" and old.read_bytes() == b"cut"
    assert (out / "media" / media.name).read_bytes() == b"the whole file"
    record = json.loads((out / "record.json").read_text(encoding="utf-8"))
    assert [(r["kind"], r["sha256"]) for r in record["replaced"]] == [("media", cut)]
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True,
                           text=True)
    assert check.returncode == 0 and f"media/replaced/{old.name}: OK" in check.stdout


def test_integrity_names_the_recording_of_a_damaged_replaced_file(store, make_recording):
    from storage.integrity import check

    media, sidecar, report = make_recording("R10", verdict="error", media_bytes=b"cut" * 50)
    cut = store_recording(store, media, sidecar, report).sha256
    media.write_bytes(b"the whole file")
    sha = hashlib.sha256(media.read_bytes()).hexdigest()
    store_recording(store, media, sidecar, {**report, "sha256": sha, "verdict": "pass"})
    assert check(store)["ok"]
    path = store.vault.path_of(cut)
    os.chmod(path, 0o600)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    result = check(store)
    assert not result["ok"]
    [problem] = [p for p in result["problems"] if p["kind"] == "vault"]
    assert (problem["recording_id"], problem["role"]) == ("R10", "replaced media")


def test_metadata_back_to_earlier_values_reinstates_that_runs_verdict(store, make_recording):
    media, sidecar, report = make_recording("R9", customer_risk_level="C3")
    store_recording(store, media, sidecar, report)
    meta = _rewrite_sidecar(sidecar, customer_risk_level="C1")
    result = store_recording(store, media, sidecar, {**report, "verdict": "fail",
                                                     "metadata": meta})
    assert (result.status, result.verdict) == ("reverified", "fail")
    meta = _rewrite_sidecar(sidecar, customer_risk_level="C3")
    sc = load_sidecar(media, sidecar)
    stored = reusable_report(store, sc, report["sha256"], "wealth-standard", "2026.11",
                             "0.1.0")
    assert stored is not None and stored["verdict"] == "pass"  # run 1: no models needed
    result = store_recording(store, media, sidecar, stored)
    assert (result.status, result.verdict) == ("updated", "pass")
    with store.session() as s:
        rec = s.scalars(select(Recording)).one()
        first = s.scalars(select(VerificationRun).order_by(VerificationRun.id)).first()
        assert (rec.current_run_id, rec.verdict) == (first.id, "pass")
    assert len(_runs(store, "R9")) == 2
    assert store_recording(store, media, sidecar, stored).status == "skipped"


def test_another_sale_under_a_never_verified_id_is_refused(store, make_recording):
    media, sidecar, report = make_recording("001", verdict="error", media_bytes=b"cut")
    store_recording(store, media, sidecar, report)
    # the next day's 001.mp4: another customer, another time (the id came from a name)
    media.write_bytes(b"another sale altogether")
    _rewrite_sidecar(sidecar, customer_id="110101199003077777",
                     sale_time="2026-11-22T09:00:00+08:00")
    sc = load_sidecar(media, sidecar)
    sha = hashlib.sha256(media.read_bytes()).hexdigest()
    problem = redelivery_problem(store, sc, sha, None)
    assert "another sale" in problem and "customer" in problem and "sale_time" in problem
    assert "110101199003077777" not in problem
    with pytest.raises(BadInput, match="another sale"):
        store_recording(store, media, sidecar, {**report, "sha256": sha})


def test_the_stored_masked_report_still_agrees_with_its_sidecar(store, make_recording):
    """The store masks the customer's name in a report it keeps; an audio file named
    after the customer must not make the kept report disagree with its sidecar."""
    media, sidecar, report = make_recording("R10")
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    audio = _with_audio(media, sidecar, report, b"RIFF take")
    named = audio.with_name(f"{meta['customer_name']}-录音.wav")
    audio.rename(named)
    report["metadata"] = _rewrite_sidecar(sidecar, audio_file=named.name)
    store_recording(store, media, sidecar, report)
    _rewrite_sidecar(sidecar, redemption_date="2028-01-10")
    sc = load_sidecar(media, sidecar)
    kept = reusable_report(store, sc, report["sha256"], "wealth-standard", "2026.11", "0.1.0")
    assert meta["customer_name"] not in json.dumps(kept, ensure_ascii=False)
    assert store_recording(store, media, sidecar, kept).status == "updated"


def test_a_run_stored_before_inputs_were_recorded_is_still_reused(store, make_recording):
    media, sidecar, report = make_recording("R11")
    store_recording(store, media, sidecar, report)
    with store.session() as s:  # as migration 0004 leaves an earlier run
        s.scalars(select(VerificationRun)).one().inputs_sha256 = None
    sc = load_sidecar(media, sidecar)
    assert reusable_report(store, sc, report["sha256"], "wealth-standard", "2026.11",
                           "0.1.0") is not None
    assert store_recording(store, media, sidecar, report).status == "skipped"
    _rewrite_sidecar(sidecar, customer_risk_level="C1")  # but not for other metadata
    sc = load_sidecar(media, sidecar)
    assert reusable_report(store, sc, report["sha256"], "wealth-standard", "2026.11",
                           "0.1.0") is None


def test_a_purged_recording_still_in_the_inbox_is_no_refusal(store, make_recording):
    from storage.retention import sweep

    media, sidecar, report = make_recording("R12")
    store_recording(store, media, sidecar, report)
    sweep(store, date(2031, 1, 1), today=date(2031, 1, 1))
    sc = load_sidecar(media, sidecar)
    assert redelivery_problem(store, sc, report["sha256"], None) is None
    media.write_bytes(b"other")
    assert "purged" in redelivery_problem(store, sc, hashlib.sha256(b"other").hexdigest(),
                                          None)
