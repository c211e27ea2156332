"""Feedback is checked by the worker before it counts: only people allowed to continue a thread may press
its buttons, and whether they are needs Slack (users.info), which the listener does not call.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 13:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNCHECKED = sa.text("checked_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checked_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    # Feedback given before this counted at once: it stays counted.
    op.execute("UPDATE feedback SET checked_at = updated_at")
    op.create_index(
        "ix_feedback_unchecked",
        "feedback",
        ["updated_at"],
        unique=False,
        sqlite_where=UNCHECKED,
        postgresql_where=UNCHECKED,
    )


def downgrade() -> None:
    op.drop_index("ix_feedback_unchecked", table_name="feedback")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("checked_at")
