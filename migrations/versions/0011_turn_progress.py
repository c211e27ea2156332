"""Live progress of a turn: the steps (tool calls) counted from its polls, whether that count is a floor,
the newest tool call counted, and the agent's newest plan (its text, which the retention purge clears).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 07:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        # Turns in flight when this runs start counting at zero (the server default fills their rows).
        batch_op.add_column(sa.Column("steps", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("steps_partial", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("progress_cursor", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("plan_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        for column in ("plan_json", "progress_cursor", "steps_partial", "steps"):
            batch_op.drop_column(column)
