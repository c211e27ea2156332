"""A long answer's file: whether its upload began (`uploading`) or is in the thread (`uploaded`), and its id.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 10:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("file_state", sa.String(length=16), nullable=False, server_default="none"))
        batch_op.add_column(sa.Column("file_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.drop_column("file_id")
        batch_op.drop_column("file_state")
