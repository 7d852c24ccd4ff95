"""Console accounts and sessions, kept in the store (tables console_users,
console_sessions, login_attempts; migration 0005).

Passwords: generated (never chosen, never a default), shown once, stored as argon2id
hashes. Sessions: a random token in an HttpOnly cookie; the database keeps its sha256,
the user, a CSRF token, when it was last used and how it ended, so an administrator
can list and revoke them and an idle one expires. Failed logins are throttled per
account and per client address.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from storage import audit
from storage.db import BadInput, NotFound, Store, current_actor
from storage.models import ConsoleSession, ConsoleUser, LoginAttempt, utcnow

from console.roles import ROLES

NAME_RE = re.compile(r"^[\w.@-]{1,64}$")
BRANCH_RE = re.compile(r"^[\w.-]{1,128}$")
# 20 characters of a 56-letter alphabet without look-alikes: about 116 bits.
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PASSWORD_LENGTH = 20
# Do not touch last_seen_at on every request: once a minute is precise enough for an
# idle timeout counted in minutes, and saves a write per page.
TOUCH_EVERY = timedelta(seconds=60)


def _hasher():
    from argon2 import PasswordHasher
    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
    try:
        return _hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A hash to verify against when the account does not exist, so that a login for an
# unknown name costs as much time as one for a known name.
_DUMMY_HASH: str | None = None


def _burn_time(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(16))
    password_matches(_DUMMY_HASH, password)


def new_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class User:
    """Who is logged in, as the pages and queries need it."""
    id: int
    name: str
    role: str
    branches: tuple[str, ...] = ()

    @property
    def all_branches(self) -> bool:
        return not self.branches


def _user(row: ConsoleUser) -> User:
    return User(row.id, row.name, row.role, tuple(row.branches or ()))


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise BadInput(f"user name {name!r}: 1 to 64 letters, digits, '.', '_', '-' or '@'")
    return name


def _check_branches(role: str, branches) -> list[str]:
    out = []
    for b in branches or ():
        for part in str(b).split(","):
            part = part.strip()
            if not part:
                continue
            if not BRANCH_RE.match(part):
                raise BadInput(f"--branch {part!r}: not a branch id")
            if part not in out:
                out.append(part)
    if role == "viewer" and not out:
        raise BadInput("a viewer sees only listed branches: give --branch at least once")
    return sorted(out)


def user_dict(row: ConsoleUser) -> dict:
    return {"name": row.name, "role": row.role, "branches": list(row.branches or []),
            "created_at": audit.format_at(row.created_at), "created_by": row.created_by,
            "password_set_at": audit.format_at(row.password_set_at),
            "disabled_at": audit.format_at(row.disabled_at) if row.disabled_at else None,
            "disabled_by": row.disabled_by}


def add_user(store: Store, name: str, role: str, branches=(), actor: str | None = None
             ) -> tuple[dict, str]:
    """Create an account; returns it and its generated password (shown once)."""
    actor = actor or current_actor()
    name = _check_name(name)
    if role not in ROLES:
        raise BadInput(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    branches = _check_branches(role, branches)
    password = new_password()
    with store.session() as s:
        if s.scalars(select(ConsoleUser).where(ConsoleUser.name == name)).first():
            raise BadInput(f"a user named {name!r} exists (dualrec users list)")
        row = ConsoleUser(name=name, role=role, branches=branches,
                          password_hash=hash_password(password), created_by=actor,
                          created_at=utcnow(), password_set_at=utcnow())
        s.add(row)
        s.flush()
        audit.append(s, actor, "user", None, {"what": "add", "user": name, "role": role,
                                              "branches": branches})
        out = user_dict(row)
    return out, password


def list_users(store: Store) -> list[dict]:
    with store.session() as s:
        return [user_dict(u) for u in s.scalars(select(ConsoleUser).order_by(ConsoleUser.name))]


def _get(s, name: str) -> ConsoleUser:
    row = s.scalars(select(ConsoleUser).where(ConsoleUser.name == (name or "").strip())).first()
    if row is None:
        raise NotFound(f"no user {name!r} (dualrec users list)")
    return row


def _end_sessions(s, user_id: int, why: str) -> int:
    return s.execute(update(ConsoleSession)
                     .where(ConsoleSession.user_id == user_id, ConsoleSession.ended_at.is_(None))
                     .values(ended_at=utcnow(), ended_why=why[:64])).rowcount


def disable_user(store: Store, name: str, actor: str | None = None) -> dict:
    """Disable an account and end its sessions (accounts are never deleted: the audit
    log names them)."""
    actor = actor or current_actor()
    with store.session() as s:
        row = _get(s, name)
        if row.disabled_at is None:
            row.disabled_at, row.disabled_by = utcnow(), actor
        ended = _end_sessions(s, row.id, f"account disabled by {actor}")
        audit.append(s, actor, "user", None, {"what": "disable", "user": row.name,
                                              "sessions_ended": ended})
        return user_dict(row)


def reset_password(store: Store, name: str, actor: str | None = None) -> tuple[dict, str]:
    """A new generated password (shown once); the account's sessions end. A disabled
    account stays disabled."""
    actor = actor or current_actor()
    password = new_password()
    with store.session() as s:
        row = _get(s, name)
        row.password_hash, row.password_set_at = hash_password(password), utcnow()
        ended = _end_sessions(s, row.id, f"password reset by {actor}")
        audit.append(s, actor, "user", None, {"what": "reset-password", "user": row.name,
                                              "sessions_ended": ended})
        return user_dict(row), password


def count_admins(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(ConsoleUser)
                        .where(ConsoleUser.role == "admin", ConsoleUser.disabled_at.is_(None)))


# --------------------------------------------------------------------------- login


@dataclass
class LoginResult:
    user: User | None = None
    token: str | None = None  # the cookie's value
    csrf: str | None = None
    refused: str | None = None  # why, in words a user may see


@dataclass
class Throttle:
    account_failures: int = 5
    address_failures: int = 20
    lockout: timedelta = field(default_factory=lambda: timedelta(minutes=15))

    @classmethod
    def from_settings(cls, console) -> "Throttle":
        return cls(console.account_failures, console.address_failures,
                   timedelta(minutes=console.lockout_minutes))


def _failures_since(s, since: datetime, **where) -> int:
    conds = [LoginAttempt.at >= since, LoginAttempt.success.is_(False),
             LoginAttempt.locked.is_(False)]
    conds += [getattr(LoginAttempt, k) == v for k, v in where.items()]
    return s.scalar(select(func.count()).select_from(LoginAttempt).where(*conds))


def login(store: Store, name: str, password: str, client: str, user_agent: str,
          throttle: Throttle) -> LoginResult:
    """Check a password and open a session. Every attempt is recorded and audited.
    While an account or an address is locked out, not even the right password logs
    in, and the answer does not say whether it was right; those refusals do not
    prolong the lock, so it lifts `lockout` after the failure that set it."""
    name = (name or "").strip()[:128]
    client = (client or "?")[:64]
    since = utcnow() - throttle.lockout
    with store.session() as s:
        locked = None
        if _failures_since(s, since, username=name) >= throttle.account_failures:
            locked = "account"
        elif _failures_since(s, since, client=client) >= throttle.address_failures:
            locked = "address"
        row = s.scalars(select(ConsoleUser).where(ConsoleUser.name == name)).first()
        ok = False
        if locked is None:
            if row is None:
                _burn_time(password)
            else:
                ok = password_matches(row.password_hash, password) and row.disabled_at is None
        s.add(LoginAttempt(at=utcnow(), username=name, client=client, success=ok,
                           locked=locked is not None))
        if not ok:
            why = ("locked" if locked else "unknown user" if row is None else
                   "disabled" if row.disabled_at is not None else "wrong password")
            audit.append(s, name or "?", "login", None,
                         {"result": "failure", "why": why, "client": client})
            if locked:
                return LoginResult(refused="Too many failed logins: try again later.")
            return LoginResult(refused="Wrong user name or password.")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        sess = ConsoleSession(token_sha256=token_hash(token), user_id=row.id, csrf_token=csrf,
                              created_at=utcnow(), last_seen_at=utcnow(), client=client,
                              user_agent=(user_agent or "")[:256])
        s.add(sess)
        s.flush()
        audit.append(s, row.name, "login", None,
                     {"result": "success", "session": sess.id, "client": client})
        return LoginResult(user=_user(row), token=token, csrf=csrf)


@dataclass(frozen=True)
class Session:
    id: int
    user: User
    csrf: str


def resolve(store: Store, token: str | None, idle: timedelta, max_age: timedelta
            ) -> Session | None:
    """The live session of a cookie, or None; an expired one is ended on the way."""
    if not token or len(token) > 256:
        return None
    now = utcnow()
    with store.session() as s:
        row = s.execute(select(ConsoleSession, ConsoleUser)
                        .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
                        .where(ConsoleSession.token_sha256 == token_hash(token))).first()
        if row is None:
            return None
        sess, user = row
        if sess.ended_at is not None or user.disabled_at is not None:
            return None
        why = ("idle timeout" if now - sess.last_seen_at > idle else
               "maximum length" if now - sess.created_at > max_age else None)
        if why:
            sess.ended_at, sess.ended_why = now, why
            return None
        # (with a short idle timeout, more often: else a session in use would expire)
        if now - sess.last_seen_at > min(TOUCH_EVERY, idle / 4):
            sess.last_seen_at = now
        return Session(sess.id, _user(user), sess.csrf_token)


def end_session(store: Store, session_id: int, why: str, actor: str) -> bool:
    with store.session() as s:
        sess = s.get(ConsoleSession, session_id)
        if sess is None or sess.ended_at is not None:
            return False
        sess.ended_at, sess.ended_why = utcnow(), why[:64]
        user = s.get(ConsoleUser, sess.user_id)
        audit.append(s, actor, "logout" if why == "logout" else "session", None,
                     {"what": why, "session": session_id, "user": user.name if user else None})
        return True


def active_sessions(store: Store, idle: timedelta) -> list[dict]:
    since = utcnow() - idle
    with store.session() as s:
        rows = s.execute(select(ConsoleSession, ConsoleUser.name, ConsoleUser.role)
                         .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
                         .where(ConsoleSession.ended_at.is_(None),
                                ConsoleSession.last_seen_at >= since)
                         .order_by(ConsoleSession.last_seen_at.desc()))
        return [{"id": sess.id, "user": name, "role": role, "client": sess.client,
                 "user_agent": sess.user_agent, "created_at": audit.format_at(sess.created_at),
                 "last_seen_at": audit.format_at(sess.last_seen_at)}
                for sess, name, role in rows]
