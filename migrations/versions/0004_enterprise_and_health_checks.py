"""A conversation remembers its workspace's Enterprise Grid organization (messages of the organization's
other workspaces are not external), and health checks prove the database takes writes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enterprise_id', sa.String(length=32), nullable=True))
    op.create_table(
        'health_checks',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('checked_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_health_checks')),
    )


def downgrade() -> None:
    op.drop_table('health_checks')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('enterprise_id')
