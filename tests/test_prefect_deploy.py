"""`dualrec deploy` against a real Prefect server (tests/prefect_server.py), and a real
process worker running the nightly batch of a branch into the store.

Per-branch concurrency is the concurrency limit of the branch's work queue: two runs of
the same branch, triggered together on a worker that would take four, run one after
the other; a run of another branch stays with that branch's queue."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures import DUALREC, age_tree
from tests.prefect_server import _free_port, prefect_env, prefect_worker

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "samples" / "demo"
EXPECTED = json.loads((REPO / "samples" / "demo-expected.json").read_text(encoding="utf-8"))
RUN_TIMEOUT_S = 150.0


def write_deploy_file(path: Path, pool: str, inbox1: Path, inbox2: Path) -> Path:
    path.write_text(f"""
work_pool: {pool}
timezone: Asia/Shanghai
branches:
  - {{id: BR001, inbox: {inbox1}, concurrency_limit: 1}}
  - {{id: BR002, inbox: {inbox2}, concurrency_limit: 2, concurrency: 2, cron: "30 1 * * *"}}
""", encoding="utf-8")
    return path


def dualrec_deploy(env: dict[str, str], *args) -> subprocess.CompletedProcess:
    return subprocess.run([DUALREC, "deploy", *map(str, args)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=REPO)


@pytest.fixture
def prefect_api(prefect_api_url, monkeypatch):
    """This test's Prefect client talks to the session's server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", prefect_api_url)
    with temporary_settings(updates={PREFECT_API_URL: prefect_api_url}):
        yield prefect_api_url


def one_error_line(r: subprocess.CompletedProcess) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dualrec: error: "), r.stderr
    return lines[0]


def test_deploy_needs_a_reachable_server_and_says_so_in_one_line(tmp_path):
    file = write_deploy_file(tmp_path / "deploy.yaml", "p", tmp_path / "a", tmp_path / "b")
    home = tmp_path / "prefect-home"  # a fresh profile: no PREFECT_API_URL anywhere

    r = dualrec_deploy(prefect_env(home), "--file", file)
    assert r.returncode == 2 and "PREFECT_API_URL" in one_error_line(r)

    closed = f"http://127.0.0.1:{_free_port()}/api"
    started = time.monotonic()
    r = dualrec_deploy(prefect_env(home, PREFECT_API_URL=closed), "--file", file)
    assert r.returncode == 2 and f"{closed} is not reachable" in one_error_line(r)
    assert time.monotonic() - started < 60

    bad = tmp_path / "bad.yaml"
    bad.write_text("branches:\n  - {id: BR001, inbox: relative/inbox}\n", encoding="utf-8")
    r = dualrec_deploy(prefect_env(home, PREFECT_API_URL=closed), "--file", bad)
    assert r.returncode == 2 and "branches.0.inbox" in one_error_line(r)
    assert "absolute" in r.stderr

    # --dry-run needs no server: the plan
    r = dualrec_deploy(prefect_env(home), "--file", file, "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["dry_run"] is True and plan["work_pool"]["name"] == "p"
    assert [d["name"] for d in plan["deployments"]] == [
        "nightly-batch/nightly-batch-BR001", "nightly-batch/nightly-batch-BR002",
        "verify-recording/verify-recording-BR001", "verify-recording/verify-recording-BR002",
        "retention-sweep/retention-sweep"]
    assert [(q["name"], q["concurrency_limit"]) for q in plan["work_queues"]] == [
        ("branch-BR001", 1), ("branch-BR002", 2), ("head-office", 1)]
    assert "removed" not in plan and "prune" not in plan  # without --prune: as before

    # --prune --dry-run: still no server; the plan, and a word that pruning was not planned
    r = dualrec_deploy(prefect_env(home), "--file", file, "--dry-run", "--prune", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["removed"] is None and plan["paused_work_queues"] is None
    assert "not planned" in plan["prune"]["status"]
    r = dualrec_deploy(prefect_env(home), "--file", file, "--dry-run", "--prune")
    assert r.returncode == 0, r.stderr
    assert "prune: not planned: pruning needs the server" in r.stdout


@pytest.mark.parametrize("body, message", [
    ("branches: []", "branches: List should have at least 1 item"),
    ("branches:\n  - {id: BR001, inbox: /in}\n  - {id: BR001, inbox: /in2}",
     "branch BR001 is listed twice"),
    ("branches:\n  - {id: BR001, inbox: /in, cron: '0 25 * * *'}",
     "branches.0.cron: Value error, not a valid cron expression: '0 25 * * *'"),
    ("timezone: Asia/Beijing\nbranches:\n  - {id: BR001, inbox: /in}",
     "timezone: Value error, unknown time zone 'Asia/Beijing'"),
    ("branches:\n  - {id: 'BR 1', inbox: /in}", "branches.0.id: Value error, 'BR 1'"),
    ("branches:\n  - {id: BR001, inbox: /in, concurrency_limit: 0}",
     "branches.0.concurrency_limit: Input should be greater than or equal to 1"),
    ("branches:\n  - {id: BR001, inbox: /in, work_queue: head-office}",
     "retention_sweep.work_queue head-office is a branch's queue"),
    ("branches:\n  - {id: BR001, inbox: /in, concurency: 2}", "branches.0.concurency: Extra"),
    ("nightly_batch: {entrypoint: 'pipelines/nope.py:f'}\nbranches:\n  - {id: B, inbox: /in}",
     "entrypoint pipelines/nope.py:f: no such flow file"),
])
def test_a_bad_deployment_file_is_named_in_the_error(tmp_path, body, message):
    from pipelines.deploy import DeployError, load_deploy_file, make_plan

    file = tmp_path / "deploy.yaml"
    file.write_text(body + "\n", encoding="utf-8")
    with pytest.raises(DeployError) as err:
        make_plan(load_deploy_file(file))
    assert message in str(err.value) and err.value.exit_code == 2


def test_the_example_deployment_file_plans_every_branch():
    from pipelines.deploy import load_deploy_file, make_plan

    plan = make_plan(load_deploy_file(REPO / "configs" / "deploy.example.yaml"))
    assert [d.full_name for d in plan.deployments] == [
        "nightly-batch/nightly-batch-BR001", "nightly-batch/nightly-batch-BR002",
        "verify-recording/verify-recording-BR001", "verify-recording/verify-recording-BR002",
        "retention-sweep/retention-sweep"]
    assert [(d.cron, d.work_queue) for d in plan.deployments] == [
        ("0 1 * * *", "branch-BR001"), ("30 1 * * *", "branch-BR002"),
        (None, "branch-BR001"), (None, "branch-BR002"), ("0 3 * * 0", "head-office")]
    assert {d.timezone for d in plan.deployments} == {"Asia/Shanghai"}
    assert plan.deployments[0].parameters == {"inbox": "/srv/dualrec/inbox", "branch": "BR001",
                                              "concurrency": 2}
    assert plan.source == str(REPO)


def test_deploy_creates_the_pool_queues_and_scheduled_deployments(prefect_api, tmp_path):
    from prefect.client.orchestration import get_client

    file = write_deploy_file(tmp_path / "deploy.yaml", "dualrec-schedules",
                             tmp_path / "in1", tmp_path / "in2")
    env = prefect_env(tmp_path / "home", PREFECT_API_URL=prefect_api)
    first = dualrec_deploy(env, "--file", file, "--json")
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["work_pool"] == {"name": "dualrec-schedules", "type": "process",
                                "status": "created"}
    assert [q["status"] for q in out["work_queues"]] == ["created"] * 3

    # again, with BR002 allowed three runs: updated in place, nothing added
    file.write_text(file.read_text().replace("concurrency_limit: 2", "concurrency_limit: 3"))
    again = dualrec_deploy(env, "--file", file, "--json")
    assert again.returncode == 0, again.stderr
    out2 = json.loads(again.stdout)
    assert out2["work_pool"]["status"] == "exists"
    assert [q["status"] for q in out2["work_queues"]] == ["unchanged", "updated", "unchanged"]
    assert [d["id"] for d in out2["deployments"]] == [d["id"] for d in out["deployments"]]
    assert {d["status"] for d in out2["deployments"]} == {"updated"}

    with get_client(sync_client=True) as client:
        pool = client.read_work_pool("dualrec-schedules")
        assert pool.type == "process"
        queues = {q.name: q.concurrency_limit
                  for q in client.read_work_queues(work_pool_name="dualrec-schedules")}
        assert {k: v for k, v in queues.items() if k != "default"} == {
            "branch-BR001": 1, "branch-BR002": 3, "head-office": 1}

        expected = {
            "nightly-batch/nightly-batch-BR001": ("0 1 * * *", "branch-BR001",
                                                  {"inbox": str(tmp_path / "in1"),
                                                   "branch": "BR001"}),
            "nightly-batch/nightly-batch-BR002": ("30 1 * * *", "branch-BR002",
                                                  {"inbox": str(tmp_path / "in2"),
                                                   "branch": "BR002", "concurrency": 2}),
            "retention-sweep/retention-sweep": ("0 3 * * 0", "head-office", {}),
        }
        for name, (cron, queue, params) in expected.items():
            d = client.read_deployment_by_name(name)
            assert d.work_pool_name == "dualrec-schedules" and d.work_queue_name == queue
            assert d.parameters == params
            assert len(d.schedules) == 1, d.schedules  # a second deploy added none
            assert d.schedules[0].active
            assert (d.schedules[0].schedule.cron,
                    d.schedules[0].schedule.timezone) == (cron, "Asia/Shanghai")
            assert d.entrypoint == ("pipelines/flows.py:retention_sweep" if "retention" in name
                                    else "pipelines/flows.py:nightly_batch")
            # the worker runs the flow from the dualrec installation
            assert d.pull_steps == [{"prefect.deployments.steps.set_working_directory":
                                     {"directory": str(REPO)}}]
        for branch in ("BR001", "BR002"):  # one recording on demand: no schedule
            d = client.read_deployment_by_name(f"verify-recording/verify-recording-{branch}")
            assert d.work_queue_name == f"branch-{branch}" and d.schedules == []
            assert d.entrypoint == "pipelines/flows.py:verify_recording"


def test_prune_removes_a_removed_branchs_deployments_and_pauses_its_queue(prefect_api,
                                                                          tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    pool = "dualrec-prune"
    env = prefect_env(tmp_path / "home", PREFECT_API_URL=prefect_api)

    def deploy_file(*branches: str, verify: bool = True) -> Path:
        lines = [f"work_pool: {pool}", f"verify_recording: {{enabled: {str(verify).lower()}}}",
                 "branches:"]
        lines += [f"  - {{id: {b}, inbox: {tmp_path / b}}}" for b in branches]
        path = tmp_path / f"deploy-{'-'.join(branches)}-{verify}.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    r = dualrec_deploy(env, "--file", deploy_file("BR101", "BR102", "BR103"), "--json")
    assert r.returncode == 0, r.stderr
    before = {d["name"]: d["id"] for d in json.loads(r.stdout)["deployments"]}

    # by hand, not dualrec's to remove: another flow in the pool (tagged dualrec even),
    # a dualrec flow in another pool, a dualrec flow in the pool without the tag (on
    # BR103's queue: a queue something still uses is not paused)
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="someone-elses", type="process"))
        other_flow = client.create_flow_from_name("someone-elses-flow")
        nightly = client.create_flow_from_name("nightly-batch")
        others = {
            "someone-elses-flow/theirs": client.create_deployment(
                other_flow, "theirs", work_pool_name=pool, work_queue_name="their-queue",
                tags=["dualrec"]),
            "nightly-batch/nightly-batch-BR777": client.create_deployment(
                nightly, "nightly-batch-BR777", work_pool_name="someone-elses",
                work_queue_name="branch-BR777", tags=["dualrec", "nightly-batch"]),
            "nightly-batch/by-hand": client.create_deployment(
                nightly, "by-hand", work_pool_name=pool, work_queue_name="branch-BR103",
                tags=["mine"]),
        }

    # BR102 and BR103 leave the file
    r = dualrec_deploy(env, "--file", deploy_file("BR101"), "--prune", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["prune"] == {"status": "applied"}
    gone = [f"{flow}/{flow}-{b}" for flow in ("nightly-batch", "verify-recording")
            for b in ("BR102", "BR103")]
    assert [(x["name"], x["id"], x["status"], x["work_queue"]) for x in out["removed"]] == [
        (name, before[name], "removed", f"branch-{name[-5:]}") for name in gone]
    assert [(q["name"], q["status"]) for q in out["paused_work_queues"]] == [
        ("branch-BR102", "paused")]
    kept = {d["name"]: d["id"] for d in out["deployments"]}
    assert kept == {k: v for k, v in before.items() if k not in gone}
    assert {d["status"] for d in out["deployments"]} == {"updated"}

    with get_client(sync_client=True) as client:
        for name in gone:
            with pytest.raises(ObjectNotFound):
                client.read_deployment_by_name(name)
        for name, id_ in kept.items():  # untouched: same id, pool, queue, schedule
            d = client.read_deployment_by_name(name)
            assert str(d.id) == id_ and d.work_pool_name == pool and not d.paused
        assert client.read_deployment_by_name(
            "nightly-batch/nightly-batch-BR101").schedules[0].active
        for name, id_ in others.items():
            assert client.read_deployment_by_name(name).id == id_
        queues = {q.name: q for q in client.read_work_queues(work_pool_name=pool)}
        assert queues["branch-BR102"].is_paused  # kept, paused: a leftover worker idles
        assert "dualrec deploy --prune" in queues["branch-BR102"].description
        # BR103's queue still has the deployment made by hand: it keeps running
        assert not any(queues[q].is_paused for q in ("branch-BR101", "branch-BR103",
                                                     "head-office", "their-queue"))

    # again: nothing left to remove; the text output says so
    r = dualrec_deploy(env, "--file", deploy_file("BR101"), "--prune")
    assert r.returncode == 0, r.stderr
    assert "[removed]" not in r.stdout and "prune: nothing to remove" in r.stdout

    # on-demand deployments switched off: removed, but BR101's queue still has its
    # nightly batch, so it keeps running
    r = dualrec_deploy(env, "--file", deploy_file("BR101", verify=False), "--prune")
    assert r.returncode == 0, r.stderr
    assert ("deployment verify-recording/verify-recording-BR101: not in the deployment "
            "file, queue branch-BR101  [removed]") in r.stdout
    assert "[paused]" not in r.stdout
    with get_client(sync_client=True) as client:
        assert not client.read_work_queue_by_name("branch-BR101",
                                                  work_pool_name=pool).is_paused

    # BR102 comes back (no --prune needed): its queue, paused by the prune, resumes
    r = dualrec_deploy(env, "--file", deploy_file("BR101", "BR102"), "--json")
    assert r.returncode == 0, r.stderr
    back = json.loads(r.stdout)
    assert "removed" not in back
    assert {q["name"]: q["status"] for q in back["work_queues"]}["branch-BR102"] == "resumed"
    with get_client(sync_client=True) as client:
        q = client.read_work_queue_by_name("branch-BR102", work_pool_name=pool)
        assert not q.is_paused and q.description.startswith("Branch BR102:")
        assert client.read_deployment_by_name("nightly-batch/nightly-batch-BR102")


def _wait_final(client, run_ids, timeout: float, worker) -> list:
    deadline = time.monotonic() + timeout
    while True:
        runs = [client.read_flow_run(i) for i in run_ids]
        if all(r.state is not None and r.state.is_final() for r in runs):
            return runs
        if time.monotonic() > deadline or worker.poll() is not None:
            log = Path(worker.log_path).read_text(errors="replace")[-6000:]
            pytest.fail(f"flow runs not finished in {timeout:.0f} s: "
                        f"{[(r.name, r.state_name) for r in runs]}; worker log:\n{log}")
        time.sleep(1.0)


@pytest.mark.slow
def test_a_branch_worker_runs_the_nightly_batch_into_the_store(prefect_api, tmp_path,
                                                               db_url):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from sqlalchemy import func, select

    from storage.db import open_store
    from storage.models import Recording, VerificationRun
    from verifier.config import load_settings

    inbox = tmp_path / "inbox-BR001"
    inbox.mkdir()
    names = ["demo-compliant", "demo-customer-left"]
    for stem in names:
        for ext in (".mp4", ".json"):
            shutil.copy2(DEMO / f"{stem}{ext}", inbox / f"{stem}{ext}")
    age_tree(inbox)  # a fresh clone's samples are new: the batch would leave them
    file = write_deploy_file(tmp_path / "deploy.yaml", "dualrec-e2e", inbox,
                             tmp_path / "inbox-BR002")
    r = dualrec_deploy(prefect_env(tmp_path / "home", PREFECT_API_URL=prefect_api),
                       "--file", file)
    assert r.returncode == 0, r.stderr

    store_env = {k: os.environ[k] for k in ("DUALREC_DATA_DIR", "DUALREC_DB_URL")
                 if os.environ.get(k)}
    # BR001's branch server: its queue, and the head office's (one worker for both here);
    # room for four runs, so only the queue's limit of one can keep them apart.
    with prefect_worker(prefect_api, "dualrec-e2e", tmp_path / "worker",
                        queues=["branch-BR001", "head-office"], limit=4,
                        env=store_env) as worker, get_client(sync_client=True) as client:
        a = run_deployment("nightly-batch/nightly-batch-BR001", timeout=0)
        b = run_deployment("nightly-batch/nightly-batch-BR001", timeout=0)
        other = run_deployment("nightly-batch/nightly-batch-BR002", timeout=0)
        assert a.work_queue_name == "branch-BR001" and other.work_queue_name == "branch-BR002"
        runs = _wait_final(client, [a.id, b.id], RUN_TIMEOUT_S, worker)
        assert [x.state_name for x in runs] == ["Completed", "Completed"], \
            [(x.state_name, x.state.message) for x in runs]
        first, second = sorted(runs, key=lambda x: x.start_time)
        assert first.end_time <= second.start_time, (
            "two runs of one branch overlapped: "
            f"{first.start_time}-{first.end_time} and {second.start_time}-{second.end_time}")

        sweep = run_deployment("retention-sweep/retention-sweep",
                               parameters={"dry_run": True}, timeout=0)
        [swept] = _wait_final(client, [sweep.id], 90, worker)
        assert swept.state_name == "Completed", swept.state.message

        # one recording on demand, on the branch's own worker
        one = tmp_path / "on-demand"
        one.mkdir()
        for ext in (".mp4", ".json"):
            shutil.copy2(DEMO / f"demo-forbidden-promise{ext}", one / f"demo-forbidden-promise{ext}")
        asked = run_deployment("verify-recording/verify-recording-BR001", timeout=0,
                               parameters={"media": str(one / "demo-forbidden-promise.mp4")})
        [done] = _wait_final(client, [asked.id], RUN_TIMEOUT_S, worker)
        assert done.state_name == "Completed", done.state.message
        names = names + ["demo-forbidden-promise"]

        # no worker polls BR002's queue: its run waits there
        assert client.read_flow_run(other.id).state.is_scheduled()  # Scheduled or Late
        client.delete_flow_run(other.id)

    store = open_store(load_settings())
    try:
        with store.session() as s:
            recs = {x.recording_id: x for x in s.scalars(select(Recording))}
            assert {k: v.verdict for k, v in recs.items()} == {
                n: EXPECTED[n]["verdict"] for n in names}
            assert all(x.branch_id == "BR001" and x.media_present for x in recs.values())
            # verified once: the second run found both stored and skipped them
            assert s.scalar(select(func.count()).select_from(VerificationRun)) == len(names)
    finally:
        store.close()
