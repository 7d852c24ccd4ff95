"""What every route shares: the logged-in user, permission and CSRF checks, the
recording a user may see, and rendering a page."""
from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.templating import Jinja2Templates

from console import accounts
from console.accounts import User
from console.roles import ROLES, can, in_scope, matrix_rows
from storage import audit
from storage.db import Store

log = logging.getLogger("dualrec.console")

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
# Templates ship with the package and do not change while it runs.
TEMPLATES.env.auto_reload = False


def fmt_clock(seconds: Any) -> str:
    """h:mm:ss, floored: seeking to a printed time never lands after the words."""
    try:
        s = max(0, int(float(seconds)))
    except (TypeError, ValueError):
        return ""
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


TEMPLATES.env.filters["clock"] = fmt_clock
TEMPLATES.env.filters["q"] = lambda v: quote(str(v), safe="")
TEMPLATES.env.globals.update(can=can, ROLES=ROLES, matrix_rows=matrix_rows)


# --------------------------------------------------------------------------- refusals


class LoginRequired(Exception):
    """No live session: pages redirect to the login form, other requests get 401."""


class Forbidden(Exception):
    """A logged-in user asked for something their role does not allow (403)."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class OutOfScope(Exception):
    """A recording that does not exist or lies outside the user's branches: both 404,
    so a user cannot tell another branch's recording ids from made-up ones."""

    def __init__(self, recording_id: str):
        super().__init__(recording_id)
        self.recording_id = recording_id


# --------------------------------------------------------------------------- request state


def store_of(request: Request) -> Store:
    return request.app.state.store


def client_of(request: Request) -> str:
    return (request.client.host if request.client else "?")[:64]


def session_of(request: Request) -> accounts.Session | None:
    """The request's live session (resolved once per request)."""
    if not hasattr(request.state, "session"):
        cfg = request.app.state.console
        request.state.session = accounts.resolve(
            store_of(request), request.cookies.get(request.app.state.cookie_name),
            cfg.idle, cfg.max_age)
        if request.state.session is not None:
            ctx = audit.request_context.get()
            if ctx is not None:
                ctx["session"] = request.state.session.id
    return request.state.session


def user_of(request: Request) -> User:
    sess = session_of(request)
    if sess is None:
        raise LoginRequired()
    return sess.user


def require(permission: str):
    """A route dependency: the logged-in user, who must hold `permission`."""
    def dependency(request: Request) -> User:
        user = user_of(request)
        if not can(user, permission):
            raise Forbidden(permission)
        return user
    return dependency


def require_on_recording(permission: str):
    """A dependency of the routes under /recordings/{recording_id}: the logged-in user,
    who must see that recording (else 404, as for a made-up id: another branch's
    recording is answered exactly like one that does not exist, whatever the role) and
    hold `permission` (else 403)."""
    def dependency(request: Request, recording_id: str) -> User:
        user = user_of(request)
        recording_in_scope(request, user, recording_id)
        if not can(user, permission):
            raise Forbidden(permission)
        return user
    return dependency


async def check_csrf(request: Request) -> None:
    """Every form POST carries the session's CSRF token (SameSite=Strict cookies are
    the first guard; this is the second)."""
    sess = session_of(request)
    if sess is None:
        raise LoginRequired()
    form = await request.form()
    sent = str(form.get("csrf_token") or request.headers.get("x-csrf-token") or "")
    if not hmac.compare_digest(sent.encode(), sess.csrf.encode()):
        raise Forbidden("csrf")


def recording_in_scope(request: Request, user: User, recording_id: str, *columns):
    """(id, branch_id, customer_id, customer_name, *columns) of a recording the user may
    see (Recording columns), read in the same query as the scope check."""
    from sqlalchemy import select

    from storage.models import Recording

    with store_of(request).session() as s:
        row = s.execute(select(Recording.id, Recording.branch_id, Recording.customer_id,
                               Recording.customer_name, *columns)
                        .where(Recording.recording_id == recording_id)).first()
    if row is None or not in_scope(user, row.branch_id):
        raise OutOfScope(recording_id)
    return row


def local_path(target: str | None) -> str | None:
    """`target` if it is a path on this console ('/x', not '//host', 'http://' or one
    a browser would read as another host), else None."""
    if target and target.startswith("/") and not target.startswith("//") \
            and "\\" not in target and "\n" not in target and "\r" not in target:
        return target
    return None


def scratch_dir(request: Request, prefix: str) -> Path:
    """A private folder under <data_dir>/tmp for files a download is built from (the
    data folder has room for media; /tmp may not)."""
    import tempfile

    root = Path(request.app.state.settings.data_dir).expanduser() / "tmp"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


def send_and_remove(work: Path, path: Path, media_type: str, filename: str) -> Any:
    """`path` as a download; the scratch folder `work` goes once it is sent."""
    import shutil

    from fastapi.responses import FileResponse
    from starlette.background import BackgroundTask

    return FileResponse(path, media_type=media_type, filename=filename,
                        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True))


def render(request: Request, template: str, status_code: int = 200, **context) -> Any:
    sess = getattr(request.state, "session", None)
    context.update(request=request, user=sess.user if sess else None,
                   csrf=sess.csrf if sess else "")
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def deny_entry(request: Request, why: str, detail: str | None = None) -> None:
    """A refused request in the audit log: who, what, from where."""
    sess = getattr(request.state, "session", None)
    actor = sess.user.name if sess else "-"
    try:
        with store_of(request).session() as s:
            audit.append(s, actor, "denied", None,
                         {"why": why, "method": request.method,
                          "path": request.url.path[:512], "detail": detail,
                          "client": client_of(request)})
    except Exception:  # the refusal stands even if the log cannot be written
        log.exception("could not write the audit entry of a denied request")

