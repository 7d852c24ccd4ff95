"""The audit log: append-only, every entry chained to the one before by hash.

``hash = sha256(prev_hash + canonical JSON of {actor, action, recording_id, details, at})``
where canonical JSON has sorted keys, no spaces, UTF-8 text, and ``at`` is UTC with
microseconds (``2026-11-21T02:35:00.123456Z``). The first entry's ``prev_hash`` is 64
zeros. A one-row table (``audit_head``) holds the last entry; appenders lock it, so two
writers never fork the chain, and :func:`verify_chain` also notices a removed tail.

Entries never contain a customer's ID or name in clear (callers pass masked values).
"""
from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEntry, AuditHead

GENESIS = "0" * 64
ACTIONS = ("ingest", "verify", "view", "search", "export", "hold", "release", "purge",
           "retention", "integrity",
           "sample", "review", "report",  # audit sampling, human review, reports (issue 6)
           "batch",  # a nightly batch run: started, finished, and what it found
           # the web console (issue 11): logins, media streamed, refused requests,
           # account and session changes
           "login", "logout", "stream", "denied", "user", "session")

# Facts about the request an entry is written for (the console's client address and
# session), merged into every entry appended while it is set. Set per request by the
# console, so the storage functions it calls record who asked from where without
# each taking another argument.
request_context: ContextVar[dict[str, Any] | None] = ContextVar("audit_request_context",
                                                                default=None)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def format_at(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, actor: str, action: str, recording_id: str | None,
               details: Any, at: datetime) -> str:
    body = canonical_json({"actor": actor, "action": action, "recording_id": recording_id,
                           "details": details, "at": format_at(at)})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append(session: Session, actor: str, action: str, recording_id: str | None,
           details: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits with the change it
    records, or not at all)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    details = details or {}
    context = request_context.get()
    if context:
        details = {**details, **{k: v for k, v in context.items() if k not in details}}
    # Round-trip through canonical JSON so what is hashed is exactly what is stored.
    text = canonical_json(details)
    details = json.loads(text)
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)
                           .with_for_update()).scalar_one()
    at = datetime.now(timezone.utc)
    entry = AuditEntry(at=at, actor=actor, action=action, recording_id=recording_id,
                       details=text, prev_hash=head.last_hash,
                       hash=entry_hash(head.last_hash, actor, action, recording_id, details, at))
    session.add(entry)
    session.flush()
    head.last_entry_id = entry.id
    head.last_hash = entry.hash
    head.entries += 1
    return entry


def entry_dict(e: AuditEntry) -> dict[str, Any]:
    try:
        details = json.loads(e.details)
    except ValueError:
        details = e.details
    return {"seq": e.id, "at": format_at(e.at), "actor": e.actor, "action": e.action,
            "recording_id": e.recording_id, "details": details, "prev_hash": e.prev_hash,
            "hash": e.hash}


@dataclass
class ChainReport:
    ok: bool = True
    entries: int = 0
    head_hash: str = GENESIS
    problems: list[dict[str, Any]] = field(default_factory=list)

    def problem(self, entry_id: int | None, recording_id: str | None, text: str) -> None:
        self.ok = False
        self.problems.append({"seq": entry_id, "recording_id": recording_id, "problem": text})


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the whole chain: every entry's hash recomputed from its fields, every link,
    and the head row. Each broken entry is named once."""
    report = ChainReport()
    prev_hash, prev_id = GENESIS, 0
    stmt = select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=batch)
    for e in session.scalars(stmt):
        report.entries += 1
        if e.prev_hash != prev_hash:
            what = ("an entry before it was removed or changed" if e.id != prev_id + 1
                    else "its predecessor's hash was changed, or entries were reordered")
            report.problem(e.id, e.recording_id,
                           f"entry {e.id} does not link to entry {prev_id or 'genesis'}: {what}")
        try:
            details = json.loads(e.details)
            expected = entry_hash(e.prev_hash, e.actor, e.action, e.recording_id, details, e.at)
        except (ValueError, TypeError) as exc:
            report.problem(e.id, e.recording_id, f"entry {e.id} is unreadable: {exc}")
        else:
            if expected != e.hash:
                report.problem(e.id, e.recording_id,
                               f"entry {e.id} ({e.action}"
                               + (f" {e.recording_id}" if e.recording_id else "")
                               + ") was edited: its content does not match its hash")
        prev_hash, prev_id = e.hash, e.id
    report.head_hash = prev_hash
    head = session.get(AuditHead, 1)
    if head is None:
        report.problem(None, None, "the audit head row is missing")
    elif head.last_hash != prev_hash or head.entries != report.entries:
        report.problem(head.last_entry_id or None, None,
                       f"the log ends at entry {prev_id} ({report.entries} entries) but the "
                       f"head records entry {head.last_entry_id} ({head.entries} entries): "
                       "entries were removed from the end or the head was changed")
    return report


def entries_for(session: Session, recording_id: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.recording_id == recording_id)
                                .order_by(AuditEntry.id)))
