"""Settings in Slack: a channel's choices (`/blocks`), a workspace's defaults (App Home), the record of
every change, and on each turn the choices it was opened with. The ephemerals table becomes the outbox:
a message without a user is posted in the channel for everyone (a settings change is announced).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 14:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _choices() -> list[sa.Column]:
    return [
        sa.Column("agent", sa.String(length=32), nullable=True),
        sa.Column("reply_mode", sa.String(length=16), nullable=True),
        sa.Column("busy_policy", sa.String(length=16), nullable=True),
        sa.Column("answers", sa.String(length=16), nullable=True),
        sa.Column("private_sessions", sa.String(length=16), nullable=True),
        sa.Column("continue_threads", sa.String(length=16), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "channel_preferences",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        *_choices(),
        sa.Column("updated_by", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "channel_id"),
    )
    op.create_table(
        "workspace_preferences",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        *_choices(),
        sa.Column("members_may_configure", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("suggested_prompts_json", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("team_id"),
    )
    op.create_table(
        "preference_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_preference_changes_team_changed", "preference_changes", ["team_id", "changed_at"], unique=False
    )
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("preferences_json", sa.Text(), nullable=True))
    op.drop_index("ix_ephemerals_unsent", table_name="ephemerals")
    op.rename_table("ephemerals", "outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.String(length=32), nullable=True)
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["id"],
        unique=False,
        sqlite_where=sa.text("sent_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    op.execute("DELETE FROM outbox WHERE user_id IS NULL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.String(length=32), nullable=False)
    op.rename_table("outbox", "ephemerals")
    op.create_index(
        "ix_ephemerals_unsent",
        "ephemerals",
        ["id"],
        unique=False,
        sqlite_where=sa.text("sent_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.drop_column("preferences_json")
    op.drop_index("ix_preference_changes_team_changed", table_name="preference_changes")
    op.drop_table("preference_changes")
    op.drop_table("workspace_preferences")
    op.drop_table("channel_preferences")
