"""Storing a verified recording: vault first, database last.

:func:`store_recording` writes the media (and a separate audio file) and the sidecar to
the write-once vault, then, in ONE database transaction, the recording row, the
verification run with its findings and transcript segments, the vault object rows and
the audit entries. The transaction commits last: a process killed at any point before
leaves no recording in the database (only vault objects, which a rerun finds already
stored and reuses), so the rerun completes the ingest.

A rerun with the same media sha256, ruleset id and version, engine version and
verification inputs (:func:`verification_inputs`: the sale metadata less the
retention-only dates, and the separate audio file) is a skip (unless the earlier run's
verdict was ``error``: that is retried). A sidecar changed only in its retention dates
(e.g. a ``redemption_date`` that arrived for an open-ended product) updates the
metadata and recomputes the retention date; any other change (a risk level, the
product) is verified again, since the verdict depends on it.

Stored media is never replaced, with one exception: a recording never verified (every
run's verdict ``error``, e.g. a file cut short while it was being copied) takes a
re-delivered file under its id; the old file stays in the vault, listed in
``replaced_media`` and in the audit log, and is purged with the recording.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import audit
from storage.db import BadInput, Store, StoreError, current_actor
from storage.models import (Finding, Recording, ReplacedMedia, TranscriptSegment,
                            VaultObject, VerificationRun, utcnow)
from storage.retention import (Facts, Retention, apply_retention, compute, facts_from_sidecar,
                               load_policy, sync_object_lock, _active_holds)
from storage.vault import StoredObject, VaultError, sha256_of_file
from verifier.privacy import Secret, mask_secrets
from verifier.privacy import personal_secrets as privacy_secrets

log = logging.getLogger(__name__)

VERDICTS = ("pass", "fail", "review", "error")
CRASH_ENV = "DUALREC_CRASH_AT"  # test hook: SIGKILL this process at a named step


def _crash_point(step: str) -> None:
    """Tests of crash safety kill the process here (env DUALREC_CRASH_AT=<step>)."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class IngestResult:
    recording_id: str
    status: str  # stored | skipped | updated | reverified | replaced
    verdict: str | None
    sha256: str
    run_id: int | None
    retention_until: str | None
    retention_basis: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"recording_id": self.recording_id, "status": self.status,
                "verdict": self.verdict, "sha256": self.sha256, "run_id": self.run_id,
                "retention_until": self.retention_until,
                "retention_basis": self.retention_basis, "warnings": self.warnings}


# --------------------------------------------------------------------------- inputs


def _load_sidecar(sidecar, media_path: Path):
    """(Sidecar, raw bytes, file name) from a Sidecar, a path or a dict."""
    from verifier.sidecar import Sidecar, SidecarError, load_sidecar

    try:
        if isinstance(sidecar, Sidecar):
            sc = sidecar
        elif isinstance(sidecar, (str, os.PathLike)):
            sc = load_sidecar(media_path, sidecar)
        elif isinstance(sidecar, dict):
            sc = Sidecar.from_dict(sidecar)
        elif sidecar is None:
            sc = load_sidecar(media_path)
        else:
            raise BadInput(f"sidecar: unsupported type {type(sidecar).__name__}")
    except SidecarError as exc:
        raise BadInput(str(exc)) from None
    if sc.source_path is not None and Path(sc.source_path).is_file():
        raw = Path(sc.source_path).read_bytes()
        name = Path(sc.source_path).name
    elif isinstance(sidecar, dict):
        raw = json.dumps(sidecar, ensure_ascii=False, indent=1).encode("utf-8")
        name = media_path.stem + ".json"
    else:
        raw = json.dumps(sc.model_dump(mode="json"), ensure_ascii=False,
                         indent=1).encode("utf-8")
        name = media_path.stem + ".json"
    audio = sc.audio_path
    if audio is None and sc.audio_file:
        base = Path(sc.source_path).parent if sc.source_path else media_path.parent
        audio = (base / sc.audio_file).resolve()
        if not audio.is_file():
            raise BadInput(f"sidecar: audio_file: file not found: {sc.audio_file}")
    return sc, raw, name, audio


def _check_report(report: dict[str, Any], recording_id: str, sha: str) -> None:
    if not isinstance(report, dict):
        raise BadInput("report must be a JSON object (CONTRACT section 4)")
    if report.get("verdict") not in VERDICTS:
        raise BadInput(f"report: verdict must be one of {', '.join(VERDICTS)}, "
                       f"got {report.get('verdict')!r}")
    if not isinstance(report.get("checks"), list):
        raise BadInput("report: checks must be a list")
    for i, c in enumerate(report["checks"]):
        if not isinstance(c, dict) or not c.get("id") or not c.get("status"):
            raise BadInput(f"report: checks[{i}] needs an id and a status")
    if not isinstance(report.get("transcript", []), list):
        raise BadInput("report: transcript must be a list")
    if report.get("sha256") not in (None, sha):
        raise BadInput(f"report: sha256 {report['sha256']} is not the media's ({sha}): "
                       "the report is about another file")
    if report.get("recording_id") not in (None, recording_id):
        raise BadInput(f"report: recording_id {report['recording_id']!r} is not the "
                       f"sidecar's {recording_id!r}")


def scrub(value: Any, secrets: tuple[Secret, ...]) -> Any:
    """Mask every occurrence of personal data (`secrets`, verifier.privacy) in a JSON
    document: a report from elsewhere may carry the customer's ID or name in clear."""
    if not secrets:
        return value
    if isinstance(value, str):
        return mask_secrets(value, secrets)
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    return value


def personal_secrets(sc) -> tuple[Secret, ...]:
    """The sidecar's customer ID number and name, to mask wherever they turn up."""
    return privacy_secrets(sc.customer_id, sc.customer_name)


def _skip_key(report: dict[str, Any]) -> tuple[str | None, str | None, str]:
    rs = report.get("ruleset") or {}
    engine = report.get("engine") or {}
    return rs.get("id"), rs.get("version"), str(engine.get("version") or "unknown")


# Sidecar fields that only the retention reads: no check looks at them, so a change to
# them (an open-ended product's redemption date arriving) needs no new verification.
RETENTION_ONLY_FIELDS = frozenset({"maturity_date", "redemption_date"})


def verification_inputs(sc, audio_sha256: str | None) -> str:
    """sha256 of what a verdict depends on besides the media and the ruleset: the sale
    metadata (less RETENTION_ONLY_FIELDS) and the separate audio file."""
    data = {k: v for k, v in sc.model_dump(mode="json").items()
            if k not in RETENTION_ONLY_FIELDS}
    text = json.dumps({"sidecar": data, "audio_sha256": audio_sha256}, sort_keys=True,
                      ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def audio_sha256(sc) -> str | None:
    """sha256 of the sidecar's separate audio file (None: the sound is in the video)."""
    if sc.audio_path is None:
        return None
    return sha256_of_file(sc.audio_path)[0]


def sidecar_sha256(sc) -> str | None:
    """sha256 of the sidecar file as read (None: a sidecar given as data)."""
    if sc.source_path is None or not Path(sc.source_path).is_file():
        return None
    return hashlib.sha256(Path(sc.source_path).read_bytes()).hexdigest()


def find_reusable_run(s: Session, rec: Recording, sha: str, ruleset_id: str | None,
                      ruleset_version: str | None, engine_version: str,
                      inputs_sha256: str, sidecar_sha: str | None = None
                      ) -> VerificationRun | None:
    """A stored run that makes verifying again pointless: same media, ruleset (id and
    version), engine version and verification inputs, and a verdict other than error.
    A run stored before its inputs were recorded (migration 0004) counts while it is
    the current run and the sidecar is byte for byte the stored one."""
    if ruleset_id is None:
        return None
    same_inputs = VerificationRun.inputs_sha256 == inputs_sha256
    if sidecar_sha is not None and sidecar_sha == rec.sidecar_sha256 and rec.current_run_id:
        same_inputs = same_inputs | (VerificationRun.inputs_sha256.is_(None)
                                     & (VerificationRun.id == rec.current_run_id))
    return s.scalars(select(VerificationRun).where(
        VerificationRun.recording_pk == rec.id, VerificationRun.media_sha256 == sha,
        VerificationRun.ruleset_id == ruleset_id,
        VerificationRun.ruleset_version == ruleset_version,
        VerificationRun.engine_version == engine_version, same_inputs,
        VerificationRun.verdict != "error").order_by(VerificationRun.id.desc())).first()


def _describe(rec: Recording, sha: str, audio_sha: str | None) -> tuple[str, str | None]:
    if rec.sha256 != sha:
        return "media file", rec.sha256
    return "audio file", rec.audio_sha256


def _other_sale(store: Store, rec: Recording, sc) -> list[str]:
    """What says a sidecar is another sale than the stored recording's (a re-delivery
    is the same sale: customer, time, product, branch and seller)."""
    differ = [name for name, same in (
        ("customer", rec.customer_key == store.customer_key(sc.customer_id)),
        ("sale_time", rec.sale_time == sc.sale_time),
        ("product_code", rec.product_code == sc.product_code),
        ("branch_id", rec.branch_id == sc.branch_id),
        ("staff_id", rec.staff_id == sc.staff_id)) if not same]
    return differ


def check_redelivery(s: Session, store: Store, rec: Recording, sc, sha: str,
                     audio_sha: str | None) -> bool:
    """Whether files for an already stored recording replace its stored ones: False
    when they are the same files; True when they differ, the recording was never
    verified (only error verdicts) and the sidecar is the same sale, so a re-delivery
    may take its place; otherwise BadInput (stored evidence is never replaced)."""
    if not rec.media_present:
        raise BadInput(f"{rec.recording_id}: its media was purged on "
                       f"{rec.purged_at:%Y-%m-%d} when its retention ended; "
                       "it is not stored again")
    if rec.sha256 == sha and rec.audio_sha256 == audio_sha:
        return False
    what, stored = _describe(rec, sha, audio_sha)
    verified = s.scalar(select(func.count()).select_from(VerificationRun).where(
        VerificationRun.recording_pk == rec.id, VerificationRun.verdict != "error"))
    if verified:
        raise BadInput(f"{rec.recording_id}: the store already holds a different {what} "
                       f"under this recording id (sha256 {stored}), verified with "
                       f"verdict {rec.verdict}; stored recordings are never replaced")
    other = _other_sale(store, rec, sc)
    if other:
        raise BadInput(f"{rec.recording_id}: the store holds another sale under this "
                       f"recording id ({', '.join(other)} differ) with a different {what}: "
                       "a re-delivery must be the same sale; give this recording its "
                       "own recording_id")
    if _active_holds(s, rec.id):
        raise BadInput(f"{rec.recording_id}: the store holds a different {what} under "
                       f"this recording id (sha256 {stored}) and a legal hold covers it: "
                       "it is not replaced while the hold lasts")
    return True


def redelivery_problem(store: Store, sc, sha: str, audio_sha: str | None) -> str | None:
    """Why these files cannot be stored under the sidecar's recording id (checked
    before running the models); None: they can. The same files of a purged recording
    are left to the skip (a purged recording still in the inbox is no error)."""
    with store.session() as s:
        rec = s.scalars(select(Recording).where(
            Recording.recording_id == sc.recording_id)).first()
        if rec is None or (not rec.media_present and rec.sha256 == sha
                           and rec.audio_sha256 == audio_sha):
            return None
        try:
            check_redelivery(s, store, rec, sc, sha, audio_sha)
        except BadInput as exc:
            return str(exc)
    return None


# Error reports of these checks come from the machine, not the recording (a model
# missing): verifying again may succeed. Other error reports are about the file itself
# and say the same thing every time.
TRANSIENT_ERROR_CHECKS = frozenset({"engine.models"})


def is_transient_error(report: dict[str, Any]) -> bool:
    return report.get("verdict") == "error" and any(
        c.get("status") == "error" and c.get("id") in TRANSIENT_ERROR_CHECKS
        for c in report.get("checks") or [])


@dataclass
class StoredResult:
    """A stored run for a recording's media, audio, ruleset, engine and inputs."""
    report: dict[str, Any]
    verdict: str
    sidecar_sha256: str
    run_id: int
    current: bool  # the recording's current run (else an earlier one to reinstate)


def stored_result(store: Store, sc, sha: str, ruleset_id: str, ruleset_version: str,
                  engine_version: str, audio_sha: str | None = None) -> StoredResult | None:
    """The stored run the batch can reuse instead of running the models: same media,
    audio, ruleset (id and version), engine version and verification inputs. The
    current run counts whatever its verdict, unless the error came from the machine
    (TRANSIENT_ERROR_CHECKS); an earlier run (the sidecar went back to earlier values)
    counts unless its verdict is error."""
    inputs = verification_inputs(sc, audio_sha)
    side_sha = sidecar_sha256(sc)
    with store.session() as s:
        rec = s.scalars(select(Recording).where(
            Recording.recording_id == sc.recording_id)).first()
        if (rec is None or rec.sha256 != sha or rec.audio_sha256 != audio_sha
                or rec.current_run_id is None):
            return None
        run = s.get(VerificationRun, rec.current_run_id)
        legacy = run.inputs_sha256 is None and side_sha == rec.sidecar_sha256
        if ((run.media_sha256, run.ruleset_id, run.ruleset_version, run.engine_version)
                == (sha, ruleset_id, ruleset_version, engine_version)
                and (run.inputs_sha256 == inputs or legacy)
                and not is_transient_error(run.report_json)):
            return StoredResult(run.report_json, run.verdict, rec.sidecar_sha256, run.id, True)
        other = find_reusable_run(s, rec, sha, ruleset_id, ruleset_version, engine_version,
                                  inputs)
        if other is None:
            return None
        return StoredResult(other.report_json, other.verdict, rec.sidecar_sha256, other.id,
                            False)


def reusable_report(store: Store, sc, sha: str, ruleset_id: str, ruleset_version: str,
                    engine_version: str) -> dict[str, Any] | None:
    """For `dualrec ingest`: the stored report that makes running the models pointless
    (same media, audio, ruleset, engine, inputs; verdict not error), or None."""
    audio_sha = audio_sha256(sc)
    with store.session() as s:
        rec = s.scalars(select(Recording).where(
            Recording.recording_id == sc.recording_id)).first()
        if rec is None or rec.sha256 != sha or rec.audio_sha256 != audio_sha:
            return None
        run = find_reusable_run(s, rec, sha, ruleset_id, ruleset_version, engine_version,
                                verification_inputs(sc, audio_sha), sidecar_sha256(sc))
        return None if run is None else run.report_json


# --------------------------------------------------------------------------- writing


def _metadata_columns(store: Store, sc, sidecar_masked: dict, retention: Retention,
                      facts: Facts) -> dict[str, Any]:
    from verifier.privacy import mask_id, mask_name

    return dict(
        sidecar_json=sidecar_masked,
        branch_id=sc.branch_id, staff_id=sc.staff_id,
        customer_id=sc.customer_id, customer_id_masked=mask_id(sc.customer_id),
        customer_key=store.customer_key(sc.customer_id),
        customer_name=sc.customer_name, customer_name_masked=mask_name(sc.customer_name),
        product_code=sc.product_code, product_name=sc.product_name,
        product_category=sc.product_category, product_risk_level=sc.product_risk_level,
        customer_risk_level=sc.customer_risk_level,
        sale_time=sc.sale_time, sale_date=facts.sale_date,
        maturity_date=sc.maturity_date, redemption_date=facts.redemption_date,
    )


def _vault_row(s: Session, obj: StoredObject, kind: str) -> None:
    row = s.get(VaultObject, obj.sha256)
    if row is None:
        s.add(VaultObject(sha256=obj.sha256, key=obj.key, size=obj.size, kind=kind,
                          encrypted=obj.encrypted, state="present", stored_at=utcnow()))
    elif row.state != "present":
        row.state, row.deleted_at, row.encrypted = "present", None, obj.encrypted


def _add_run(s: Session, rec: Recording, report: dict[str, Any], sha: str, inputs_sha: str,
             actor: str) -> VerificationRun:
    from verifier.textnorm import normalize

    ruleset_id, ruleset_version, engine_version = _skip_key(report)
    engine = report.get("engine") or {}
    text = json.dumps(report, sort_keys=True, ensure_ascii=False)
    run = VerificationRun(
        recording_pk=rec.id, media_sha256=sha, ruleset_id=ruleset_id,
        ruleset_version=ruleset_version, engine_version=engine_version,
        asr_model=engine.get("asr_model"), face_detector=engine.get("face_detector"),
        verdict=report["verdict"], duration_s=report.get("duration_s"),
        report_json=report, report_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        inputs_sha256=inputs_sha, actor=actor, created_at=utcnow())
    s.add(run)
    s.flush()
    for c in report["checks"]:
        s.add(Finding(run_id=run.id, check_id=str(c["id"]), status=str(c["status"]),
                      severity=str(c.get("severity") or "minor"),
                      message=str(c.get("message") or ""),
                      evidence=list(c.get("evidence") or []), items=c.get("items")))
    segments = []
    for i, seg in enumerate(report.get("transcript") or []):
        text = str(seg.get("text") or "")
        segments.append(dict(recording_pk=rec.id, run_id=run.id, seq=i,
                             start_s=float(seg.get("start_s") or 0.0),
                             end_s=float(seg.get("end_s") or seg.get("start_s") or 0.0),
                             speaker=seg.get("speaker"), text=text,
                             text_norm=normalize(text) if text else ""))
    if segments:
        s.execute(TranscriptSegment.__table__.insert(), segments)
    rec.current_run_id = run.id
    rec.verdict = run.verdict
    return run


# Sale metadata a verdict turns on (the ruleset chosen, the risk levels compared, the
# sound used): a report made with other values is about another sale.
VERDICT_FIELDS = ("recording_id", "product_code", "product_category", "product_risk_level",
                  "customer_risk_level", "ruleset", "audio_file", "audio_offset_s",
                  "audio_channels")


def _check_report_metadata(report: dict[str, Any], sc) -> None:
    """A report records the sale metadata it was made with (CONTRACT section 4,
    `metadata`): where it says, it must agree with this sidecar (a report the store
    saved has personal data masked in it: that counts as agreeing)."""
    made_with = report.get("metadata")
    if not isinstance(made_with, dict):
        return  # a report from elsewhere that does not say
    now = sc.model_dump(mode="json")
    secrets = personal_secrets(sc)
    differ = [k for k in VERDICT_FIELDS if k in made_with
              and made_with[k] not in (now.get(k), scrub(now.get(k), secrets))]
    if differ:
        raise BadInput(f"report: it was made with other sale metadata ({', '.join(differ)} "
                       "not the sidecar's): verify the recording again with this sidecar")


def store_recording(store: Store, media_path: str | os.PathLike, sidecar, report_dict: dict,
                    actor: str | None = None) -> IngestResult:
    """Vault the media (and separate audio) and sidecar, then record the recording, its
    verification run, findings, transcript, retention and audit entries in one
    transaction. Safe to rerun after a crash at any point."""
    actor = actor or current_actor()
    media_path = Path(media_path)
    if not media_path.is_file():
        raise BadInput(f"{media_path}: media file " +
                       ("is a folder" if media_path.is_dir() else "does not exist"))
    sc, sidecar_raw, sidecar_name, audio_path = _load_sidecar(sidecar, media_path)
    sha, size = sha256_of_file(media_path)
    audio_sha = sha256_of_file(audio_path)[0] if audio_path is not None else None
    _check_report(report_dict, sc.recording_id, sha)
    _check_report_metadata(report_dict, sc)
    inputs_sha = verification_inputs(sc, audio_sha)
    secrets = personal_secrets(sc)
    report = scrub(report_dict, secrets)
    sidecar_masked = scrub(sc.masked_dump(), secrets)
    facts = facts_from_sidecar(sc)
    retention = compute(facts, load_policy())
    sidecar_sha = hashlib.sha256(sidecar_raw).hexdigest()

    # Refuse before writing anything: other files under a verified id, purged media.
    with store.session() as s:
        existing = s.scalars(select(Recording).where(
            Recording.recording_id == sc.recording_id)).first()
        if existing is not None and not check_redelivery(s, store, existing, sc, sha,
                                                         audio_sha):
            reusable = find_reusable_run(s, existing, sha, *_skip_key(report), inputs_sha,
                                         sidecar_sha)
            if (reusable is not None and reusable.id == existing.current_run_id
                    and existing.sidecar_sha256 == sidecar_sha):
                return IngestResult(sc.recording_id, "skipped", existing.verdict, sha,
                                    existing.current_run_id,
                                    existing.retention_until.isoformat()
                                    if existing.retention_until else None,
                                    existing.retention_basis)

    # 1. The vault: idempotent, write-once.
    try:
        media_obj = store.vault.put_file(media_path, expected_sha256=sha,
                                         retain_until=retention.until)
        _crash_point("after-media")
        audio_obj = (store.vault.put_file(audio_path, expected_sha256=audio_sha,
                                          retain_until=retention.until)
                     if audio_path is not None else None)
        sidecar_obj = store.vault.put_bytes(sidecar_raw, retain_until=retention.until)
    except VaultError as exc:
        raise StoreError(f"{sc.recording_id}: vault: {exc}") from None
    except OSError as exc:
        raise StoreError(f"{sc.recording_id}: cannot read {exc.filename}: {exc.strerror}") from None
    _crash_point("after-vault")

    # 2. The database, in one transaction (retried once if a concurrent ingest of the
    #    same recording won the race for the row).
    for attempt in (1, 2):
        try:
            result, holds = _write_rows(store, sc, report, sha, size, inputs_sha, media_path,
                                        audio_path, sidecar_name, media_obj, audio_obj,
                                        sidecar_obj, sidecar_masked, retention, facts, actor)
            break
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("%s: stored concurrently by another process; retrying", sc.recording_id)
    if result.status != "skipped" and store.vault.enforces_locks:
        with store.session() as s:
            rec = s.scalars(select(Recording).where(
                Recording.recording_id == sc.recording_id)).one()
        result.warnings += sync_object_lock(store, rec, holds)
    return result


def _replace_media(s: Session, rec: Recording, sha: str, size: int, media_path: Path,
                   media_obj: StoredObject, audio_obj: StoredObject | None,
                   actor: str) -> list[dict[str, Any]]:
    """Point a never-verified recording at its re-delivered files; the old ones are
    listed in replaced_media (kept, and purged with the recording)."""
    gone = []
    if rec.sha256 != sha:
        gone.append(("media", rec.sha256, rec.media_key, rec.media_name))
    new_audio = audio_obj.sha256 if audio_obj else None
    if rec.audio_sha256 and rec.audio_sha256 != new_audio:
        gone.append(("audio", rec.audio_sha256, rec.audio_key, rec.audio_name))
    for kind, old_sha, key, name in gone:
        s.add(ReplacedMedia(recording_pk=rec.id, kind=kind, sha256=old_sha, key=key,
                            name=name, run_id=rec.current_run_id, replaced_at=utcnow(),
                            actor=actor))
    rec.sha256, rec.media_key = sha, media_obj.key
    rec.media_name, rec.media_bytes = media_path.name, size
    return [{"kind": kind, "sha256": old_sha, "key": key} for kind, old_sha, key, _ in gone]


def _write_rows(store, sc, report, sha, size, inputs_sha, media_path, audio_path, sidecar_name,
                media_obj, audio_obj, sidecar_obj, sidecar_masked, retention, facts, actor):
    with store.session() as s:
        rec = s.execute(select(Recording).where(Recording.recording_id == sc.recording_id)
                        .with_for_update()).scalar_one_or_none()
        columns = _metadata_columns(store, sc, sidecar_masked, retention, facts)
        files = dict(sidecar_sha256=sidecar_obj.sha256, sidecar_key=sidecar_obj.key,
                     sidecar_name=sidecar_name,
                     audio_sha256=audio_obj.sha256 if audio_obj else None,
                     audio_key=audio_obj.key if audio_obj else None,
                     audio_name=audio_path.name if audio_path else None)
        _vault_row(s, media_obj, "media")
        if audio_obj is not None:
            _vault_row(s, audio_obj, "audio")
        _vault_row(s, sidecar_obj, "sidecar")
        created = rec is None
        updated = reverified = replaced = False
        run = None
        if created:
            rec = Recording(recording_id=sc.recording_id, sha256=sha, media_key=media_obj.key,
                            media_name=media_path.name, media_bytes=size, media_present=True,
                            created_at=utcnow(), **columns, **files)
            apply_retention(rec, retention)
            s.add(rec)
            s.flush()
            audit.append(s, actor, "ingest", rec.recording_id, {
                "sha256": sha, "bytes": size, "media": media_obj.key,
                "audio": audio_obj.key if audio_obj else None, "sidecar": sidecar_obj.key,
                "vault": store.vault.describe(), "encrypted": media_obj.encrypted,
                **retention.as_dict()})
        else:
            # Before anything changes: a run made with these very inputs (and, for a run
            # stored before inputs were recorded, with the sidecar still stored).
            run = find_reusable_run(s, rec, sha, *_skip_key(report), inputs_sha,
                                    sidecar_obj.sha256)
            # Checked again under the row lock: a concurrent ingest may have verified it.
            if check_redelivery(s, store, rec, sc, sha, files["audio_sha256"]):
                gone = _replace_media(s, rec, sha, size, media_path, media_obj, audio_obj,
                                      actor)
                replaced = True
                audit.append(s, actor, "ingest", rec.recording_id, {
                    "result": "media-replaced", "replaced": gone, "sha256": sha,
                    "bytes": size, "media": media_obj.key,
                    "audio": audio_obj.key if audio_obj else None,
                    "why": "never verified: its runs all had verdict error"})
            updated = rec.sidecar_sha256 != sidecar_obj.sha256
            before = (rec.retention_until.isoformat() if rec.retention_until else None,
                      rec.retention_basis)
            if replaced or updated:
                for k, v in {**columns, **files}.items():
                    setattr(rec, k, v)
                apply_retention(rec, retention)
            if updated:
                audit.append(s, actor, "ingest", rec.recording_id, {
                    "result": "metadata-updated", "sidecar": sidecar_obj.key,
                    "retention_before": {"retention_until": before[0],
                                         "retention_basis": before[1]},
                    **retention.as_dict()})
        if run is None:
            reverified = not created
            run = _add_run(s, rec, report, sha, inputs_sha, actor)
            audit.append(s, actor, "verify", rec.recording_id, {
                "run_id": run.id, "verdict": run.verdict,
                "ruleset": {"id": run.ruleset_id, "version": run.ruleset_version},
                "engine": {"version": run.engine_version, "asr_model": run.asr_model,
                           "face_detector": run.face_detector},
                "report_sha256": run.report_sha256})
        elif run.id != rec.current_run_id:
            # The sale metadata went back to values an earlier run was made with: that
            # run's verdict is the recording's again (no models needed).
            previous = (rec.current_run_id, rec.verdict)
            rec.current_run_id, rec.verdict = run.id, run.verdict
            updated = True
            audit.append(s, actor, "verify", rec.recording_id, {
                "run_id": run.id, "verdict": run.verdict, "reinstated": True,
                "previous": {"run_id": previous[0], "verdict": previous[1]},
                "report_sha256": run.report_sha256})
        status = ("stored" if created else "replaced" if replaced
                  else "reverified" if reverified else "updated" if updated else "skipped")
        holds = len(_active_holds(s, rec.id))
        _crash_point("before-commit")
        result = IngestResult(rec.recording_id, status, rec.verdict, sha, rec.current_run_id,
                              rec.retention_until.isoformat() if rec.retention_until else None,
                              rec.retention_basis)
    return result, holds
