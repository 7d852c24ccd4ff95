"""Initial schema: recordings, verification runs, findings, transcript segments, legal
holds, purge records, vault objects, the hash-chained audit log, and the review and
sampling tables; full-text search on transcripts (SQLite FTS5 trigram, PostgreSQL
pg_trgm).

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from __future__ import annotations

import logging
import sqlite3

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

log = logging.getLogger("storage.migrations")

JSONDOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
CURRENT_RUN_FK = "fk_recordings_current_run_id_verification_runs"
TRGM_INDEX = "ix_transcript_segments_text_norm_trgm"


def sqlite_has_trigram() -> bool:
    """FTS5 with the trigram tokenizer: SQLite 3.34 or later, compiled with FTS5."""
    if sqlite3.sqlite_version_info < (3, 34, 0):
        return False
    try:
        con = sqlite3.connect(":memory:")
        try:
            con.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram')")
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return True


def _sqlite_fts() -> None:
    if not sqlite_has_trigram():
        log.warning("SQLite %s has no FTS5 trigram tokenizer: text search scans the "
                    "transcript table", sqlite3.sqlite_version)
        return
    # External-content FTS5 table over transcript_segments.text_norm, kept in step by
    # triggers; trigram tokens make substring search work for Chinese (no word breaks).
    op.execute("CREATE VIRTUAL TABLE segment_fts USING fts5(text_norm, "
               "content='transcript_segments', content_rowid='id', tokenize='trigram')")
    op.execute("CREATE TRIGGER transcript_segments_fts_ai AFTER INSERT ON transcript_segments "
               "BEGIN INSERT INTO segment_fts(rowid, text_norm) VALUES (new.id, new.text_norm); END")
    op.execute("CREATE TRIGGER transcript_segments_fts_ad AFTER DELETE ON transcript_segments "
               "BEGIN INSERT INTO segment_fts(segment_fts, rowid, text_norm) "
               "VALUES ('delete', old.id, old.text_norm); END")
    op.execute("CREATE TRIGGER transcript_segments_fts_au AFTER UPDATE ON transcript_segments "
               "BEGIN INSERT INTO segment_fts(segment_fts, rowid, text_norm) "
               "VALUES ('delete', old.id, old.text_norm); "
               "INSERT INTO segment_fts(rowid, text_norm) VALUES (new.id, new.text_norm); END")


def _postgresql_trgm() -> None:
    bind = op.get_bind()
    available = bind.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").first()
    if not available:
        log.warning("PostgreSQL has no pg_trgm extension (package postgresql-contrib): "
                    "text search runs without a trigram index")
        return
    try:
        with bind.begin_nested():  # a refusal must not abort the migration
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as exc:
        log.warning("cannot create extension pg_trgm (%s): text search runs without a "
                    "trigram index", exc.orig)
        return
    op.execute(f"CREATE INDEX {TRGM_INDEX} ON transcript_segments "
               "USING gin (text_norm gin_trgm_ops)")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    # recordings.current_run_id and verification_runs.recording_pk point at each other:
    # SQLite accepts the forward reference in CREATE TABLE, elsewhere it is added after.
    current_run_fk = ([sa.ForeignKeyConstraint(["current_run_id"], ["verification_runs.id"],
                                               name=CURRENT_RUN_FK)]
                      if dialect == "sqlite" else [])
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_entry_id', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    # The chain's head row exists from the start, so appenders only ever lock it.
    op.bulk_insert(sa.table('audit_head', sa.column('id', sa.Integer),
                            sa.column('last_entry_id', sa.Integer),
                            sa.column('last_hash', sa.String), sa.column('entries', sa.Integer)),
                   [{'id': 1, 'last_entry_id': 0, 'last_hash': '0' * 64, 'entries': 0}])
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('recording_id', sa.String(length=128), nullable=True),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_log_hash'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_recording_id'), ['recording_id'], unique=False)

    op.create_table('recordings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.String(length=128), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('media_key', sa.String(length=512), nullable=False),
    sa.Column('media_name', sa.String(length=512), nullable=False),
    sa.Column('media_bytes', sa.BigInteger(), nullable=False),
    sa.Column('audio_sha256', sa.String(length=64), nullable=True),
    sa.Column('audio_key', sa.String(length=512), nullable=True),
    sa.Column('audio_name', sa.String(length=512), nullable=True),
    sa.Column('sidecar_sha256', sa.String(length=64), nullable=False),
    sa.Column('sidecar_key', sa.String(length=512), nullable=False),
    sa.Column('sidecar_name', sa.String(length=512), nullable=False),
    sa.Column('sidecar_json', JSONDOC, nullable=False),
    sa.Column('branch_id', sa.String(length=128), nullable=False),
    sa.Column('staff_id', sa.String(length=128), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('customer_id_masked', sa.String(length=128), nullable=False),
    sa.Column('customer_key', sa.String(length=64), nullable=False),
    sa.Column('customer_name', sa.String(length=128), nullable=True),
    sa.Column('customer_name_masked', sa.String(length=128), nullable=True),
    sa.Column('product_code', sa.String(length=128), nullable=False),
    sa.Column('product_name', sa.String(length=512), nullable=False),
    sa.Column('product_category', sa.String(length=32), nullable=False),
    sa.Column('product_risk_level', sa.String(length=2), nullable=False),
    sa.Column('customer_risk_level', sa.String(length=2), nullable=False),
    sa.Column('sale_time', sa.DateTime(), nullable=False),
    sa.Column('sale_date', sa.Date(), nullable=False),
    sa.Column('maturity_date', sa.Date(), nullable=True),
    sa.Column('redemption_date', sa.Date(), nullable=True),
    sa.Column('retention_until', sa.Date(), nullable=True),
    sa.Column('retention_basis', sa.String(length=512), nullable=False),
    sa.Column('retention_rules', JSONDOC, nullable=False),
    sa.Column('retention_policy', sa.String(length=64), nullable=False),
    sa.Column('media_present', sa.Boolean(), nullable=False),
    sa.Column('purged_at', sa.DateTime(), nullable=True),
    sa.Column('verdict', sa.String(length=16), nullable=True),
    sa.Column('current_run_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    *current_run_fk,
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings')),
    sa.UniqueConstraint('recording_id', name=op.f('uq_recordings_recording_id'))
    )
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recordings_branch_id'), ['branch_id'], unique=False)
        batch_op.create_index('ix_recordings_customer_key_sale_date', ['customer_key', 'sale_date'], unique=False)
        batch_op.create_index('ix_recordings_product_code_sale_date', ['product_code', 'sale_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_retention_until'), ['retention_until'], unique=False)
        batch_op.create_index('ix_recordings_sale_date', ['sale_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_sale_time'), ['sale_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_staff_id'), ['staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_verdict'), ['verdict'], unique=False)

    op.create_table('store_meta',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_store_meta'))
    )
    op.create_table('vault_objects',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('encrypted', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('stored_at', sa.DateTime(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_vault_objects'))
    )
    op.create_table('legal_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_pk', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('placed_by', sa.String(length=128), nullable=False),
    sa.Column('placed_at', sa.DateTime(), nullable=False),
    sa.Column('released_at', sa.DateTime(), nullable=True),
    sa.Column('released_by', sa.String(length=128), nullable=True),
    sa.Column('release_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['recording_pk'], ['recordings.id'], name=op.f('fk_legal_holds_recording_pk_recordings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_holds'))
    )
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legal_holds_recording_pk'), ['recording_pk'], unique=False)
        batch_op.create_index('uq_legal_holds_active_case', ['recording_pk', 'case_id'], unique=True, sqlite_where=sa.text('released_at IS NULL'), postgresql_where=sa.text('released_at IS NULL'))

    op.create_table('purge_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_pk', sa.Integer(), nullable=False),
    sa.Column('purged_at', sa.DateTime(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('retention_until', sa.Date(), nullable=False),
    sa.Column('retention_basis', sa.String(length=512), nullable=False),
    sa.Column('media_sha256', sa.String(length=64), nullable=False),
    sa.Column('objects', JSONDOC, nullable=False),
    sa.Column('bytes_removed', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['recording_pk'], ['recordings.id'], name=op.f('fk_purge_records_recording_pk_recordings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purge_records'))
    )
    with op.batch_alter_table('purge_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purge_records_recording_pk'), ['recording_pk'], unique=False)

    op.create_table('verification_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_pk', sa.Integer(), nullable=False),
    sa.Column('media_sha256', sa.String(length=64), nullable=False),
    sa.Column('ruleset_id', sa.String(length=128), nullable=True),
    sa.Column('ruleset_version', sa.String(length=64), nullable=True),
    sa.Column('engine_version', sa.String(length=64), nullable=False),
    sa.Column('asr_model', sa.String(length=256), nullable=True),
    sa.Column('face_detector', sa.String(length=256), nullable=True),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('report_json', JSONDOC, nullable=False),
    sa.Column('report_sha256', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['recording_pk'], ['recordings.id'], name=op.f('fk_verification_runs_recording_pk_recordings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_runs'))
    )
    with op.batch_alter_table('verification_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_runs_recording_pk'), ['recording_pk'], unique=False)
        batch_op.create_index('ix_verification_runs_skip_key', ['media_sha256', 'ruleset_id', 'ruleset_version', 'engine_version'], unique=False)

    op.create_table('audit_samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan', sa.String(length=128), nullable=False),
    sa.Column('recording_pk', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('seed', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('selected_by', sa.String(length=128), nullable=False),
    sa.Column('selected_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['recording_pk'], ['recordings.id'], name=op.f('fk_audit_samples_recording_pk_recordings')),
    sa.ForeignKeyConstraint(['run_id'], ['verification_runs.id'], name=op.f('fk_audit_samples_run_id_verification_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_samples')),
    sa.UniqueConstraint('plan', 'recording_pk', name=op.f('uq_audit_samples_plan_recording_pk'))
    )
    with op.batch_alter_table('audit_samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_samples_plan'), ['plan'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_samples_recording_pk'), ['recording_pk'], unique=False)

    op.create_table('findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('check_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('evidence', JSONDOC, nullable=False),
    sa.Column('items', JSONDOC, nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['verification_runs.id'], name=op.f('fk_findings_run_id_verification_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_findings'))
    )
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_findings_check_id'), ['check_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_findings_run_id'), ['run_id'], unique=False)

    op.create_table('transcript_segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_pk', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('speaker', sa.String(length=32), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('text_norm', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['recording_pk'], ['recordings.id'], name=op.f('fk_transcript_segments_recording_pk_recordings')),
    sa.ForeignKeyConstraint(['run_id'], ['verification_runs.id'], name=op.f('fk_transcript_segments_run_id_verification_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transcript_segments'))
    )
    with op.batch_alter_table('transcript_segments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transcript_segments_recording_pk'), ['recording_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_transcript_segments_run_id'), ['run_id'], unique=False)

    op.create_table('review_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_pk', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=True),
    sa.Column('check_id', sa.String(length=128), nullable=True),
    sa.Column('decision', sa.String(length=32), nullable=False),
    sa.Column('verdict_before', sa.String(length=16), nullable=True),
    sa.Column('verdict_after', sa.String(length=16), nullable=True),
    sa.Column('reviewer', sa.String(length=128), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], name=op.f('fk_review_decisions_finding_id_findings')),
    sa.ForeignKeyConstraint(['recording_pk'], ['recordings.id'], name=op.f('fk_review_decisions_recording_pk_recordings')),
    sa.ForeignKeyConstraint(['run_id'], ['verification_runs.id'], name=op.f('fk_review_decisions_run_id_verification_runs')),
    sa.ForeignKeyConstraint(['sample_id'], ['audit_samples.id'], name=op.f('fk_review_decisions_sample_id_audit_samples')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_decisions'))
    )
    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_decisions_recording_pk'), ['recording_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_decisions_run_id'), ['run_id'], unique=False)

    if dialect != "sqlite":
        op.create_foreign_key(CURRENT_RUN_FK, "recordings", "verification_runs",
                              ["current_run_id"], ["id"])
    if dialect == "sqlite":
        _sqlite_fts()
    elif dialect == "postgresql":
        _postgresql_trgm()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trig in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS transcript_segments_fts_{trig}")
        op.execute("DROP TABLE IF EXISTS segment_fts")
    else:
        op.execute(f"DROP INDEX IF EXISTS {TRGM_INDEX}")
        op.drop_constraint(CURRENT_RUN_FK, "recordings", type_="foreignkey")
    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_decisions_run_id'))
        batch_op.drop_index(batch_op.f('ix_review_decisions_recording_pk'))

    op.drop_table('review_decisions')
    with op.batch_alter_table('transcript_segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transcript_segments_run_id'))
        batch_op.drop_index(batch_op.f('ix_transcript_segments_recording_pk'))

    op.drop_table('transcript_segments')
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_findings_run_id'))
        batch_op.drop_index(batch_op.f('ix_findings_check_id'))

    op.drop_table('findings')
    with op.batch_alter_table('audit_samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_samples_recording_pk'))
        batch_op.drop_index(batch_op.f('ix_audit_samples_plan'))

    op.drop_table('audit_samples')
    with op.batch_alter_table('verification_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_runs_skip_key')
        batch_op.drop_index(batch_op.f('ix_verification_runs_recording_pk'))

    op.drop_table('verification_runs')
    with op.batch_alter_table('purge_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purge_records_recording_pk'))

    op.drop_table('purge_records')
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.drop_index('uq_legal_holds_active_case', sqlite_where=sa.text('released_at IS NULL'), postgresql_where=sa.text('released_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_legal_holds_recording_pk'))

    op.drop_table('legal_holds')
    op.drop_table('vault_objects')
    op.drop_table('store_meta')
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recordings_verdict'))
        batch_op.drop_index(batch_op.f('ix_recordings_staff_id'))
        batch_op.drop_index(batch_op.f('ix_recordings_sha256'))
        batch_op.drop_index(batch_op.f('ix_recordings_sale_time'))
        batch_op.drop_index('ix_recordings_sale_date')
        batch_op.drop_index(batch_op.f('ix_recordings_retention_until'))
        batch_op.drop_index('ix_recordings_product_code_sale_date')
        batch_op.drop_index('ix_recordings_customer_key_sale_date')
        batch_op.drop_index(batch_op.f('ix_recordings_branch_id'))

    op.drop_table('recordings')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_recording_id'))
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))

    op.drop_table('audit_log')
    op.drop_table('audit_head')
