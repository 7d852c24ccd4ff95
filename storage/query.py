"""Retrieval: `show` one recording, `search` by sale metadata and spoken text.

Both are audited (``view``, ``search``) and print personal data masked only: a
customer is looked up by the keyed hash of the real ID (``Store.customer_key``), never
by a clear index, and never echoed.

Text search matches the normalised query (``verifier.textnorm.normalize``: NFKC,
Traditional to Simplified, no punctuation, canonical numbers and risk levels) against
the normalised transcript of each recording's current run, and returns the segments
with their times: SQLite FTS5 with the trigram tokenizer (queries of 3+ characters),
PostgreSQL LIKE over a pg_trgm GIN index; shorter queries scan.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, text as sql_text
from sqlalchemy.orm import Session

from storage import audit
from storage.db import BadInput, NotFound, Store, current_actor
from storage.models import (Finding, LegalHold, PurgeRecord, Recording, TranscriptSegment,
                            VerificationRun)

VERDICTS = ("pass", "fail", "review", "error")
MAX_MATCHES_PER_RECORDING = 50


def iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value.isoformat()


def sale_time_text(rec: Recording) -> str:
    """The sale time as the sidecar gave it (with its own UTC offset)."""
    return (rec.sidecar_json or {}).get("sale_time") or rec.sale_time.isoformat()


def get_recording(s: Session, recording_id: str) -> Recording:
    rec = s.scalars(select(Recording).where(Recording.recording_id == recording_id)).first()
    if rec is None:
        raise NotFound(f"no recording {recording_id!r} in the store")
    return rec


def current_run(s: Session, rec: Recording) -> VerificationRun | None:
    return s.get(VerificationRun, rec.current_run_id) if rec.current_run_id else None


def holds_of(s: Session, rec: Recording) -> list[dict[str, Any]]:
    holds = s.scalars(select(LegalHold).where(LegalHold.recording_pk == rec.id)
                      .order_by(LegalHold.id))
    return [{"case": h.case_id, "reason": h.reason, "placed_at": iso(h.placed_at),
             "placed_by": h.placed_by, "released_at": iso(h.released_at),
             "released_by": h.released_by, "release_reason": h.release_reason}
            for h in holds]


# --------------------------------------------------------------------------- show


def show(store: Store, recording_id: str, actor: str | None = None) -> dict[str, Any]:
    """Everything stored about one recording (CONTRACT section 3 `show`), masked."""
    actor = actor or current_actor()
    with store.session() as s:
        rec = get_recording(s, recording_id)
        run = current_run(s, rec)
        runs = s.scalars(select(VerificationRun).where(VerificationRun.recording_pk == rec.id)
                         .order_by(VerificationRun.id))
        purges = s.scalars(select(PurgeRecord).where(PurgeRecord.recording_pk == rec.id)
                           .order_by(PurgeRecord.id))
        out = {
            "recording_id": rec.recording_id,
            "sha256": rec.sha256,
            "verdict": rec.verdict,
            "retention_until": iso(rec.retention_until),
            "retention_basis": rec.retention_basis,
            "legal_holds": holds_of(s, rec),
            "media_present": rec.media_present,
            "report": run.report_json if run else None,
            "purged_at": iso(rec.purged_at),
            "retention_rules": rec.retention_rules,
            "retention_policy": rec.retention_policy,
            "metadata": rec.sidecar_json,
            "customer_id": rec.customer_id_masked,
            "customer_name": rec.customer_name_masked,
            "sale_time": sale_time_text(rec),
            "files": {
                "media": {"name": rec.media_name, "sha256": rec.sha256, "bytes": rec.media_bytes,
                          "key": rec.media_key, "present": rec.media_present},
                "audio": ({"name": rec.audio_name, "sha256": rec.audio_sha256,
                           "key": rec.audio_key, "present": rec.media_present}
                          if rec.audio_sha256 else None),
                "sidecar": {"name": rec.sidecar_name, "sha256": rec.sidecar_sha256,
                            "key": rec.sidecar_key},
                # files a re-delivery replaced while the recording was never verified
                "replaced": [{"kind": r.kind, "name": r.name, "sha256": r.sha256,
                              "key": r.key, "replaced_at": iso(r.replaced_at),
                              "run_id": r.run_id, "actor": r.actor} for r in rec.replaced],
            },
            "runs": [{"run_id": r.id, "created_at": iso(r.created_at), "verdict": r.verdict,
                      "ruleset": {"id": r.ruleset_id, "version": r.ruleset_version},
                      "engine": {"version": r.engine_version, "asr_model": r.asr_model,
                                 "face_detector": r.face_detector},
                      "current": r.id == rec.current_run_id} for r in runs],
            "purges": [{"purged_at": iso(p.purged_at), "as_of": iso(p.as_of),
                        "retention_until": iso(p.retention_until), "objects": p.objects,
                        "bytes_removed": p.bytes_removed, "actor": p.actor} for p in purges],
            "ingested_at": iso(rec.created_at),
        }
        audit.append(s, actor, "view", rec.recording_id, {"what": "show"})
    return out


def render_show(d: dict[str, Any]) -> str:
    from verifier.report import fmt_time

    lines = [f"{d['recording_id']}: {str(d['verdict'] or '-').upper()}",
             f"  sha256           {d['sha256']}",
             f"  sale             {d['sale_time']}  branch {d['metadata'].get('branch_id')}  "
             f"staff {d['metadata'].get('staff_id')}  customer {d['customer_id']}",
             f"  product          {d['metadata'].get('product_code')} "
             f"{d['metadata'].get('product_name')} ({d['metadata'].get('product_category')}, "
             f"{d['metadata'].get('product_risk_level')})",
             f"  retention until  {d['retention_until'] or 'indefinitely'}  "
             f"({d['retention_basis']})",
             "  media            " + ("present" if d["media_present"]
                                      else f"purged {d['purged_at']}")]
    for r in (d.get("files") or {}).get("replaced") or []:
        lines.append(f"  replaced {r['kind']:<7} {r['sha256']} on {r['replaced_at']} by "
                     f"{r['actor']} (verdict error, run {r['run_id']}): re-delivered")
    holds = d["legal_holds"]
    if holds:
        for h in holds:
            state = f"released {h['released_at']}" if h["released_at"] else "ACTIVE"
            lines.append(f"  legal hold       {h['case']}: {h['reason']} "
                         f"(placed {h['placed_at']} by {h['placed_by']}; {state})")
    else:
        lines.append("  legal hold       none")
    report = d.get("report")
    if report:
        rs = report.get("ruleset") or {}
        lines.append(f"  verified         {rs.get('id')} {rs.get('version')}, engine "
                     f"{(report.get('engine') or {}).get('version')}, runs {len(d['runs'])}")
        for c in report.get("checks", []):
            if c.get("status") in ("fail", "review", "error"):
                lines.append(f"    {c['status'].upper():<6} {c['id']}: {c.get('message', '')}")
        n = len(report.get("transcript") or [])
        lines.append(f"  transcript       {n} segment{'s' if n != 1 else ''}")
        for seg in (report.get("transcript") or [])[:3]:
            lines.append(f"    {fmt_time(seg.get('start_s') or 0)} {seg.get('speaker') or '':<8} "
                         f"{seg.get('text', '')}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- search


@dataclass
class Criteria:
    customer: str | None = None
    product: str | None = None
    staff: str | None = None
    branch: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    verdict: str | None = None
    text: str | None = None
    limit: int = 100
    # The console: the user's branch scope (None: every branch; [] matches nothing),
    # a check that failed or went to review in the current run, only recordings under
    # an active legal hold, and paging.
    branches: list[str] | None = None
    customer_key: str | None = None  # Store.customer_key of an ID: no clear ID in a URL
    failed_check: str | None = None
    held: bool = False
    offset: int = 0

    def validate(self) -> None:
        if self.verdict is not None and self.verdict not in VERDICTS:
            raise BadInput(f"--verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise BadInput(f"--from {self.date_from} is after --to {self.date_to}")
        if not 1 <= self.limit <= 10000:
            raise BadInput("--limit must be between 1 and 10000")
        if not 0 <= self.offset <= 10_000_000:
            raise BadInput("offset must be between 0 and 10000000")

    def logged(self) -> dict[str, Any]:
        """The criteria as they may be logged: the customer masked."""
        from verifier.privacy import mask_id

        out = {k: v for k, v in {
            "customer": mask_id(self.customer) if self.customer else None,
            "product": self.product, "staff": self.staff, "branch": self.branch,
            "from": iso(self.date_from), "to": iso(self.date_to), "verdict": self.verdict,
            "text": self.text, "branches": self.branches, "failed_check": self.failed_check,
            "held": self.held or None, "offset": self.offset or None,
            "customer_key": self.customer_key[:12] if self.customer_key else None}.items()
            if v is not None}
        out["limit"] = self.limit
        return out


def parse_date(value: str | None, option: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BadInput(f"{option}: must be a date YYYY-MM-DD, got {value!r}") from None


def _like_escape(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


COMMON_MATCHES = 2000  # more matching segments than this: "a common phrase"


def _like(q: str):
    return TranscriptSegment.text_norm.like(f"%{_like_escape(q)}%", escape="\\")


def _text_filter(s: Session, store: Store, q: str):
    """A condition on Recording: its current run has a segment containing `q`.

    Rare phrases: the matching segments come from the text index (FTS5 trigram on
    SQLite, pg_trgm on PostgreSQL) and are joined to the recordings. Common phrases
    (more than COMMON_MATCHES segments, e.g. a disclosure every sale contains):
    recordings are walked in the result order and each is probed through its run's
    few segments, so "the newest 100" does not read every match."""
    if store.dialect == "sqlite" and len(q) >= 3 and store.has_fts():
        fts = sql_text("SELECT rowid FROM segment_fts WHERE segment_fts MATCH :fts_q") \
            .bindparams(fts_q='"' + q.replace('"', '""') + '"')
        indexed = TranscriptSegment.id.in_(fts)
        probe = sql_text("SELECT count(*) FROM (SELECT rowid FROM segment_fts "
                         "WHERE segment_fts MATCH :fts_q LIMIT :n)")
        count = s.execute(probe, {"fts_q": '"' + q.replace('"', '""') + '"',
                                  "n": COMMON_MATCHES + 1}).scalar()
    else:
        indexed = _like(q)
        count = s.execute(select(func.count()).select_from(
            select(TranscriptSegment.id).where(indexed).limit(COMMON_MATCHES + 1).subquery())
        ).scalar()
    if count > COMMON_MATCHES:
        return exists().where(TranscriptSegment.recording_pk == Recording.id,
                              TranscriptSegment.run_id == Recording.current_run_id, _like(q))
    in_current_run = (select(TranscriptSegment.recording_pk)
                      .join(Recording, and_(Recording.id == TranscriptSegment.recording_pk,
                                            Recording.current_run_id == TranscriptSegment.run_id))
                      .where(indexed))
    return Recording.id.in_(in_current_run)


def search(store: Store, c: Criteria, actor: str | None = None,
           log_it: bool = True) -> dict[str, Any]:
    """CONTRACT section 3 `search`: ``{"results": [{recording_id, sale_time, verdict,
    matches: [{start_s, end_s, text}]}]}``, newest sale first."""
    from verifier.textnorm import normalize

    c.validate()
    actor = actor or current_actor()
    conds = []
    if c.customer:
        conds.append(Recording.customer_key == store.customer_key(c.customer))
    if c.product:
        conds.append(Recording.product_code == c.product.strip())
    if c.staff:
        conds.append(Recording.staff_id == c.staff.strip())
    if c.branch:
        conds.append(Recording.branch_id == c.branch.strip())
    if c.date_from:
        conds.append(Recording.sale_date >= c.date_from)
    if c.date_to:
        conds.append(Recording.sale_date <= c.date_to)
    if c.verdict:
        conds.append(Recording.verdict == c.verdict)
    if c.branches is not None:
        conds.append(Recording.branch_id.in_(c.branches))
    if c.customer_key:
        conds.append(Recording.customer_key == c.customer_key)
    if c.failed_check:
        conds.append(exists().where(Finding.run_id == Recording.current_run_id,
                                    Finding.check_id == c.failed_check.strip(),
                                    Finding.status.in_(("fail", "review", "error"))))
    if c.held:
        conds.append(exists().where(LegalHold.recording_pk == Recording.id,
                                    LegalHold.released_at.is_(None)))
    q = None
    if c.text is not None:
        q = normalize(c.text)
        if not q:
            raise BadInput("--text has no letters or digits to search for")

    with store.session() as s:
        if q is not None:
            conds.append(_text_filter(s, store, q))
        recs = list(s.execute(
            select(Recording.id, Recording.recording_id, Recording.sale_time,
                   Recording.sidecar_json, Recording.verdict, Recording.branch_id,
                   Recording.staff_id, Recording.product_code, Recording.customer_id_masked,
                   Recording.media_present, Recording.current_run_id)
            .where(*conds).order_by(Recording.sale_time.desc(), Recording.id.desc())
            .offset(c.offset).limit(c.limit)))
        matches: dict[int, list[dict[str, Any]]] = {r.id: [] for r in recs}
        if q is not None and recs:
            run_ids = [r.current_run_id for r in recs if r.current_run_id is not None]
            rows = s.execute(
                select(TranscriptSegment.recording_pk, TranscriptSegment.start_s,
                       TranscriptSegment.end_s, TranscriptSegment.speaker,
                       TranscriptSegment.text)
                .where(TranscriptSegment.run_id.in_(run_ids), _like(q))
                .order_by(TranscriptSegment.recording_pk, TranscriptSegment.start_s))
            for row in rows:
                found = matches[row.recording_pk]
                if len(found) < MAX_MATCHES_PER_RECORDING:
                    found.append({"start_s": row.start_s, "end_s": row.end_s,
                                  "speaker": row.speaker, "text": row.text})
        results = [{
            "recording_id": r.recording_id,
            "sale_time": (r.sidecar_json or {}).get("sale_time") or r.sale_time.isoformat(),
            "verdict": r.verdict,
            "branch_id": r.branch_id, "staff_id": r.staff_id, "product_code": r.product_code,
            "customer_id": r.customer_id_masked, "media_present": r.media_present,
            "matches": matches[r.id],
        } for r in recs]
        if log_it:
            audit.append(s, actor, "search", None, {
                "criteria": c.logged(), "results": len(results),
                "recording_ids": [r["recording_id"] for r in results[:100]]})
    return {"results": results, "count": len(results), "limit": c.limit,
            "truncated": len(results) == c.limit}


def render_search(d: dict[str, Any]) -> str:
    from verifier.report import fmt_time

    if not d["results"]:
        return "no recordings found"
    rows = [("RECORDING", "SALE TIME", "VERDICT", "BRANCH", "STAFF", "PRODUCT", "CUSTOMER")]
    for r in d["results"]:
        rows.append((r["recording_id"], r["sale_time"], r["verdict"] or "-", r["branch_id"],
                     r["staff_id"], r["product_code"], r["customer_id"]))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
        if i == 0:
            continue
        for m in d["results"][i - 1]["matches"]:
            lines.append(f"    {fmt_time(m['start_s'])}-{fmt_time(m['end_s'])}  "
                         f"({m['start_s']:.1f}-{m['end_s']:.1f} s) {m['text']}")
    if d.get("truncated"):
        lines.append(f"(first {d['limit']} shown; narrow the search or raise --limit)")
    return "\n".join(lines)
