"""Shared helpers of the console's tests (HTTP-level tests/test_store_console_*.py, and
browser tests): the app over a store, accounts, logging in through the real form, CSRF
tokens read from the pages, the audit log, and a small world of recordings in two
branches with a user of every role.

Typical use (function scope, the conftest's `store` and `make_recording` fixtures)::

    app = make_app(store, session_idle_minutes=5)
    password = add_user(store, "ann", "auditor")
    c = client(app)
    login(c, "ann", password)          # follows the real form (double-submit cookie)
    post(c, "/recordings/R1/review", decision="pass", reason="ok")   # adds csrf_token

Argon2 costs tens of milliseconds per hash (one when a user is added, one per login):
:func:`build_world` adds every user and logs each in once; module-scoped fixtures
(:func:`module_store`) share that between tests that only read.
"""
from __future__ import annotations

import html
import json
import os
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from starlette.testclient import TestClient

ROLES = ("viewer", "auditor", "legal", "admin")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')
PASSWORD_RE = re.compile(r"password \(shown only now\): (\S+)")
PAGE_PASSWORD_RE = re.compile(r'<code class="password">([^<]+)</code>')
VAULT_KEY = "8f" * 32
# What a browser's Accept header says when it follows a link (error pages are then HTML).
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # 64 hex digits, as tests/test_store_vault.py

# Personal data no masked role may ever see in a page (customer IDs are made per
# recording by world_recording(); the names are these).
CUSTOMER_NAMES = {"BR001": "欧阳明月", "BR002": "司马青云"}

# What the sidecar validator lets through into each free-text field (verifier/sidecar.py:
# recording_id is a safe id of letters, digits, '-', '_', '.', so it cannot carry HTML;
# staff_id, branch_id, product_code and product_name are any text without control
# characters).
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTR = '"><img src=x onerror=alert(1)>'
XSS_BRANCH = "BR<script>alert(2)</script>"


# --------------------------------------------------------------------------- app, users


def console_settings(settings=None, **console: Any):
    """`settings` (default: load_settings()) with console settings overridden, e.g.
    console_settings(session_idle_minutes=1, account_failures=3)."""
    if settings is None:
        from verifier.config import load_settings
        settings = load_settings()
    if console:
        settings = settings.model_copy(
            update={"console": settings.console.model_copy(update=console)})
    return settings


def make_app(store, settings=None, **console: Any):
    """The console over an open store (its settings, with `console` overrides)."""
    from console.app import create_app

    return create_app(console_settings(settings or store.settings, **console), store=store)


def add_user(store, name: str, role: str, branches=(), actor: str = "test") -> str:
    """An account; returns its generated password."""
    from console.accounts import add_user as add

    _, password = add(store, name, role, list(branches), actor=actor)
    return password


def client(app, address: str = "10.0.0.1", **kw: Any) -> TestClient:
    """A browser of the console from `address` (the throttle counts failures per
    address: give tests that fail logins an address of their own). Redirects are not
    followed, so tests see the 303s."""
    kw.setdefault("follow_redirects", False)
    headers = {"accept": BROWSER_ACCEPT, **kw.pop("headers", {})}
    return TestClient(app, client=(address, 50000), headers=headers, **kw)


def login_token(c: TestClient) -> str:
    """GET /login: its form's double-submit token (the cookie is set on `c`)."""
    r = c.get("/login")
    m = CSRF_RE.search(r.text)
    assert m, f"no csrf_token in the login page ({r.status_code})"
    return html.unescape(m.group(1))


def login(c: TestClient, name: str, password: str, next: str = "/", check: bool = True):
    """Log in through the form; returns the POST's response (303 on success)."""
    token = login_token(c)
    r = c.post("/login", data={"username": name, "password": password, "csrf_token": token,
                               "next": next})
    if check:
        assert r.status_code == 303, (r.status_code, r.text[:500])
    return r


def session_cookie(c: TestClient) -> str | None:
    return c.cookies.get("dualrec_session")


def csrf_of(c: TestClient, page: str = "/") -> str:
    """The session's CSRF token, as the forms of `page` carry it."""
    r = c.get(page)
    m = CSRF_RE.search(r.text)
    assert m, f"no csrf_token on {page} ({r.status_code})"
    return html.unescape(m.group(1))


@dataclass
class Browser:
    """A logged-in client and who it is."""
    c: TestClient
    name: str
    role: str
    branches: tuple[str, ...] = ()
    password: str = ""
    address: str = ""
    _csrf: str | None = None

    @property
    def csrf(self) -> str:
        if self._csrf is None:
            self._csrf = csrf_of(self.c)
        return self._csrf

    def get(self, url: str, **kw: Any):
        return self.c.get(url, **kw)

    def post(self, url: str, data: dict | None = None, **kw: Any):
        """A form POST with the session's CSRF token."""
        return self.c.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kw)


def search_form(b: Browser, **filters: str) -> tuple[str, Any]:
    """The recordings' filter form as a browser sends it: POST /recordings (with the
    session's CSRF token), then GET where its 303 leads. Returns (that URL, the page).
    A customer ID given as `customer` must come back as its keyed hash (ck=), and be
    in neither that URL nor the page: checked here for every caller."""
    r = b.post("/recordings", filters)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    location = r.headers["location"]
    customer = (filters.get("customer") or "").strip()
    if customer:
        assert customer not in location and customer.upper() not in location, location
        assert re.search(r"[?&]ck=[0-9a-f]{64}(&|$)", location), location
    assert location.startswith("/recordings"), location
    page = b.get(location)
    if customer:  # the list masks customers for every role, and no longer echoes the ID
        assert customer not in page.text, location
    return location, page


def logged_in(app, store, name: str, role: str, branches=(), address: str | None = None,
              **client_kw: Any) -> Browser:
    """Add an account and log it in from its own address."""
    password = add_user(store, name, role, branches)
    address = address or f"10.1.{len(name)}.{sum(map(ord, name)) % 250 + 1}"
    c = client(app, address, **client_kw)
    login(c, name, password)
    return Browser(c, name, role, tuple(branches), password, address)


def new_session(app, store, name: str, address: str = "10.9.9.9") -> Browser:
    """A second session of an existing account, made in the database without a login
    (no argon2): for tests that end sessions (logout, revoke) without spending the
    shared ones."""
    import secrets as _secrets

    from sqlalchemy import select

    from console.accounts import token_hash
    from storage.models import ConsoleSession, ConsoleUser, utcnow

    token, csrf = _secrets.token_urlsafe(32), _secrets.token_urlsafe(32)
    with store.session() as s:
        user = s.scalars(select(ConsoleUser).where(ConsoleUser.name == name)).one()
        s.add(ConsoleSession(token_sha256=token_hash(token), user_id=user.id, csrf_token=csrf,
                             created_at=utcnow(), last_seen_at=utcnow(), client=address,
                             user_agent="tests"))
        role, branches = user.role, tuple(user.branches or ())
    c = client(app, address)
    c.cookies.set(app.state.cookie_name, token)
    return Browser(c, name, role, branches, address=address, _csrf=csrf)


def session_id_of(store, token: str) -> int | None:
    from sqlalchemy import select

    from console.accounts import token_hash
    from storage.models import ConsoleSession

    with store.session() as s:
        return s.scalar(select(ConsoleSession.id)
                        .where(ConsoleSession.token_sha256 == token_hash(token)))


def age_sessions(store, by: timedelta, *, created: bool = False, name: str | None = None,
                 token: str | None = None) -> int:
    """Move sessions' last use (or creation, `created`) back by `by`: the idle timeout
    and the maximum length without waiting. Returns how many sessions moved."""
    from sqlalchemy import select

    from console.accounts import token_hash
    from storage.models import ConsoleSession, ConsoleUser

    with store.session() as s:
        q = select(ConsoleSession)
        if name is not None:
            q = q.join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id) \
                .where(ConsoleUser.name == name)
        if token is not None:
            q = q.where(ConsoleSession.token_sha256 == token_hash(token))
        rows = s.scalars(q).all()
        for row in rows:
            if created:
                row.created_at = row.created_at - by
            else:
                row.last_seen_at = row.last_seen_at - by
        return len(rows)


def age_login_attempts(store, by: timedelta) -> None:
    """Move every login attempt back by `by` (a lockout that has run out)."""
    from sqlalchemy import select

    from storage.models import LoginAttempt

    with store.session() as s:
        for row in s.scalars(select(LoginAttempt)):
            row.at = row.at - by


def sessions_of(store, name: str) -> list[dict]:
    """The account's sessions: id, ended_at, ended_why, client, last_seen_at."""
    from sqlalchemy import select

    from storage.models import ConsoleSession, ConsoleUser

    with store.session() as s:
        rows = s.scalars(select(ConsoleSession)
                         .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
                         .where(ConsoleUser.name == name).order_by(ConsoleSession.id))
        return [{"id": r.id, "ended_at": r.ended_at, "ended_why": r.ended_why,
                 "client": r.client, "last_seen_at": r.last_seen_at,
                 "created_at": r.created_at} for r in rows]


def app_routes(app) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, mounts as ("MOUNT", path): the routes of
    included routers too (FastAPI >= 0.13x keeps them behind an included-router entry;
    fastapi.routing.iter_route_contexts flattens them)."""
    from starlette.routing import Mount

    try:
        from fastapi.routing import iter_route_contexts
        routes = [(rc.original_route, rc.path) for rc in iter_route_contexts(app.routes)]
    except ImportError:  # older FastAPI: app.routes is flat
        routes = [(r, getattr(r, "path", None)) for r in app.routes]
    out = set()
    for route, path in routes:
        if isinstance(route, Mount):
            out.add(("MOUNT", route.path))
            continue
        for method in getattr(route, "methods", None) or ():
            out.add((method, path))
    return out


def post(c: TestClient, url: str, csrf: str | None = None, **data: Any):
    """A form POST carrying the session's CSRF token (read from a page if not given)."""
    return c.post(url, data={"csrf_token": csrf if csrf is not None else csrf_of(c), **data})


# --------------------------------------------------------------------------- audit log


def audit_entries(store, action: str | None = None, since: int = 0) -> list[dict]:
    """Audit entries (as storage.audit.entry_dict), oldest first."""
    from sqlalchemy import select

    from storage import audit
    from storage.models import AuditEntry

    with store.session() as s:
        q = select(AuditEntry).where(AuditEntry.id > since).order_by(AuditEntry.id)
        if action:
            q = q.where(AuditEntry.action == action)
        return [audit.entry_dict(e) for e in s.scalars(q)]


def last_audit_id(store) -> int:
    from sqlalchemy import func, select

    from storage.models import AuditEntry

    with store.session() as s:
        return s.scalar(select(func.max(AuditEntry.id))) or 0


def chain_ok(store) -> bool:
    from storage.audit import verify_chain

    with store.session() as s:
        report = verify_chain(s)
    assert report.ok, report.problems
    return report.ok


# --------------------------------------------------------------------------- stores


@contextmanager
def module_store(backend: str, folder: Path, vault_key: str | None = None) -> Iterator:
    """An open store of its own for a module- or session-scoped fixture (the conftest's
    `store` is per test): SQLite under `folder`, or a fresh PostgreSQL database on the
    server DUALREC_TEST_PG_URL names, dropped afterwards. Mirrors tests/conftest.py
    `db_url`, without touching the environment the per-test fixtures set."""
    from storage.db import open_store

    url = None
    admin = name = None
    if backend == "postgresql":
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        base = os.environ["DUALREC_TEST_PG_URL"]
        name = "dualrec_t_" + uuid.uuid4().hex[:12]
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
    saved_key = os.environ.get("DUALREC_VAULT_KEY")
    if vault_key:
        os.environ["DUALREC_VAULT_KEY"] = vault_key
    else:
        os.environ.pop("DUALREC_VAULT_KEY", None)
    try:
        settings = console_settings().model_copy(
            update={"data_dir": Path(folder) / "dualrec-data", "db_url": url})
        store = open_store(settings)
    finally:
        if saved_key is None:
            os.environ.pop("DUALREC_VAULT_KEY", None)
        else:
            os.environ["DUALREC_VAULT_KEY"] = saved_key
    try:
        yield store
    finally:
        store.close()
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


def store_backends() -> list[str]:
    """The backends the store tests run on (as tests/conftest.py STORE_BACKENDS)."""
    return ["sqlite"] + (["postgresql"] if os.environ.get("DUALREC_TEST_PG_URL") else [])


# --------------------------------------------------------------------------- recordings


def make_recording_factory(folder: Path):
    """tests/conftest.py's `make_recording`, usable outside a function-scoped test;
    returns (media, sidecar, report, sidecar dict)."""
    from tests.stored_recordings import make_stored_recording

    def make(recording_id: str, transcript=(), verdict: str = "pass",
             media_bytes: bytes | None = None, audio_bytes: bytes | None = None,
             checks: list[dict] | None = None, **overrides):
        return make_stored_recording(Path(folder) / "inbox", recording_id, transcript,
                                     verdict, media_bytes=media_bytes,
                                     audio_bytes=audio_bytes, checks=checks, **overrides)

    return make


def customer_id_for(n: int) -> str:
    """A valid-looking, distinct 18-character ID number (the checksum is not checked)."""
    return f"1101011990{n:04d}{n % 10}23X"[:17] + "X"


@dataclass
class World:
    """Recordings in two branches and a logged-in user of every role."""
    store: Any
    app: Any
    users: dict[str, Browser] = field(default_factory=dict)
    recordings: dict[str, dict] = field(default_factory=dict)  # rid -> sidecar (clear)
    sample_id: str | None = None
    sample_br2: str | None = None

    def secrets(self) -> list[str]:
        """Every customer ID number and name in clear."""
        out = []
        for meta in self.recordings.values():
            out.append(meta["customer_id"])
            if meta.get("customer_name"):
                out.append(meta["customer_name"])
        return out


TEXT = "本产品不保本，理财非存款，产品有风险，投资须谨慎"


def build_world(store, folder: Path, app=None) -> World:
    """Recordings (every transcript says the customer's name and ID number, which
    ingest must mask):

    - BR001: R1-PASS (separate audio), R1-FAIL (legal hold CASE-1), R1-XSS (HTML in
      the staff id, product code and product name);
    - BR002: R2-PASS (separate audio; purge due within 30 days), R2-HELD (hold CASE-2);
    - XSS_BRANCH (HTML in the branch id): R3-XSS.

    Two finished batches (both branches; BR002 only), a sample of each branch, and
    users, each logged in from an address of its own: viewer (BR001), auditor, legal,
    admin (all branches), auditor_br1 and legal_br1 (BR001)."""
    from storage import batches
    from storage.ingest import store_recording
    from storage.retention import place_hold
    from storage.sampling import Plan, draw

    app = app or make_app(store)
    world = World(store, app)
    make = make_recording_factory(folder)
    verdict_of: dict[str, str] = {}
    today = date.today()
    recent = (today - timedelta(days=3)).isoformat()
    # retention: 6 months after maturity; due within the dashboard's 30-day window
    maturity_soon = (today - timedelta(days=170)).isoformat()
    sold_long_ago = (today - timedelta(days=400)).isoformat()
    specs = [
        ("R1-PASS", "BR001", "pass", dict(audio_bytes=os.urandom(2048))),
        ("R1-FAIL", "BR001", "fail", {}),
        ("R1-XSS", "BR001", "review", dict(staff_id=XSS_SCRIPT, product_name=XSS_ATTR,
                                           product_code=XSS_ATTR + XSS_SCRIPT)),
        ("R2-PASS", "BR002", "pass", dict(audio_bytes=os.urandom(2048),
                                          maturity_date=maturity_soon,
                                          sale_time=f"{sold_long_ago}T09:30:00+08:00")),
        ("R2-HELD", "BR002", "fail", dict(maturity_date=maturity_soon,
                                          sale_time=f"{sold_long_ago}T09:00:00+08:00")),
        # a branch id is free text too: only users of all branches see this one
        ("R3-XSS", XSS_BRANCH, "error", dict(staff_id=XSS_ATTR)),
    ]
    for n, (rid, branch, verdict, extra) in enumerate(specs, start=1):
        extra.setdefault("sale_time", f"{recent}T10:{n:02d}:00+08:00")
        cid = customer_id_for(n)
        media, side, report, meta = make(
            rid, verdict=verdict, branch_id=branch, customer_id=cid,
            customer_name=CUSTOMER_NAMES.get(branch, "东方不败"),
            transcript=[(1.0, 3.5, "staff", TEXT),
                        (4.0, 6.0, "customer",
                         f"我叫{CUSTOMER_NAMES.get(branch, '东方不败')}，身份证{cid}")],
            **extra)
        store_recording(store, media, side, report, actor="ingest-test")
        world.recordings[rid] = meta
        verdict_of[rid] = verdict
    # a nightly batch over both branches, and one limited to BR002
    for branch, rids in ((None, list(world.recordings)),
                         ("BR002", [r for r in world.recordings if r.startswith("R2-")])):
        key = batches.begin(store, "/srv/inbox", 1, branch=branch, actor="batch-test")
        for rid in rids:
            batches.record_item(store, key, f"{rid}.mp4", "stored", recording_id=rid,
                                verdict=verdict_of[rid])
        batches.finish(store, key)
    place_hold(store, "R1-FAIL", "CASE-1", "dispute", actor="legal-test")
    place_hold(store, "R2-HELD", "CASE-2", "complaint", actor="legal-test")
    settings = store.settings
    since = today - timedelta(days=30)
    world.sample_id = draw(store, Plan.from_settings(settings, since, today, size=5,
                                                     branch=["BR001"]), "auditor-test")["sample_id"]
    world.sample_br2 = draw(store, Plan.from_settings(settings, since, today, size=5,
                                                      branch=["BR002"]), "auditor-test")["sample_id"]
    for name, role, branches in [("viewer", "viewer", ["BR001"]), ("auditor", "auditor", []),
                                 ("legal", "legal", []), ("admin", "admin", []),
                                 ("auditor_br1", "auditor", ["BR001"]),
                                 ("legal_br1", "legal", ["BR001"])]:
        world.users[name] = logged_in(app, store, name, role, branches)
    return world


# --------------------------------------------------------------------------- fixtures
# Import into a test module (`from tests.console_helpers import world  # noqa: F401`):
# one world per module and store backend (the test ids carry "sqlite"/"postgresql",
# so .ci/run's `-k "not sqlite"` pass runs the PostgreSQL variants).


@pytest.fixture(scope="module", params=store_backends())
def world(request, tmp_path_factory):
    with module_store(request.param, tmp_path_factory.mktemp("console-store")) as store:
        w = build_world(store, tmp_path_factory.mktemp("console-inbox"))
        yield w
        for b in w.users.values():
            b.c.close()
