"""Fair shares of a Blocks key: when each person's (and each workspace's) Blocks step last got a token,
and the indexes a claim reads one person's due turns from (their most overdue, their youngest polls).
The per-step index of the youngest polls gives way to the per-person one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 19:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEDULED = sa.text("next_run_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "fair_shares",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("served_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.drop_index("ix_turns_step_young")
        for name, column in (("ix_turns_lane_due", "next_run_at"), ("ix_turns_lane_young", "submitted_at")):
            batch_op.create_index(
                name,
                ["requested_by", "step", column],
                unique=False,
                sqlite_where=SCHEDULED,
                postgresql_where=SCHEDULED,
            )


def downgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.drop_index("ix_turns_lane_young")
        batch_op.drop_index("ix_turns_lane_due")
        batch_op.create_index(
            "ix_turns_step_young",
            ["step", "submitted_at"],
            unique=False,
            sqlite_where=SCHEDULED,
            postgresql_where=SCHEDULED,
        )
    op.drop_table("fair_shares")
