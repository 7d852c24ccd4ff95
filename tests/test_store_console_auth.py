"""Logging in and out of the console over HTTP: the login form's double-submit token,
where a login may send the browser, the session cookie, idle timeout and maximum
length, throttling per account and per address, and what an administrator does to
accounts and sessions (disable, reset password, revoke). Each with its audit entries."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from tests.console_helpers import (PAGE_PASSWORD_RE, add_user, age_login_attempts,
                                   age_sessions, audit_entries, chain_ok, client, csrf_of,
                                   last_audit_id, logged_in, login, login_token, make_app,
                                   session_cookie, sessions_of)


def _login_attempts(store) -> list[tuple[str, str, bool]]:
    from sqlalchemy import select

    from storage.models import LoginAttempt

    with store.session() as s:
        return [(a.username, a.client, a.success)
                for a in s.scalars(select(LoginAttempt).order_by(LoginAttempt.id))]


def test_login_and_logout(store):
    app = make_app(store)
    password = add_user(store, "ann", "auditor")
    c = client(app, "10.2.0.1")

    # not logged in: pages go to the login form, which remembers where to come back
    r = c.get("/recordings?verdict=fail")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=" + quote("/recordings?verdict=fail", safe="")
    assert c.get("/recordings/R1/media").status_code == 401

    r = c.get("/login?next=%2Frecordings%3Fverdict%3Dfail")
    assert r.status_code == 200 and 'name="next" value="/recordings?verdict=fail"' in r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("dualrec_login=") and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower() and "Path=/login" in cookie

    # a wrong password: the same answer as an unknown name, no session
    r = login(c, "ann", "wrong-password", check=False)
    assert r.status_code == 401 and "Wrong user name or password." in r.text
    assert session_cookie(c) is None
    r = login(c, "nobody", password, check=False)
    assert r.status_code == 401 and "Wrong user name or password." in r.text

    r = login(c, "ann", password, next="/recordings?verdict=fail")
    assert r.headers["location"] == "/recordings?verdict=fail"
    cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
    session = next(v for v in cookies if v.startswith("dualrec_session="))
    assert "HttpOnly" in session and "samesite=strict" in session.lower() and "Path=/" in session
    assert any(v.startswith("dualrec_login=") and "Max-Age=0" in v for v in cookies)
    token = session_cookie(c)
    assert token and len(token) >= 40
    page = c.get("/")
    assert page.status_code == 200 and "ann · auditor" in page.text
    assert c.get("/login").headers["location"] == "/"  # already logged in

    # the audit log: the failures and the success, with the client's address
    logins = audit_entries(store, "login")
    assert [(e["actor"], e["details"]["result"], e["details"].get("why")) for e in logins] == [
        ("ann", "failure", "wrong password"), ("nobody", "failure", "unknown user"),
        ("ann", "success", None)]
    assert all(e["details"]["client"] == "10.2.0.1" for e in logins)
    assert logins[-1]["details"]["session"] == sessions_of(store, "ann")[0]["id"]
    assert _login_attempts(store) == [("ann", "10.2.0.1", False), ("nobody", "10.2.0.1", False),
                                      ("ann", "10.2.0.1", True)]

    # logging out needs the session's CSRF token
    assert c.post("/logout").status_code == 403
    assert c.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert c.get("/").status_code == 200
    r = c.post("/logout", data={"csrf_token": csrf_of(c)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert session_cookie(c) is None
    assert c.get("/").status_code == 303
    # the old cookie is dead on the server, not only forgotten by the browser
    c.cookies.set("dualrec_session", token)
    assert c.get("/").status_code == 303
    [sess] = sessions_of(store, "ann")
    assert sess["ended_why"] == "logout" and sess["ended_at"] is not None
    [out] = audit_entries(store, "logout")
    assert out["actor"] == "ann" and out["details"]["client"] == "10.2.0.1"
    assert out["details"]["session"] == sess["id"]
    chain_ok(store)


@pytest.mark.parametrize("target,lands", [
    ("/recordings/R1?t=5", "/recordings/R1?t=5"),
    ("//evil.example/x", "/"),
    ("http://evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("", "/"),
])
def test_a_login_only_leads_back_into_the_console(store, target, lands):
    app = make_app(store)
    password = add_user(store, "ann", "viewer", ["BR001"])
    r = login(client(app), "ann", password, next=target)
    assert r.headers["location"] == lands


def test_the_login_form_needs_its_double_submit_cookie(store):
    app = make_app(store)
    password = add_user(store, "ann", "admin")
    form = {"username": "ann", "password": password}
    before = last_audit_id(store)

    # no cookie (a form posted from another site): refused before the password is checked
    c = client(app, "10.2.1.1")
    r = c.post("/login", data={**form, "csrf_token": "made-up"})
    assert r.status_code == 403 and "expired" in r.text and session_cookie(c) is None
    # a cookie, and no or another token
    login_token(c)
    for token in ("", "made-up", login_token(client(app, "10.2.1.2"))):
        r = c.post("/login", data={**form, "csrf_token": token})
        assert r.status_code == 403 and session_cookie(c) is None
    # another browser's cookie and token pair does not carry over either
    other = client(app, "10.2.1.3")
    other_token = login_token(other)
    fresh = client(app, "10.2.1.4")
    login_token(fresh)
    r = fresh.post("/login", data={**form, "csrf_token": other_token})
    assert r.status_code == 403
    assert _login_attempts(store) == []  # never got as far as a login attempt
    denied = audit_entries(store, "denied", since=before)
    assert len(denied) == 5 and all(e["details"]["detail"] == "login csrf" for e in denied)
    assert [e["details"]["client"] for e in denied] == ["10.2.1.1"] * 4 + ["10.2.1.4"]
    # the right pair works
    assert login(c, "ann", password).status_code == 303


def test_an_idle_session_expires(store):
    app = make_app(store, session_idle_minutes=10)
    ann = logged_in(app, store, "ann", "viewer", ["BR001"])
    bob = logged_in(app, store, "bob", "viewer", ["BR001"])
    # used 9 minutes ago: still on, and the use counts (last seen moves)
    age_sessions(store, timedelta(minutes=9), name="ann")
    assert ann.get("/").status_code == 200
    [s] = sessions_of(store, "ann")
    age_sessions(store, timedelta(minutes=9), name="ann")
    assert ann.get("/").status_code == 200  # 9 + 9 minutes, but used in between
    # unused for 11 minutes: over
    age_sessions(store, timedelta(minutes=11), name="bob")
    before = last_audit_id(store)
    r = bob.get("/recordings")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    [s] = sessions_of(store, "bob")
    assert s["ended_why"] == "idle timeout"
    [d] = audit_entries(store, "denied", since=before)
    assert d["actor"] == "-" and d["details"]["why"] == "not logged in"
    # it stays over when used again right away
    assert bob.get("/").status_code == 303
    assert ann.get("/").status_code == 200


def test_a_session_in_use_does_not_expire_with_a_short_idle_timeout(store):
    """A page every 45 seconds keeps a session with a one-minute idle timeout alive."""
    app = make_app(store, session_idle_minutes=1)
    ann = logged_in(app, store, "ann", "viewer", ["BR001"])
    for _ in range(4):
        age_sessions(store, timedelta(seconds=45), name="ann")
        assert ann.get("/").status_code == 200


def test_a_session_has_a_maximum_length(store):
    app = make_app(store, session_max_hours=12)
    ann = logged_in(app, store, "ann", "viewer", ["BR001"])
    age_sessions(store, timedelta(hours=11, minutes=59), name="ann", created=True)
    assert ann.get("/").status_code == 200
    age_sessions(store, timedelta(minutes=2), name="ann", created=True)
    assert ann.get("/").status_code == 303
    assert sessions_of(store, "ann")[0]["ended_why"] == "maximum length"


def test_failed_logins_lock_the_account(store):
    app = make_app(store, account_failures=3, address_failures=1000, lockout_minutes=15)
    password = add_user(store, "ann", "auditor")
    bob_password = add_user(store, "bob", "auditor")
    # three failures, from three addresses (a distributed guess)
    for n in range(3):
        r = login(client(app, f"10.4.0.{n + 1}"), "ann", f"guess-{n}", check=False)
        assert r.status_code == 401
    # now even the right password is refused, and the answer does not say it was right
    c = client(app, "10.4.0.9")
    r = login(c, "ann", password, check=False)
    assert r.status_code == 429 and "Too many failed logins" in r.text
    assert session_cookie(c) is None
    r = login(c, "ann", "still-guessing", check=False)
    assert r.status_code == 429 and "Too many failed logins" in r.text
    # another account from the same address is not affected
    assert login(c, "bob", bob_password).status_code == 303
    fails = [e for e in audit_entries(store, "login") if e["details"]["result"] == "failure"]
    assert [(e["actor"], e["details"]["why"], e["details"]["client"]) for e in fails] == [
        ("ann", "wrong password", "10.4.0.1"), ("ann", "wrong password", "10.4.0.2"),
        ("ann", "wrong password", "10.4.0.3"), ("ann", "locked", "10.4.0.9"),
        ("ann", "locked", "10.4.0.9")]
    # once the lockout has run out, the right password works again
    age_login_attempts(store, timedelta(minutes=16))
    c2 = client(app, "10.4.0.10")
    assert login(c2, "ann", password).status_code == 303
    assert c2.get("/").status_code == 200
    chain_ok(store)


def test_attempts_while_locked_do_not_prolong_the_lock(store):
    """An attacker who keeps guessing does not keep the account locked for ever: the
    lock lifts `lockout_minutes` after the failure that set it."""
    from sqlalchemy import select

    from storage.models import LoginAttempt

    app = make_app(store, account_failures=3, address_failures=1000, lockout_minutes=15)
    password = add_user(store, "ann", "auditor")
    for n in range(3):
        assert login(client(app, "10.6.0.1"), "ann", f"guess-{n}", check=False
                     ).status_code == 401
    for n in range(5):  # guessing on while locked
        assert login(client(app, "10.6.0.2"), "ann", f"more-{n}", check=False
                     ).status_code == 429
    with store.session() as s:  # the three real failures were 16 minutes ago
        for row in s.scalars(select(LoginAttempt).where(LoginAttempt.locked.is_(False))):
            row.at = row.at - timedelta(minutes=16)
    assert login(client(app, "10.6.0.3"), "ann", password).status_code == 303


def test_failed_logins_lock_the_address(store):
    app = make_app(store, account_failures=1000, address_failures=3, lockout_minutes=15)
    password = add_user(store, "ann", "auditor")
    attacker = client(app, "10.5.0.1")
    for name in ("x1", "x2", "admin"):  # names that do not exist
        assert login(attacker, name, "guess", check=False).status_code == 401
    r = login(attacker, "ann", password, check=False)
    assert r.status_code == 429 and session_cookie(attacker) is None
    # the account itself is fine from elsewhere
    assert login(client(app, "10.5.0.2"), "ann", password).status_code == 303
    whys = [(e["actor"], e["details"]["why"]) for e in audit_entries(store, "login")
            if e["details"]["result"] == "failure"]
    assert whys == [("x1", "unknown user"), ("x2", "unknown user"), ("admin", "unknown user"),
                    ("ann", "locked")]


def test_an_admin_disables_resets_and_revokes(store):
    app = make_app(store)
    admin = logged_in(app, store, "root", "admin")
    ann = logged_in(app, store, "ann", "auditor")
    bob = logged_in(app, store, "bob", "viewer", ["BR001"])
    page = admin.get("/admin").text
    assert "ann" in page and "bob" in page and "10.1." in page  # accounts and sessions

    # revoke one session: that browser is logged out
    [bob_session] = sessions_of(store, "bob")
    r = admin.post(f"/admin/sessions/{bob_session['id']}/revoke")
    assert r.status_code == 303
    assert bob.get("/").status_code == 303
    assert sessions_of(store, "bob")[0]["ended_why"] == "revoked by root"

    # reset a password: shown once on the page, the old one fails, sessions end
    r = admin.post("/admin/users/ann/reset-password")
    assert r.status_code == 200
    new_password = PAGE_PASSWORD_RE.search(r.text).group(1)
    assert new_password != ann.password and len(new_password) == 20
    assert ann.get("/").status_code == 303
    assert login(client(app, "10.6.0.1"), "ann", ann.password, check=False).status_code == 401
    assert login(client(app, "10.6.0.2"), "ann", new_password).status_code == 303
    assert new_password not in admin.get("/admin").text  # only that once

    # disable: sessions end, no login any more (the same answer as a wrong password)
    c = client(app, "10.6.0.3")
    login(c, "ann", new_password)
    r = admin.post("/admin/users/ann/disable")
    assert r.status_code == 303
    assert c.get("/").status_code == 303
    r = login(client(app, "10.6.0.4"), "ann", new_password, check=False)
    assert r.status_code == 401 and "Wrong user name or password." in r.text
    assert "disabled" in admin.get("/admin").text
    # an administrator cannot disable their own account
    assert admin.post("/admin/users/root/disable").status_code == 400

    # add an account: its password shown once
    r = admin.post("/admin/users", {"name": "carol", "role": "legal", "branches": "BR002"})
    assert r.status_code == 200
    carol = PAGE_PASSWORD_RE.search(r.text).group(1)
    c = client(app, "10.6.0.5")
    login(c, "carol", carol)
    assert "carol · legal · BR002" in c.get("/").text
    # a viewer needs branches
    r = admin.post("/admin/users", {"name": "dave", "role": "viewer", "branches": ""})
    assert r.status_code == 400

    users = [(e["actor"], e["details"]["what"], e["details"]["user"])
             for e in audit_entries(store, "user") if e["actor"] == "root"]
    assert users == [("root", "reset-password", "ann"), ("root", "disable", "ann"),
                     ("root", "add", "carol")]
    assert all(e["details"]["client"] == admin.address
               for e in audit_entries(store, "user") if e["actor"] == "root")
    assert [e["details"]["what"] for e in audit_entries(store, "session")] == ["revoked by root"]
    chain_ok(store)


def test_behind_tls_the_cookies_are_secure_and_hsts_is_sent(store):
    from console.app import create_app

    from tests.console_helpers import console_settings

    app = create_app(console_settings(store.settings), store=store, tls=True)
    password = add_user(store, "ann", "viewer", ["BR001"])
    c = client(app, "10.2.9.1", base_url="https://testserver")
    r = c.get("/login")
    assert "Secure" in r.headers["set-cookie"]
    assert r.headers["strict-transport-security"].startswith("max-age=")
    token = login_token(c)
    r = c.post("/login", data={"username": "ann", "password": password, "csrf_token": token})
    assert r.status_code == 303
    session = next(v for k, v in r.headers.multi_items()
                   if k == "set-cookie" and v.startswith("__Host-dualrec="))
    assert "Secure" in session and "Path=/" in session and "Domain" not in session
    assert c.get("/").status_code == 200
    # a plain-http client never gets (or sends) the Secure cookie
    plain = client(app, "10.2.9.2")
    plain.cookies.set("dualrec_session", c.cookies.get("__Host-dualrec"))
    assert plain.get("/").status_code == 303
