"""The nightly batch end to end through `dualrec batch` (Prefect's embedded server, the
real models, the real store): bad files become error results with reasons and the
batch goes on; a second run skips everything; a run killed with SIGKILL at any point,
then run again, stores every recording exactly once."""
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.fixtures import DUALREC, age_tree, batch_env, batches_at_once

DEMO = Path(__file__).resolve().parent.parent / "samples" / "demo"


def batch(data_dir, *args, crash_at=None, timeout=600):
    return subprocess.run([DUALREC, "batch", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=batch_env(data_dir, crash_at))


def copy_demo(inbox: Path, stem: str, sub: str = "") -> None:
    (inbox / sub).mkdir(parents=True, exist_ok=True)
    for ext in (".mp4", ".json"):
        shutil.copy(DEMO / f"{stem}{ext}", inbox / sub / f"{stem}{ext}")
    age_tree(inbox)  # copied long before the batch (it leaves files still being copied)


def open_test_store(data_dir):
    from storage.db import open_store
    from verifier.config import load_settings

    os.environ["DUALREC_DATA_DIR"] = str(data_dir)
    return open_store(load_settings())


def table_counts(store):
    from storage.models import BatchRun, Recording, VerificationRun

    with store.session() as s:
        recs = {r.recording_id: r.verdict for r in s.scalars(select(Recording))}
        runs = dict(s.execute(select(Recording.recording_id, func.count(VerificationRun.id))
                              .join(VerificationRun, VerificationRun.recording_pk == Recording.id)
                              .group_by(Recording.recording_id)).all())
        statuses = [b.status for b in s.scalars(select(BatchRun).order_by(BatchRun.id))]
    return recs, runs, statuses


@pytest.mark.slow
def test_batch_stores_good_and_bad_files_then_skips_them_all(tmp_path):
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    copy_demo(inbox, "demo-compliant", "2026-11-21")
    copy_demo(inbox, "demo-forbidden-promise", "2026-11-21")
    # bad input of every kind: each an error result with its reason
    (inbox / "broken-sidecar.mp4").write_bytes((DEMO / "demo-compliant.mp4").read_bytes()[:5000])
    (inbox / "broken-sidecar.json").write_text("{not json", encoding="utf-8")
    shutil.copy(DEMO / "demo-customer-left.mp4", inbox / "no-sidecar.mp4")
    (inbox / "corrupt.mp4").write_bytes(os.urandom(20000))
    meta = json.loads((DEMO / "demo-compliant.json").read_text(encoding="utf-8"))
    (inbox / "corrupt.json").write_text(json.dumps({**meta, "recording_id": "corrupt"}),
                                        encoding="utf-8")
    (inbox / "other-branch.mp4").write_bytes(b"x")
    (inbox / "other-branch.json").write_text(json.dumps(
        {**meta, "recording_id": "other-branch", "branch_id": "BR999"}), encoding="utf-8")
    age_tree(inbox)

    r = batch(data, inbox, "--json", "--branch", "BR001")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)  # nothing but the JSON document on stdout
    by = {x["path"]: x for x in out["recordings"]}
    assert by["2026-11-21/demo-compliant.mp4"]["verdict"] == "pass"
    assert by["2026-11-21/demo-forbidden-promise.mp4"]["verdict"] == "fail"
    assert "speech.forbidden" in by["2026-11-21/demo-forbidden-promise.mp4"]["reason"]
    assert by["corrupt.mp4"]["verdict"] == "error" and by["corrupt.mp4"]["outcome"] == "stored"
    assert by["broken-sidecar.mp4"]["outcome"] == "rejected"
    assert "sidecar" in by["broken-sidecar.mp4"]["reason"]
    assert "no sidecar" in by["no-sidecar.mp4"]["reason"]
    assert "BR999" in by["other-branch.mp4"]["reason"]
    assert (out["processed"], out["skipped"], out["errors"], out["rejected"]) == (3, 0, 4, 3)
    assert out["verdicts"] == {"pass": 1, "fail": 1, "review": 0, "error": 4}
    assert meta["customer_id"] not in r.stdout + r.stderr  # masked everywhere

    summary = Path(out["summary"])
    html = summary.read_text(encoding="utf-8")
    assert "双录合格率" in html and "BR001" in html and "S1024" in html
    assert meta["customer_id"] not in html and meta["customer_name"] not in html
    pictures = [summary.parent / by[p]["timeline"] for p in by if by[p]["timeline"]]
    assert len(pictures) == 3 and all(p.is_file() and p.stat().st_size > 5000 for p in pictures)
    for p in pictures:
        assert f'href="{p.relative_to(summary.parent).as_posix()}"' in html

    with open_test_store(data) as store:
        recs, runs, statuses = table_counts(store)
    assert recs == {"demo-compliant": "pass", "demo-forbidden-promise": "fail",
                    "corrupt": "error"}
    assert statuses == ["finished"]

    started = time.monotonic()
    again = batch(data, inbox, "--json", "--branch", "BR001")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert (second["processed"], second["skipped"], second["rejected"]) == (0, 3, 3)
    assert {x["path"]: x["verdict"] for x in second["recordings"]} == \
        {p: x["verdict"] for p, x in by.items()}
    with open_test_store(data) as store:
        assert table_counts(store)[:2] == (recs, runs)  # no run added, nothing stored twice
        from storage.integrity import check
        assert check(store)["ok"]
    assert time.monotonic() - started < 60  # hashes only: no model was loaded

    env = dict(os.environ, DUALREC_DATA_DIR=str(data))
    listed = subprocess.run([DUALREC, "batches", "--json"], capture_output=True, text=True,
                            env=env, timeout=60)
    runs_listed = json.loads(listed.stdout)["batches"]
    assert [b["batch"] for b in runs_listed] == [second["batch"], out["batch"]]
    assert runs_listed[0]["summary"]["skipped"] == 3 and runs_listed[0]["status"] == "finished"
    one = json.loads(subprocess.run([DUALREC, "batches", out["batch"], "--json"],
                                    capture_output=True, text=True, env=env, timeout=60).stdout)
    assert {i["path"]: i["outcome"] for i in one["items"]}["broken-sidecar.mp4"] == "rejected"


@pytest.mark.slow
def test_a_batch_killed_at_any_point_then_rerun_stores_everything_exactly_once(tmp_path):
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    copy_demo(inbox, "demo-compliant")
    copy_demo(inbox, "demo-customer-left")
    # killed while storing the first recording (after the models ran), then while
    # writing the second's vault objects, then at a moment of the clock's choosing
    for crash_at in ("before-commit", "after-vault", "after-media"):
        r = batch(data, inbox, crash_at=crash_at)
        assert r.returncode == -signal.SIGKILL, (crash_at, r.stdout, r.stderr)
    for delay in (4.0, 16.0, 23.0):
        p = subprocess.Popen([DUALREC, "batch", str(inbox)], env=batch_env(data),
                             start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)  # the embedded Prefect server with it
            p.wait(timeout=30)
    r = batch(data, inbox, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["processed"] + out["skipped"] == 2 and out["errors"] == 0
    assert {x["recording_id"]: x["verdict"] for x in out["recordings"]} == {
        "demo-compliant": "pass", "demo-customer-left": "fail"}
    with open_test_store(data) as store:
        recs, runs, statuses = table_counts(store)
        from storage.integrity import check
        integrity = check(store)
    assert recs == {"demo-compliant": "pass", "demo-customer-left": "fail"}
    assert runs == {"demo-compliant": 1, "demo-customer-left": 1}  # exactly once
    assert integrity["ok"] and integrity["audit_log_ok"], integrity
    assert statuses[-1] == "finished" and "running" not in statuses[:-1]
    assert statuses.count("crashed") >= 3


@pytest.mark.slow
def test_two_batches_started_at_once_on_one_data_folder_store_each_recording_once(tmp_path):
    """Both embedded Prefect servers would create the Prefect database at once: the
    second waits for the first to be up (a bug: one exited with 'duplicate column')."""
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    copy_demo(inbox, "demo-compliant")
    runs = batches_at_once(inbox, data, 2)
    assert [rc for rc, _, _ in runs] == [0, 0], [e for _, _, e in runs]
    results = [json.loads(o) for _, o, _ in runs]
    assert sorted(r["processed"] + r["skipped"] for r in results) == [1, 1]
    with open_test_store(data) as store:
        recs, runs, statuses = table_counts(store)
    assert recs == {"demo-compliant": "pass"} and runs == {"demo-compliant": 1}
    assert statuses == ["finished", "finished"]


@pytest.mark.slow
def test_a_redelivered_file_and_changed_sale_metadata_are_verified_again(tmp_path):
    """A file taken while still being copied is stored with verdict error; its whole
    copy then takes its place. New sale metadata that the verdict turns on (the
    customer's risk level) is verified again, not just written over the old verdict."""
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    copy_demo(inbox, "demo-compliant")
    media, sidecar = inbox / "demo-compliant.mp4", inbox / "demo-compliant.json"
    whole = media.read_bytes()

    os.utime(media)  # just copied: left for the next run
    fresh = batch(data, inbox, "--json")
    assert json.loads(fresh.stdout)["recordings"][0]["outcome"] == "deferred"

    media.write_bytes(whole[: len(whole) // 3])  # the copy stalled a third of the way
    age_tree(inbox)
    cut = json.loads(batch(data, inbox, "--json").stdout)["recordings"][0]
    assert (cut["outcome"], cut["verdict"]) == ("stored", "error"), cut

    media.write_bytes(whole)
    age_tree(inbox)
    r = batch(data, inbox, "--json")
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)["recordings"][0]
    assert (again["outcome"], again["verdict"]) == ("replaced", "pass"), again

    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    sidecar.write_text(json.dumps({**meta, "customer_risk_level": "C1"}), encoding="utf-8")
    age_tree(inbox)
    changed = json.loads(batch(data, inbox, "--json").stdout)["recordings"][0]
    assert (changed["outcome"], changed["verdict"]) == ("reverified", "fail"), changed
    assert "C1" in changed["reason"]

    with open_test_store(data) as store:
        recs, runs, _ = table_counts(store)
        from storage.integrity import check
        assert check(store)["ok"]
    assert recs == {"demo-compliant": "fail"} and runs == {"demo-compliant": 3}
