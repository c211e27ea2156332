"""Stop: who asked to stop a running turn, when, and how far the stop has got (`requested`, then
`stopping` once the interrupting follow-up is the turn's request).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 08:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stop_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("stop_requested_by", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("stop_requested_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        for column in ("stop_requested_at", "stop_requested_by", "stop_state"):
            batch_op.drop_column(column)
