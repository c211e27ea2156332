"""App Home refreshed by the worker (at most once every few seconds per person), a DM thread titled with
its Blocks session's title, and an outbox that also carries a DM's suggested prompts.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 15:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE = sa.text("due_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "home_refreshes",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("enterprise_id", sa.String(length=32), nullable=True),
        sa.Column("due_at", sa.Float(), nullable=True),
        sa.Column("claimed_until", sa.Float(), nullable=True),
        sa.Column("published_at", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )
    op.create_index(
        "ix_home_refreshes_due",
        "home_refreshes",
        ["due_at"],
        unique=False,
        sqlite_where=DUE,
        postgresql_where=DUE,
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("title_state", sa.String(length=16), nullable=True))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="message"))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("title_state")
        batch_op.drop_column("title")
    op.drop_index("ix_home_refreshes_due", table_name="home_refreshes")
    op.drop_table("home_refreshes")
