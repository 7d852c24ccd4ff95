"""Audit samples and human review (issue 6): a ``samples`` header per draw (seed,
period, scope, parameters), ``audit_samples`` reshaped into its members,
``review_decisions`` reshaped into one reviewer's decision on a run, and
``review_findings`` for agreeing or disagreeing with single checks. The 0001 versions
of the two tables were never written to, so they are dropped and made anew.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSONDOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.drop_table('review_decisions')  # refers to audit_samples: first
    op.drop_table('audit_samples')
    op.create_table('samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('seed', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('scope', JSONDOC, nullable=False),
    sa.Column('parameters', JSONDOC, nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('members_sha256', sa.String(length=64), nullable=False),
    sa.Column('drawn_by', sa.String(length=128), nullable=False),
    sa.Column('drawn_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_samples')),
    sa.UniqueConstraint('name', name=op.f('uq_samples_name'))
    )
    op.create_table('audit_samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('recording_pk', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('verdict', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('stratum', sa.String(length=512), nullable=False),
    sa.ForeignKeyConstraint(['recording_pk'], ['recordings.id'], name=op.f('fk_audit_samples_recording_pk_recordings')),
    sa.ForeignKeyConstraint(['run_id'], ['verification_runs.id'], name=op.f('fk_audit_samples_run_id_verification_runs')),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], name=op.f('fk_audit_samples_sample_id_samples')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_samples')),
    sa.UniqueConstraint('sample_id', 'recording_pk', name=op.f('uq_audit_samples_sample_id_recording_pk'))
    )
    with op.batch_alter_table('audit_samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_samples_recording_pk'), ['recording_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_samples_sample_id'), ['sample_id'], unique=False)

    op.create_table('review_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_pk', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('machine_verdict', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reviewer', sa.String(length=128), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['recording_pk'], ['recordings.id'], name=op.f('fk_review_decisions_recording_pk_recordings')),
    sa.ForeignKeyConstraint(['run_id'], ['verification_runs.id'], name=op.f('fk_review_decisions_run_id_verification_runs')),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], name=op.f('fk_review_decisions_sample_id_samples')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_decisions'))
    )
    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_decisions_recording_pk'), ['recording_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_decisions_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_decisions_sample_id'), ['sample_id'], unique=False)

    op.create_table('review_findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('review_id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=False),
    sa.Column('check_id', sa.String(length=128), nullable=False),
    sa.Column('machine_status', sa.String(length=16), nullable=False),
    sa.Column('agree', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], name=op.f('fk_review_findings_finding_id_findings')),
    sa.ForeignKeyConstraint(['review_id'], ['review_decisions.id'], name=op.f('fk_review_findings_review_id_review_decisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_findings')),
    sa.UniqueConstraint('review_id', 'check_id', name=op.f('uq_review_findings_review_id_check_id'))
    )
    with op.batch_alter_table('review_findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_findings_review_id'), ['review_id'], unique=False)


def downgrade() -> None:
    """Back to the 0001 shapes (what is reviewed and sampled is lost, as in any
    downgrade past the revision that made it)."""
    op.drop_table('review_findings')
    op.drop_table('review_decisions')
    op.drop_table('audit_samples')
    op.drop_table('samples')
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
