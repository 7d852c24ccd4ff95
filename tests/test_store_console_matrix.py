"""The console's permission matrix over EVERY route, per role, and branch scope: a
user limited to BR001 gets 404 for a BR002 recording's page, media, audio and export
(the same answer as for a made-up id) and never sees it in lists, search or the
dashboard. Every refusal is in the audit log ("denied"), and every form POST needs the
session's CSRF token.

The routes are listed from the app itself: a new route without an entry in ROUTES
fails test_every_route_has_an_entry."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable

from console.roles import MATRIX
from tests.console_helpers import (TEXT, app_routes, audit_entries, chain_ok,
                                   client, last_audit_id, new_session, search_form,
                                   world)  # noqa: F401

ROLES = ("viewer", "auditor", "legal", "admin")
USERS = ("anonymous", "viewer", "auditor", "legal", "admin", "auditor_br1", "legal_br1")
LIMITED = {"viewer", "auditor_br1", "legal_br1"}  # BR001 only
ROLE_OF = {"viewer": "viewer", "auditor": "auditor", "legal": "legal", "admin": "admin",
           "auditor_br1": "auditor", "legal_br1": "legal"}
ANON_ADDRESS = "10.0.0.99"
TODAY = date.today()
PERIOD = {"from": TODAY.replace(day=1).isoformat(), "to": TODAY.isoformat()}


@dataclass
class Case:
    """One route: the URL used (a BR001 recording or sample, which every user's scope
    holds), the permission it needs (console/roles.py), the roles it allows (written
    out here, and checked against roles.MATRIX), and the answers."""
    url: str
    perm: str | None  # None: no permission needed
    allowed: frozenset[str]  # roles; "*": every logged-in user
    ok: int = 200
    anon: int = 303  # pages redirect to the login form; other requests get 401
    data: dict | Callable[[str], dict] | None = None  # a form POST (csrf added)
    # the same route on a BR002 recording / sample, and on a made-up id
    other: str | None = None
    made_up: str | None = None
    fresh_session: bool = False  # the request ends the session: use a second one
    expect: dict[str, int] = field(default_factory=dict)  # overrides per user

    def expected(self, user: str) -> int:
        if user in self.expect:
            return self.expect[user]
        if user == "anonymous":
            return self.anon
        return self.ok if "*" in self.allowed or ROLE_OF[user] in self.allowed else 403


def _f(*roles: str) -> frozenset[str]:
    return frozenset(roles)


def routes(w) -> dict[tuple[str, str], Case]:
    s1, s2 = w.sample_id, w.sample_br2
    rec = "/recordings/{}"
    return {
        ("GET", "/login"): Case("/login", None, _f("*"), ok=303, anon=200),
        # without the form's double-submit cookie: refused, logged in or not
        ("POST", "/login"): Case("/login", None, _f(), anon=403,
                                 data={"username": "admin", "password": "x"}),
        ("POST", "/logout"): Case("/logout", None, _f("*"), ok=303, anon=401, data={},
                                  fresh_session=True),
        ("GET", "/"): Case("/", "view", _f(*ROLES)),
        ("GET", "/recordings"): Case("/recordings?text=" + TEXT[:6], "view", _f(*ROLES)),
        # the filter form: a customer ID is posted, and sent on to the list as its hash
        ("POST", "/recordings"): Case(
            "/recordings", "view", _f(*ROLES), ok=303, anon=401,
            data={"customer": w.recordings["R1-PASS"]["customer_id"], "text": TEXT[:6]}),
        ("GET", "/recordings/{recording_id}"): Case(
            rec.format("R1-PASS"), "view", _f(*ROLES), other=rec.format("R2-PASS"),
            made_up=rec.format("R9-NONE")),
        ("GET", "/recordings/{recording_id}/media"): Case(
            rec.format("R1-PASS") + "/media", "view", _f(*ROLES), anon=401,
            other=rec.format("R2-PASS") + "/media", made_up=rec.format("R9-NONE") + "/media"),
        ("GET", "/recordings/{recording_id}/audio"): Case(
            rec.format("R1-PASS") + "/audio", "view", _f(*ROLES), anon=401,
            other=rec.format("R2-PASS") + "/audio", made_up=rec.format("R9-NONE") + "/audio"),
        ("POST", "/recordings/{recording_id}/review"): Case(
            rec.format("R1-PASS") + "/review", "review", _f("auditor"), ok=303, anon=401,
            data={"decision": "pass", "reason": "matrix", "finding:media.readable": "agree"},
            other=rec.format("R2-PASS") + "/review", made_up=rec.format("R9-NONE") + "/review"),
        ("POST", "/recordings/{recording_id}/hold"): Case(
            rec.format("R1-PASS") + "/hold", "hold", _f("legal"), ok=303, anon=401,
            data={"case": "CASE-M", "reason": "matrix"},
            other=rec.format("R2-PASS") + "/hold", made_up=rec.format("R9-NONE") + "/hold"),
        ("POST", "/recordings/{recording_id}/release"): Case(
            rec.format("R1-PASS") + "/release", "hold", _f("legal"), ok=303, anon=401,
            data={"case": "CASE-M", "reason": "matrix done"},
            other=rec.format("R2-PASS") + "/release",
            made_up=rec.format("R9-NONE") + "/release"),
        ("GET", "/recordings/{recording_id}/export"): Case(
            rec.format("R1-PASS") + "/export", "export", _f("legal"),
            other=rec.format("R2-PASS") + "/export", made_up=rec.format("R9-NONE") + "/export"),
        ("POST", "/recordings/{recording_id}/export"): Case(
            rec.format("R1-PASS") + "/export", "export", _f("legal"), anon=401, data={},
            other=rec.format("R2-PASS") + "/export", made_up=rec.format("R9-NONE") + "/export"),
        ("GET", "/samples"): Case("/samples", "samples", _f("auditor")),
        ("POST", "/samples"): Case("/samples", "samples", _f("auditor"), ok=303, anon=401,
                                   data={**PERIOD, "size": "1", "branch": "BR001"}),
        ("GET", "/samples/{ref}"): Case(f"/samples/{s1}", "samples", _f("auditor"),
                                        other=f"/samples/{s2}"),
        ("GET", "/samples/{ref}/review"): Case(f"/samples/{s1}/review", "review",
                                               _f("auditor"), other=f"/samples/{s2}/review"),
        ("GET", "/reports"): Case("/reports", "reports", _f("auditor"),
                                  other="/reports?branch=BR002"),
        ("GET", "/reports/download/{kind}"): Case(
            "/reports/download/report.csv", "reports", _f("auditor"),
            other="/reports/download/report.csv?branch=BR002"),
        ("GET", "/admin"): Case("/admin", "users", _f("admin")),
        ("POST", "/admin/users"): Case(
            "/admin/users", "users", _f("admin"), anon=401,
            data=lambda user: {"name": f"new-{user}", "role": "viewer", "branches": "BR001"}),
        ("POST", "/admin/users/{name}/disable"): Case(
            "/admin/users/spare/disable", "users", _f("admin"), ok=303, anon=401, data={}),
        ("POST", "/admin/users/{name}/reset-password"): Case(
            "/admin/users/spare/reset-password", "users", _f("admin"), anon=401, data={}),
        ("POST", "/admin/sessions/{session_id}/revoke"): Case(
            "/admin/sessions/999999/revoke", "users", _f("admin"), ok=303, anon=401, data={}),
        ("GET", "/admin/audit"): Case("/admin/audit", "audit_log", _f("admin")),
        ("POST", "/admin/integrity"): Case("/admin/integrity", "integrity", _f("admin"),
                                           anon=401, data={}),
        ("MOUNT", "/static"): Case("/static/console.js", None, _f("*"), anon=200),
    }


def _request(w, user: str, case: Case, url: str, browsers: dict):
    if user == "anonymous":
        b = None
        c = browsers.setdefault("anonymous", client(w.app, ANON_ADDRESS))
    elif case.fresh_session:
        b = new_session(w.app, w.store, user, address=w.users[user].address)
        c = b.c
    else:
        b = w.users[user]
        c = b.c
    method = "POST" if case.data is not None else "GET"
    if method == "GET":
        return c.get(url)
    data = case.data(user) if callable(case.data) else dict(case.data)
    if b is not None:
        data["csrf_token"] = b.csrf
    return c.post(url, data=data)


# --------------------------------------------------------------------------- the matrix


def test_every_route_has_an_entry(world):
    assert app_routes(world.app) == set(routes(world)), (
        "routes without an entry in ROUTES (add them, with the roles they allow): "
        f"{sorted(app_routes(world.app) - set(routes(world)))}; entries of no route: "
        f"{sorted(set(routes(world)) - app_routes(world.app))}")


def test_the_table_agrees_with_roles_matrix(world):
    for key, case in routes(world).items():
        if case.perm is None:
            continue
        assert case.allowed == {r for r in ROLES if case.perm in MATRIX[r]}, key


def test_role_route_matrix(world):
    from console.accounts import add_user

    add_user(world.store, "spare", "viewer", ["BR001"], actor="test")
    before = last_audit_id(world.store)
    browsers: dict[str, Any] = {}
    wrong, denied = [], []
    for user in USERS:
        for key, case in routes(world).items():
            r = _request(world, user, case, case.url, browsers)
            want = case.expected(user)
            if r.status_code != want:
                wrong.append(f"{user} {key[0]} {case.url}: {r.status_code}, expected {want}: "
                             f"{r.text[:120]!r}")
            if r.status_code in (401, 403, 404) or (
                    r.status_code == 303 and r.headers["location"].startswith("/login?next=")):
                denied.append((user, r.request.url.path, r.status_code))
            if r.status_code == 303 and user == "anonymous":
                assert r.headers["location"].startswith("/login?next=")
            for secret in world.secrets():  # no customer data in a URL the console makes
                assert secret not in r.headers.get("location", ""), (user, key)
    assert not wrong, "\n".join(wrong)

    # every refusal is in the audit log, with who, from where and what
    entries = audit_entries(world.store, "denied", since=before)
    got = [(e["actor"], e["details"]["path"]) for e in entries]
    want = [(u if u != "anonymous" else "-", path) for u, path, _ in denied]
    assert got == want
    for e in entries:
        assert e["details"]["method"] in ("GET", "POST")
        assert e["details"]["client"] == (ANON_ADDRESS if e["actor"] == "-" else
                                          world.users[e["actor"]].address)
    chain_ok(world.store)


def test_another_branch_is_404_like_a_made_up_id(world):
    """A recording outside the user's branches is answered exactly like a recording that
    does not exist, whatever the role: page, media, audio, export and every action are
    404 with the same body (the scope is checked before the permission, so a viewer's
    export of a BR002 recording is 404, of its own branch's 403). Samples and reports of
    another branch are refused (403)."""
    browsers: dict[str, Any] = {}
    wrong = []
    for user in USERS:
        for key, case in routes(world).items():
            if not case.other:
                continue
            allowed = user != "anonymous" and case.expected(user) != 403
            r_other = _request(world, user, case, case.other, browsers)
            if user == "anonymous":
                want = case.anon
            elif case.made_up:  # a recording's route
                want = 404 if user in LIMITED else case.ok if allowed else 403
            else:  # a sample or report of BR002
                want = 403 if user in LIMITED or not allowed else case.ok
            if r_other.status_code != want:
                wrong.append(f"{user} {key[0]} {case.other}: {r_other.status_code}, "
                             f"expected {want}")
            if case.made_up:
                r_none = _request(world, user, case, case.made_up, browsers)
                want_none = case.anon if user == "anonymous" else 404
                if r_none.status_code != want_none:
                    wrong.append(f"{user} {key[0]} {case.made_up}: {r_none.status_code}, "
                                 f"expected {want_none}")
                if user in LIMITED:
                    assert r_other.text == r_none.text, (case.other, case.made_up)
    assert not wrong, "\n".join(wrong)


def test_the_viewer_never_sees_another_branch(world):
    """Lists, text search, customer search, filters, the dashboard and its cards: no
    BR002 recording, branch, hold or batch for a viewer limited to BR001."""
    v = world.users["viewer"]
    r2 = [rid for rid in world.recordings if rid.startswith("R2-")]
    r2_customer = world.recordings["R2-PASS"]["customer_id"]
    r2_key = world.store.customer_key(r2_customer)
    # a search by a BR002 customer's ID, as the form sends it (the list's URL carries
    # the ID's keyed hash) and as an old link does (redirected there)
    by_form, found = search_form(v, customer=r2_customer)
    assert by_form == f"/recordings?ck={r2_key}" and "No recordings found." in found.text
    old_link = v.get(f"/recordings?customer={r2_customer}")
    assert old_link.status_code == 303 and old_link.headers["location"] == by_form
    pages = ["/", "/recordings", "/recordings?text=" + TEXT[:6], "/recordings?verdict=pass",
             "/recordings?verdict=fail", "/recordings?held=1", "/recordings?check=speech.required",
             by_form, f"/recordings?ck={r2_key}&branch=BR002", "/recordings?branch=BR002",
             "/recordings?page=2", "/recordings?staff=S1024", "/recordings?text=理财非存款"]
    for url in pages:
        r = v.get(url)
        assert r.status_code == 200, url
        body = r.text
        for rid in r2:
            assert rid not in body, (url, rid)
        if "BR002" not in url:
            assert "BR002" not in body, url
        assert "CASE-2" not in body, url
    listed = set(re.findall(r'href="/recordings/([^"?/]+)"', v.get("/recordings").text))
    assert listed == {"R1-PASS", "R1-FAIL", "R1-XSS"}
    # the dashboard counts only BR001: one recording of each verdict but error, one hold
    dash = v.get("/").text
    for verdict in ("pass", "fail", "review"):
        assert re.search(rf'verdict-{verdict}" href="/recordings\?verdict={verdict}"><b>1</b>',
                         dash), verdict
    assert '<b>1</b> under hold' in dash and "<b>0</b> purges due" in dash
    # all-branch users see both branches
    admin = world.users["admin"].get("/").text
    assert "BR002" in admin and "R2-HELD" in admin and "R2-PASS" in admin
    assert '<b>2</b> under hold' in admin


def test_branch_limited_auditor_sees_only_samples_and_reports_of_its_branch(world):
    a = world.users["auditor_br1"]
    listed = a.get("/samples").text
    assert f'href="/samples/{world.sample_id}"' in listed
    assert f'href="/samples/{world.sample_br2}"' not in listed
    report = a.get("/reports").text
    assert "BR002" not in report and "BR001" in report
    csv = a.get("/reports/download/report.csv")
    assert csv.status_code == 200 and "BR002" not in csv.text and "R2-" not in csv.text
    # drawing a sample of another branch is refused; of its own branch it works
    r = a.post("/samples", data={**PERIOD, "size": "1", "branch": "BR002"})
    assert r.status_code == 403
    r = a.post("/samples", data={**PERIOD, "size": "1", "branch": ""})
    assert r.status_code == 303
    drawn = a.get(r.headers["location"]).text
    assert "R2-" not in drawn and "R1-" in drawn


# --------------------------------------------------------------------------- CSRF


def test_every_form_post_needs_the_sessions_csrf_token(world):
    """Each POST route (but /login, which has its double-submit cookie: see
    test_store_console_auth.py), by a user it allows: no token, an empty one, another
    session's token, or a token in the wrong field: 403, nothing done, and a "denied"
    entry saying csrf."""
    posts = {k: c for k, c in routes(world).items() if k[0] == "POST" and k[1] != "/login"}
    assert set(posts) == {k for k in app_routes(world.app) if k[0] == "POST"} - {("POST", "/login")}
    other = world.users["viewer"].csrf
    before = last_audit_id(world.store)
    sent = 0
    for key, case in posts.items():
        user = next(u for u in ("admin", "auditor", "legal") if case.expected(u) != 403)
        if case.fresh_session:
            b = new_session(world.app, world.store, user)
        else:
            b = world.users[user]
        data = case.data(user + "-csrf") if callable(case.data) else dict(case.data)
        for token in (None, "", other, b.csrf[:-1], b.csrf + "x"):
            form = dict(data)
            if token is not None:
                form["csrf_token"] = token
            r = b.c.post(case.url, data=form)
            sent += 1
            assert r.status_code == 403, (key, token, r.status_code)
            assert "form expired" in r.text
        # the token in another field does not count either
        r = b.c.post(case.url, data={**data, "csrf": b.csrf})
        sent += 1
        assert r.status_code == 403, key
    entries = audit_entries(world.store, since=before)
    assert [e["action"] for e in entries] == ["denied"] * sent
    assert all(e["details"]["detail"] == "csrf" and e["details"]["why"] == "forbidden"
               for e in entries)
    # nothing was done: no user added, no sample drawn
    from console.accounts import list_users
    assert not [u for u in list_users(world.store) if u["name"].endswith("-csrf")]
    chain_ok(world.store)


def test_a_get_never_changes_anything(world):
    """State changes are POST only: GET on a POST-only route is 405 and does nothing."""
    before = last_audit_id(world.store)
    legal = world.users["legal"]
    for url in ("/recordings/R1-PASS/hold?case=X&reason=y", "/recordings/R1-PASS/review",
                "/admin/integrity", "/logout"):
        r = legal.get(url)
        assert r.status_code == 405, url
    assert [e["action"] for e in audit_entries(world.store, since=before)] == []
    assert legal.get("/").status_code == 200  # still logged in
