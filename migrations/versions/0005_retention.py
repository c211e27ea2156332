"""Retention: a turn records when its texts were purged, the purge finds the finished turns that still have
theirs through a small partial index, and a lease row lets one replica at a time run the purge.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXTS_KEPT = "phase = 'finished' AND texts_purged_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('texts_purged_at', sa.Float(), nullable=True))
        batch_op.create_index('ix_turns_texts_kept', ['finished_at'], unique=False, sqlite_where=sa.text(TEXTS_KEPT), postgresql_where=sa.text(TEXTS_KEPT))
    op.create_table(
        'job_leases',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('holder', sa.String(length=36), nullable=True),
        sa.Column('held_until', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_job_leases')),
    )


def downgrade() -> None:
    op.drop_table('job_leases')
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_index('ix_turns_texts_kept', sqlite_where=sa.text(TEXTS_KEPT), postgresql_where=sa.text(TEXTS_KEPT))
        batch_op.drop_column('texts_purged_at')
