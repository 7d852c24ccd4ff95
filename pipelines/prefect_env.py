"""Prefect for a command run on this machine: settings, and the embedded server.

With no Prefect server configured (PREFECT_API_URL unset), `dualrec batch` runs its
flow on an embedded Prefect server of its own, started on 127.0.0.1 for the run and
stopped after it. Prefect's own temporary server would do the same, but it outlives a
batch killed with SIGKILL; ours is told by the kernel to stop when the batch dies
(PR_SET_PDEATHSIG). Its database and the cached task results live with the store:
``<data_dir>/prefect`` (unless PREFECT_HOME is set). No telemetry (branch servers are
offline), and Prefect's INFO logs only with --verbose.
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

STARTUP_TIMEOUT_S = 90.0
_PR_SET_PDEATHSIG = 1


class PrefectServerError(RuntimeError):
    pass


def configure_prefect(data_dir: str | os.PathLike, verbose: bool = False) -> None:
    """Set Prefect's environment before Prefect is imported."""
    env = os.environ
    if not env.get("PREFECT_API_URL") and not env.get("PREFECT_HOME"):
        home = (Path(data_dir).expanduser() / "prefect").resolve()
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        env["PREFECT_HOME"] = str(home)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    env.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the server is stopped at exit only
        pass


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def embedded_server(timeout_s: float = STARTUP_TIMEOUT_S) -> Iterator[str | None]:
    """Yield the API URL flows should use: PREFECT_API_URL if set (a real server),
    else that of a server started here for the duration (and stopped by its pid)."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    if "prefect" in sys.modules:  # its settings are read once, at import
        raise PrefectServerError("embedded_server() must start before Prefect is imported")
    home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    # Two batches starting at once on one data folder would both create or upgrade
    # the Prefect database in it; one server starts at a time, the other waits.
    lock = open(home / "embedded-server.lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with _started(home, timeout_s) as url:
            fcntl.flock(lock, fcntl.LOCK_UN)
            yield url
    finally:
        lock.close()


def _drain_prefect_clients(timeout_s: float = 5.0) -> None:
    """Send what Prefect still holds for the server (run logs, events) while it is up.

    Prefect sends run logs in batches every couple of seconds (the flow's last one,
    "Finished in state ...", is logged as it returns) and otherwise only drains its
    queues at exit, after this server is gone: "--- Error logging to API --- All
    connection attempts failed" on stderr."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for service in (APILogWorker, EventsWorker):
        try:
            service.drain_all(timeout=timeout_s)
        except Exception:  # a stuck worker must not keep the server (or the batch) up
            pass


def mark_flow_run_crashed(flow_run_id: str, message: str) -> bool:
    """Tell the Prefect server that a flow run this process abandons (its batch was
    stopped by a signal) has crashed: else it shows as running forever. False when the
    server cannot be told."""
    import uuid

    try:
        from prefect.client.orchestration import get_client
        from prefect.states import Crashed

        with get_client(sync_client=True) as client:
            client.set_flow_run_state(uuid.UUID(flow_run_id), Crashed(message=message),
                                      force=True)
    except Exception:  # not a flow run id, the server gone: the store has the truth
        return False
    return True


@contextlib.contextmanager
def _started(home: Path, timeout_s: float) -> Iterator[str]:
    import importlib.util

    package = Path(importlib.util.find_spec("prefect").origin).parent
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = home / "embedded-server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir",
             str(package.parent), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "error", "--lifespan", "on"],
            env={**os.environ, "PREFECT_UI_ENABLED": "false"}, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            # Ctrl-C reaches the terminal's whole process group: the server must stay
            # up until the batch has recorded that it stops (it stops the server then).
            start_new_session=True, preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + timeout_s
        while not _healthy(url):
            if proc.poll() is not None:
                raise PrefectServerError(f"the embedded Prefect server exited with status "
                                         f"{proc.returncode} (see {log})")
            if time.monotonic() > deadline:
                raise PrefectServerError(f"the embedded Prefect server did not answer "
                                         f"within {timeout_s:.0f} s (see {log})")
            time.sleep(0.2)
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            os.environ.pop("PREFECT_API_URL", None)
    finally:
        _drain_prefect_clients()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
