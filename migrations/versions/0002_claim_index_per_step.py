"""One claim index per step: (step, next_run_at), so a claim reads the most overdue turn of a step
from the index whatever the number of turns in flight.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 20:28:10.386246
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_turns_due'), sqlite_where=sa.text('next_run_at IS NOT NULL'))
        batch_op.create_index('ix_turns_step_due', ['step', 'next_run_at'], unique=False, sqlite_where=sa.text('next_run_at IS NOT NULL'), postgresql_where=sa.text('next_run_at IS NOT NULL'))



def downgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_index('ix_turns_step_due', sqlite_where=sa.text('next_run_at IS NOT NULL'), postgresql_where=sa.text('next_run_at IS NOT NULL'))
        batch_op.create_index(batch_op.f('ix_turns_due'), ['next_run_at'], unique=False, sqlite_where=sa.text('next_run_at IS NOT NULL'), postgresql_where=sa.text('next_run_at IS NOT NULL'))

