"""Fair shares of a Blocks key when its budget is short: across workspaces first, then across the people
of one workspace.

Tokens are a key's, so shares are too. A lane is one person's Blocks steps (creates, follow-ups, polls)
on one key: the steps of their sessions made with that key, and their creates (no session yet, paid by the
workspace's key with the most room). When the steps of several lanes are due and wait for a key's tokens,
its next token goes to the workspace it served least recently and, within it, to the person it served
least recently: round robin at both levels, per key. One person's hundred turns take one token in each
round, as another person's one turn does, and a workspace of fifty busy people takes one token in each
round of workspaces, as a workspace of one does. A person whose sessions are on two keys takes their turn
at each, and loses none at one for being served by the other. A lane that wants less than its share is
served as soon as its step is due (it is the least recently served); what it leaves goes to the others.
With tokens to spare nothing waits and the order is moot.

Which of a lane's own turns goes first is decided as before (creates and follow-ups, then the poll
furthest behind its own cadence; see `lease.claim_next`).

The state is when each key last served each lane, and each workspace (`fair_shares`): two rows written by
the claim that pays, in its transaction. Round robin needs no memory beyond that: a person who was busy
an hour ago and a person who never asked are alike once both wait. Reading the lanes that have a step due
is one grouped read of the due Blocks steps, then two primary-key lookups per lane: its cost grows with
the backlog waiting for tokens, not with the turns in flight (bench/: the claim beside 10,000 due steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Subquery, func, literal, or_, select
from sqlalchemy.orm import aliased

from bot.db.models import Conversation, FairShare, Turn
from bot.db.statements import upsert

WORKSPACE = ""  # the user_id of a workspace's own row

NEVER = float("-inf")  # a lane (or workspace) never served goes before every other


@dataclass(frozen=True)
class Lane:
    """One person's due Blocks steps on one key, in one workspace."""

    team_id: str
    user_id: str
    key_hash: str | None  # their sessions' key; None: creates (no session yet), paid by the roomiest key
    steps: frozenset[str]  # the steps they have due
    workspace_served_at: float  # when the key last served the workspace (creates: any of its keys)
    served_at: float  # and this person
    earliest_due: float

    @property
    def order(self) -> tuple[Any, ...]:
        # Workspaces by when they were served (one workspace's lanes stay together: its rows are one), then
        # its people by when they were; of one person, creates before the rest (as before shares), and
        # otherwise the longest wait.
        return (
            self.workspace_served_at,
            self.team_id,
            self.served_at,
            self.key_hash is not None,
            self.earliest_due,
            self.user_id,
            self.key_hash or "",
        )


def due_lanes(conn: Connection, due: tuple[Any, ...]) -> list[Lane]:
    """The lanes with a Blocks step meeting `due` (conditions on `turns`), in the order they are served."""
    grouped = (
        select(
            Conversation.team_id.label("team_id"),
            Turn.requested_by.label("user_id"),
            Conversation.blocks_key_hash.label("key_hash"),
            Turn.step.label("step"),
            func.min(Turn.next_run_at).label("earliest"),
        )
        .select_from(Turn)
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .where(*due)
        .group_by(Conversation.team_id, Turn.requested_by, Conversation.blocks_key_hash, Turn.step)
        .subquery()
    )
    rows = conn.execute(
        select(
            grouped.c.team_id,
            grouped.c.user_id,
            grouped.c.key_hash,
            grouped.c.step,
            grouped.c.earliest,
            _last_served(grouped, literal(WORKSPACE)),
            _last_served(grouped, grouped.c.user_id),
        )
    ).all()
    lanes: dict[tuple[str, str, str | None], Lane] = {}
    for team_id, user_id, key, step, earliest, workspace_served, served in rows:
        assert earliest is not None  # a due step has a due time
        known = lanes.get((team_id, user_id, key))
        lanes[(team_id, user_id, key)] = Lane(
            team_id,
            user_id,
            key,
            frozenset({step}) | (known.steps if known else frozenset()),
            NEVER if workspace_served is None else float(workspace_served),
            NEVER if served is None else float(served),
            min(float(earliest), known.earliest_due if known else float("inf")),
        )
    return sorted(lanes.values(), key=lambda lane: lane.order)


def _last_served(lanes: Subquery, user: ColumnElement[Any]) -> Any:
    """When the lane's key last served `user` of the lane's workspace; for creates (no key yet) the last
    time any key did, so that a person's creates and polls take one turn between them, not one each."""
    share = aliased(FairShare)
    return (
        select(func.max(share.served_at))
        .where(
            share.team_id == lanes.c.team_id,
            share.user_id == user,
            or_(lanes.c.key_hash.is_(None), share.key_hash == lanes.c.key_hash),
        )
        .scalar_subquery()
    )


def record_served(conn: Connection, team_id: str, user_id: str, key_hash: str, now: float) -> None:
    """A step of this person, in this workspace, got a token of `key_hash` at `now` (in the claim's
    transaction)."""
    for user in (WORKSPACE, user_id):
        upsert(
            conn,
            FairShare,
            {"team_id": team_id, "user_id": user, "key_hash": key_hash, "served_at": now},
            key=("team_id", "user_id", "key_hash"),
            keep_greatest=("served_at",),
        )
