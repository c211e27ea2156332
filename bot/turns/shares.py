"""Fair shares of a Blocks key when its budget is short: across workspaces first, then across the people
of one workspace.

A lane is one person in one workspace: the Blocks steps (creates, follow-ups, polls) of the turns they
asked for. When the steps of several lanes are due and wait for tokens, the next token goes to the
workspace served least recently and, within it, to the person served least recently: round robin at both
levels. One person's hundred turns take one token in each round, as another person's one turn does, and a
workspace of fifty busy people takes one token in each round of workspaces, as a workspace of one does.
A lane that wants less than its share is served as soon as its step is due (it is the least recently
served); what it leaves goes to the others. With tokens to spare nothing waits and the order is moot.

Which of a lane's own turns goes first is decided as before (creates, then the poll furthest behind its
own cadence; see `lease.claim_next`).

The state is when each lane, and each workspace, last got a token (`fair_shares`): two rows written by the
claim that pays, in its transaction. Round robin needs no memory beyond that: a person who was busy an hour
ago and a person who never asked are alike once both wait. Reading the lanes that have a step due is one
grouped read of the due Blocks steps: its cost grows with the backlog waiting for tokens, not with the
turns in flight (bench/: the claim at 10,000 due).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.orm import aliased

from bot.db.models import Conversation, FairShare, Turn
from bot.db.statements import upsert

WORKSPACE = ""  # the user_id of a workspace's own row

NEVER = float("-inf")  # a lane (or workspace) never served goes before every other


@dataclass(frozen=True)
class Lane:
    """One person's due Blocks steps in one workspace."""

    team_id: str
    user_id: str
    keys: frozenset[str | None]  # the keys of their due steps' sessions (None: a session not made yet)
    workspace_served_at: float
    served_at: float
    earliest_due: float

    @property
    def order(self) -> tuple[float, str, float, float, str]:
        # Workspaces by when they were served (one workspace's lanes stay together: its rows are one), then
        # its people by when they were; a tie goes to the longest wait.
        return (self.workspace_served_at, self.team_id, self.served_at, self.earliest_due, self.user_id)


def due_lanes(conn: Connection, due: tuple[Any, ...]) -> list[Lane]:
    """The lanes with a Blocks step meeting `due` (conditions on `turns`), in the order they are served."""
    workspace_share = aliased(FairShare)
    user_share = aliased(FairShare)
    rows = conn.execute(
        select(
            Conversation.team_id,
            Turn.requested_by,
            Conversation.blocks_key_hash,
            func.max(workspace_share.served_at),
            func.max(user_share.served_at),
            func.min(Turn.next_run_at),
        )
        .select_from(Turn)
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .outerjoin(
            workspace_share,
            and_(workspace_share.team_id == Conversation.team_id, workspace_share.user_id == WORKSPACE),
        )
        .outerjoin(
            user_share,
            and_(user_share.team_id == Conversation.team_id, user_share.user_id == Turn.requested_by),
        )
        .where(*due)
        .group_by(Conversation.team_id, Turn.requested_by, Conversation.blocks_key_hash)
    ).all()
    lanes: dict[tuple[str, str], Lane] = {}
    for team_id, user_id, key, workspace_served, served, earliest in rows:
        assert earliest is not None  # a due step has a due time
        known = lanes.get((team_id, user_id))
        lanes[(team_id, user_id)] = Lane(
            team_id,
            user_id,
            frozenset({key}) | (known.keys if known else frozenset()),
            NEVER if workspace_served is None else float(workspace_served),
            NEVER if served is None else float(served),
            min(float(earliest), known.earliest_due if known else float("inf")),
        )
    return sorted(lanes.values(), key=lambda lane: lane.order)


def record_served(conn: Connection, team_id: str, user_id: str, now: float) -> None:
    """A step of this person, in this workspace, got a token at `now` (in the claim's transaction)."""
    for user in (WORKSPACE, user_id):
        upsert(
            conn,
            FairShare,
            {"team_id": team_id, "user_id": user, "served_at": now},
            key=("team_id", "user_id"),
        )
