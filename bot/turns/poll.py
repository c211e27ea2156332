"""The poll step: one request reads the newest items of the turn's thread, so completion and progress come
together. Progress edits are throttled and are the first thing dropped when Slack pushes back; the final
answer is never dropped (the deliver step retries until it is in)."""

from __future__ import annotations

import logging

from bot import metrics
from bot.blocks import pull_requests
from bot.blocks.client import SessionRead
from bot.blocks.errors import BlocksError, BlocksRejected
from bot.blocks.failure_notice import is_failure_notice
from bot.blocks.keys import key_label
from bot.failpoints import failpoint
from bot.slack import messages as text
from bot.slack.errors import SlackError
from bot.slack.render import fallback_text
from bot.tenancy import NOT_CONNECTED
from bot.turns import dm_title, states
from bot.turns.context import Runtime, TurnView
from bot.turns.finish import rejection_notice, show_notice
from bot.turns.lease import Lease
from bot.turns.progress import advance, load_plan
from bot.turns.progress import note as progress_note
from bot.turns.stop import STOPPING

logger = logging.getLogger(__name__)


def run_poll(rt: Runtime, lease: Lease, view: TurnView) -> None:
    turn, conversation = view.turn, view.conversation
    now = rt.clock()
    assert conversation.session_id and turn.blocks_thread_id
    if turn.horizon_at is not None and now >= turn.horizon_at:
        hours = rt.settings.turn_horizon_seconds / 3600
        show_notice(lease, now, text.gave_up(round(hours, 2), conversation.session_url), states.EXPIRED)
        return
    if rt.blocks is NOT_CONNECTED:  # the workspace's keys were removed while the agent worked
        show_notice(lease, now, text.not_connected(conversation.session_url), states.FAILED)
        return
    try:
        snapshot = rt.blocks.read_thread(session_id=conversation.session_id, thread_id=turn.blocks_thread_id)
    except BlocksRejected as exc:
        show_notice(
            lease,
            rt.clock(),
            rejection_notice(exc, conversation.session_url, key=key_label(rt.budget.key_hash)),
            states.FAILED,
        )
        return
    failpoint("after_poll_response")
    now = rt.clock()
    if turn.next_run_at is not None:
        metrics.POLL_LAG_SECONDS.observe(max(0.0, now - turn.next_run_at))
    progress = advance(
        snapshot.items,
        steps=turn.steps,
        cursor=turn.progress_cursor,
        plan=load_plan(turn.plan_json),
        at_least=turn.steps_partial,
        pull_requests=pull_requests.loads(turn.pull_requests_json),
    )
    counted = {
        "steps": progress.steps,
        "steps_partial": progress.at_least,
        "progress_cursor": progress.cursor,
        "plan_json": progress.plan_json(),
        "pull_requests_json": pull_requests.dumps(progress.pull_requests),
    }
    stopping = turn.stop_state == STOPPING
    if snapshot.final is not None:
        outcome = _outcome_of(snapshot.final.text, stopping=stopping)
        if outcome == states.ANSWERED:
            session = _read_session(rt, conversation.session_id, now)
            found = session.pull_requests
            merged = pull_requests.merge(progress.pull_requests, *(pull_requests.find(url) for url in found))
            counted["pull_requests_json"] = pull_requests.dumps(merged)
            dm_title.learn_now(rt.engine, conversation, session.title, now)  # if the create had none
        lease.save(
            now,
            **counted,
            answer_text=snapshot.final.text,
            answer_ready_at=_ready_at(snapshot.final.created_epoch, turn.submitted_at, now),
            outcome=outcome,
            step=states.DELIVER,
            next_run_at=now,
            polls=turn.polls + 1,
            failures=0,
        )
        failpoint("after_answer_stored")
        return

    past_deadline = turn.deadline_at is not None and now >= turn.deadline_at
    if stopping and past_deadline:
        # A stopped agent that does not say where it left things within the wait: the stop is done.
        user = turn.stop_requested_by or turn.requested_by
        notice = text.stopped(conversation.agent, user, None, conversation.session_url)
        show_notice(lease, now, notice, states.STOPPED, **counted)
        return
    note = progress_note(progress, now - (turn.submitted_at or turn.requested_at))
    updates: dict[str, object] = dict(counted)
    if past_deadline and not turn.deadline_notified:
        turn.deadline_notified = True
        if _edit_placeholder(rt, view, None, force=True):
            updates.update(deadline_notified=True, placeholder_updated_at=now)
    elif not past_deadline:
        shown = _edit_placeholder(rt, view, note, force=False)
        if shown:
            updates.update(placeholder_note=note, placeholder_updated_at=now)
    next_run_at = rt.settings.poll_policy.next_poll(
        due_at=turn.next_run_at or now,
        now=now,
        age=now - (turn.submitted_at or turn.requested_at),
        past_deadline=past_deadline,
    )
    lease.release(now, next_run_at=next_run_at, polls=turn.polls + 1, failures=0, **updates)


def _read_session(rt: Runtime, session_id: str, now: float) -> SessionRead:
    """The session's pull requests (and title), at the cost of one more request: made only with a spare
    token of the key (never at the cost of someone's poll), and dropped on any error (the buttons are a
    convenience)."""
    with rt.engine.begin() as conn:
        if not rt.budget.take_spare(conn, now):
            return SessionRead([])
    try:
        return rt.blocks.read_session(session_id=session_id)
    except BlocksError as exc:
        logger.info("the session's pull requests were not read (%s)", type(exc).__name__)
        return SessionRead([])


def _outcome_of(final: str, *, stopping: bool) -> str:
    """A stop's answer is the agent's last line; a failure notice (the agent itself failed) fails the turn;
    anything else is the answer."""
    if stopping:
        return states.STOPPED
    return states.FAILED if is_failure_notice(final) else states.ANSWERED


def _ready_at(created: float | None, submitted_at: float | None, now: float) -> float:
    """When the answer was ready in Blocks: its own time stamp, kept between the request and now (the two
    clocks differ a little), or now when it has none. The added latency is measured from here."""
    if created is None:
        return now
    return min(now, max(created, submitted_at or created))


def _edit_placeholder(rt: Runtime, view: TurnView, note: str | None, *, force: bool) -> bool:
    """Edit the placeholder when it would show something new; progress edits are throttled and dropped
    quietly when Slack objects. True when the edit was made."""
    turn = view.turn
    if not turn.placeholder_ts:
        return False
    last_edit = turn.placeholder_updated_at or 0.0
    # The edit that adds the session link right after submit is best effort; until it lands, retry it.
    link_pending = turn.submitted_at is not None and last_edit < turn.submitted_at
    if not force and not link_pending:
        unchanged = note == turn.placeholder_note
        recent = rt.clock() - last_edit < rt.settings.progress_edit_seconds
        if unchanged or recent:
            return False
    markdown = view.placeholder(rt.settings, note)
    try:
        return rt.slack.update(
            channel=view.channel,
            ts=turn.placeholder_ts,
            text=fallback_text(markdown),
            markdown=markdown,
            essential=force,
            actions=view.controls(),
        )
    except SlackError as exc:
        logger.info("turn %s: progress edit dropped (%s)", turn.id, exc.error)
        return False
