"""The store's tables (SQLAlchemy 2 typed declarative).

The schema is created and changed only by the Alembic migrations in
``storage/migrations/versions``; ``tests/test_store_schema.py`` checks that these
classes and the migrations agree. Times are stored as naive UTC and come back as aware
UTC datetimes (:class:`UTCDateTime`), the same on SQLite and PostgreSQL.

Personal data: ``Recording.customer_id`` / ``customer_name`` hold the real values (only
an evidence export shows them); ``customer_id_masked`` / ``customer_name_masked`` are
what every other output shows; ``customer_key`` is a keyed hash (HMAC-SHA256) used to
look a customer up without keeping an index of clear ID numbers.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Optional

from sqlalchemy import (JSON, Boolean, BigInteger, Date, DateTime, Float, ForeignKey, Index,
                        Integer, String, Text, TypeDecorator, UniqueConstraint, text)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC everywhere."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # defensive: raw SQLite text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")

# Naming convention so that constraint names are the same on every backend and in the
# migrations.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    pass


# Objects that only the migrations define (full-text search): not models.
MIGRATION_ONLY_TABLE_PREFIX = "segment_fts"
MIGRATION_ONLY_INDEXES = {"ix_transcript_segments_text_norm_trgm"}


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic filter: compare models and database without the migration-only objects."""
    if type_ == "table" and name and name.startswith(MIGRATION_ONLY_TABLE_PREFIX):
        return False
    if type_ == "index" and name in MIGRATION_ONLY_INDEXES:
        return False
    return True


Base.metadata.naming_convention = NAMING


class StoreMeta(Base):
    """Key/value facts about the store itself (e.g. the lookup key's fingerprint)."""

    __tablename__ = "store_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[str] = mapped_column(String(128), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    media_key: Mapped[str] = mapped_column(String(512))  # vault key of the media
    media_name: Mapped[str] = mapped_column(String(512))  # original file name
    media_bytes: Mapped[int] = mapped_column(BigInteger)
    audio_sha256: Mapped[Optional[str]] = mapped_column(String(64))
    audio_key: Mapped[Optional[str]] = mapped_column(String(512))
    audio_name: Mapped[Optional[str]] = mapped_column(String(512))
    sidecar_sha256: Mapped[str] = mapped_column(String(64))
    sidecar_key: Mapped[str] = mapped_column(String(512))
    sidecar_name: Mapped[str] = mapped_column(String(512))
    sidecar_json: Mapped[dict[str, Any]] = mapped_column(JSONDoc)  # masked copy

    branch_id: Mapped[str] = mapped_column(String(128), index=True)
    staff_id: Mapped[str] = mapped_column(String(128), index=True)
    customer_id: Mapped[str] = mapped_column(String(128))  # real: export only
    customer_id_masked: Mapped[str] = mapped_column(String(128))
    customer_key: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 (indexed with sale_date)
    customer_name: Mapped[Optional[str]] = mapped_column(String(128))  # real: export only
    customer_name_masked: Mapped[Optional[str]] = mapped_column(String(128))
    product_code: Mapped[str] = mapped_column(String(128))
    product_name: Mapped[str] = mapped_column(String(512))
    product_category: Mapped[str] = mapped_column(String(32))
    product_risk_level: Mapped[str] = mapped_column(String(2))
    customer_risk_level: Mapped[str] = mapped_column(String(2))
    sale_time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    sale_date: Mapped[date] = mapped_column(Date)  # local date of the sale (its own offset)
    maturity_date: Mapped[Optional[date]] = mapped_column(Date)
    redemption_date: Mapped[Optional[date]] = mapped_column(Date)

    retention_until: Mapped[Optional[date]] = mapped_column(Date, index=True)  # None: indefinite
    retention_basis: Mapped[str] = mapped_column(String(512))
    retention_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    retention_policy: Mapped[str] = mapped_column(String(64))  # policy version used
    media_present: Mapped[bool] = mapped_column(Boolean, default=True)
    purged_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    verdict: Mapped[Optional[str]] = mapped_column(String(16), index=True)  # current run's
    current_run_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("verification_runs.id", use_alter=True,
                   name="fk_recordings_current_run_id_verification_runs"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    runs: Mapped[list["VerificationRun"]] = relationship(
        back_populates="recording", foreign_keys="VerificationRun.recording_pk",
        order_by="VerificationRun.id")
    holds: Mapped[list["LegalHold"]] = relationship(back_populates="recording",
                                                    order_by="LegalHold.id")
    # Loaded with the recording: the vault's locks and the purge need it after the
    # session that read the recording has closed.
    replaced: Mapped[list["ReplacedMedia"]] = relationship(back_populates="recording",
                                                           order_by="ReplacedMedia.id",
                                                           lazy="selectin")

    __table_args__ = (
        Index("ix_recordings_product_code_sale_date", "product_code", "sale_date"),
        Index("ix_recordings_sale_date", "sale_date"),
        Index("ix_recordings_customer_key_sale_date", "customer_key", "sale_date"),
    )

    @property
    def active_holds(self) -> list["LegalHold"]:
        return [h for h in self.holds if h.released_at is None]

    @property
    def personal(self) -> tuple:
        """The customer's ID number and name as verifier.privacy Secrets: what free text
        about this recording (a reason, a note) is masked of before it is stored."""
        from verifier.privacy import personal_secrets

        return personal_secrets(self.customer_id, self.customer_name)


class VerificationRun(Base):
    __tablename__ = "verification_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_pk: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    media_sha256: Mapped[str] = mapped_column(String(64))
    ruleset_id: Mapped[Optional[str]] = mapped_column(String(128))
    ruleset_version: Mapped[Optional[str]] = mapped_column(String(64))
    engine_version: Mapped[str] = mapped_column(String(64))
    asr_model: Mapped[Optional[str]] = mapped_column(String(256))
    face_detector: Mapped[Optional[str]] = mapped_column(String(256))
    verdict: Mapped[str] = mapped_column(String(16))
    duration_s: Mapped[Optional[float]] = mapped_column(Float)
    report_json: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    report_sha256: Mapped[str] = mapped_column(String(64))
    # sha256 of what the verdict depends on besides the media: the sale metadata (less
    # the retention-only dates) and the separate audio file (storage.ingest). None: a
    # run stored before it was recorded; never reused.
    inputs_sha256: Mapped[Optional[str]] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    recording: Mapped[Recording] = relationship(back_populates="runs",
                                                foreign_keys=[recording_pk])
    findings: Mapped[list["Finding"]] = relationship(back_populates="run",
                                                     order_by="Finding.id")

    __table_args__ = (
        Index("ix_verification_runs_skip_key", "media_sha256", "ruleset_id",
              "ruleset_version", "engine_version"),
    )


class Finding(Base):
    """One check of a run (CONTRACT section 4 ``checks[]``)."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("verification_runs.id"), index=True)
    check_id: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[Any]] = mapped_column(JSONDoc)
    items: Mapped[Optional[list[Any]]] = mapped_column(JSONDoc)

    run: Mapped[VerificationRun] = relationship(back_populates="findings")


class TranscriptSegment(Base):
    __tablename__ = "transcript_segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_pk: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("verification_runs.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    speaker: Mapped[Optional[str]] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)  # as in the report (Simplified, punctuated)
    text_norm: Mapped[str] = mapped_column(Text)  # verifier.textnorm.normalize(text)


class LegalHold(Base):
    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_pk: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    case_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(128))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    released_by: Mapped[Optional[str]] = mapped_column(String(128))
    release_reason: Mapped[Optional[str]] = mapped_column(Text)

    recording: Mapped[Recording] = relationship(back_populates="holds")

    __table_args__ = (
        # At most one active hold per recording and case.
        Index("uq_legal_holds_active_case", "recording_pk", "case_id", unique=True,
              sqlite_where=text("released_at IS NULL"),
              postgresql_where=text("released_at IS NULL")),
    )


class PurgeRecord(Base):
    """One purge of a recording's media by the retention sweep (the tombstone's
    history; the recording row itself keeps metadata, hash and findings)."""

    __tablename__ = "purge_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_pk: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    as_of: Mapped[date] = mapped_column(Date)
    retention_until: Mapped[date] = mapped_column(Date)
    retention_basis: Mapped[str] = mapped_column(String(512))
    media_sha256: Mapped[str] = mapped_column(String(64))
    objects: Mapped[list[str]] = mapped_column(JSONDoc)  # vault keys removed
    bytes_removed: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(128))


class ReplacedMedia(Base):
    """A media or audio file a recording held before a re-delivery replaced it. Only a
    recording never verified (every run's verdict error, e.g. a file cut short while
    being copied) takes new media; the old file stays in the vault under the
    recording's retention and is purged with it."""

    __tablename__ = "replaced_media"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_pk: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # media | audio
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(512))
    name: Mapped[Optional[str]] = mapped_column(String(512))
    run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("verification_runs.id"))
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))

    recording: Mapped[Recording] = relationship(back_populates="replaced")


class VaultObject(Base):
    """Every object written to the vault: what integrity re-hashes, and the reference
    count purges consult (content addressing shares identical files)."""

    __tablename__ = "vault_objects"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(512))
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # media | audio | sidecar
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="present")  # present|deleting|deleted
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Append-only, hash-chained: hash = sha256(prev_hash + canonical JSON of
    {actor, action, recording_id, details, at}) (storage/audit.py)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32), index=True)
    recording_id: Mapped[Optional[str]] = mapped_column(String(128), index=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON, exactly as hashed
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """One row: the last entry of the chain. Appenders lock it, so the chain never
    forks, and a removed tail of the log is detected."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_entry_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)


class Sample(Base):
    """One drawn audit sample (issue 6): what was asked for and with which seed, so the
    draw can be repeated and checked. Never updated once drawn; ``members_sha256``
    binds the member list (storage/sampling.py) and is in the ``sample`` audit entry."""

    __tablename__ = "samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    seed: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    scope: Mapped[dict[str, Any]] = mapped_column(JSONDoc)  # e.g. {"branch": ["BR001"]}
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONDoc)  # rate/size, strata, ...
    population: Mapped[int] = mapped_column(Integer)  # candidates in period and scope
    size: Mapped[int] = mapped_column(Integer)
    members_sha256: Mapped[str] = mapped_column(String(64))
    drawn_by: Mapped[str] = mapped_column(String(128))
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list["AuditSample"]] = relationship(back_populates="sample",
                                                        order_by="AuditSample.id")


class AuditSample(Base):
    """A recording drawn into a sample, with the run and verdict it had at draw time."""

    __tablename__ = "audit_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id"), index=True)
    recording_pk: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("verification_runs.id"))
    verdict: Mapped[Optional[str]] = mapped_column(String(16))  # at draw time
    reason: Mapped[str] = mapped_column(String(16))  # verdict | high-risk | random
    stratum: Mapped[str] = mapped_column(String(512))  # "branch=BR001|staff=S1024|..."

    sample: Mapped[Sample] = relationship(back_populates="members")

    __table_args__ = (UniqueConstraint("sample_id", "recording_pk"),)


class ReviewDecision(Base):
    """A reviewer's decision on one recording's verification run (issue 6). Append-only:
    a later review of the same recording supersedes an earlier one in the statistics."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_pk: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("verification_runs.id"), index=True)
    sample_id: Mapped[Optional[int]] = mapped_column(ForeignKey("samples.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # pass | fail
    machine_verdict: Mapped[str] = mapped_column(String(16))  # the run's, when reviewed
    reason: Mapped[str] = mapped_column(Text)  # customer ID and name masked
    reviewer: Mapped[str] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(128))  # who ran the command
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    findings: Mapped[list["ReviewFinding"]] = relationship(back_populates="review",
                                                           order_by="ReviewFinding.id")


class ReviewFinding(Base):
    """The reviewer agreeing or disagreeing with one check of the reviewed run."""

    __tablename__ = "review_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review_decisions.id"), index=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"))
    check_id: Mapped[str] = mapped_column(String(128))
    machine_status: Mapped[str] = mapped_column(String(16))
    agree: Mapped[bool] = mapped_column(Boolean)

    review: Mapped[ReviewDecision] = relationship(back_populates="findings")

    __table_args__ = (UniqueConstraint("review_id", "check_id"),)


class BatchRun(Base):
    """One run of the nightly batch over an inbox (issue 5): what was found, what
    became of each file, and where the summary page is."""

    __tablename__ = "batch_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_key: Mapped[str] = mapped_column(String(64), unique=True)  # uuid (Prefect run id)
    inbox: Mapped[str] = mapped_column(String(1024))
    host: Mapped[str] = mapped_column(String(256))
    pid: Mapped[Optional[int]] = mapped_column(Integer)  # to tell a crashed run from a live one
    branch_id: Mapped[Optional[str]] = mapped_column(String(128))  # scope, when limited
    actor: Mapped[str] = mapped_column(String(128))
    concurrency: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # running | finished | crashed
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    summary: Mapped[Optional[dict[str, Any]]] = mapped_column(JSONDoc)  # counts
    summary_path: Mapped[Optional[str]] = mapped_column(String(1024))  # HTML page

    items: Mapped[list["BatchItem"]] = relationship(back_populates="batch",
                                                    order_by="BatchItem.id")


class BatchItem(Base):
    """What the batch did with one inbox file: stored, skipped, or an error with its
    reason (a file without a valid sidecar cannot become a recording, so its error
    result lives here, with the media's hash)."""

    __tablename__ = "batch_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch_runs.id"), index=True)
    path: Mapped[str] = mapped_column(String(1024))  # relative to the inbox
    media_sha256: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    recording_id: Mapped[Optional[str]] = mapped_column(String(128), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # storage.batches.OUTCOMES
    verdict: Mapped[Optional[str]] = mapped_column(String(16))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    seconds: Mapped[Optional[float]] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    batch: Mapped[BatchRun] = relationship(back_populates="items")

    __table_args__ = (UniqueConstraint("batch_id", "path"),)


class ConsoleUser(Base):
    """An account of the web console (console/). ``role``: viewer, auditor, legal or
    admin (console/roles.py); ``branches``: the branches it may see, empty for all. The
    password is kept only as an argon2 hash; a disabled account cannot log in and its
    sessions end."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    branches: Mapped[list[str]] = mapped_column(JSONDoc)
    password_hash: Mapped[str] = mapped_column(String(256))
    password_set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    disabled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    disabled_by: Mapped[Optional[str]] = mapped_column(String(128))


class ConsoleSession(Base):
    """A login, kept on the server so it can be revoked. The browser holds a random
    token; only its sha256 is stored, so a copy of the database cannot log anyone in."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    ended_why: Mapped[Optional[str]] = mapped_column(String(64))  # logout, revoked by X, ...
    client: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(256))


class LoginAttempt(Base):
    """Every login attempt, for throttling failures per account and per address."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(128), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    success: Mapped[bool] = mapped_column(Boolean)
    # Refused unchecked because the account or address was locked: not a failure that
    # extends the lock (else an attacker could keep an account locked for ever).
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
