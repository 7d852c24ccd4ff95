"""Evidence export for a dispute: everything about one recording in one folder.

``DIR/`` gets:

* ``media/<original name>`` (and the separate audio file): the original bytes from the
  vault, checked against their sha256 (absent if the media was purged: the manifest
  says so); ``media/replaced/<sha256[:12]>-<name>``: earlier deliveries a re-delivery
  replaced (listed under ``replaced`` in record.json);
* ``<stem>.json``: the sidecar as it was ingested (personal data in clear: the export
  is the one output that carries it);
* ``report.json``: the current verification report; ``transcript.txt`` and
  ``transcript.srt``;
* ``timeline.png`` when ``verifier.timeline.render_timeline`` is available;
* ``record.json``: the stored record (customer in clear, retention, holds, purges, runs);
* ``audit.jsonl``: the recording's audit-log entries with their chain hashes, this
  export's own entry included;
* ``manifest.json`` (every file with sha256 and size, notes) and ``SHA256SUMS``
  (``sha256sum -c SHA256SUMS`` checks the folder).

The folder is assembled under a temporary name beside DIR and renamed at the end.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from storage import audit
from storage.db import BadInput, Store, StoreError, current_actor
from storage.models import PurgeRecord, VerificationRun
from storage.query import current_run, get_recording, holds_of, iso, sale_time_text
from storage.vault import VaultError
from sqlalchemy import select

log = logging.getLogger(__name__)


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _ts(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def transcript_txt(segments: list[dict[str, Any]]) -> str:
    return "".join(f"[{_ts(seg.get('start_s') or 0, '.')} - {_ts(seg.get('end_s') or 0, '.')}] "
                   f"{seg.get('speaker') or 'unknown'}: {seg.get('text', '')}\n"
                   for seg in segments)


def transcript_srt(segments: list[dict[str, Any]]) -> str:
    blocks = []
    for i, seg in enumerate(segments, 1):
        blocks.append(f"{i}\n{_ts(seg.get('start_s') or 0, ',')} --> "
                      f"{_ts(seg.get('end_s') or 0, ',')}\n"
                      f"{seg.get('speaker') or 'unknown'}: {seg.get('text', '')}\n")
    return "\n".join(blocks)


def _safe_name(name: str, fallback: str) -> str:
    name = Path(name or "").name
    return name if name and not name.startswith(".") else fallback


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n",
                    encoding="utf-8")


def export(store: Store, recording_id: str, out_dir: str | os.PathLike,
           actor: str | None = None) -> dict[str, Any]:
    actor = actor or current_actor()
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"--out {out}: exists and is not an empty folder (an export never "
                       "overwrites)")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    work.mkdir(mode=0o700)
    notes: list[str] = []
    try:
        with store.session() as s:
            rec = get_recording(s, recording_id)
            run = current_run(s, rec)
            report = run.report_json if run else None
            record = {
                "recording_id": rec.recording_id, "sha256": rec.sha256,
                "customer_id": rec.customer_id, "customer_name": rec.customer_name,
                "branch_id": rec.branch_id, "staff_id": rec.staff_id,
                "product_code": rec.product_code, "product_name": rec.product_name,
                "product_category": rec.product_category,
                "product_risk_level": rec.product_risk_level,
                "customer_risk_level": rec.customer_risk_level,
                "sale_time": sale_time_text(rec), "maturity_date": iso(rec.maturity_date),
                "redemption_date": iso(rec.redemption_date),
                "verdict": rec.verdict, "retention_until": iso(rec.retention_until),
                "retention_basis": rec.retention_basis, "retention_rules": rec.retention_rules,
                "media_present": rec.media_present, "purged_at": iso(rec.purged_at),
                "ingested_at": iso(rec.created_at), "legal_holds": holds_of(s, rec),
                "runs": [{"run_id": r.id, "created_at": iso(r.created_at), "verdict": r.verdict,
                          "ruleset_id": r.ruleset_id, "ruleset_version": r.ruleset_version,
                          "engine_version": r.engine_version, "asr_model": r.asr_model,
                          "face_detector": r.face_detector, "report_sha256": r.report_sha256}
                         for r in s.scalars(select(VerificationRun).where(
                             VerificationRun.recording_pk == rec.id).order_by(VerificationRun.id))],
                "replaced": [{"kind": r.kind, "name": r.name, "sha256": r.sha256,
                              "replaced_at": iso(r.replaced_at), "run_id": r.run_id,
                              "actor": r.actor} for r in rec.replaced],
                "purges": [{"purged_at": iso(p.purged_at), "as_of": iso(p.as_of),
                            "objects": p.objects, "actor": p.actor}
                           for p in s.scalars(select(PurgeRecord).where(
                               PurgeRecord.recording_pk == rec.id))],
            }
            files = [(rec.sha256, rec.media_name, "media"),
                     (rec.audio_sha256, rec.audio_name, "audio")]
            copies = [(sha, Path(_safe_name(name, f"{kind}.bin")), kind)
                      for sha, name, kind in files if sha]
            # an earlier delivery a re-delivery replaced (cut short while copied): the
            # dispute may turn on what first arrived
            copies += [(r.sha256, Path("replaced") / _safe_name(
                f"{r.sha256[:12]}-{r.name or r.kind}", f"{r.kind}.bin"), f"replaced {r.kind}")
                for r in rec.replaced]
            sidecar = (rec.sidecar_sha256, rec.sidecar_name)
            media_present = rec.media_present
            purged_at = iso(rec.purged_at)

        # Media and sidecar from the vault, each checked against its address.
        if media_present:
            for sha, rel, what in copies:
                dest = work / "media" / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    store.vault.copy_to(sha, dest)
                except FileNotFoundError:
                    raise StoreError(f"{recording_id}: the {what} file {sha} is missing "
                                     "from the vault (run `dualrec integrity`)") from None
                except VaultError as exc:
                    raise StoreError(f"{recording_id}: {exc}") from None
        else:
            notes.append(f"media purged on {purged_at} after its retention ended; the "
                         f"original's sha256 was {files[0][0]}")
        try:
            store.vault.copy_to(sidecar[0], work / _safe_name(sidecar[1], "sidecar.json"))
        except (FileNotFoundError, VaultError) as exc:
            raise StoreError(f"{recording_id}: sidecar {sidecar[0]}: {exc}") from None

        segments = (report or {}).get("transcript") or []
        if report is not None:
            _write_json(work / "report.json", report)
        else:
            notes.append("no verification report is stored")
        (work / "transcript.txt").write_text(transcript_txt(segments), encoding="utf-8")
        (work / "transcript.srt").write_text(transcript_srt(segments), encoding="utf-8")
        notes += _timeline(report, work / "timeline.png")
        _write_json(work / "record.json", record)

        content = sorted(p for p in work.rglob("*") if p.is_file())
        sums = {p.relative_to(work).as_posix(): _sha(p) for p in content}
        digest = hashlib.sha256("".join(f"{v}  {k}\n" for k, v in sorted(sums.items()))
                                .encode("utf-8")).hexdigest()
        with store.session() as s:
            entry = audit.append(s, actor, "export", recording_id, {
                "out": str(out.resolve()), "files": sorted(sums), "content_sha256": digest})
            trail = [audit.entry_dict(e) for e in audit.entries_for(s, recording_id)]
            head = entry.hash
        (work / "audit.jsonl").write_text(
            "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in trail),
            encoding="utf-8")
        listing = []
        for p in sorted(p for p in work.rglob("*") if p.is_file()):
            listing.append({"path": p.relative_to(work).as_posix(), "sha256": _sha(p),
                            "bytes": p.stat().st_size})
        manifest = {
            "schema": "dualrec.export/1", "recording_id": recording_id,
            "exported_at": datetime.now(timezone.utc).isoformat(), "exported_by": actor,
            "media_sha256": files[0][0], "media_present": media_present,
            "files": listing, "notes": notes, "audit_entry": entry.id, "audit_entry_hash": head,
        }
        _write_json(work / "manifest.json", manifest)
        lines = [f"{item['sha256']}  {item['path']}\n" for item in listing]
        lines.append(f"{_sha(work / 'manifest.json')}  manifest.json\n")
        (work / "SHA256SUMS").write_text("".join(sorted(lines, key=lambda l: l[66:])),
                                         encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.rename(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {"recording_id": recording_id, "out": str(out), "files": len(listing) + 2,
            "notes": notes, "manifest": str(out / "manifest.json")}


def _timeline(report: dict | None, png: Path) -> list[str]:
    if report is None:
        return []
    try:
        from verifier.timeline import render_timeline
    except ImportError:
        return ["timeline picture not included: verifier.timeline is not available in "
                "this installation"]
    try:
        render_timeline(report, png)
    except Exception as exc:  # a drawing problem must not lose the evidence package
        log.warning("timeline picture failed: %s", exc)
        png.unlink(missing_ok=True)
        return [f"timeline picture not included: drawing it failed ({type(exc).__name__}: "
                f"{exc})"]
    if not png.is_file():
        return ["timeline picture not included: the renderer wrote no file"]
    return []
