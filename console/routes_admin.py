"""Administration: accounts, active sessions, the audit log with its chain status, and
the integrity check."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select

from console import accounts
from console.accounts import User
from console.web import check_csrf, render, require, store_of
from storage import audit
from storage.db import BadInput
from storage.ingest import scrub
from storage.integrity import last_check
from storage.models import AuditEntry, Recording
from verifier.privacy import personal_secrets

router = APIRouter()
AUDIT_PAGE = 100


@router.get("/admin")
def admin(request: Request, user: User = Depends(require("users"))):
    store = store_of(request)
    return render(request, "admin.html", users=accounts.list_users(store),
                  sessions=accounts.active_sessions(store, request.app.state.console.idle),
                  new_password=None)


@router.post("/admin/users", dependencies=[Depends(check_csrf)])
def add_user(request: Request, name: str = Form(...), role: str = Form(...),
             branches: str = Form(""), user: User = Depends(require("users"))):
    store = store_of(request)
    added, password = accounts.add_user(store, name, role, branches.split(","),
                                        actor=user.name)
    return render(request, "admin.html", users=accounts.list_users(store),
                  sessions=accounts.active_sessions(store, request.app.state.console.idle),
                  new_password=(added["name"], password))


@router.post("/admin/users/{name}/disable", dependencies=[Depends(check_csrf)])
def disable(request: Request, name: str, user: User = Depends(require("users"))):
    if name == user.name:
        raise BadInput("you cannot disable your own account")
    accounts.disable_user(store_of(request), name, actor=user.name)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{name}/reset-password", dependencies=[Depends(check_csrf)])
def reset(request: Request, name: str, user: User = Depends(require("users"))):
    store = store_of(request)
    row, password = accounts.reset_password(store, name, actor=user.name)
    return render(request, "admin.html", users=accounts.list_users(store),
                  sessions=accounts.active_sessions(store, request.app.state.console.idle),
                  new_password=(row["name"], password))


@router.post("/admin/sessions/{session_id}/revoke", dependencies=[Depends(check_csrf)])
def revoke(request: Request, session_id: int, user: User = Depends(require("users"))):
    accounts.end_session(store_of(request), session_id, f"revoked by {user.name}", user.name)
    return RedirectResponse("/admin", status_code=303)


@router.get("/admin/audit")
def audit_log(request: Request, user: User = Depends(require("audit_log"))):
    """The newest entries (or those of one recording / action), and the chain's state:
    verified now with ?verify=1, else as the last integrity check found it."""
    rid = (request.query_params.get("recording") or "").strip()[:128]
    action = (request.query_params.get("action") or "").strip()[:32]
    try:
        before = int(request.query_params.get("before") or 0)
    except ValueError:
        raise BadInput("before must be an entry number")
    store = store_of(request)
    with store.session() as s:
        q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(AUDIT_PAGE)
        if rid:
            q = q.where(AuditEntry.recording_id == rid)
        if action:
            q = q.where(AuditEntry.action == action)
        if before:
            q = q.where(AuditEntry.id < before)
        entries = [audit.entry_dict(e) for e in s.scalars(q)]
        # Entries hold no customer data in clear, but one written before a caller masked
        # its free text would show it forever: mask again what this page shows.
        rids = {e["recording_id"] for e in entries if e["recording_id"]}
        people = {r.recording_id: personal_secrets(r.customer_id, r.customer_name)
                  for r in s.execute(select(Recording.recording_id, Recording.customer_id,
                                            Recording.customer_name)
                                     .where(Recording.recording_id.in_(rids)))} if rids else {}
        for e in entries:
            if people.get(e["recording_id"]):
                e["details"] = scrub(e["details"], people[e["recording_id"]])
        total = s.scalar(select(func.count()).select_from(AuditEntry))
        # Walking the whole chain reads every entry (and every page view adds one): on
        # demand (?verify=1); otherwise the last integrity check says how it stood.
        chain = audit.verify_chain(s) if request.query_params.get("verify") else None
        last = last_check(s) if chain is None else None
    return render(request, "audit.html", entries=entries, chain=chain, last=last, total=total,
                  rid=rid, action=action, actions=audit.ACTIONS,
                  older=entries[-1]["seq"] if len(entries) == AUDIT_PAGE else None)


@router.post("/admin/integrity", dependencies=[Depends(check_csrf)])
def integrity(request: Request, user: User = Depends(require("integrity"))):
    from storage.integrity import check

    result = check(store_of(request), actor=user.name)
    return render(request, "integrity.html", r=result)
