"""Logging in and out."""
from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from console import accounts
from console.web import (check_csrf, client_of, deny_entry, local_path, render, session_of,
                         store_of)

router = APIRouter()

# Before there is a session, the login form is protected by a double-submit token: a
# random value in a SameSite=Strict cookie that the form must repeat.
LOGIN_CSRF_COOKIE = "dualrec_login"


def _safe_next(target: str | None) -> str:
    """Only a path on this console, else home."""
    return local_path(target) or "/"


def _login_page(request: Request, error: str | None = None, status: int = 200):
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", status_code=status, error=error,
                  login_csrf=token, next=_safe_next(request.query_params.get("next")))
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                    secure=request.app.state.console.secure_cookies, path="/login")
    return resp


@router.get("/login")
def login_form(request: Request):
    if session_of(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_page(request)


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""),
          csrf_token: str = Form(""), next: str = Form("/")):
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        session_of(request)  # the actor of the entry, when a logged-in user posts it
        deny_entry(request, "forbidden", "login csrf")
        return _login_page(request, "The login form expired: please try again.", 403)
    cfg = request.app.state.console
    result = accounts.login(store_of(request), username, password[:1024], client_of(request),
                            request.headers.get("user-agent", ""), cfg.throttle)
    if result.user is None:
        status = 429 if "Too many" in (result.refused or "") else 401
        return _login_page(request, result.refused, status)
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(request.app.state.cookie_name, result.token, httponly=True,
                    samesite="strict", secure=cfg.secure_cookies, path="/")
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return resp


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request):
    sess = session_of(request)
    accounts.end_session(store_of(request), sess.id, "logout", sess.user.name)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(request.app.state.cookie_name, path="/", httponly=True,
                       samesite="strict", secure=request.app.state.console.secure_cookies)
    return resp
