"""Stops are claimed before the Blocks budget is asked (a stop of a polled turn needs no token of its
own): an index of the turns with a stop requested, as small as the stops pending.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REQUESTED = sa.text("stop_state = 'requested'")


def upgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_turns_stop_requested", ["next_run_at"], unique=False, sqlite_where=REQUESTED, postgresql_where=REQUESTED
        )


def downgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.drop_index("ix_turns_stop_requested")
