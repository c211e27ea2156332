"""Claims look at the youngest scheduled polls too: an index on (step, submitted_at) of scheduled turns,
so that a new turn's first poll is found without reading the old ones.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.create_index(
            'ix_turns_step_young',
            ['step', 'submitted_at'],
            unique=False,
            sqlite_where=sa.text('next_run_at IS NOT NULL'),
            postgresql_where=sa.text('next_run_at IS NOT NULL'),
        )


def downgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_index('ix_turns_step_young')
