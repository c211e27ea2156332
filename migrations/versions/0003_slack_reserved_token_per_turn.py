"""A turn remembers the Slack method whose next token it holds: an essential Slack call that finds its
budget spent is given the next token in turn and waits for it, instead of every waiting turn waking at
the next refill to find the bucket empty again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 23:44:01.926334
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slack_reserved', sa.String(length=32), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_column('slack_reserved')

