"""App Homes to draw again because one of their person's turns changed state, drawn by the worker.

Slack draws a person's App Home from the last `views.publish` of it, and refuses to be asked too often:
a person's tab is published at most once every PUBLISH_EVERY_SECONDS. So a change does not publish;
it marks the person's row due (`mark_due`, in the transaction of the change: a turn opened by intake, a
turn finished), and the worker's refresh thread publishes rows that are due and were not published in
the last PUBLISH_EVERY_SECONDS (`refresh_next`), leaving the others due until then. Ten changes in a
second make one publish, which shows the state after the last of them.

A row is claimed with a conditional UPDATE (SKIP LOCKED on PostgreSQL), so replicas never publish one
person's tab together; the claim lapses if its worker dies. A publish clears `due_at` only if nothing
marked the row again while it was drawn (a newer change publishes again). A publish Slack refuses is
tried again later, up to MAX_ATTEMPTS, then dropped until the next change: a tab is a view of state the
person can always redraw by opening it. The listener's own publish (the person opened the tab) is
recorded too (`record_published`), so the worker's next one keeps Slack's interval and a change already
shown is not published again.

Only the database here: intake and `finish` import this module, and it imports neither Slack nor the
tab (the worker passes the drawing in).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, case, select, update

from bot.db.models import Conversation, HomeRefresh, Turn
from bot.db.statements import insert_ignoring_conflict, upsert
from bot.turns import states

logger = logging.getLogger(__name__)

PUBLISH_EVERY_SECONDS = 5.0  # Slack's: a person's App Home at most once every 5 seconds
CLAIM_SECONDS = 30.0  # a worker that died while publishing lets another try after this
MAX_ATTEMPTS = 5
RETRY_SECONDS = 5.0  # a refused publish waits this long times its attempts before the next try
IDLE_SECONDS = 0.5  # how often the refresh thread looks for due rows when there are none


@dataclass(frozen=True)
class Due:
    """A claimed row: whose tab, and the mark it answers (a later mark publishes again)."""

    team_id: str
    enterprise_id: str | None
    user_id: str
    due_at: float
    attempts: int


class Outcome(enum.Enum):
    PUBLISHED = "published"
    REFUSED = "refused"  # Slack did not take it: tried again later
    NOWHERE = "nowhere"  # the deployment is no longer installed in the workspace: nothing to try again


# Draws and publishes one person's tab.
Publish = Callable[[Due], Outcome]


def mark_due(conn: Connection, *, team_id: str, enterprise_id: str | None, user_id: str, now: float) -> None:
    """The person's tab shows something that changed (in the caller's transaction)."""
    upsert(
        conn,
        HomeRefresh,
        {
            "team_id": team_id,
            "user_id": user_id,
            "enterprise_id": enterprise_id,
            "due_at": now,
            "attempts": 0,
        },
        key=("team_id", "user_id"),
    )


def mark_turn(conn: Connection, turn_id: int, conversation_id: int, now: float) -> None:
    """A turn finished: its requester's tab, and the tab of whoever's turn of the same conversation is
    active now (the queued replies that finishing let go). Two lookups by index (the turn's key, the
    conversation's one active turn), whatever the history holds."""
    people = select(Turn.requested_by, Conversation.team_id, Conversation.enterprise_id).join(
        Conversation, Conversation.id == Turn.conversation_id
    )
    finished = conn.execute(people.where(Turn.id == turn_id)).all()
    active = conn.execute(
        people.where(Turn.conversation_id == conversation_id, Turn.phase == states.ACTIVE)
    ).all()
    # In one order, so that two transactions marking the same people never wait on each other in a circle.
    for user_id, team_id, enterprise_id in sorted(
        set(finished) | set(active), key=lambda row: (row[1], row[0])
    ):
        mark_due(conn, team_id=team_id, enterprise_id=enterprise_id, user_id=user_id, now=now)


def record_published(
    engine: Engine, *, team_id: str, enterprise_id: str | None, user_id: str, read_at: float, now: float
) -> None:
    """The listener published the person's tab at `now`, drawn from what the database held at
    `read_at`: a mark made before that is shown already, and the next publish waits Slack's interval."""
    with engine.begin() as conn:
        updated = conn.execute(
            update(HomeRefresh)
            .where(HomeRefresh.team_id == team_id, HomeRefresh.user_id == user_id)
            .values(
                published_at=now,
                due_at=case((HomeRefresh.due_at <= read_at, None), else_=HomeRefresh.due_at),
            )
        )
        if updated.rowcount == 0:
            row = {"team_id": team_id, "user_id": user_id, "enterprise_id": enterprise_id, "attempts": 0}
            insert_ignoring_conflict(conn, HomeRefresh, {**row, "published_at": now})


def claim(engine: Engine, now: float) -> Due | None:
    """The oldest due row whose last publish is at least PUBLISH_EVERY_SECONDS old, claimed; or None."""
    free = (HomeRefresh.claimed_until.is_(None)) | (HomeRefresh.claimed_until < now)
    rested = (HomeRefresh.published_at.is_(None)) | (HomeRefresh.published_at <= now - PUBLISH_EVERY_SECONDS)
    ready = (HomeRefresh.due_at.is_not(None), HomeRefresh.due_at <= now, free, rested)
    with engine.begin() as conn:
        found = conn.execute(
            select(HomeRefresh.team_id, HomeRefresh.user_id)
            .where(*ready)
            .order_by(HomeRefresh.due_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if found is None:
            return None
        claimed = conn.execute(
            update(HomeRefresh)
            .where(HomeRefresh.team_id == found.team_id, HomeRefresh.user_id == found.user_id, *ready)
            .values(claimed_until=now + CLAIM_SECONDS, attempts=HomeRefresh.attempts + 1)
            .returning(
                HomeRefresh.team_id,
                HomeRefresh.enterprise_id,
                HomeRefresh.user_id,
                HomeRefresh.due_at,
                HomeRefresh.attempts,
            )
        ).first()
    if claimed is None:
        return None
    return Due(
        claimed.team_id, claimed.enterprise_id, claimed.user_id, float(claimed.due_at), claimed.attempts
    )


def published(engine: Engine, due: Due, now: float) -> None:
    """Slack has the tab as of the claim: due again only if marked again since."""
    with engine.begin() as conn:
        conn.execute(
            update(HomeRefresh)
            .where(HomeRefresh.team_id == due.team_id, HomeRefresh.user_id == due.user_id)
            .values(
                published_at=now,
                claimed_until=None,
                attempts=0,
                due_at=case((HomeRefresh.due_at <= due.due_at, None), else_=HomeRefresh.due_at),
            )
        )


def failed(engine: Engine, due: Due, now: float, *, give_up: bool = False) -> None:
    """Slack did not take it: tried again later, or (after MAX_ATTEMPTS, or `give_up`) given up on until
    the person's next change."""
    give_up = give_up or due.attempts >= MAX_ATTEMPTS
    with engine.begin() as conn:
        conn.execute(
            update(HomeRefresh)
            .where(HomeRefresh.team_id == due.team_id, HomeRefresh.user_id == due.user_id)
            .values(
                claimed_until=None if give_up else now + RETRY_SECONDS * due.attempts,
                due_at=case((HomeRefresh.due_at <= due.due_at, None), else_=HomeRefresh.due_at)
                if give_up
                else HomeRefresh.due_at,
            )
        )
    if give_up:
        logger.info("App Home of %s/%s not refreshed after %d tries", due.team_id, due.user_id, due.attempts)


def refresh_next(engine: Engine, publish: Publish, clock: Callable[[], float]) -> bool:
    """Publish one due tab; False when none was ready. The publish is dated when Slack answered, so
    the next one keeps Slack's interval from then."""
    due = claim(engine, clock())
    if due is None:
        return False
    try:
        outcome = publish(due)
    except Exception:
        failed(engine, due, clock())
        raise
    if outcome is Outcome.PUBLISHED:
        published(engine, due, clock())
    else:
        failed(engine, due, clock(), give_up=outcome is Outcome.NOWHERE)
    return True
