"""Fair shares per key: when each person (and workspace) last got a token of each Blocks key. Tokens are
a key's, so a share is too: a person served by one key must not lose their turn at another.

The rows only order the next claims (no text, nothing anyone reads back), so they start afresh: everyone
is as if never served, which round robin settles within one round.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 07:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("fair_shares")
    op.create_table(
        "fair_shares",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("served_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id", "key_hash"),
    )


def downgrade() -> None:
    op.drop_table("fair_shares")
    op.create_table(
        "fair_shares",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("served_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )
