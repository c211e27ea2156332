"""Stop: a person stops a running turn from the thread (the Stop button on its placeholder, or Slack's own
stop control of an agent session, `agent_session_stopped`).

Blocks has no cancel endpoint, and a follow-up interrupts the running turn, so a stop is an interrupt: the
turn's request becomes a follow-up that tells the agent it was stopped and asks for one line on the state
it left things in; the placeholder then says who stopped it, with that line and the session link. The
agent may already have pushed work. A turn not yet sent to Blocks ends at once (nothing reaches Blocks).
Replies queued behind the stopped turn are not sent: they wait for the next message in the thread.

Two halves, like intake: `request` runs in the Slack listener and only records (one short transaction,
acked after it commits); `run_stop` runs in the worker before the turn's next step, checks that the person
may use the thread's buttons, and does the rest. The listener fences the turn off its worker where that
is safe (the start, an unsent submit, a poll: each repeatable or not begun), so that a poll scheduled a
minute away does not keep the stop waiting; a submit in flight is left to finish and the stop follows it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from functools import partial

from sqlalchemy import Engine, select, update

from bot.db.models import Conversation, Turn
from bot.slack import messages as text
from bot.slack.errors import SlackError
from bot.slack.render import fallback_text
from bot.turns import states
from bot.turns.access import check_control
from bot.turns.context import Runtime, TurnView
from bot.turns.finish import show_notice
from bot.turns.lease import Lease

logger = logging.getLogger(__name__)

REQUESTED = states.STOP_REQUESTED  # a person asked; the worker acts before the turn's next step
STOPPING = states.STOPPING  # the stop's follow-up is the turn's request: its answer is the agent's line


class StopRecorded(enum.Enum):
    REQUESTED = "requested"
    ALREADY = "already"  # a stop is on its way (a double click, a second control, a Slack retry)
    OVER = "over"  # the turn has ended, or its answer is being delivered: nothing to stop
    UNKNOWN = "unknown"  # no running turn there


# Steps in which the turn may be taken off its worker at once (see the module's docstring).
_FENCED_STEPS = (states.START, states.POLL)


def request(
    engine: Engine,
    *,
    team_id: str,
    channel_id: str,
    user_id: str,
    now: float,
    turn_id: int | None = None,
    thread_ts: str | None = None,
) -> StopRecorded:
    """Record that `user_id` asked to stop a turn: the one named (a button's), or the running turn of the
    thread `thread_ts` (Slack's own stop names the thread). Database work only."""
    query = select(Turn.id, Turn.phase, Turn.step, Turn.submit_state, Turn.stop_state).join(
        Conversation, Conversation.id == Turn.conversation_id
    )
    query = query.where(Conversation.team_id == team_id, Conversation.channel_id == channel_id)
    if turn_id is not None:
        query = query.where(Turn.id == turn_id)
    else:
        query = query.where(Conversation.thread_ts == thread_ts, Turn.phase == states.ACTIVE)
    with engine.begin() as conn:
        row = conn.execute(query.with_for_update(of=Turn)).first()
        if row is None:
            return StopRecorded.UNKNOWN
        if row.phase != states.ACTIVE or row.step not in (states.START, states.SUBMIT, states.POLL):
            return StopRecorded.OVER
        if row.stop_state is not None:
            return StopRecorded.ALREADY
        values: dict[str, object] = {
            "stop_state": REQUESTED,
            "stop_requested_by": user_id,
            "stop_requested_at": now,
            "updated_at": now,
        }
        if row.step in _FENCED_STEPS or (row.step == states.SUBMIT and row.submit_state == "none"):
            values.update(lease_token=None, lease_until=None, next_run_at=now)
        conn.execute(update(Turn).where(Turn.id == row.id).values(**values))
    return StopRecorded.REQUESTED


def run_stop(rt: Runtime, lease: Lease, view: TurnView) -> bool:
    """Act on a requested stop; True when it took the place of the turn's step."""
    turn, conversation = view.turn, view.conversation
    stopper = turn.stop_requested_by or turn.requested_by
    now = rt.clock()
    refused = check_control(rt, view, stopper)
    if refused is not None:
        lease.save(now, stop_state=None, stop_requested_by=None, stop_requested_at=None)
        _tried_once(
            view,
            "the refused stop's explanation",
            partial(
                rt.slack.post_ephemeral,
                channel=view.channel,
                user=stopper,
                text=text.control_refused(refused),
                thread_ts=view.thread_ts,
            ),
        )
        return True  # changed: the step runs from a fresh read (its placeholder keeps its Stop button)
    if turn.step == states.START and turn.placeholder_state == "posting":
        # The placeholder may be in the thread already (its post timed out): the start step finds it
        # first, so that the stop's notice replaces it rather than leaving it working for ever.
        return False
    if turn.step == states.START or (turn.step == states.SUBMIT and turn.submit_state == "none"):
        logger.info("turn %s: stopped before it reached Blocks", turn.id)
        show_notice(lease, now, text.stopped_early(stopper), states.STOPPED)
        return True
    if turn.step == states.SUBMIT:
        return False  # a submit that may have reached Blocks is resolved first; the stop follows it
    if turn.step != states.POLL:
        lease.save(now, stop_state=None)  # the answer is in: too late to stop
        return True  # changed: the step runs from a fresh read (with its result buttons)
    logger.info("turn %s: stopping (an interrupting follow-up asks the agent where it left things)", turn.id)
    lease.save(
        now,
        stop_state=STOPPING,
        submit_text=text.stop_prompt(rt.slack.user_name(stopper)),
        submit_state="none",
        submit_started_at=None,
        step=states.SUBMIT,
        next_run_at=now,
        failures=0,
        deadline_at=now + rt.settings.stop_wait_seconds,
        deadline_notified=False,
    )
    if turn.placeholder_ts:
        markdown = text.stopping(conversation.agent, stopper, conversation.session_url)
        _tried_once(
            view,
            "the stopping note",
            partial(
                rt.slack.update,
                channel=view.channel,
                ts=turn.placeholder_ts,
                text=fallback_text(markdown),
                markdown=markdown,
                essential=False,
            ),
        )
    return True


def _tried_once(view: TurnView, what: str, call: Callable[[], object]) -> None:
    """A note that must not hold the stop back: tried once, dropped whatever Slack says (the stop's end
    edits the placeholder again, essentially)."""
    try:
        call()
    except SlackError as exc:
        logger.info("turn %s: %s dropped (%s)", view.turn.id, what, exc.error)


def stopped_answer(view: TurnView) -> str:
    """What the placeholder says once a stop is done, from the agent's answer to the stop's follow-up."""
    turn, conversation = view.turn, view.conversation
    user = turn.stop_requested_by or turn.requested_by
    return text.stopped(conversation.agent, user, turn.answer_text, conversation.session_url)
