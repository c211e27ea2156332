"""Send now: the queued notice a waiting turn posts (with its Send now button), and who pressed it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 09:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("send_now_by", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("queued_notice_state", sa.String(length=16), nullable=False, server_default="none")
        )
        batch_op.add_column(sa.Column("queued_notice_ts", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        for column in ("queued_notice_ts", "queued_notice_state", "send_now_by"):
            batch_op.drop_column(column)
