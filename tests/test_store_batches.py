"""Batch bookkeeping in the store (SQLite and PostgreSQL): runs, items, crashed runs,
and the nightly_batch flow itself over files that need no model."""
import json
import os
import subprocess
import sys

import pytest

from storage import batches


def test_a_run_records_each_file_and_its_counts(store):
    key = batches.begin(store, "/srv/inbox", 2, branch="BR001")
    batches.record_item(store, key, "a.mp4", "stored", recording_id="A", verdict="pass",
                        media_sha256="a" * 64, seconds=3.0)
    batches.record_item(store, key, "b.mp4", "skipped", recording_id="B", verdict="fail")
    batches.record_item(store, key, "c.mp4", "rejected", verdict="error", reason="no sidecar")
    batches.record_item(store, key, "d.mp4", "deferred", reason="still being copied")
    batches.record_item(store, key, "e.mp4", "stored", recording_id="E", verdict="error")
    batches.record_item(store, key, "a.mp4", "stored", recording_id="A", verdict="review")
    counts = batches.finish(store, key, "/srv/reports/x.html")
    assert counts == {"processed": 2, "skipped": 1, "errors": 2, "rejected": 1,
                      "deferred": 1, "total": 5,
                      "verdicts": {"pass": 0, "fail": 1, "review": 1, "error": 2}}
    run = batches.get_run(store, key)
    assert run["status"] == "finished" and run["summary"] == counts
    assert run["summary_path"] == "/srv/reports/x.html" and run["branch"] == "BR001"
    assert [i["path"] for i in run["items"]] == ["a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4"]
    assert [r["batch"] for r in batches.list_runs(store)] == [key]
    with pytest.raises(ValueError, match="unknown batch outcome"):
        batches.record_item(store, key, "f.mp4", "lost")

    from storage.audit import verify_chain
    with store.session() as s:
        assert verify_chain(s).ok


def test_a_run_whose_process_died_is_marked_crashed_by_the_next(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    key = batches.begin(store, "/srv/inbox", 1)
    from storage.models import BatchRun
    from sqlalchemy import select
    with store.session() as s:
        s.scalars(select(BatchRun).where(BatchRun.batch_key == key)).one().pid = dead.pid
    live = batches.begin(store, "/srv/inbox", 1)
    statuses = {r["batch"]: r["status"] for r in batches.list_runs(store)}
    assert statuses == {key: "crashed", live: "running"}  # ours is alive: not touched


@pytest.mark.slow
def test_nightly_batch_flow_on_this_store(prefect_harness, store, make_recording, tmp_path):
    from pipelines.flows import nightly_batch
    from tests.fixtures import age_tree

    inbox = tmp_path / "inbox"
    make_recording("UNREADABLE1", folder=inbox)  # random bytes: verdict error, stored
    (inbox / "lonely.mp4").write_bytes(os.urandom(100))
    age_tree(inbox)
    out = nightly_batch(str(inbox))
    by = {r["path"]: r for r in out["recordings"]}
    assert by["UNREADABLE1.mp4"]["outcome"] == "stored"
    assert by["UNREADABLE1.mp4"]["verdict"] == "error"
    assert "not a media file" in by["UNREADABLE1.mp4"]["reason"]
    assert by["lonely.mp4"]["outcome"] == "rejected"
    assert (out["processed"], out["errors"], out["rejected"]) == (1, 2, 1)
    again = nightly_batch(str(inbox))
    assert (again["processed"], again["skipped"]) == (0, 1)  # the same error, not retried
    assert {r["batch"]: r["status"] for r in batches.list_runs(store)} == {
        out["batch"]: "finished", again["batch"]: "finished"}
    assert json.loads(json.dumps(out))  # the flow's result is plain JSON
