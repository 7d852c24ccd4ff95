"""Edges of `dualrec batch` found by an adversarial tester: long recording ids and the
file-name limit, an unusable reports folder, control characters in file names, a
batch stopped with SIGTERM or Ctrl-C, Prefect's log noise when its server stops."""
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.batch_summary import ReportsDirError, check_reports_dir, timeline_path
from tests.fixtures import DUALREC, age_tree, batch_env, batches_at_once

DEMO = Path(__file__).resolve().parent.parent / "samples" / "demo"
NAME_MAX = 255  # bytes in one file name (ext4, xfs, tmpfs, overlayfs)


def settings_with(**batch):
    from verifier.config import load_settings

    s = load_settings()
    return s.model_copy(update={"batch": s.batch.model_copy(update=batch)})


# --------------------------------------------------------------------------- timelines


def draw_timeline_tmp_name(out: Path) -> str:
    """The temporary name flows.draw_timeline writes the picture under first, with the
    largest pid and thread id Linux can give."""
    return f".{out.name}.{4194304}.{2 ** 64 - 1}.tmp.png"


@pytest.mark.parametrize("rid", ["理" * 80, "a" * 128, "财" * 128, "x" * 97])
def test_a_long_recording_id_gives_a_timeline_name_the_file_system_takes(tmp_path, rid):
    out = timeline_path(tmp_path, rid, 2 ** 31 - 1)
    tmp = draw_timeline_tmp_name(out)
    assert len(out.name.encode()) <= 160 and len(tmp.encode()) <= NAME_MAX - 40
    out.parent.mkdir(parents=True)
    (out.parent / tmp).write_bytes(b"png")  # the real file system agrees
    os.replace(out.parent / tmp, out)
    assert out.read_bytes() == b"png"
    assert out.name.startswith(rid[:20]) and out.name.endswith("-run2147483647.png")


def test_short_ids_keep_their_readable_timeline_names(tmp_path):
    for rid in ("BR001-20261121-0007", "a" * 96, "理" * 32):
        assert timeline_path(tmp_path, rid, 7) == tmp_path / "timelines" / f"{rid}-run7.png"


def test_long_ids_that_start_alike_keep_pictures_of_their_own(tmp_path):
    a, b = "理" * 100 + "A", "理" * 100 + "B"
    names = {timeline_path(tmp_path, rid, 1).name for rid in (a, b, "理" * 100)}
    assert len(names) == 3
    assert timeline_path(tmp_path, a, 1) == timeline_path(tmp_path, a, 1)  # stable


# --------------------------------------------------------------------------- reports dir


def test_the_reports_folder_is_made_with_its_timelines_folder(tmp_path):
    reports = tmp_path / "deep" / "reports"
    assert check_reports_dir(settings_with(reports_dir=reports)) == reports
    assert (reports / "timelines").is_dir() and list(reports.iterdir()) == [reports / "timelines"]


def unwritable(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        ro = tmp_path / "read-only"
        ro.mkdir()
        ro.chmod(0o500)
        return ro / "reports"
    return Path("/sys/dualrec-reports")  # not even root makes folders in sysfs


@pytest.mark.parametrize("case", ["a file", "under a file", "read-only"])
def test_an_unusable_reports_folder_is_a_clear_error(tmp_path, case):
    (tmp_path / "taken").write_text("x")
    reports = {"a file": tmp_path / "taken", "under a file": tmp_path / "taken" / "reports",
               "read-only": unwritable(tmp_path) if case == "read-only" else None}[case]
    with pytest.raises(ReportsDirError) as exc:
        check_reports_dir(settings_with(reports_dir=reports))
    assert str(exc.value).startswith(f"batch.reports_dir {reports}: ")
    assert ("a file is in the way" if case != "read-only" else "cannot write there") \
        in str(exc.value)


def test_batch_refuses_an_unusable_reports_folder_before_it_starts(tmp_path):
    from pipelines.cli import app

    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    (tmp_path / "taken").write_text("x")
    config = tmp_path / "dualrec.yaml"
    config.write_text(f"data_dir: {data}\nbatch:\n  reports_dir: {tmp_path / 'taken'}\n")
    env = {"DUALREC_DATA_DIR": str(data)}
    r = CliRunner().invoke(app, ["--config", str(config), "batch", str(inbox)], env=env)
    assert r.exit_code == 2, r.output
    assert f"dualrec: error: batch.reports_dir {tmp_path / 'taken'}: a file is in the way" \
        in r.stderr
    assert not (data / "prefect").exists()  # no Prefect server was started for it


# --------------------------------------------------------------------------- text output


def test_control_characters_in_names_stay_on_their_line():
    from pipelines.batch_cli import printable, render_batch, render_runs

    assert printable("a\nb\tc\rd\x1b[31m\x7f\u202e.mp4") == "a\\nb\\tc\\rd\\x1b[31m\\x7f\\u202e.mp4"
    assert printable("正常 name.mp4") == "正常 name.mp4" and printable(None) == ""
    items = [{"path": "new\nline.mp4", "verdict": "error", "outcome": "rejected",
              "reason": "no sidecar: new\nline.json is missing", "recording_id": None},
             {"path": "tab\there.mp4", "verdict": "pass", "outcome": "stored",
              "reason": None, "recording_id": "R1"}]
    out = {"inbox": "/srv/in\nbox", "total": 2, "processed": 1, "skipped": 0, "rejected": 1,
           "deferred": 0, "verdicts": {"pass": 1, "fail": 0, "review": 0, "error": 1},
           "summary": "/r/batch.html", "recordings": items}
    text = render_batch(out)
    assert len(text.splitlines()) == 4
    assert "  new\\nline.mp4  ERROR" in text and "new\\nline.json is missing" in text
    assert "tab\\there.mp4" in text and "/srv/in\\nbox: 2 files" in text
    run = {"batch": "k", "started_at": "2026-11-21T01:00:00", "status": "finished",
           "inbox": "/srv/in\nbox", "summary": None, "summary_path": "/r/\x1b.html",
           "items": [dict(it, sha256=None, seconds=0.0) for it in items]}
    runs = render_runs([run])
    assert len(runs.splitlines()) == 3 and "new\\nline.mp4  rejected" in runs
    assert "/r/\\x1b.html" in runs


def test_a_file_name_that_looks_like_markup_does_not_break_the_progress_bar():
    import io

    from rich.console import Console

    from pipelines.batch_cli import _Progress

    progress = _Progress(2)
    progress({"path": "x[/b]\n.mp4", "outcome": "rejected", "verdict": "error"})
    screen = io.StringIO()
    Console(file=screen, width=200).print(progress.bar.get_renderable())
    assert "x[/b]\\n.mp4: error" in screen.getvalue()


# --------------------------------------------------------------------------- signals


def test_a_signal_interrupts_the_wait_for_the_flow_thread():
    from pipelines.batch_cli import BatchInterrupted, run_in_thread, stop_on_signals

    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    started = time.monotonic()
    with stop_on_signals():
        timer.start()
        with pytest.raises(BatchInterrupted) as exc:
            run_in_thread(time.sleep, 30)
    assert exc.value.signum == signal.SIGTERM and str(exc.value) == "SIGTERM"
    assert time.monotonic() - started < 10
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_flow_threads_result_and_errors_come_back_to_the_caller():
    from pipelines.batch_cli import run_in_thread

    assert run_in_thread(lambda a, b=0: a + b, 1, b=2) == 3
    with pytest.raises(KeyError, match="gone"):
        run_in_thread(lambda: {}["gone"])


def test_an_interrupted_run_is_crashed_with_its_counts_so_far(tmp_path):
    from storage import batches
    from storage.db import open_store
    from storage.integrity import check
    from storage.models import BatchRun
    from verifier.config import load_settings

    from pipelines.batch_summary import mark_interrupted

    with open_store(load_settings()) as store:
        batches.begin(store, str(tmp_path), 1, batch_key="mine")
        batches.record_item(store, "mine", "a.mp4", "stored", recording_id="a", verdict="pass")
        batches.begin(store, str(tmp_path), 1, batch_key="another-process")
        with store.session() as s:  # a live batch of another process on this host
            s.query(BatchRun).filter_by(batch_key="another-process").one().pid = os.getppid()
        assert mark_interrupted(store, "stopped by SIGTERM") == ["mine"]
        run = batches.get_run(store, "mine")
        assert run["status"] == "crashed" and run["finished_at"]
        assert (run["summary"]["processed"], run["summary"]["total"]) == (1, 1)
        assert batches.get_run(store, "another-process")["status"] == "running"
        assert mark_interrupted(store, "again") == []  # already recorded
        assert check(store)["audit_log_ok"]


# --------------------------------------------------------------------------- end to end


def run_batch(data: Path, *args, verbose=False, timeout=600):
    return subprocess.run([DUALREC, *(["-v"] if verbose else []), "batch", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=batch_env(data))


@pytest.mark.slow
def test_names_with_control_characters_and_no_log_noise_when_the_server_stops(tmp_path):
    """Rejected files only (no model is loaded). With -v, Prefect's last log of the
    flow ("Finished in state Completed()") used to be sent after the embedded server
    had stopped: "--- Error logging to API ---" on stderr."""
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    for name in ("new\nline.mp4", "tab\tname.mp4", "esc\x1b[2J.mp4"):
        (inbox / name).write_bytes(b"x")
    age_tree(inbox)
    r = run_batch(data, inbox, verbose=True)
    assert r.returncode == 0, r.stderr
    assert "Error logging to API" not in r.stderr and "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 5 and "\x1b" not in r.stdout
    assert any(ln.startswith("  new\\nline.mp4 ") for ln in lines), r.stdout
    out = json.loads(run_batch(data, inbox, "--json").stdout)
    assert sorted(x["path"] for x in out["recordings"]) == \
        sorted(["new\nline.mp4", "tab\tname.mp4", "esc\x1b[2J.mp4"])  # exact in JSON
    env = dict(os.environ, DUALREC_DATA_DIR=str(data))
    listed = subprocess.run([DUALREC, "batches", out["batch"]], capture_output=True,
                            text=True, env=env, timeout=60)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 4, listed.stdout


def _running_batch(data: Path, timeout_s: float = 300) -> str:
    """Wait until the batch's run is in the store; its key."""
    from storage import batches
    from storage.db import open_store
    from verifier.config import load_settings

    os.environ["DUALREC_DATA_DIR"] = str(data)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(1)
        if (data / "dualrec.db").exists():
            with open_store(load_settings()) as store:
                running = [r for r in batches.list_runs(store) if r["status"] == "running"]
            if running:
                return running[0]["batch"]
    raise AssertionError("the batch did not start")


def servers_of(data: Path) -> list[int]:
    """Processes whose PREFECT_HOME is this data folder's (the embedded server)."""
    mark = f"PREFECT_HOME={data / 'prefect'}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and mark in (proc / "environ").read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_batch_stopped_by_a_signal_is_recorded_and_the_next_run_finishes_it(tmp_path, sig):
    """SIGTERM used to unwind the flow under its running tasks (a KeyError traceback
    per recording in flight) and leave the run 'running' in the store."""
    import sqlite3

    from storage import batches
    from storage.db import open_store
    from verifier.config import load_settings

    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    for ext in (".mp4", ".json"):
        (inbox / f"demo-compliant{ext}").write_bytes((DEMO / f"demo-compliant{ext}").read_bytes())
    age_tree(inbox)
    p = subprocess.Popen([DUALREC, "batch", str(inbox)], env=batch_env(data), text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        key = _running_batch(data)
        time.sleep(3)  # the recording is being verified
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + sig, err
    assert "Traceback" not in err and "KeyError" not in err, err
    assert f"batch {key} stopped by {signal.Signals(sig).name}: recorded as crashed" in err
    with open_store(load_settings()) as store:
        assert batches.get_run(store, key)["status"] == "crashed"
    prefect_db = sqlite3.connect(data / "prefect" / "prefect.db")
    states = prefect_db.execute("SELECT state_type FROM flow_run").fetchall()
    prefect_db.close()
    assert states == [("CRASHED",)]
    assert servers_of(data) == []  # the embedded Prefect server was stopped

    again = run_batch(data, inbox, "--json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["processed"] + result["skipped"] == 1 and result["errors"] == 0
    with open_store(load_settings()) as store:
        assert [r["status"] for r in batches.list_runs(store)] == ["finished", "crashed"]


@pytest.mark.slow
def test_three_batches_started_at_once_on_a_new_data_folder_all_finish(tmp_path):
    """Three embedded servers on one new Prefect database, three flows creating one new
    store (SQLite: 'database is locked' when several switch a new file to WAL at once).
    Rejected files only: what is tested is the start, not the models."""
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    (inbox / "no-sidecar.mp4").write_bytes(b"x")
    age_tree(inbox)
    runs = batches_at_once(inbox, data, 3)
    assert [rc for rc, _, _ in runs] == [0, 0, 0], [e for _, _, e in runs]
    assert all(json.loads(o)["rejected"] == 1 for _, o, _ in runs)
    assert all(e == "" for _, _, e in runs), [e for _, _, e in runs]
    from storage import batches
    from storage.db import open_store
    from verifier.config import load_settings

    os.environ["DUALREC_DATA_DIR"] = str(data)
    with open_store(load_settings()) as store:
        assert [r["status"] for r in batches.list_runs(store)] == ["finished"] * 3
