"""The flows in process, on Prefect's test harness (a temporary Prefect server): the
retention sweep, one recording on demand, and a bad inbox."""
import json

import pytest


@pytest.fixture
def harness(prefect_harness):
    yield


def test_retention_sweep_flow_purges_only_what_has_expired(harness, store, make_recording):
    from pipelines.flows import retention_sweep
    from storage.ingest import store_recording

    old = make_recording("OLD1", maturity_date="2024-01-31", sale_time="2023-12-01T10:00:00+08:00")
    new = make_recording("NEW1", maturity_date="2027-05-20")
    for media, sidecar, report in (old, new):
        store_recording(store, media, sidecar, report)

    preview = retention_sweep(as_of="2026-12-01", dry_run=True)
    assert preview["purged"] == ["OLD1"] and preview["dry_run"] is True
    done = retention_sweep(as_of="2026-12-01")
    assert done["purged"] == ["OLD1"] and done["kept"] == 1
    assert retention_sweep(as_of="2026-12-01")["purged"] == []  # nothing twice
    with pytest.raises(Exception, match="in the future"):
        retention_sweep(as_of="2999-01-01")


def test_verify_recording_flow_stores_an_unreadable_file_as_an_error_result(
        harness, store, make_recording):
    from pipelines.flows import verify_recording

    media, sidecar, _ = make_recording("BROKEN1")  # random bytes, valid sidecar
    out = verify_recording(str(media))
    assert out["outcome"] == "stored" and out["verdict"] == "error"
    assert out["report"]["recording_id"] == "BROKEN1"
    readable = next(c for c in out["report"]["checks"] if c["id"] == "media.readable")
    assert readable["status"] == "error" and readable["message"]
    again = verify_recording(str(media))
    assert again["outcome"] == "skipped" and again["run_id"] == out["run_id"]

    sidecar.write_text(json.dumps({"recording_id": "BROKEN1"}), encoding="utf-8")
    bad = verify_recording(str(media))
    assert bad["outcome"] == "rejected" and "branch_id" in bad["reason"]


def test_nightly_batch_on_a_missing_inbox_is_bad_input(harness, tmp_path):
    from pipelines.flows import nightly_batch
    from pipelines.inbox import InboxError

    with pytest.raises(InboxError, match="does not exist"):
        nightly_batch(str(tmp_path / "nope"))
