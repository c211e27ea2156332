"""Slack's native agent session surface: while a turn works, the thread is marked as an agent session
that is `processing` (Slack then shows its own stop control, which sends `agent_session_stopped`; see
`stop`), with a title from the request; when the last turn of the thread ends, it is marked `active`
again (idle). Crashes included: the end is a step of its own (`settle`, scheduled by `finish`), so a
restarted worker does it, and a thread never stays looking busy.

Every call is optional. A workspace (or a Slack deployment) that answers `unknown_method`,
`missing_scope` or `not_allowed` keeps the plain placeholder, and the bot remembers that for the
workspace (`slack_capabilities`) instead of repeating the failing call on every turn. `assistant.threads.
setStatus` is not used: while its status is set Slack may disable the thread's composer, which would keep
people from replying during a run, and it expires after two minutes.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, select, update

from bot.db.models import Conversation, SlackCapability, Turn
from bot.db.statements import upsert
from bot.slack.errors import SlackError, SlackRateLimited, SlackTransient
from bot.slack.neutralize import neutralize_inline
from bot.turns import states
from bot.turns.best_effort import BEST_EFFORT_TRIES
from bot.turns.context import Runtime, TurnView
from bot.turns.lease import Lease

logger = logging.getLogger(__name__)

FEATURE = "agent_sessions"
PROCESSING = "processing"
IDLE = "active"  # Slack's name for a session that is open and not working
# What a workspace or deployment without the feature answers: fall back, and remember it.
UNAVAILABLE = frozenset(
    {"unknown_method", "missing_scope", "not_allowed", "not_allowed_token_type", "method_deprecated"}
)
TITLE_LIMIT = 120


def refused(engine: Engine, team_id: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            select(SlackCapability.error).where(
                SlackCapability.team_id == team_id, SlackCapability.feature == FEATURE
            )
        ).first()
    return found is not None


def _remember_refusal(rt: Runtime, team_id: str, error: str) -> None:
    logger.info("workspace %s: no native agent sessions (%s); the plain placeholder it is", team_id, error)
    with rt.engine.begin() as conn:
        values = {"team_id": team_id, "feature": FEATURE, "error": error[:64], "refused_at": rt.clock()}
        upsert(conn, SlackCapability, values, key=("team_id", "feature"))


def mark_working(rt: Runtime, view: TurnView) -> None:
    """After the placeholder is up: the thread's session is `processing` (once per run of turns)."""
    conversation = view.conversation
    if conversation.agent_status == PROCESSING or refused(rt.engine, conversation.team_id):
        return
    first = next((m.text for m in view.messages if m.text.strip()), "")
    # A DM thread titled with its Blocks session's title (dm_title) keeps it when a follow-up starts.
    title = (
        conversation.title
        or neutralize_inline(" ".join(first.split()), TITLE_LIMIT)
        or f"{conversation.agent} session"
    )
    # Recorded first: a crash right after the call must still leave the thread to be settled at the end
    # (settling a thread Slack never marked costs one harmless call).
    with rt.engine.begin() as conn:
        conn.execute(
            update(Conversation).where(Conversation.id == conversation.id).values(agent_status=PROCESSING)
        )
    try:
        rt.slack.set_agent_status(
            channel=view.channel,
            thread_ts=view.thread_ts,
            status=PROCESSING,
            title=title,
            initiator=view.turn.requested_by,
        )
    except SlackError as exc:
        if exc.error in UNAVAILABLE:
            _remember_refusal(rt, conversation.team_id, exc.error)
        else:
            logger.info("turn %s: the agent session status was not set (%s)", view.turn.id, exc.error)


def needs_settling(conn: Connection, conversation_id: int) -> bool:
    """In `finish`'s transaction: the thread was marked working, and no turn of it works any more."""
    status = conn.execute(
        select(Conversation.agent_status).where(Conversation.id == conversation_id)
    ).scalar()
    if status != PROCESSING:
        return False
    active = conn.execute(
        select(Turn.id).where(Turn.conversation_id == conversation_id, Turn.phase == states.ACTIVE)
    ).first()
    return active is None


def run_settle(rt: Runtime, lease: Lease, view: TurnView) -> None:
    """A finished turn whose thread was marked working: mark it idle (a few tries, like a reaction)."""
    conversation = view.conversation
    now = rt.clock()
    with lease.transaction(now) as conn:
        busy_again = not needs_settling(conn, conversation.id)
    if not busy_again and not refused(rt.engine, conversation.team_id):
        try:
            rt.slack.set_agent_status(channel=view.channel, thread_ts=view.thread_ts, status=IDLE)
        except SlackError as exc:
            if exc.error in UNAVAILABLE:
                _remember_refusal(rt, conversation.team_id, exc.error)
            elif (
                isinstance(exc, SlackRateLimited | SlackTransient)
                and view.turn.failures + 1 < BEST_EFFORT_TRIES
            ):
                raise  # may pass: the step runs again
            else:
                logger.info("turn %s: the idle agent status was dropped (%s)", view.turn.id, exc.error)
    with lease.transaction(rt.clock()) as conn:
        if not busy_again:
            conn.execute(
                update(Conversation).where(Conversation.id == conversation.id).values(agent_status=None)
            )
        lease.write(conn, rt.clock(), step=states.DONE, next_run_at=None, lease_token=None, lease_until=None)
