"""A real Prefect server for the tests: `prefect server start` on 127.0.0.1.

`prefect_api_url` (session scope) starts the server as a subprocess of its own, with a
PREFECT_HOME (profile, SQLite database) in a temporary folder, no UI and no analytics,
waits a bounded time for /api/health, yields the API URL ("http://127.0.0.1:PORT/api")
and stops the server by its pid. It sets nothing globally: a test that talks to the
server sets PREFECT_API_URL itself (monkeypatch.setenv), and passes it to the
subprocesses it starts.

Registered in tests/conftest.py (pytest_plugins); other helpers here start and stop
workers the same way.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

PREFECT = str(Path(sys.executable).parent / "prefect")
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect_env(home: Path, **extra: str) -> dict[str, str]:
    """os.environ without any PREFECT_* setting of the caller's (profile, API URL,
    database), plus a PREFECT_HOME of its own and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_UI_ENABLED="false", PREFECT_UI_ENABLED="false",
               PREFECT_LOGGING_LEVEL="INFO")
    env.update(extra)
    return env


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _proc_stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of a live process, from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[19]


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of `pid`'s children, grandchildren, ... (from /proc)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _proc_stat(int(entry.name))) is not None:
            children.setdefault(st[0], []).append((int(entry.name), st[1]))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child[0])
    return out


def stop_process(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to this pid, wait, then SIGKILL to this pid; then the processes it
    started that outlived it (a worker's flow runs), by pid and start time."""
    left = descendants(proc.pid) if proc.poll() is None else []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    for pid, started in left:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            st = _proc_stat(pid)
            if st is None or st[1] != started:  # gone (or the pid is someone else's now)
                break
            os.kill(pid, sig)
            for _ in range(20):
                if _proc_stat(pid) is None:
                    break
                time.sleep(0.25)


def _default_sigint() -> None:
    # A shell's background job inherits SIGINT ignored; the worker stops on SIGTERM by
    # sending itself SIGINT, so give it the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _start_server(home: Path) -> tuple[subprocess.Popen, str, Path]:
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log = home / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port),
             "--no-ui", "--analytics-off"],
            env=prefect_env(home), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=home, start_new_session=True)
    return proc, api_url, log


@pytest.fixture(scope="session")
def prefect_api_url(tmp_path_factory) -> Iterator[str]:
    """The API URL of a Prefect server running for this test session."""
    home = tmp_path_factory.mktemp("prefect-server")
    for attempt in range(2):  # a second port if the first was taken meanwhile
        proc, api_url, log = _start_server(home)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            if healthy(api_url):
                break
            time.sleep(0.5)
        if proc.poll() is None and healthy(api_url):
            break
        stop_process(proc)
        if attempt == 1 or "address already in use" not in _tail(log).lower():
            pytest.fail(f"prefect server did not answer {api_url}/health within "
                        f"{START_TIMEOUT_S:.0f} s (exit {proc.returncode}); its log:\n"
                        f"{_tail(log)}")
    try:
        yield api_url
    finally:
        stop_process(proc)


@contextmanager
def prefect_worker(api_url: str, pool: str, home: Path, queues: list[str] = (),
                   limit: int | None = None, env: dict[str, str] | None = None,
                   cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    """`prefect worker start --pool POOL --type process [--work-queue Q ...]` as a
    subprocess talking to `api_url` (its own PREFECT_HOME `home`); stopped by its pid
    on exit. `env`: extra environment (DUALREC_DATA_DIR, ...). The worker polls every
    second. Its log: home / "worker.log"."""
    home.mkdir(parents=True, exist_ok=True)
    cmd = [PREFECT, "worker", "start", "--pool", pool, "--type", "process"]
    for q in queues:
        cmd += ["--work-queue", q]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    log = home / "worker.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, env=prefect_env(home, PREFECT_API_URL=api_url,
                                 PREFECT_WORKER_QUERY_SECONDS="1",
                                 PREFECT_WORKER_HEARTBEAT_SECONDS="5", **(env or {})),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=cwd or home, start_new_session=True, preexec_fn=_default_sigint)
    proc.log_path = log  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def prefect_harness():
    """Flows called in this process run against Prefect's test harness (a temporary
    Prefect server for the session)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
