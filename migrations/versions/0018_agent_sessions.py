"""Slack's native agent session status: which threads the bot has marked as working (so that every turn
that ends marks them idle again), and the workspaces where Slack refused the call (not asked again).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_status", sa.String(length=16), nullable=True))
    op.create_table(
        "slack_capabilities",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("feature", sa.String(length=32), nullable=False),
        sa.Column("error", sa.String(length=64), nullable=False),
        sa.Column("refused_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "feature"),
    )


def downgrade() -> None:
    op.drop_table("slack_capabilities")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("agent_status")
