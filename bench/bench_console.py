"""The web console under 50 concurrent clients, over 100,000 recordings.

    .venv/bin/python -m bench.bench_console [--recordings 100000] [--clients 50]
                                            [--backend sqlite|postgresql|both]
    bash .ci/postgres.sh .venv/bin/python -m bench.bench_console --backend postgresql

For each backend: generates a store with bench_search's generator (recordings with
sale metadata, one verification run each, Chinese transcript segments with script
phrases every recording has and rare phrases only about 0.1% have), stores a few
recordings' media in the vault (random bytes, 8 MiB each), adds a console account
(auditor, all branches), starts a real server (``uvicorn console.serve:app --factory``
on 127.0.0.1 and a free port, DUALREC_DATA_DIR / DUALREC_DB_URL in its environment),
logs N clients in through the login form (double-submit CSRF cookie), and drives it
with httpx.AsyncClient, each client its own session and connection.

Each request type is a phase: every client sends its requests back to back (closed
loop, no think time unless --think), so N requests are in flight all the time: the
latency includes the queueing behind the others. Timed per request: sending it to
the last byte of the body. Before the concurrent phases each type is also timed from
one client alone (the "1 client" column: the service time without queueing).

Request types: a static file (the baseline: no session, no query), the login page
while logged in (a 303: the session lookup only), the recordings list (page 1, and a
deep page), a filtered list (branch + verdict=fail + one-year date range), spoken-text
searches (a rare phrase, a phrase every recording has), and the media: whole-file
downloads and 1 MiB Range requests (aggregate MB/s). Every answer is checked (status,
row count, the planted recordings found, the streamed bytes equal to the stored ones).

Prints a table per backend and writes everything to bench/results/console-*.json.
Targets (issue): list p95 < 200 ms, search p95 < 300 ms. Not a test: numbers vary by
machine; the ratios to the baseline travel better. The client runs on the same
machine as the server (and PostgreSQL), so they share its cores.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_search import RARE, SCRIPT, populate  # noqa: E402

RESULTS = REPO / "bench" / "results"
USER = "bench-auditor"
MiB = 1 << 20
RID = re.compile(r'href="/recordings/(BR\d{3}-\d{7})"')
TARGETS = {"list": 200.0, "search": 300.0}  # p95, ms


# --------------------------------------------------------------------------- the store


@dataclass
class Fixture:
    backend: str
    root: Path
    db_url: str | None
    password: str
    rare: dict[str, list[str]]
    media: dict[str, bytes]  # recording_id -> content
    load_s: float
    db_note: str
    drop: Callable[[], None] = field(default=lambda: None)


def _pg_database(base_url: str, name: str) -> tuple[str, Callable[[], None]]:
    """A fresh database `name` on the server of `base_url`; returns its URL and a
    function that drops it."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    if base_url.startswith(("postgresql://", "postgres://")):
        base_url = "postgresql+psycopg://" + base_url.split("://", 1)[1]
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    return url, drop


def build_store(backend: str, args) -> Fixture:
    from sqlalchemy import update

    from console.accounts import add_user
    from storage.db import open_store
    from storage.models import Recording
    from verifier.config import load_settings

    root = Path(tempfile.mkdtemp(prefix=f"dualrec-bench-console-{backend}-"))
    drop: Callable[[], None] = lambda: None  # noqa: E731
    db_url = None
    if backend == "postgresql":
        db_url, drop = _pg_database(args.pg_url, f"dualrec_bench_console_{os.getpid()}")
    # The server reads the same two variables; they win over any config file.
    os.environ["DUALREC_DATA_DIR"] = str(root)
    if db_url:
        os.environ["DUALREC_DB_URL"] = db_url
    else:
        os.environ.pop("DUALREC_DB_URL", None)
    settings = load_settings().model_copy(update={"data_dir": root, "db_url": db_url})
    store = open_store(settings)
    try:
        rng = random.Random(20261121)
        print(f"[{backend}] generating {args.recordings:,} recordings "
              f"({args.recordings * args.segments:,} transcript segments) ...", flush=True)
        t0 = time.perf_counter()
        _customers, facts = populate(store, args.recordings, args.segments, rng)
        load_s = time.perf_counter() - t0
        if store.dialect == "postgresql":
            # populate writes explicit ids: move the sequences past them.
            with store.engine.begin() as conn:
                for table in ("recordings", "verification_runs"):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))")
            # The bulk load and populate's UPDATE of every recording leave dead rows and
            # an unvacuumed table: vacuum now, as autovacuum would have in a live store,
            # rather than let it run (and take a core) in the middle of the timing.
            with store.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
                conn.exec_driver_sql("CHECKPOINT")
                size = conn.exec_driver_sql(
                    "SELECT pg_database_size(current_database())").scalar()
            db_note = f"PostgreSQL database {size / 1e6:.0f} MB"
        else:
            db_note = (f"SQLite file {(root / 'dualrec.db').stat().st_size / 1e6:.0f} MB, "
                       f"FTS5 trigram index: {store.has_fts()}")
        # A few recordings get real media in the vault, so /media streams real bytes.
        media: dict[str, bytes] = {}
        mrng = random.Random(7)
        for k in range(args.media_objects):
            i = 1 + k * 37
            rid = f"BR{i % 300:03d}-{i:07d}"
            data = mrng.randbytes(args.media_mib * MiB)
            obj = store.vault.put_bytes(data)
            with store.session() as s:
                s.execute(update(Recording).where(Recording.recording_id == rid).values(
                    sha256=obj.sha256, media_bytes=len(data), media_name=f"{rid}.mp4",
                    media_present=True))
            media[rid] = data
        _user, password = add_user(store, USER, "auditor", [], actor="bench")
    finally:
        store.close()
    print(f"[{backend}] generated in {load_s:.0f} s; {db_note}; {len(media)} media objects "
          f"of {args.media_mib} MiB in the vault", flush=True)
    return Fixture(backend, root, db_url, password, facts["rare"], media, load_s, db_note,
                   drop)


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, fx: Fixture, workers: int, access_log: bool):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = fx.root / "server.log"
        env = dict(os.environ, DUALREC_DATA_DIR=str(fx.root), DUALREC_CONSOLE_TLS="")
        env.pop("DUALREC_DB_URL", None)
        if fx.db_url:
            env["DUALREC_DB_URL"] = fx.db_url
        cmd = [sys.executable, "-m", "uvicorn", "console.serve:app", "--factory",
               "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
               "--log-level", "warning", "--no-server-header"]
        if not access_log:
            cmd.append("--no-access-log")
        self.cmd = cmd
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                if httpx.get(self.base + "/static/console.css", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"the server did not answer within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, n: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # uvicorn shuts down on SIGTERM
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# --------------------------------------------------------------------------- requests


@dataclass
class Kind:
    """One request type: how to make the i-th request of a client, and how to check
    its answer (None: fine; else what is wrong)."""
    name: str
    group: str  # baseline | list | search | stream
    make: Callable[[random.Random], tuple[str, dict, Callable]]
    per_client: int


def _rows(text: str) -> list[str]:
    return list(dict.fromkeys(RID.findall(text)))


def kinds(fx: Fixture, args) -> list[Kind]:
    page = args.page_size
    rare = sorted(fx.rare.items())
    media = sorted(fx.media.items())

    def expect(status: int, test: Callable[[object], str | None] = lambda r: None):
        def check(resp):
            if resp.status_code != status:
                return f"status {resp.status_code}, expected {status}"
            return test(resp)
        return check

    def full_page(resp):
        n = len(_rows(resp.text))
        return None if n == page else f"{n} rows, expected {page}"

    def static(rng):
        return "/static/console.css", {}, expect(200, lambda r: None if r.content else "empty")

    def session_only(rng):
        return "/login", {}, expect(303, lambda r: None if r.headers.get("location") == "/"
                                    else f"redirect to {r.headers.get('location')}")

    def listing(rng):
        return "/recordings", {}, expect(200, full_page)

    last_page = max(2, min(150, args.recordings // page - 1))
    first_page = max(2, last_page // 3)

    def deep(rng):
        return (f"/recordings?page={rng.randint(first_page, last_page)}", {},
                expect(200, full_page))

    def filtered(rng):
        d0 = date(2022, 1, 1) + timedelta(days=rng.randint(0, 1040))
        url = (f"/recordings?branch=BR{rng.randint(0, 299):03d}&verdict=fail"
               f"&from={d0}&to={d0 + timedelta(days=365)}")

        def test(r):
            bad = "verdict-pass" in r.text or "verdict-review" in r.text
            return "a row that did not fail" if bad else None
        return url, {}, expect(200, test)

    def text_rare(rng):
        phrase, planted = rare[rng.randrange(len(rare))]
        query = phrase[2:9]

        def test(r):
            found = set(_rows(r.text))
            return None if found & set(planted) else f"{query!r}: planted recordings not found"
        return f"/recordings?text={query}", {}, expect(200, test)

    def text_common(rng):
        return f"/recordings?text={SCRIPT[1 + rng.randrange(5)][:8]}", {}, expect(200, full_page)

    def media_full(rng):
        rid, data = media[rng.randrange(len(media))]
        return (f"/recordings/{rid}/media", {},
                expect(200, lambda r: None if r.content == data else "wrong bytes"))

    def media_range(rng):
        rid, data = media[rng.randrange(len(media))]
        first = rng.randrange(0, len(data) - args.range_kib * 1024)
        last = first + args.range_kib * 1024 - 1
        return (f"/recordings/{rid}/media", {"Range": f"bytes={first}-{last}"},
                expect(206, lambda r: None if r.content == data[first:last + 1]
                       else "wrong bytes"))

    q = args.requests
    return [
        Kind("baseline: GET /static/console.css", "baseline", static, q),
        Kind("session only: GET /login (303)", "session", session_only, q),
        Kind("list, page 1", "list", listing, q),
        Kind(f"list, page {first_page}-{last_page}", "list", deep, q),
        Kind("list, branch+fail+1 year", "list", filtered, q),
        Kind("search text, rare (~0.1%)", "search", text_rare, q),
        Kind("search text, in every rec", "search", text_common, q),
        Kind(f"media, whole {args.media_mib} MiB", "stream", media_full,
             max(1, args.media_requests)),
        Kind(f"media, Range {args.range_kib} KiB", "stream", media_range, q),
    ]


# --------------------------------------------------------------------------- clients


async def login(client, password: str) -> None:
    r = await client.get("/login")
    m = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    if r.status_code != 200 or not m:
        raise SystemExit(f"GET /login: {r.status_code}, no csrf_token field")
    r = await client.post("/login", data={"username": USER, "password": password,
                                          "csrf_token": m.group(1), "next": "/"})
    if r.status_code != 303 or "dualrec_session" not in client.cookies:
        raise SystemExit(f"POST /login: {r.status_code}: {r.text[:300]}")


@dataclass
class Outcome:
    times_ms: list[float]
    errors: list[str]
    wall_s: float
    body_bytes: int
    clients: int
    cpu: dict = field(default_factory=dict)


async def run_phase(clients, kind: Kind, seed: int, per_client: int, think: float,
                    max_seconds: float, server_pid: int | None = None) -> Outcome:
    times: list[float] = []
    errors: list[str] = []
    nbytes = 0
    cpu0 = cpu_snapshot(server_pid) if server_pid else {}
    t_start = time.perf_counter()
    deadline = t_start + max_seconds

    async def worker(i: int, client) -> None:
        nonlocal nbytes
        rng = random.Random(seed * 1000 + i)
        if think:  # paced clients start spread out, not all at the same instant
            await asyncio.sleep(rng.uniform(0, 2 * think))
        for k in range(per_client):
            if time.perf_counter() > deadline:
                return
            if think and k:
                await asyncio.sleep(rng.expovariate(1 / think))
            url, headers, check = kind.make(rng)
            t0 = time.perf_counter()
            try:
                resp = await client.get(url, headers=headers)
                body = resp.content
                dt = (time.perf_counter() - t0) * 1000
                problem = check(resp)
            except Exception as exc:  # a timeout, a dropped connection
                dt, problem, body = (time.perf_counter() - t0) * 1000, repr(exc), b""
            times.append(dt)
            nbytes += len(body)
            if problem:
                errors.append(f"{url}: {problem}")

    await asyncio.gather(*(worker(i, c) for i, c in enumerate(clients)))
    wall = time.perf_counter() - t_start
    cpu = cpu_used(cpu0, cpu_snapshot(server_pid), wall) if server_pid else {}
    return Outcome(times, errors, wall, nbytes, len(clients), cpu)


def pct(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(round(p * (len(sorted_ms) - 1))))]


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_times() -> dict[int, tuple[int, float, str]]:
    """pid -> (parent pid, CPU seconds, name) of every process (Linux /proc)."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            raw = (d / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2:].split()
        out[int(d.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK,
                            raw[raw.find("(") + 1:raw.rfind(")")])
    return out


def cpu_snapshot(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the server (with its worker processes), this client
    process, PostgreSQL's processes (those alive now: a backend that ended is missed),
    and the whole machine (busy time of all cores, from /proc/stat)."""
    if not Path("/proc/stat").exists():
        return {}
    procs = _proc_times()
    tree, todo = set(), [server_pid]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [p for p, (ppid, _, _) in procs.items() if ppid == pid and p not in tree]
    cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    busy = (sum(cpu[:8]) - cpu[3] - cpu[4]) / _TICK  # less idle and iowait
    return {"server": {p: procs[p][1] for p in tree if p in procs},
            "client": time.process_time(), "machine": busy,
            "postgres": {p: cpu for p, (_, cpu, name) in procs.items() if name == "postgres"}}


def cpu_used(before: dict, after: dict, wall: float) -> dict[str, float]:
    """Cores busy on average between two snapshots; 'other': everything else on the
    machine (anything else running: a disturbance if large)."""
    if not before or not after:
        return {}

    def delta(k):
        a, b = after[k], before[k]
        if isinstance(a, dict):  # per process; one that started since counts whole
            return sum(cpu - b.get(pid, 0.0) for pid, cpu in a.items())
        return a - b

    used = {k: max(0.0, delta(k)) / wall for k in before}
    used["other"] = max(0.0, used["machine"] - used["server"] - used["client"]
                        - used["postgres"])
    return used


def summary(out: Outcome) -> dict:
    t = sorted(out.times_ms)
    return {"n": len(t), "errors": len(out.errors), "error_samples": out.errors[:5],
            "p50_ms": statistics.median(t), "p95_ms": pct(t, 0.95), "max_ms": t[-1],
            "mean_ms": statistics.fmean(t), "wall_s": out.wall_s,
            "req_per_s": len(t) / out.wall_s, "mb_per_s": out.body_bytes / 1e6 / out.wall_s,
            "body_bytes": out.body_bytes, "clients": out.clients, "cpu_cores": out.cpu}


async def drive(fx: Fixture, server: Server, args) -> dict:
    import httpx

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(args.timeout)
    clients = [httpx.AsyncClient(base_url=server.base, limits=limits, timeout=timeout)
               for _ in range(args.clients)]
    try:
        t0 = time.perf_counter()
        for c in clients:  # one by one: the login itself is not what is measured
            await login(c, fx.password)
        print(f"[{fx.backend}] {len(clients)} clients logged in in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        out = {}
        for n, kind in enumerate(kinds(fx, args)):
            if args.only and kind.group != "baseline" and not any(
                    w in kind.name for w in args.only.split(",")):
                continue
            # Warm up (server caches, OpenCC dictionaries), then one client alone.
            await run_phase(clients[:1], kind, 9000 + n, 2, 0, 60)
            alone = summary(await run_phase(clients[:1], kind, 8000 + n, args.solo, 0,
                                            args.max_seconds))
            loaded = summary(await run_phase(clients, kind, n, kind.per_client, args.think,
                                             args.max_seconds, server.proc.pid))
            out[kind.name] = {"group": kind.group, "loaded": loaded, "alone": alone}
            print(f"[{fx.backend}] {kind.name:<36} p50 {loaded['p50_ms']:8.1f} ms  "
                  f"p95 {loaded['p95_ms']:8.1f} ms  {loaded['req_per_s']:7.1f} req/s  "
                  f"(1 client: p50 {alone['p50_ms']:.1f} ms)"
                  + (f"  {loaded['mb_per_s']:.0f} MB/s" if kind.group == "stream" else "")
                  + (f"  ERRORS {loaded['errors'] + alone['errors']}: "
                     f"{(loaded['error_samples'] + alone['error_samples'])[:2]}"
                     if loaded["errors"] or alone["errors"] else ""), flush=True)
        return out
    finally:
        for c in clients:
            await c.aclose()


# --------------------------------------------------------------------------- report


def _cpu_cell(c: dict | None) -> str:
    return (f"{c['server']:.2f}/{c['postgres']:.2f}/{c['client']:.2f}/{c['other']:.2f}"
            if c else "")


def table(backend: str, res: dict, args) -> str:
    base = res["baseline: GET /static/console.css"]["loaded"]
    head = ["request", "n", "err", "p50 ms", "p95 ms", "max ms", "req/s", "MB/s",
            "p50 xbase", "p95 xbase", "1 client p50", "cpu srv/pg/cli/other", "target"]
    rows = [head]
    for name, r in res.items():
        lo = r["loaded"]
        target = ""
        if r["group"] in TARGETS:
            goal = TARGETS[r["group"]]
            target = f"p95<{goal:.0f}: " + ("met" if lo["p95_ms"] < goal else "MISSED")
        rows.append([name, str(lo["n"]), str(lo["errors"] + r["alone"]["errors"]),
                     f"{lo['p50_ms']:.1f}", f"{lo['p95_ms']:.1f}", f"{lo['max_ms']:.1f}",
                     f"{lo['req_per_s']:.1f}",
                     f"{lo['mb_per_s']:.0f}" if r["group"] == "stream" else "",
                     f"{lo['p50_ms'] / base['p50_ms']:.1f}",
                     f"{lo['p95_ms'] / base['p95_ms']:.1f}",
                     f"{r['alone']['p50_ms']:.1f}", _cpu_cell(lo.get("cpu_cores")), target])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [f"{backend}: {args.clients} concurrent clients"
             + (f", think time {args.think} s" if args.think else ", no think time")]
    for k, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def bench_backend(backend: str, args) -> dict:
    fx = build_store(backend, args)
    server = None
    try:
        server = Server(fx, args.workers, args.access_log)
        server.wait_ready()
        print(f"[{backend}] server (pid {server.proc.pid}): {' '.join(server.cmd[1:])}", flush=True)
        res = asyncio.run(drive(fx, server, args))
        if server.proc.poll() is not None:
            raise SystemExit(f"the server died:\n{server.tail()}")
        log_tail = server.tail()
    finally:
        if server:
            server.stop()
        if not args.keep:
            shutil.rmtree(fx.root, ignore_errors=True)
            fx.drop()
    return {"backend": backend, "generate_s": fx.load_s, "database": fx.db_note,
            "store": str(fx.root) + ("" if args.keep else " (removed)"),
            "server_cmd": server.cmd[1:], "server_log_tail": log_tail[-2000:],
            "results": res}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_console",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--recordings", type=int, default=100_000)
    ap.add_argument("--segments", type=int, default=4, help="transcript segments per recording")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get("DUALREC_TEST_PG_URL"),
                    help="a PostgreSQL server to make a throw-away database on "
                         "(default: env DUALREC_TEST_PG_URL, as .ci/postgres.sh sets it)")
    ap.add_argument("--requests", type=int, default=10,
                    help="requests per client per request type")
    ap.add_argument("--media-requests", type=int, default=2,
                    help="whole-file downloads per client")
    ap.add_argument("--solo", type=int, default=20,
                    help="requests of each type timed from one client alone")
    ap.add_argument("--media-objects", type=int, default=4)
    ap.add_argument("--media-mib", type=int, default=8)
    ap.add_argument("--range-kib", type=int, default=1024)
    ap.add_argument("--think", type=float, default=0.0,
                    help="mean pause between a client's requests, seconds (exponential)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--access-log", action="store_true", help="keep uvicorn's access log on")
    ap.add_argument("--page-size", type=int, default=50,
                    help="the console's page size (its default; the checks expect it)")
    ap.add_argument("--max-seconds", type=float, default=180.0,
                    help="a phase stops sending after this long")
    ap.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    ap.add_argument("--only", default="",
                    help="only the request types whose names contain one of these "
                         "comma-separated words (and the baseline), e.g. 'list,text'")
    ap.add_argument("--keep", action="store_true", help="keep the generated stores")
    args = ap.parse_args(argv)

    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not args.pg_url:
        msg = ("PostgreSQL: no server (set DUALREC_TEST_PG_URL or --pg-url; "
               "bash .ci/postgres.sh .venv/bin/python -m bench.bench_console ...)")
        if args.backend == "postgresql":
            raise SystemExit(msg)
        print(f"skipping {msg}", file=sys.stderr)
        backends.remove("postgresql")

    import sqlite3

    meta = {"started": datetime.now().isoformat(timespec="seconds"),
            "argv": sys.argv[1:], "args": vars(args) | {"pg_url": bool(args.pg_url)},
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "targets_p95_ms": TARGETS,
            "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None}
    runs = {}
    for backend in backends:
        runs[backend] = bench_backend(backend, args)
        if backend == "postgresql":
            from sqlalchemy import create_engine
            eng = create_engine(args.pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
                                if args.pg_url.startswith("postgresql://") else args.pg_url)
            with eng.connect() as conn:
                runs[backend]["server_version"] = conn.exec_driver_sql("SHOW server_version") \
                    .scalar()
            eng.dispose()

    print()
    for backend, run in runs.items():
        print(table(backend, run["results"], args))
        print(f"  store: {args.recordings:,} recordings, generated in {run['generate_s']:.0f} s; "
              f"{run['database']}" + (f"; PostgreSQL {run['server_version']}"
                                      if "server_version" in run else ""))
        print()
    print(f"p50/p95/max: milliseconds from sending a request to its last body byte, with "
          f"{args.clients} clients "
          + (f"pausing {args.think} s on average between requests (exponential)"
             if args.think else "sending back to back") + "; xbase: over the same percentile "
          f"of the baseline (a static file) in the same run; '1 client p50': the same "
          f"request from one client alone. {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}; client, server "
          f"and database on this machine. cpu srv/pg/cli/other: cores busy on average during "
          f"the phase: the server (all its processes), PostgreSQL, this client, and "
          f"everything else (other load on the machine: a disturbance when large).")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"console-{'-'.join(runs) or 'none'}-{stamp}.json"
    path.write_text(json.dumps({**meta, "runs": runs}, indent=2, ensure_ascii=False))
    print(f"results: {path.relative_to(REPO)}")
    failed = [(b, k) for b, r in runs.items() for k, v in r["results"].items()
              if v["loaded"]["errors"] or v["alone"]["errors"]]
    if failed:
        print(f"requests answered wrongly: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
