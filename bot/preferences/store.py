"""Reading and writing the choices of channels and workspaces, and the record of every change.

A channel's row is keyed by (workspace, channel) and a workspace's by its team; a column left empty
inherits. Every save writes one `preference_changes` row per value that changed (who, what, when), in the
same transaction as the change, and returns the changes so that the caller can tell the channel.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from bot.db.models import ChannelPreferences, PreferenceChange, WorkspacePreferences
from bot.db.statements import upsert
from bot.preferences.values import CHOICES, Resolved, resolve, valid

NAMES = tuple(choice.name for choice in CHOICES)
# Workspace-only settings, kept beside the choices of its row.
MEMBERS_MAY_CONFIGURE = "members_may_configure"
SUGGESTED_PROMPTS = "suggested_prompts"

Row = dict[str, str | None]


@dataclass(frozen=True)
class Change:
    name: str
    old: str | None  # None: inherited
    new: str | None


def channel_row(conn: Connection, team_id: str, channel_id: str) -> Row:
    found = conn.execute(
        select(*(getattr(ChannelPreferences, name) for name in NAMES)).where(
            ChannelPreferences.team_id == team_id, ChannelPreferences.channel_id == channel_id
        )
    ).first()
    return _choices(found)


def workspace_row(conn: Connection, team_id: str) -> Row:
    found = conn.execute(
        select(*(getattr(WorkspacePreferences, name) for name in NAMES)).where(
            WorkspacePreferences.team_id == team_id
        )
    ).first()
    return _choices(found)


def for_channel(conn: Connection, team_id: str, channel_id: str, defaults: Mapping[str, str]) -> Resolved:
    """What a new turn in this channel works with; `defaults`: the deployment's (`deployment_defaults`)."""
    return resolve(channel_row(conn, team_id, channel_id), workspace_row(conn, team_id), defaults)


def for_workspace(conn: Connection, team_id: str, defaults: Mapping[str, str]) -> Resolved:
    """A workspace's defaults (what a channel with no choices of its own gets)."""
    return resolve({}, workspace_row(conn, team_id), defaults)


def members_may_configure(conn: Connection, team_id: str) -> bool:
    """Whether every member of a channel may change its settings (off unless a workspace admin allows it)."""
    found = conn.execute(
        select(WorkspacePreferences.members_may_configure).where(WorkspacePreferences.team_id == team_id)
    ).scalar()
    return bool(found)


def suggested_prompts(conn: Connection, team_id: str) -> list[dict[str, str]] | None:
    """The workspace's suggested prompts for a new DM ({title, message}), or None when it chose none."""
    found = conn.execute(
        select(WorkspacePreferences.suggested_prompts_json).where(WorkspacePreferences.team_id == team_id)
    ).scalar()
    if not found:
        return None
    try:
        prompts = json.loads(found)
    except ValueError:
        return None
    if not isinstance(prompts, list):
        return None
    return [
        {"title": str(p["title"]), "message": str(p["message"])}
        for p in prompts
        if isinstance(p, dict) and p.get("title") and p.get("message")
    ]


def save_channel(
    conn: Connection,
    *,
    team_id: str,
    channel_id: str,
    user_id: str,
    values: Mapping[str, str | None],
    now: float,
) -> list[Change]:
    """Set a channel's choices (None or "": inherit); the changes, recorded."""
    before = channel_row(conn, team_id, channel_id)
    after = {name: _clean(name, values.get(name, before.get(name))) for name in NAMES}
    changes = [
        Change(name, before.get(name), after[name]) for name in NAMES if before.get(name) != after[name]
    ]
    if not changes:
        return []
    upsert(
        conn,
        ChannelPreferences,
        {"team_id": team_id, "channel_id": channel_id, **after, "updated_by": user_id, "updated_at": now},
        key=("team_id", "channel_id"),
    )
    _record(conn, team_id, channel_id, user_id, changes, now)
    return changes


def save_workspace(
    conn: Connection,
    *,
    team_id: str,
    user_id: str,
    values: Mapping[str, str | None],
    members_may_configure: bool | None = None,
    prompts: Sequence[Mapping[str, str]] | None = None,
    now: float,
) -> list[Change]:
    """Set a workspace's defaults (None or "": the deployment's), and its workspace-only settings when
    given; the changes, recorded."""
    row = conn.execute(
        select(
            *(getattr(WorkspacePreferences, name) for name in NAMES),
            WorkspacePreferences.members_may_configure,
            WorkspacePreferences.suggested_prompts_json,
        ).where(WorkspacePreferences.team_id == team_id)
    ).first()
    before: Row = _choices(row)
    before[MEMBERS_MAY_CONFIGURE] = "on" if row is not None and row.members_may_configure else "off"
    before[SUGGESTED_PROMPTS] = row.suggested_prompts_json if row is not None else None
    after: Row = {name: _clean(name, values.get(name, before.get(name))) for name in NAMES}
    after[MEMBERS_MAY_CONFIGURE] = (
        before[MEMBERS_MAY_CONFIGURE]
        if members_may_configure is None
        else ("on" if members_may_configure else "off")
    )
    after[SUGGESTED_PROMPTS] = (
        before[SUGGESTED_PROMPTS]
        if prompts is None
        else (json.dumps([dict(p) for p in prompts], ensure_ascii=False) if prompts else None)
    )
    changes = [
        Change(name, before.get(name), after[name]) for name in after if before.get(name) != after[name]
    ]
    if not changes:
        return []
    upsert(
        conn,
        WorkspacePreferences,
        {
            "team_id": team_id,
            **{name: after[name] for name in NAMES},
            "members_may_configure": after[MEMBERS_MAY_CONFIGURE] == "on",
            "suggested_prompts_json": after[SUGGESTED_PROMPTS],
            "updated_by": user_id,
            "updated_at": now,
        },
        key="team_id",
    )
    _record(conn, team_id, None, user_id, changes, now)
    return changes


def _record(
    conn: Connection,
    team_id: str,
    channel_id: str | None,
    user_id: str,
    changes: Sequence[Change],
    now: float,
) -> None:
    conn.execute(
        insert(PreferenceChange),
        [
            {
                "team_id": team_id,
                "channel_id": channel_id,
                "user_id": user_id,
                "name": change.name,
                "old_value": change.old,
                "new_value": change.new,
                "changed_at": now,
            }
            for change in changes
        ],
    )


def _choices(row: Any) -> Row:
    """The choices of a row read with their columns (None: no row, every choice inherited)."""
    return {name: getattr(row, name) if row is not None else None for name in NAMES}


def _clean(name: str, value: str | None) -> str | None:
    return value if valid(name, value) else None
