"""The submit step: create the Blocks session (first turn) or send the follow-up (later turns).

Blocks POSTs carry no idempotency key and Blocks has no list endpoint, so a POST is repeated only when it
surely did not take effect. `submit_state = "sending"` is committed before the request; finding it on entry
means an earlier attempt may have reached Blocks (a 500, a gateway's 502 or 504, a read timeout, or a
crash):
- a follow-up is looked up among the session's user messages and adopted only if this turn could have
  written it (same text, a thread no other turn knows, newer than those and than the first attempt),
  sent again if not;
- a create cannot be looked up, so it is reported in the thread rather than repeated (no duplicate session).
"""

from __future__ import annotations

import logging
from functools import partial

from sqlalchemy import select, update

from bot.blocks.client import SubmittedTurn
from bot.blocks.errors import BlocksRejected, BlocksRetryable, BlocksUnknownOutcome
from bot.blocks.keys import key_label
from bot.blocks.links import final_message_url
from bot.db.models import Conversation, Turn
from bot.failpoints import failpoint
from bot.slack import messages as text
from bot.slack.errors import SlackError
from bot.slack.gateway import ThreadMessage
from bot.slack.render import fallback_text
from bot.tenancy import NOT_CONNECTED
from bot.turns import dm_title, states
from bot.turns.acknowledge import allowed_messages
from bot.turns.best_effort import best_effort
from bot.turns.compose import Authored, compose
from bot.turns.context import Runtime, TurnView
from bot.turns.finish import rejection_notice, show_notice
from bot.turns.lease import Lease
from bot.turns.schedule import backoff
from bot.workspace import Workspace

logger = logging.getLogger(__name__)

# Failed attempts in a row (refused as unavailable, or unconfirmed and not found afterwards) after which
# the thread is told instead of trying again. Rate limits do not count: they are a place in line.
MAX_SUBMIT_FAILURES = 8
# How far Blocks' clock may be behind ours when a follow-up's creation time is compared with the start
# of the attempt that may have sent it (a found message older than that cannot be this attempt's).
CLOCK_SKEW_SECONDS = 30.0


def run_submit(rt: Runtime, lease: Lease, view: TurnView) -> None:
    turn, conversation = view.turn, view.conversation
    message = turn.submit_text
    if message is None:
        message = _compose(rt, view)
        lease.save(rt.clock(), submit_text=message)

    if turn.submit_state == "sending":
        _resolve_unconfirmed(rt, lease, view, message)
        return
    if turn.failures >= MAX_SUBMIT_FAILURES:
        notice = text.unavailable(turn.last_error or "no answer", turn.failures)
        show_notice(lease, rt.clock(), notice, states.FAILED)
        return

    if rt.blocks is NOT_CONNECTED:
        # Nothing is sent anywhere: the thread hears who can fix it, and a reply after that tries again.
        show_notice(lease, rt.clock(), text.not_connected(), states.FAILED)
        return
    # Everything Slack must tell us comes first: a Slack error after "sending" would read as a request
    # that may have reached Blocks.
    is_private = _is_private(rt, view) if conversation.session_id is None else False
    # The first attempt's start: a follow-up found later may have been created by any attempt of this turn.
    lease.save(rt.clock(), submit_state="sending", submit_started_at=turn.submit_started_at or rt.clock())
    failpoint("before_submit")
    try:
        if conversation.session_id is None:
            result = rt.blocks.create_session(
                message=message, agent_name=conversation.agent, is_private=is_private
            )
        else:
            result = rt.blocks.send_message(session_id=conversation.session_id, message=message)
    except BlocksRetryable:
        lease.save(rt.clock(), submit_state="none")
        raise
    except BlocksUnknownOutcome as exc:
        lease.save(rt.clock(), last_error=exc.message)
        if conversation.session_id is None:
            show_notice(lease, rt.clock(), text.unconfirmed_create(exc.message), states.FAILED)
        else:
            # Look it up on the next run; each unconfirmed attempt counts, so a Blocks that keeps
            # failing this way ends the turn with a notice instead of being asked forever. Not at once:
            # behind a gateway's 504 or our read timeout, Blocks may still be writing the message, and
            # a lookup that misses it would send it twice.
            failures = turn.failures + 1
            wait = max(backoff(failures), rt.settings.blocks_timeout_seconds)
            lease.release(rt.clock(), next_run_at=rt.clock() + wait, failures=failures)
        return
    except BlocksRejected as exc:
        show_notice(
            lease,
            rt.clock(),
            rejection_notice(exc, conversation.session_url, key=key_label(rt.budget.key_hash)),
            states.FAILED,
            submit_state="none",
        )
        return
    failpoint("after_submit_response")
    _record_submitted(rt, lease, view, result)


def _resolve_unconfirmed(rt: Runtime, lease: Lease, view: TurnView, message: str) -> None:
    conversation = view.conversation
    if conversation.session_id is None:
        reason = view.turn.last_error or "the bot restarted before Blocks answered"
        show_notice(lease, rt.clock(), text.unconfirmed_create(reason), states.FAILED)
        return
    started = view.turn.submit_started_at
    try:
        found = rt.blocks.find_user_message(
            session_id=conversation.session_id,
            text=message,
            known_threads=_threads_of_other_turns(rt, view),
            not_before=None if started is None else started - CLOCK_SKEW_SECONDS,
        )
    except BlocksRejected as exc:
        show_notice(
            lease,
            rt.clock(),
            rejection_notice(exc, conversation.session_url, key=key_label(rt.budget.key_hash)),
            states.FAILED,
        )
        return
    if found is None or found.thread_id is None:
        if view.turn.failures >= MAX_SUBMIT_FAILURES:
            # Blocks kept failing after (or before) taking it: it may have arrived, so say that.
            detail = view.turn.last_error or "no answer"
            notice = text.unconfirmed_follow_up(detail, conversation.session_url)
            show_notice(lease, rt.clock(), notice, states.FAILED)
            return
        logger.info("turn %s: follow-up not found in Blocks; sending it again", view.turn.id)
        lease.release(rt.clock(), next_run_at=rt.clock(), submit_state="none")
        return
    logger.info("turn %s: unconfirmed follow-up found in Blocks; adopting it", view.turn.id)
    _record_submitted(
        rt,
        lease,
        view,
        SubmittedTurn(
            session_id=conversation.session_id,
            thread_id=found.thread_id,
            final_message_url=final_message_url(rt.blocks.api_url, conversation.session_id, found.thread_id),
        ),
    )


def _threads_of_other_turns(rt: Runtime, view: TurnView) -> set[str]:
    """The Blocks threads that earlier turns of this conversation created: never this attempt's."""
    with rt.engine.connect() as conn:
        rows = conn.execute(
            select(Turn.blocks_thread_id).where(
                Turn.conversation_id == view.conversation.id,
                Turn.id != view.turn.id,
                Turn.blocks_thread_id.is_not(None),
            )
        ).scalars()
        return {str(thread_id) for thread_id in rows}


def _record_submitted(rt: Runtime, lease: Lease, view: TurnView, result: SubmittedTurn) -> None:
    turn, conversation = view.turn, view.conversation
    now = rt.clock()
    with lease.transaction(now) as conn:
        if conversation.session_id is None:
            conn.execute(
                update(Conversation)
                .where(Conversation.id == conversation.id)
                .values(
                    session_id=result.session_id,
                    session_url=result.session_url,
                    blocks_key_hash=rt.budget.key_hash,
                    updated_at=now,
                )
            )
            dm_title.learn(conn, conversation, result.title, now)
        lease.write(
            conn,
            now,
            submit_state="sent",
            submitted_at=now,
            blocks_thread_id=result.thread_id,
            final_message_url=result.final_message_url,
            # A stop's follow-up keeps the short wait the stop gave it (see `stop`).
            deadline_at=turn.deadline_at
            if turn.stop_state == states.STOPPING
            else turn.requested_at + rt.settings.turn_deadline_seconds,
            horizon_at=turn.requested_at + rt.settings.turn_horizon_seconds,
            step=states.POLL,
            next_run_at=now + rt.settings.poll_first_seconds,
            failures=0,
            last_error=None,
        )
    failpoint("after_submit_commit")
    conversation.session_id = result.session_id
    conversation.session_url = conversation.session_url or result.session_url
    _show_session_link(rt, lease, view)


def _show_session_link(rt: Runtime, lease: Lease, view: TurnView) -> None:
    """Best effort: the placeholder gains its View session link now; the poll step retries if not."""
    if not view.turn.placeholder_ts or not view.conversation.session_url:
        return
    markdown = view.placeholder(rt.settings)
    try:
        shown = rt.slack.update(
            channel=view.channel,
            ts=view.turn.placeholder_ts,
            text=fallback_text(markdown),
            markdown=markdown,
            essential=False,
            actions=view.controls(),
        )
    except SlackError as exc:
        logger.info("turn %s: placeholder link not shown yet (%s)", view.turn.id, exc.error)
        return
    if shown:
        lease.save(rt.clock(), placeholder_updated_at=rt.clock())


def _is_private(rt: Runtime, view: TurnView) -> bool:
    """With PRIVATE_SESSIONS on, DM and private-channel sessions are private in Blocks."""
    if not rt.settings.private_sessions:
        return False
    conversation = view.conversation
    if conversation.channel_type == "unknown":  # a mention: Slack did not say, so ask once
        private = best_effort(
            view, "asking whether the channel is private", partial(rt.slack.channel_is_private, view.channel)
        )
        # Slack would not say: treat it as private (a session that is private by mistake is the lesser harm).
        conversation.channel_type = "channel" if private is False else "group"
        with rt.engine.begin() as conn:
            conn.execute(
                update(Conversation)
                .where(Conversation.id == conversation.id)
                .values(channel_type=conversation.channel_type)
            )
    return view.is_private_place


def _compose(rt: Runtime, view: TurnView) -> str:
    # A merged batch may hold replies of people who may not drive the agent (a guest in the thread):
    # theirs stay out (they were told when the turn started).
    allowed = allowed_messages(rt, view)
    authored = [Authored(message.user_id, message.text, message.files_json) for message in allowed]
    history: list[Authored] = []
    left_out = 0
    is_first_turn = view.conversation.session_id is None
    if is_first_turn and view.conversation.joins_existing_thread and view.messages:
        first_ts = view.messages[0].ts
        read = partial(rt.slack.thread_messages, channel=view.channel, thread_ts=view.thread_ts)
        earlier = best_effort(view, "reading the thread's earlier messages", read) or []
        for m in earlier:
            if m.ts >= first_ts or m.is_bot or not m.user_id:
                continue
            if not rt.settings.allow_external_users and _is_external(rt, view, m):
                left_out += 1  # another organization's words are not ours to hand to the agent
                continue
            history.append(Authored(m.user_id, m.text))
    return compose(authored, rt.slack.user_name, history=history, external_left_out=left_out)


def _is_external(rt: Runtime, view: TurnView, message: ThreadMessage) -> bool:
    """An author of another organization in a shared channel (Slack Connect)."""
    conversation = view.conversation
    home = Workspace(conversation.team_id, conversation.enterprise_id)
    user_id = message.user_id
    return home.is_external(
        message.team_id,
        author_enterprise=(lambda: rt.slack.user(user_id).enterprise_id) if user_id else None,
    )
