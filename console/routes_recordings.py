"""Recordings: the filterable list with spoken-text search, one recording's page (player,
timeline, checks, transcript, sidecar, history), its media, and the actions on it
(review, legal hold, evidence export)."""
from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from console import timeline_view
from console.accounts import User
from console.media import stream
from console.roles import can, scope_branches
from console.web import (OutOfScope, check_csrf, local_path, recording_in_scope, render,
                         require, require_on_recording, scratch_dir, send_and_remove,
                         store_of)
from storage import audit
from storage.db import BadInput
from storage.models import ReviewDecision, ReviewFinding, VaultObject
from storage.query import VERDICTS, Criteria, parse_date, search
from storage.ingest import scrub
from verifier.privacy import personal_secrets

router = APIRouter()

FILTERS = ("branch", "staff", "product", "ck", "from", "to", "verdict", "check", "text",
           "held")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _q(request: Request, name: str) -> str:
    return (request.query_params.get(name) or "").strip()[:200]


def _list_url(store, filters: dict[str, str]) -> str:
    """The list's URL for these filters, a customer ID replaced by its keyed hash: a
    clear ID number must not end up in access logs, proxies or browser history."""
    f = {k: v for k, v in filters.items() if v and (k in FILTERS or k == "page")}
    customer = (filters.get("customer") or "").strip()
    if customer:
        f["ck"] = store.customer_key(customer)
    return "/recordings" + (f"?{urlencode(f)}" if f else "")


@router.get("/recordings")
def recordings(request: Request, user: User = Depends(require("view"))):
    if _q(request, "customer"):  # a script or an old link: move the ID out of the URL
        return RedirectResponse(_list_url(store_of(request), dict(request.query_params)),
                                status_code=303)
    f = {k: _q(request, k) for k in FILTERS}
    if f["ck"] and not _HEX64.match(f["ck"]):
        raise BadInput("ck must be a customer key (64 hexadecimal digits)")
    try:
        page = max(1, min(int(_q(request, "page") or 1), 100000))
    except ValueError:
        raise BadInput("page must be a number")
    size = request.app.state.console.page_size
    branches = scope_branches(user, [f["branch"]] if f["branch"] else [])
    c = Criteria(customer_key=f["ck"] or None, product=f["product"] or None,
                 staff=f["staff"] or None, date_from=parse_date(f["from"], "from"),
                 date_to=parse_date(f["to"], "to"), verdict=f["verdict"] or None,
                 text=f["text"] or None, limit=size + 1, offset=(page - 1) * size,
                 branches=branches, failed_check=f["check"] or None, held=bool(f["held"]))
    searched = any(f.values()) or page > 1
    # Only a real search is an access to log; opening the plain list is the dashboard's
    # next page, not a query about a customer.
    out = search(store_of(request), c, actor=user.name, log_it=searched)
    # Jinja looks a name up as an attribute first: rows as attribute objects render
    # twice as fast as dicts (50 rows, every cell a failed getattr otherwise).
    rows = [SimpleNamespace(**{**r, "matches": [SimpleNamespace(**m) for m in r["matches"]]})
            for r in out["results"][:size]]
    return render(request, "recordings.html", rows=rows, f=f, page=page,
                  more=len(out["results"]) > size, verdicts=VERDICTS,
                  query_base={k: v for k, v in f.items() if v})


@router.post("/recordings", dependencies=[Depends(check_csrf)])
async def recordings_search(request: Request, user: User = Depends(require("view"))):
    """The filter form posts here (so a customer ID never travels in a URL) and is sent
    on to the list with the ID replaced by its keyed hash."""
    form = {k: str(v).strip()[:200] for k, v in (await request.form()).items()}
    return RedirectResponse(_list_url(store_of(request), form), status_code=303)


def _reviews(s, rec_pk: int) -> list[dict]:
    out = []
    for r in s.scalars(select(ReviewDecision).where(ReviewDecision.recording_pk == rec_pk)
                       .order_by(ReviewDecision.id)):
        judged = s.scalars(select(ReviewFinding).where(ReviewFinding.review_id == r.id)
                           .order_by(ReviewFinding.id)).all()
        out.append({"decided_at": r.decided_at, "reviewer": r.reviewer, "decision": r.decision,
                    "machine_verdict": r.machine_verdict, "reason": r.reason,
                    "run_id": r.run_id,
                    "findings": [[j.check_id, j.agree] for j in judged]})
    return out


def recording_view(request: Request, user: User, recording_id: str) -> dict[str, Any]:
    """Everything the recording page shows, masked for the user's role; the view is
    audited (storage.query.show)."""
    from storage.query import show

    store = store_of(request)
    row = recording_in_scope(request, user, recording_id)
    d = show(store, recording_id, actor=user.name)
    with store.session() as s:
        reviews = _reviews(s, row.id)
        history = [audit.entry_dict(e) for e in audit.entries_for(s, recording_id)]
    clear = can(user, "customer_data")
    if not clear:
        # Stored reports and reasons are scrubbed at ingest; scrub again what this page
        # shows, so nothing a later change lets through reaches a masked role.
        secrets = personal_secrets(row.customer_id, row.customer_name)
        d, reviews, history = (scrub(x, secrets) for x in (d, reviews, history))
    customer = ({"id": row.customer_id, "name": row.customer_name} if clear else
                {"id": d["customer_id"], "name": d["customer_name"]})
    sidecar = dict(d.get("metadata") or {})
    if clear:
        sidecar.update(customer_id=row.customer_id,
                       **({"customer_name": row.customer_name} if row.customer_name else {}))
    report = d.get("report") or {}
    return {"d": d, "report": report, "timeline": timeline_view.build(report),
            "reviews": reviews, "history": history, "customer": customer,
            "sidecar": sidecar, "clear": clear}


@router.get("/recordings/{recording_id}")
def recording(request: Request, recording_id: str, user: User = Depends(require("view"))):
    view = recording_view(request, user, recording_id)
    try:
        t = max(0.0, float(request.query_params.get("t") or 0))
    except ValueError:
        t = 0.0
    return render(request, "recording.html", rid=recording_id, t=t,
                  note=NOTES.get(request.query_params.get("note") or ""), **view)


def _log_stream_start(request: Request, user: User, recording_id: str, kind: str,
                      range_header: str | None) -> None:
    """One `stream` entry per session, recording and file: seeking asks for many
    ranges, and each is not a new viewing."""
    sess = request.state.session
    key = (sess.id, recording_id, kind)
    seen = request.app.state.streams_logged
    if key in seen:
        return
    if len(seen) > 100_000:  # a long-running server: forget old sessions' streams
        seen.clear()
    seen.add(key)
    with store_of(request).session() as s:
        audit.append(s, user.name, "stream", recording_id,
                     {"file": kind, "range": (range_header or "")[:64] or None})


def _media(request: Request, user: User, recording_id: str, kind: str):
    from storage.models import Recording

    # Every seek is a request: the scope check reads what the stream needs as well.
    rec = recording_in_scope(request, user, recording_id, Recording.media_present,
                             Recording.purged_at, Recording.sha256, Recording.media_name,
                             Recording.media_bytes, Recording.audio_sha256,
                             Recording.audio_name)
    store = store_of(request)
    if not rec.media_present:
        raise BadInput(f"{recording_id}: media purged on "
                       f"{rec.purged_at:%Y-%m-%d} (retention ended)")
    if kind == "media":
        sha, name, size = rec.sha256, rec.media_name, rec.media_bytes
    else:
        if not rec.audio_sha256:
            raise OutOfScope(recording_id + "/audio")
        sha, name = rec.audio_sha256, rec.audio_name
        with store.session() as s:
            size = s.scalar(select(VaultObject.size).where(VaultObject.sha256 == sha))
    if size is None:
        size = store.vault.plain_size(sha)
    range_header = request.headers.get("range")
    _log_stream_start(request, user, recording_id, kind, range_header)
    return stream(store.vault, sha, int(size), name, range_header)


@router.get("/recordings/{recording_id}/media")
def media(request: Request, recording_id: str, user: User = Depends(require("view"))):
    return _media(request, user, recording_id, "media")


@router.get("/recordings/{recording_id}/audio")
def audio(request: Request, recording_id: str, user: User = Depends(require("view"))):
    return _media(request, user, recording_id, "audio")


# What an action may say on the page it returns to: a code in the URL, never free text
# (a link could otherwise put any words on a recording's page).
NOTES = {"reviewed": "Review recorded.", "held": "Legal hold placed.",
         "already-held": "This case already holds the recording.",
         "released": "Legal hold released."}


def _back(recording_id: str, note: str = "") -> RedirectResponse:
    from urllib.parse import quote
    return RedirectResponse(f"/recordings/{quote(recording_id, safe='')}"
                            + (f"?note={quote(note)}" if note else ""), status_code=303)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


def review_from_form(form: dict[str, str]) -> tuple[str, str, dict[str, bool], str | None]:
    findings = {}
    for key, value in form.items():
        if key.startswith("finding:") and value in ("agree", "disagree"):
            findings[key[len("finding:"):]] = value == "agree"
    return (form.get("decision", ""), form.get("reason", ""), findings,
            form.get("sample") or None)


@router.post("/recordings/{recording_id}/review", dependencies=[Depends(check_csrf)])
async def review(request: Request, recording_id: str,
                 user: User = Depends(require_on_recording("review"))):
    from starlette.concurrency import run_in_threadpool

    from storage.review import record_review

    form = await _form(request)
    decision, reason, findings, sample = review_from_form(form)
    await run_in_threadpool(lambda: record_review(
        store_of(request), recording_id, decision, reason, reviewer=user.name,
        findings=findings, sample=sample, actor=user.name))
    target = local_path(form.get("next"))
    if target:
        return RedirectResponse(target, status_code=303)
    return _back(recording_id, "reviewed")


@router.post("/recordings/{recording_id}/hold", dependencies=[Depends(check_csrf)])
def hold(request: Request, recording_id: str, case: str = Form(...), reason: str = Form(...),
         user: User = Depends(require_on_recording("hold"))):
    from storage.retention import place_hold

    r = place_hold(store_of(request), recording_id, case, reason, actor=user.name)
    return _back(recording_id, "held" if r.changed else "already-held")


@router.post("/recordings/{recording_id}/release", dependencies=[Depends(check_csrf)])
def release(request: Request, recording_id: str, case: str = Form(...),
            reason: str = Form(""), user: User = Depends(require_on_recording("hold"))):
    from storage.retention import release_hold

    release_hold(store_of(request), recording_id, case, actor=user.name, reason=reason or None)
    return _back(recording_id, "released")


@router.post("/recordings/{recording_id}/export", dependencies=[Depends(check_csrf)])
def export(request: Request, recording_id: str,
           user: User = Depends(require_on_recording("export"))):
    """The evidence package (storage.export, audited there) as one zip download.
    A POST: it writes an audit entry and hands out personal data, so it is a form
    with a CSRF token, never a link."""
    from storage.export import export as do_export

    work = scratch_dir(request, "export-")
    try:
        folder = work / "evidence"
        do_export(store_of(request), recording_id, folder, actor=user.name)
        archive = work / "evidence.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED,
                             allowZip64=True) as z:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    z.write(path, arcname=str(Path("evidence") / path.relative_to(folder)))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in recording_id)
    return send_and_remove(work, archive, "application/zip", f"evidence-{safe}.zip")


@router.get("/recordings/{recording_id}/export")
def export_form(request: Request, recording_id: str,
                user: User = Depends(require_on_recording("export"))):
    return render(request, "export.html", rid=recording_id)
