"""Retention: how long a recording's media must be kept, legal holds, and the sweep
that purges media whose time has passed.

The policy is data (``configs/retention.yaml``, or env DUALREC_RETENTION_CONFIG): a list
of rules, each giving a date; a recording's ``retention_until`` is the latest date of
every rule that applies (DOMAIN.md "Retention": "the maximum of every rule that
applies"), and ``retention_basis`` names the rule that set it. A rule whose starting
date is not known yet (an open-ended product before its redemption) keeps the recording
indefinitely (``retention_until`` null).

The sweep purges media only when ``as_of`` is after ``retention_until`` and no legal
hold is active; the recording row (metadata, hashes, findings, transcript) stays as a
tombstone, and every purge is recorded (``purge_records``) and audited.
"""
from __future__ import annotations

import calendar
import logging
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from verifier.privacy import mask_secrets
from verifier.yamlfile import load_yaml, validate
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from storage import audit
from storage.db import BadInput, NotFound, Store, StoreError, current_actor
from storage.models import (LegalHold, PurgeRecord, Recording, ReplacedMedia, VaultObject,
                            utcnow)
from storage.vault import VaultError, VaultLocked

log = logging.getLogger(__name__)

ANCHORS = ("sale_date", "maturity_date", "redemption_date", "end_date")


# --------------------------------------------------------------------------- dates


def add_months(d: date, months: int) -> date:
    """Calendar months, clamped to the end of the month: 2026-08-31 + 6 = 2027-02-28,
    2027-08-31 + 6 = 2028-02-29."""
    index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    years: int = Field(default=0, ge=0, le=200)
    months: int = Field(default=0, ge=0, le=2400)
    days: int = Field(default=0, ge=0, le=100000)

    def after(self, d: date) -> date:
        return add_months(d, self.years * 12 + self.months) + timedelta(days=self.days)

    def __str__(self) -> str:
        parts = [(self.years, "year"), (self.months, "month"), (self.days, "day")]
        text = " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n)
        return text or "0 days"


# --------------------------------------------------------------------------- policy


class When(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    product_category: list[str] | None = None
    open_ended: bool | None = None
    term_at_most: Period | None = None
    term_longer_than: Period | None = None
    sidecar: dict[str, Any] | None = None


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    id: str = Field(min_length=1, max_length=64)
    text: str = ""
    from_: Literal["sale_date", "maturity_date", "redemption_date", "end_date"] = Field(alias="from")
    add: Period
    when: When = Field(default_factory=When)
    until_known: bool = False


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = Field(min_length=1, max_length=64)
    rules: list[Rule] = Field(min_length=1)

    @field_validator("policy", mode="before")
    @classmethod
    def _str(cls, v):
        return str(v) if isinstance(v, (int, float)) else v

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules):
        seen = set()
        for r in rules:
            if r.id in seen:
                raise ValueError(f"rule id {r.id!r} appears twice")
            seen.add(r.id)
        return rules


def policy_path() -> Path:
    env = os.environ.get("DUALREC_RETENTION_CONFIG")
    if env:
        return Path(env).expanduser()
    from verifier.config import CONFIGS_DIR
    return CONFIGS_DIR / "retention.yaml"


_POLICY_CACHE: dict[tuple[str, int, int], Policy] = {}


def load_policy(path: str | Path | None = None) -> Policy:
    """The retention policy (validated); cached while the file is unchanged."""
    path = Path(path) if path else policy_path()
    try:
        st = path.stat()
    except OSError:
        st = None
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size) if st else None
    if key in _POLICY_CACHE:
        return _POLICY_CACHE[key]
    policy = _read_policy(path)
    if key is not None:
        _POLICY_CACHE.clear()
        _POLICY_CACHE[key] = policy
    return policy


def _read_policy(path: Path) -> Policy:
    data = load_yaml(path, "retention policy", StoreError)
    return validate(Policy, data, f"retention policy {path}", StoreError)


# --------------------------------------------------------------------------- computing


@dataclass(frozen=True)
class Facts:
    """What retention depends on."""
    product_category: str
    sale_date: date
    maturity_date: date | None
    redemption_date: date | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other sidecar fields

    @property
    def end_date(self) -> date | None:
        known = [d for d in (self.maturity_date, self.redemption_date) if d is not None]
        return max(known) if known else None

    def anchor(self, name: str) -> date | None:
        return getattr(self, name)


@dataclass(frozen=True)
class Retention:
    until: date | None  # None: indefinitely (a date is not known yet)
    basis: str
    rules: list[dict[str, Any]]
    policy: str

    def as_dict(self) -> dict[str, Any]:
        return {"retention_until": self.until.isoformat() if self.until else None,
                "retention_basis": self.basis, "policy": self.policy}


def _applies(rule: Rule, f: Facts) -> bool:
    w = rule.when
    if w.product_category is not None and f.product_category not in w.product_category:
        return False
    if w.open_ended is not None and (f.maturity_date is None) != w.open_ended:
        return False
    end = f.end_date
    if w.term_at_most is not None and (end is None or end > w.term_at_most.after(f.sale_date)):
        return False
    if w.term_longer_than is not None and end is not None \
            and end <= w.term_longer_than.after(f.sale_date):
        return False
    if w.sidecar:
        for key, value in w.sidecar.items():
            if f.extra.get(key) != value:
                return False
    return True


def compute(facts: Facts, policy: Policy) -> Retention:
    """The latest date of every applicable rule; ties go to the earlier rule."""
    results: list[dict[str, Any]] = []
    best: tuple[date | None, str] | None = None  # None date = indefinitely
    for rule in policy.rules:
        if not _applies(rule, facts):
            continue
        start = facts.anchor(rule.from_)
        if start is None:
            if not rule.until_known:
                continue  # a rule that cannot be dated does not apply
            basis = f"{rule.id}: {rule.from_} not known yet; kept until it is"
            results.append({"rule": rule.id, "until": None, "from": rule.from_,
                            "start": None, "add": str(rule.add)})
            if best is None or best[0] is not None:
                best = (None, basis)
            continue
        until = rule.add.after(start)
        results.append({"rule": rule.id, "until": until.isoformat(), "from": rule.from_,
                        "start": start.isoformat(), "add": str(rule.add)})
        basis = f"{rule.id}: {rule.from_} {start.isoformat()} + {rule.add}"
        if best is None or (best[0] is not None and until > best[0]):
            best = (until, basis)
    if best is None:
        return Retention(None, "no-rule: no retention rule applies; kept indefinitely",
                         results, policy.policy)
    return Retention(best[0], best[1], results, policy.policy)


def parse_redemption(value: Any, sale: date) -> date | None:
    """The optional sidecar field ``redemption_date`` (ISO date or null)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"sidecar: redemption_date: must be an ISO date (YYYY-MM-DD) or null, "
                       f"got {type(value).__name__}")
    try:
        d = date.fromisoformat(value.strip())
    except ValueError:
        raise BadInput(f"sidecar: redemption_date: must be an ISO date (YYYY-MM-DD), "
                       f"got {value[:40]!r}") from None
    if d < sale:
        raise BadInput(f"sidecar: redemption_date: {d.isoformat()} is before the sale date "
                       f"{sale.isoformat()}")
    return d


CORE_FIELDS = {"recording_id", "branch_id", "staff_id", "customer_id", "customer_name",
               "product_code", "product_name", "product_category", "product_risk_level",
               "customer_risk_level", "sale_time", "maturity_date", "audio_file",
               "audio_offset_s", "audio_channels", "ruleset", "redemption_date"}


def facts_from_sidecar(sidecar) -> Facts:
    sale = sidecar.sale_time.date()
    data = sidecar.model_dump(mode="json")
    extra = {k: v for k, v in data.items() if k not in CORE_FIELDS}
    return Facts(sidecar.product_category, sale, sidecar.maturity_date,
                 parse_redemption(data.get("redemption_date"), sale), extra)


def facts_from_recording(rec: Recording) -> Facts:
    extra = {k: v for k, v in (rec.sidecar_json or {}).items() if k not in CORE_FIELDS}
    return Facts(rec.product_category, rec.sale_date, rec.maturity_date, rec.redemption_date,
                 extra)


# --------------------------------------------------------------------------- object locks


def lock_objects(rec: Recording) -> list[str]:
    return [sha for sha, _ in _media_objects(rec) if sha] + [rec.sidecar_sha256]


def sync_object_lock(store: Store, rec: Recording, active_holds: int) -> list[str]:
    """Bring the vault's own locks (S3 Object Lock) in line with the database: legal
    hold on while a hold is active or retention is indefinite; retention extended to
    retention_until. Returns warnings (the database stays the authority)."""
    if not store.vault.enforces_locks:
        return []
    warnings = []
    shas = lock_objects(rec) if rec.media_present else [rec.sidecar_sha256]
    for sha in shas:
        try:
            if rec.retention_until is not None:
                store.vault.extend_retention(sha, rec.retention_until)
            store.vault.set_legal_hold(sha, active_holds > 0 or rec.retention_until is None)
        except VaultError as exc:
            warnings.append(f"{rec.recording_id}: vault lock not updated: {exc}")
            log.warning("%s", warnings[-1])
    return warnings


# --------------------------------------------------------------------------- holds


def _recording_for_update(s: Session, recording_id: str) -> Recording:
    rec = s.execute(select(Recording).where(Recording.recording_id == recording_id)
                    .with_for_update()).scalar_one_or_none()
    if rec is None:
        raise NotFound(f"no recording {recording_id!r} in the store")
    return rec


def _active_holds(s: Session, rec_pk: int) -> list[LegalHold]:
    return list(s.scalars(select(LegalHold).where(LegalHold.recording_pk == rec_pk,
                                                  LegalHold.released_at.is_(None))))


def _check_text(name: str, value: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise BadInput(f"{name} must not be empty")
    if len(value) > limit:
        raise BadInput(f"{name} is too long ({len(value)} characters; at most {limit})")
    return value


@dataclass
class HoldResult:
    recording_id: str
    case: str
    changed: bool
    placed_at: datetime | None
    released_at: datetime | None
    active_holds: int
    warnings: list[str] = field(default_factory=list)


def place_hold(store: Store, recording_id: str, case: str, reason: str,
               actor: str | None = None) -> HoldResult:
    """Legal hold (dispute, complaint, regulator request): blocks purging whatever the
    date. Placing the same case again is a no-op."""
    actor = actor or current_actor()
    case = _check_text("--case", case, 128)
    reason = _check_text("--reason", reason, 2000)
    with store.session() as s:
        rec = _recording_for_update(s, recording_id)
        # free text goes into the audit log, which never holds the customer in clear
        reason = mask_secrets(reason, rec.personal)
        active = _active_holds(s, rec.id)
        existing = next((h for h in active if h.case_id == case), None)
        if existing is not None:
            return HoldResult(recording_id, case, False, existing.placed_at, None, len(active))
        hold = LegalHold(recording_pk=rec.id, case_id=case, reason=reason, placed_by=actor,
                         placed_at=utcnow())
        s.add(hold)
        s.flush()
        audit.append(s, actor, "hold", recording_id,
                     {"case": case, "reason": reason, "hold_id": hold.id,
                      "media_present": rec.media_present})
        count = len(active) + 1
    warnings = sync_object_lock(store, rec, count)
    return HoldResult(recording_id, case, True, hold.placed_at, None, count, warnings)


def release_hold(store: Store, recording_id: str, case: str, actor: str | None = None,
                 reason: str | None = None) -> HoldResult:
    actor = actor or current_actor()
    case = _check_text("--case", case, 128)
    with store.session() as s:
        rec = _recording_for_update(s, recording_id)
        active = _active_holds(s, rec.id)
        hold = next((h for h in active if h.case_id == case), None)
        if hold is None:
            raise BadInput(f"{recording_id}: no active legal hold for case {case!r}")
        hold.released_at = utcnow()
        hold.released_by = actor
        hold.release_reason = mask_secrets((reason or "").strip(), rec.personal) or None
        audit.append(s, actor, "release", recording_id,
                     {"case": case, "hold_id": hold.id, "reason": hold.release_reason,
                      "active_holds_left": len(active) - 1})
        count = len(active) - 1
    warnings = sync_object_lock(store, rec, count)
    return HoldResult(recording_id, case, True, hold.placed_at, hold.released_at, count, warnings)


# --------------------------------------------------------------------------- sweep


@dataclass
class SweepResult:
    as_of: date
    dry_run: bool
    purged: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    kept: int = 0
    bytes_removed: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "dry_run": self.dry_run,
                "purged": self.purged, "held": self.held, "kept": self.kept,
                "bytes_removed": self.bytes_removed, "errors": self.errors}


def _finish_deletions(store: Store, result: SweepResult) -> None:
    """Vault deletions that a purge committed but did not finish (a crash, a refusal)."""
    with store.session() as s:
        pending = list(s.scalars(select(VaultObject).where(VaultObject.state == "deleting")))
    for obj in pending:
        try:
            if store.vault.enforces_locks:
                store.vault.set_legal_hold(obj.sha256, False)
            store.vault.delete(obj.sha256)
        except VaultError as exc:
            result.errors.append({"object": obj.sha256, "error": str(exc)})
            continue
        with store.session() as s:
            row = s.get(VaultObject, obj.sha256)
            if row is not None and row.state == "deleting":
                row.state, row.deleted_at = "deleted", utcnow()


def _still_referenced(s: Session, sha: str, rec_pk: int) -> bool:
    """Content addressing shares identical files: is `sha` another present recording's
    (its media, its audio, or a file a re-delivery replaced)?"""
    if s.scalar(select(func.count()).select_from(Recording).where(
            Recording.id != rec_pk, Recording.media_present.is_(True),
            (Recording.sha256 == sha) | (Recording.audio_sha256 == sha))) > 0:
        return True
    return s.scalar(select(func.count()).select_from(ReplacedMedia).join(
        Recording, Recording.id == ReplacedMedia.recording_pk).where(
        Recording.id != rec_pk, Recording.media_present.is_(True),
        ReplacedMedia.sha256 == sha)) > 0


def _media_objects(rec: Recording) -> list[tuple[str, str]]:
    """(sha256, key) of every media and audio file the recording holds or held."""
    return ([(rec.sha256, rec.media_key), (rec.audio_sha256, rec.audio_key)]
            + [(r.sha256, r.key) for r in rec.replaced])


def sweep(store: Store, as_of: date | None = None, *, dry_run: bool = False,
          actor: str | None = None, today: date | None = None) -> SweepResult:
    """Purge the media of every recording whose retention ended before `as_of` (default
    today) and that no active legal hold covers."""
    today = today or date.today()
    as_of = as_of or today
    if as_of > today and not dry_run:
        raise BadInput(f"--as-of {as_of.isoformat()} is in the future: a sweep may not purge "
                       "ahead of time (use --dry-run to preview)")
    actor = actor or current_actor()
    result = SweepResult(as_of, dry_run)
    if not dry_run:
        store.vault.cleanup_temp()
        _finish_deletions(store, result)

    due = and_(Recording.media_present.is_(True), Recording.retention_until.is_not(None),
               Recording.retention_until < as_of)
    with store.session() as s:
        candidates = list(s.execute(select(Recording.id, Recording.recording_id)
                                    .where(due).order_by(Recording.retention_until,
                                                         Recording.id)))
        result.kept = s.scalar(select(func.count()).select_from(Recording).where(
            Recording.media_present.is_(True), ~due)) or 0

    for rec_pk, recording_id in candidates:
        to_delete: list[str] = []
        with store.session() as s:
            # Re-read under the row lock: a hold placed meanwhile must win.
            rec = s.execute(select(Recording).where(Recording.id == rec_pk)
                            .with_for_update()).scalar_one()
            if not (rec.media_present and rec.retention_until is not None
                    and rec.retention_until < as_of):
                result.kept += 1
                continue
            if _active_holds(s, rec.id):
                result.held.append(recording_id)
                continue
            result.purged.append(recording_id)
            if dry_run:
                continue
            objects, removed = [], 0
            for sha, key in _media_objects(rec):
                if not sha or sha in objects:
                    continue
                if _still_referenced(s, sha, rec.id):
                    continue
                obj = s.get(VaultObject, sha)
                if obj is not None and obj.state == "present":
                    obj.state = "deleting"
                    removed += obj.size
                objects.append(sha)
                to_delete.append(sha)
            now = utcnow()
            rec.media_present = False
            rec.purged_at = now
            s.add(PurgeRecord(recording_pk=rec.id, purged_at=now, as_of=as_of,
                              retention_until=rec.retention_until,
                              retention_basis=rec.retention_basis, media_sha256=rec.sha256,
                              objects=[store_key(sha) for sha in objects],
                              bytes_removed=removed, actor=actor))
            audit.append(s, actor, "purge", recording_id,
                         {"as_of": as_of.isoformat(),
                          "retention_until": rec.retention_until.isoformat(),
                          "retention_basis": rec.retention_basis, "sha256": rec.sha256,
                          "objects": objects, "bytes": removed})
            result.bytes_removed += removed
        # The purge is committed; now remove the bytes (a crash here is finished by the
        # next sweep: the objects are marked 'deleting').
        for sha in to_delete:
            try:
                if store.vault.enforces_locks:
                    # The database is the authority: no hold is active, so a backend
                    # legal hold left over (e.g. from an indefinite retention) goes.
                    store.vault.set_legal_hold(sha, False)
                store.vault.delete(sha)
            except VaultLocked as exc:
                result.errors.append({"recording_id": recording_id, "object": sha,
                                      "error": str(exc)})
                continue
            except VaultError as exc:
                result.errors.append({"recording_id": recording_id, "object": sha,
                                      "error": str(exc)})
                continue
            with store.session() as s:
                obj = s.get(VaultObject, sha)
                if obj is not None and obj.state == "deleting":
                    obj.state, obj.deleted_at = "deleted", utcnow()
    return result


def store_key(sha: str) -> str:
    from storage.vault import object_key
    return object_key(sha)


# --------------------------------------------------------------------------- recompute


def apply_retention(rec: Recording, r: Retention) -> bool:
    changed = (rec.retention_until, rec.retention_basis) != (r.until, r.basis)
    rec.retention_until = r.until
    rec.retention_basis = r.basis
    rec.retention_rules = r.rules
    rec.retention_policy = r.policy
    return changed


def recompute(store: Store, policy: Policy | None = None, actor: str | None = None,
              batch: int = 500) -> dict[str, Any]:
    """Recompute every recording's retention under the current policy (after the policy
    changed). Changes are audited; purged recordings are left alone."""
    policy = policy or load_policy()
    actor = actor or current_actor()
    changed: list[dict[str, Any]] = []
    warnings: list[str] = []
    last = 0
    total = 0
    while True:
        sync = []
        with store.session() as s:
            recs = list(s.scalars(select(Recording).where(Recording.id > last)
                                  .order_by(Recording.id).limit(batch).with_for_update()))
            if not recs:
                break
            for rec in recs:
                last = rec.id
                total += 1
                if not rec.media_present:
                    continue
                before = rec.retention_until
                before_basis = rec.retention_basis
                if apply_retention(rec, compute(facts_from_recording(rec), policy)):
                    change = {"recording_id": rec.recording_id,
                              "from": before.isoformat() if before else None,
                              "to": rec.retention_until.isoformat() if rec.retention_until else None,
                              "basis": rec.retention_basis}
                    changed.append(change)
                    audit.append(s, actor, "retention", rec.recording_id,
                                 {**change, "previous_basis": before_basis,
                                  "policy": policy.policy})
                    sync.append((rec, len(_active_holds(s, rec.id))))
        for rec, holds in sync:
            warnings += sync_object_lock(store, rec, holds)
    return {"policy": policy.policy, "checked": total, "changed": changed,
            "warnings": warnings}
