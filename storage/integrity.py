"""`dualrec integrity`: re-hash every object in the vault and walk the audit chain.

A vault object whose content no longer hashes to its address (a flipped byte), is
missing, or cannot be decrypted is a mismatch, named by the recordings that use it. An
audit entry whose content does not match its hash (an edited row), that does not link
to its predecessor (a removed or inserted row), or a log shorter than its head (a
removed tail) makes ``audit_log_ok`` false and is named. Objects in the vault that no
database row knows (left by an ingest killed before its commit; a rerun adopts them)
are listed as orphans, not mismatches.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from storage import audit
from storage.db import Store, current_actor
from storage.models import Recording, ReplacedMedia, VaultObject


def check(store: Store, actor: str | None = None, log_it: bool = True) -> dict[str, Any]:
    actor = actor or current_actor()
    with store.session() as s:
        objects = list(s.execute(select(VaultObject.sha256, VaultObject.key, VaultObject.kind,
                                        VaultObject.state)))
        users: dict[str, list[tuple[str, str]]] = defaultdict(list)
        missing_rows = []
        known = {o.sha256: o for o in objects}

        def used(recording_id: str, role: str, sha: str) -> None:
            users[sha].append((recording_id, role))
            if sha not in known or known[sha].state != "present":
                missing_rows.append((recording_id, role, sha))

        for r in s.execute(select(Recording.recording_id, Recording.sha256,
                                  Recording.audio_sha256, Recording.sidecar_sha256,
                                  Recording.media_present)):
            for sha, role in ((r.sha256, "media"), (r.audio_sha256, "audio"),
                              (r.sidecar_sha256, "sidecar")):
                if sha and (role == "sidecar" or r.media_present):
                    used(r.recording_id, role, sha)
        # files a re-delivery replaced: kept under the recording until it is purged
        for r in s.execute(select(Recording.recording_id, ReplacedMedia.sha256,
                                  ReplacedMedia.kind)
                           .join(ReplacedMedia, ReplacedMedia.recording_pk == Recording.id)
                           .where(Recording.media_present.is_(True))):
            used(r.recording_id, f"replaced {r.kind}", r.sha256)

    problems: list[dict[str, Any]] = []
    mismatched: set[str] = set()
    checked = 0
    for o in objects:
        if o.state != "present":
            continue
        checked += 1
        result = store.vault.verify(o.sha256)
        if result.ok:
            continue
        owners = users.get(o.sha256) or [(None, o.kind)]
        for recording_id, role in owners:
            problems.append({"kind": "vault", "recording_id": recording_id, "role": role,
                             "object": o.key, "status": result.status,
                             "problem": result.detail})
            mismatched.add(recording_id or o.key)
    for recording_id, role, sha in missing_rows:
        problems.append({"kind": "vault", "recording_id": recording_id, "role": role,
                         "object": sha, "status": "missing",
                         "problem": "the database lists no stored vault object for it"})
        mismatched.add(recording_id)

    known_present = {o.sha256 for o in objects if o.state in ("present", "deleting")}
    orphans = sorted(a for a in store.vault.iter_addresses() if a not in known_present)
    temp = [str(p) for p in getattr(store.vault, "temp_files", lambda: [])()]

    with store.session() as s:
        chain = audit.verify_chain(s)
    for p in chain.problems:
        problems.append({"kind": "audit", **p})

    ok = not mismatched and chain.ok
    result = {
        "ok": ok,
        "files_checked": checked,
        "mismatches": sorted(mismatched),
        "audit_log_ok": chain.ok,
        "audit_entries": chain.entries,
        "audit_head": chain.head_hash,
        "audit_problems": [p for p in problems if p["kind"] == "audit"],
        "problems": problems,
        "orphans": orphans,
        "temp_files": temp,
        "vault": store.vault.describe(),
    }
    if log_it:
        with store.session() as s:
            audit.append(s, actor, "integrity", None, {
                "ok": ok, "files_checked": checked, "mismatches": sorted(mismatched),
                "audit_log_ok": chain.ok, "audit_entries": chain.entries,
                "audit_problem_entries": [p["seq"] for p in result["audit_problems"]]})
    return result


def render(d: dict[str, Any]) -> str:
    lines = [("OK" if d["ok"] else "MISMATCH") +
             f": {d['files_checked']} vault objects re-hashed ({d['vault']}), "
             f"{d['audit_entries']} audit entries walked"]
    for p in d["problems"]:
        if p["kind"] == "vault":
            lines.append(f"  vault  {p['recording_id'] or '-'} {p['role']} {p['object']}: "
                         f"{p['status']}: {p['problem']}")
        else:
            lines.append(f"  audit  entry {p['seq']}: {p['problem']}")
    if d["orphans"]:
        lines.append(f"  note: {len(d['orphans'])} vault object(s) belong to no recording "
                     "(an interrupted ingest; rerunning it adopts them)")
    if d["temp_files"]:
        lines.append(f"  note: {len(d['temp_files'])} temporary file(s) of interrupted "
                     "writes (removed by the next sweep)")
    lines.append(f"  audit head {d['audit_head']}")
    return "\n".join(lines)


def last_check(s) -> dict[str, Any] | None:
    """The last integrity check as its audit entry recorded it (when, by whom, what it
    found), or None: what a page shows without re-hashing the vault."""
    import json

    from storage.models import AuditEntry

    row = s.scalars(select(AuditEntry).where(AuditEntry.action == "integrity")
                    .order_by(AuditEntry.id.desc()).limit(1)).first()
    if row is None:
        return None
    d = json.loads(row.details)
    return {"at": row.at, "by": row.actor, "ok": d.get("ok"), "files": d.get("files_checked"),
            "mismatches": len(d.get("mismatches") or []),
            "audit_log_ok": d.get("audit_log_ok"), "audit_entries": d.get("audit_entries")}
