"""The Blocks API keys each workspace connected: stored encrypted, named by their SHA-256 hex.

A workspace may hold several keys (more capacity). It is named by its team id, which is unique across
Slack (the enterprise id is kept beside it for the record), or, for an organization-wide install that
has no team, by its enterprise id. The hash names a key everywhere it must be named (the rate budgets,
the audit, the App Home list, removal): the key itself is only ever read back by `keys`, to be used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, and_, delete, select

from bot.blocks.keys import key_hash
from bot.db.engine import reading
from bot.db.models import WorkspaceKey
from bot.db.statements import insert_ignoring_conflict
from bot.secrets_at_rest import Vault


def keys_of_workspace(team_id: str | None, enterprise_id: str | None) -> ColumnElement[bool]:
    """The rows of the workspace `team_id`, or of the organization-wide install of `enterprise_id`."""
    if team_id is not None:
        return WorkspaceKey.team_id == team_id
    return and_(WorkspaceKey.team_id.is_(None), WorkspaceKey.enterprise_id == enterprise_id)


@dataclass(frozen=True)
class ConnectedKey:
    """What may be shown of a key: never the key."""

    key_hash: str
    label: str | None
    added_by: str | None
    added_at: float


class WorkspaceKeys:
    def __init__(self, engine: Engine, vault: Vault, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.vault = vault
        self.clock = clock

    def add(
        self,
        team_id: str | None,
        enterprise_id: str | None,
        key: str,
        added_by: str | None,
        *,
        label: str | None = None,
    ) -> str:
        """Store `key` for the workspace (surrounding whitespace dropped: a key read from a terminal ends
        with a newline) and return its hash. A key the workspace holds already is left as it is."""
        key = key.strip()
        if not key:
            raise ValueError("an empty Blocks key")
        _require_workspace(team_id, enterprise_id)
        hashed = key_hash(key)
        values = {
            "team_id": team_id,
            "enterprise_id": enterprise_id,
            "key_encrypted": self.vault.encrypt(key),
            "key_hash": hashed,
            "label": label,
            "added_by": added_by,
            "added_at": self.clock(),
        }
        with self.engine.begin() as conn:
            insert_ignoring_conflict(conn, WorkspaceKey, values)
        return hashed

    def list(self, team_id: str | None, enterprise_id: str | None) -> tuple[ConnectedKey, ...]:
        """The workspace's keys, oldest first, without the keys."""
        query = (
            select(WorkspaceKey.key_hash, WorkspaceKey.label, WorkspaceKey.added_by, WorkspaceKey.added_at)
            .where(keys_of_workspace(team_id, enterprise_id))
            .order_by(WorkspaceKey.added_at, WorkspaceKey.id)
        )
        with reading(self.engine) as conn:  # a read: no writer lock (SQLite)
            return tuple(ConnectedKey(*row) for row in conn.execute(query))

    def keys(self, team_id: str | None, enterprise_id: str | None) -> tuple[str, ...]:
        """The workspace's keys, decrypted, oldest first: to send to Blocks, never to show."""
        query = (
            select(WorkspaceKey.key_encrypted)
            .where(keys_of_workspace(team_id, enterprise_id))
            .order_by(WorkspaceKey.added_at, WorkspaceKey.id)
        )
        with reading(self.engine) as conn:  # a read: no writer lock (SQLite)
            stored = conn.execute(query).scalars().all()
        return tuple(self.vault.decrypt(token) for token in stored)

    def remove(self, team_id: str | None, enterprise_id: str | None, hashed: str) -> bool:
        """Forget the key named `hashed`; whether the workspace held it."""
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(WorkspaceKey).where(
                    keys_of_workspace(team_id, enterprise_id), WorkspaceKey.key_hash == hashed
                )
            )
        return result.rowcount > 0


def _require_workspace(team_id: str | None, enterprise_id: str | None) -> None:
    if team_id is None and enterprise_id is None:
        raise ValueError(
            "a workspace key needs a team id, or an enterprise id for an organization-wide install"
        )
