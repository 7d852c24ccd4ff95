"""`dualrec users add/list/disable/reset-password` end to end: through typer's runner
in-process (the store the conftest's `db_url` names), once as a real subprocess, and
against the console over HTTP (a generated password logs in; disabling or resetting
ends the account's sessions)."""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from typer.testing import CliRunner

from console.accounts import PASSWORD_ALPHABET, PASSWORD_LENGTH
from pipelines.cli import app as cli_app
from tests.console_helpers import (audit_entries, chain_ok, client, login, make_app,
                                   session_cookie, sessions_of)
from tests.fixtures import DUALREC

PASSWORD_LINE = re.compile(r"^password \(shown only now\): (\S+)$", re.M)
runner = CliRunner()


def users(*args: str):
    return runner.invoke(cli_app, ["users", *args], env={"DUALREC_ACTOR": "ops-admin"})


def _password(out: str) -> str:
    found = PASSWORD_LINE.findall(out)
    assert len(found) == 1, out  # printed once
    pw = found[0]
    assert len(pw) == PASSWORD_LENGTH and set(pw) <= set(PASSWORD_ALPHABET)
    return pw


def test_add_prints_a_generated_password_once(store):
    r = users("add", "ann", "--role", "auditor")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "ann (auditor, all branches): added"
    pw = _password(r.stdout)
    assert pw not in r.stderr
    # only an argon2id hash of it is stored
    from sqlalchemy import select

    from storage.models import ConsoleUser
    with store.session() as s:
        row = s.scalars(select(ConsoleUser).where(ConsoleUser.name == "ann")).one()
        assert row.password_hash.startswith("$argon2id$") and pw not in row.password_hash
    # another account gets another password; --json carries it too
    r2 = users("add", "bob", "--role", "legal", "--branch", "BR001,BR002", "--branch", "BR003",
               "--json")
    assert r2.exit_code == 0, r2.output
    out = json.loads(r2.stdout)
    assert out["name"] == "bob" and out["role"] == "legal"
    assert out["branches"] == ["BR001", "BR002", "BR003"] and out["password"] != pw
    # it logs in to the console
    app = make_app(store)
    c = client(app, "10.8.0.1")
    login(c, "ann", pw)
    assert "ann · auditor" in c.get("/").text
    # the same name again is refused
    r3 = users("add", "ann", "--role", "viewer", "--branch", "BR001")
    assert r3.exit_code == 2 and "exists" in r3.stderr and not PASSWORD_LINE.search(r3.stdout)
    [added, added_bob] = [e for e in audit_entries(store, "user")]
    assert added["actor"] == "ops-admin" and added["details"]["what"] == "add"
    assert added["details"]["user"] == "ann" and added["details"]["role"] == "auditor"
    assert pw not in json.dumps(audit_entries(store))
    chain_ok(store)


@pytest.mark.parametrize("args,message", [
    (["add", "vic", "--role", "viewer"], "--branch"),  # a viewer sees listed branches only
    (["add", "vic", "--role", "viewer", "--branch", ""], "--branch"),
    (["add", "vic", "--role", "boss"], "--role"),
    (["add", "vic ann", "--role", "admin"], "user name"),
    (["add", "<b>", "--role", "admin"], "user name"),
    (["add", "vic", "--role", "viewer", "--branch", "BR 1"], "branch"),
    (["disable", "nobody"], "no user"),
    (["reset-password", "nobody"], "no user"),
])
def test_refusals_exit_2(store, args, message):
    r = users(*args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr and r.stderr.startswith("dualrec: error: ")
    assert not PASSWORD_LINE.search(r.stdout)
    assert audit_entries(store, "user") == []


def test_list_disable_and_reset_password(store):
    app = make_app(store)
    pw = _password(users("add", "vic", "--role", "viewer", "--branch", "BR001").stdout)
    _password(users("add", "root", "--role", "admin").stdout)
    r = users("list")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert re.match(r"^root\s+admin\s+all branches\s+active$", lines[0])
    assert re.match(r"^vic\s+viewer\s+BR001\s+active$", lines[1])
    listed = json.loads(users("list", "--json").stdout)["users"]
    assert [(u["name"], u["role"], u["branches"], u["disabled_at"]) for u in listed] == [
        ("root", "admin", [], None), ("vic", "viewer", ["BR001"], None)]
    assert "password" not in json.dumps(listed).replace("password_set_at", "")

    # reset-password: a new password (printed once), the old one fails, sessions end
    c1, c2 = client(app, "10.8.1.1"), client(app, "10.8.1.2")
    login(c1, "vic", pw)
    login(c2, "vic", pw)
    r = users("reset-password", "vic")
    assert r.exit_code == 0 and r.stdout.splitlines()[0] == "vic (viewer, BR001): new password"
    new = _password(r.stdout)
    assert new != pw
    assert c1.get("/").status_code == 303 and c2.get("/").status_code == 303
    assert {s["ended_why"] for s in sessions_of(store, "vic")} == {"password reset by ops-admin"}
    assert login(client(app, "10.8.1.3"), "vic", pw, check=False).status_code == 401
    c3 = client(app, "10.8.1.4")
    login(c3, "vic", new)
    assert c3.get("/").status_code == 200

    # disable: the live session ends, no login any more, listed as disabled
    r = users("disable", "vic")
    assert r.exit_code == 0 and "vic: disabled" in r.stdout
    assert c3.get("/").status_code == 303
    c4 = client(app, "10.8.1.5")
    assert login(c4, "vic", new, check=False).status_code == 401 and session_cookie(c4) is None
    assert re.search(r"^vic\s+viewer\s+BR001\s+disabled \d{4}-", users("list").stdout, re.M)
    # a disabled account stays disabled through a password reset
    r = users("reset-password", "vic")
    assert r.exit_code == 0
    assert login(client(app, "10.8.1.6"), "vic", _password(r.stdout),
                 check=False).status_code == 401

    whats = [(e["actor"], e["details"]["what"], e["details"]["user"],
              e["details"].get("sessions_ended")) for e in audit_entries(store, "user")]
    assert whats == [("ops-admin", "add", "vic", None), ("ops-admin", "add", "root", None),
                     ("ops-admin", "reset-password", "vic", 2),
                     ("ops-admin", "disable", "vic", 1),
                     ("ops-admin", "reset-password", "vic", 0)]
    chain_ok(store)


def test_the_installed_command(store, tmp_path):
    """`dualrec users` as an operator runs it: a real process on the same store."""
    env = {**os.environ, "DUALREC_ACTOR": "ops-admin"}
    r = subprocess.run([DUALREC, "users", "add", "root", "--role", "admin"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    pw = _password(r.stdout)
    r = subprocess.run([DUALREC, "users", "add", "vic", "--role", "viewer"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2 and "--branch" in r.stderr
    app = make_app(store)
    c = client(app, "10.8.2.1")
    login(c, "root", pw)
    assert c.get("/admin").status_code == 200
