"""The console's application: store, routes, security headers, refusals and errors.

``create_app(settings)`` opens the store once; uvicorn serves it (``dualrec serve``).
Every response carries a Content-Security-Policy that allows only the console's own
scripts, styles and media (no inline script), forbids framing, sends no referrer, and
pages are never cached (they hold personal data). A request that fails shows a short
page, never a traceback.
"""
from __future__ import annotations

import os
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from console.accounts import Throttle
from console.web import (Forbidden, LoginRequired, OutOfScope, client_of, deny_entry, log,
                         render)
from storage import audit
from storage.db import BadInput, NotFound, StoreError

STATIC_DIR = Path(__file__).resolve().parent / "static"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self'; connect-src 'self'; font-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


@dataclass(frozen=True)
class ConsoleConfig:
    idle: timedelta
    max_age: timedelta
    throttle: Throttle
    secure_cookies: bool
    page_size: int


class SecurityMiddleware:
    """Pure ASGI (runs in the request's own task): the headers on every response, and
    the audit context (client address; the session is added once resolved) for every
    entry the request writes."""

    def __init__(self, app, tls: bool):
        self.app = app
        self.tls = tls

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?",))[0]
        token = audit.request_context.set({"client": str(client)[:64], "via": "console"})
        path = scope.get("path", "")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in {h for h, _ in SECURITY_HEADERS}]
                headers += SECURITY_HEADERS
                if not path.startswith("/static/"):
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                if self.tls:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            audit.request_context.reset(token)


def _wants_html(request: Request) -> bool:
    # The player's streams (video and separate audio) get 401, not a login page; a
    # recording id that merely contains "/media" is still a page.
    path = request.url.path
    return request.method == "GET" and not path.startswith(("/media/", "/api/")) \
        and not path.endswith(("/media", "/audio"))


def create_app(settings=None, *, store=None, tls: bool = False) -> FastAPI:
    """The console over the store `settings` describe (or an open `store`)."""
    from storage.db import open_store
    from verifier.config import load_settings

    settings = settings or load_settings()
    store = store or open_store(settings)
    cfg = settings.console

    @asynccontextmanager
    async def lifespan(_app):
        import anyio.to_thread

        threads = int(os.environ.get("DUALREC_CONSOLE_THREADS") or cfg.threads)
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        store.close()

    app = FastAPI(title="dualrec console", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.store = store
    app.state.settings = settings
    secure = cfg.secure_cookies if cfg.secure_cookies is not None else tls
    app.state.console = ConsoleConfig(idle=timedelta(minutes=cfg.session_idle_minutes),
                                      max_age=timedelta(hours=cfg.session_max_hours),
                                      throttle=Throttle.from_settings(cfg),
                                      secure_cookies=secure, page_size=cfg.page_size)
    # __Host- cookies must be Secure; without TLS (localhost) the plain name is used.
    app.state.cookie_name = "__Host-dualrec" if secure else "dualrec_session"
    app.state.streams_logged = set()

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    from console import (routes_admin, routes_audit, routes_auth, routes_dashboard,
                         routes_recordings)
    for module in (routes_auth, routes_dashboard, routes_recordings, routes_audit,
                   routes_admin):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired):
        deny_entry(request, "not logged in")
        if _wants_html(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            if request.query_params.get("customer"):  # an old link: the ID stays out of URLs
                from console.routes_recordings import _list_url
                target = _list_url(request.app.state.store, dict(request.query_params))
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return PlainTextResponse("login required", status_code=401)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden):
        deny_entry(request, "forbidden", exc.what)
        msg = ("The form expired or did not come from this console: reload the page and "
               "try again." if exc.what == "csrf" else
               "Your role does not allow this.")
        return _error(request, 403, msg)

    @app.exception_handler(OutOfScope)
    async def _scope(request: Request, exc: OutOfScope):
        deny_entry(request, "no such recording in scope", exc.recording_id)
        return _error(request, 404, "No such recording.")

    @app.exception_handler(NotFound)
    async def _nf(request: Request, exc: NotFound):
        return _error(request, 404, str(exc))

    @app.exception_handler(BadInput)
    async def _bad(request: Request, exc: BadInput):
        return _error(request, 400, str(exc))

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError):
        # Its words are for an operator (they may name server paths): the log has them.
        log.error("store error on %s %s: %s", request.method, request.url.path, exc)
        return _error(request, 500, "The store could not do this: the server log has the "
                                    "details.")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) or "request"
                           for e in exc.errors()[:5])
        return _error(request, 400, f"Invalid request: {fields}.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return _error(request, exc.status_code, str(exc.detail or "Request refused."),
                      headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("internal error on %s %s from %s", request.method, request.url.path,
                      client_of(request))
        return _error(request, 500, "Internal error: the server log has the details.")

    app.add_middleware(SecurityMiddleware, tls=tls)
    return app


def _error(request: Request, status: int, message: str, headers: dict | None = None) -> Any:
    if "text/html" in request.headers.get("accept", "") and request.method == "GET":
        resp = render(request, "error.html", status_code=status, status=status,
                      message=message)
    else:
        resp = JSONResponse({"error": message}, status_code=status)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    if status >= 500:  # answered outside SecurityMiddleware (Starlette's error layer)
        for k, v in SECURITY_HEADERS:
            resp.headers[k.decode()] = v.decode()
        resp.headers["cache-control"] = "no-store"
    return resp
