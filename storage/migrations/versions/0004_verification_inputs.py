"""What a verdict depends on besides the media (``verification_runs.inputs_sha256``:
the sale metadata less the retention-only dates, and the separate audio file), and
``replaced_media``: files a never-verified recording held before a re-delivery.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('verification_runs') as batch:
        batch.add_column(sa.Column('inputs_sha256', sa.String(length=64), nullable=True))
    op.create_table('replaced_media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_pk', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('replaced_at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['recording_pk'], ['recordings.id'],
                            name=op.f('fk_replaced_media_recording_pk_recordings')),
    sa.ForeignKeyConstraint(['run_id'], ['verification_runs.id'],
                            name=op.f('fk_replaced_media_run_id_verification_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_replaced_media'))
    )
    op.create_index(op.f('ix_replaced_media_recording_pk'), 'replaced_media',
                    ['recording_pk'], unique=False)
    op.create_index(op.f('ix_replaced_media_sha256'), 'replaced_media', ['sha256'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_replaced_media_sha256'), table_name='replaced_media')
    op.drop_index(op.f('ix_replaced_media_recording_pk'), table_name='replaced_media')
    op.drop_table('replaced_media')
    with op.batch_alter_table('verification_runs') as batch:
        batch.drop_column('inputs_sha256')
