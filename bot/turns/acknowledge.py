"""The Slack-only steps around a turn: 📥 on queued replies, 👀 and the placeholder when work begins, and
the note in an interrupted turn's placeholder."""

from __future__ import annotations

from functools import partial

from sqlalchemy import exists, select, update

from bot.db.models import InboundMessage, Turn
from bot.failpoints import failpoint
from bot.slack import controls
from bot.slack import messages as text
from bot.turns import native, states
from bot.turns.access import REFUSED, check_author
from bot.turns.best_effort import Decorations, best_effort
from bot.turns.context import Runtime, TurnView
from bot.turns.finish import finish, show_notice
from bot.turns.lease import Lease
from bot.turns.posting import MARKER_EVENT, post_once
from bot.turns.send_now import run_send_now
from bot.turns.states import WITHDRAWN
from bot.turns.usage import usage_reply


def run_inbox(rt: Runtime, lease: Lease, view: TurnView) -> None:
    """A waiting turn: mark each queued reply with 📥 so its author knows it will be sent next, and post
    the queued notice once, with its Send now button (see `send_now`)."""
    if view.turn.send_now_by is not None:
        run_send_now(rt, lease, view)
        return
    decorations = Decorations(rt, view)
    for message in view.messages:
        if message.inbox_reacted:
            continue
        decorations.react(message.ts, text.INBOX)
        with lease.transaction(rt.clock()) as conn:
            conn.execute(
                update(InboundMessage).where(InboundMessage.id == message.id).values(inbox_reacted=True)
            )
    if view.turn.queued_notice_state != "posted":
        best_effort(view, "the queued notice", partial(_post_queued_notice, rt, lease, view))
    now = rt.clock()
    # Intake may have queued another reply meanwhile (it holds the same conversation lock).
    with lease.transaction(now, conversation_id=view.conversation.id) as conn:
        more = conn.execute(
            select(
                exists().where(
                    InboundMessage.turn_id == view.turn.id, InboundMessage.inbox_reacted.is_(False)
                )
            )
        ).scalar()
        # Send now may have been pressed meanwhile (it does not fence this step off): then it is due.
        pressed = conn.execute(select(Turn.send_now_by).where(Turn.id == view.turn.id)).scalar()
        due = now if more or pressed is not None else None
        lease.write(conn, now, lease_token=None, lease_until=None, next_run_at=due)


def _post_queued_notice(rt: Runtime, lease: Lease, view: TurnView) -> None:
    ts = post_once(
        rt,
        lease,
        view,
        post="queued-notice",
        state_field="queued_notice_state",
        state=view.turn.queued_notice_state,
        markdown=text.QUEUED,
        actions=[controls.queued(view.turn.id)],
    )
    lease.save(rt.clock(), queued_notice_state="posted", queued_notice_ts=ts)


def run_start(rt: Runtime, lease: Lease, view: TurnView) -> None:
    """👀 on every message of the turn, then the placeholder reply that will become the answer; first,
    whether its requester may drive the agent at all (see `access`)."""
    turn = view.turn
    if turn.placeholder_state == "none" and not _admit(rt, lease, view):
        return
    usage = usage_reply(view, rt.settings.blocks_agent) if turn.placeholder_state == "none" else None
    if usage is not None:
        show_notice(lease, rt.clock(), usage, states.USAGE)  # a reply, and nothing sent to Blocks
        return
    decorations = Decorations(rt, view)
    if turn.queued_notice_ts and turn.placeholder_state == "none":
        decorations.edit("the queued notice", turn.queued_notice_ts, text.QUEUED_SENT)
    for message in view.messages:
        if turn.retry_of is not None:  # the failed turn's ❌ or ⏱️ gives way to this one's 👀
            decorations.unreact(message.ts, text.FAILED)
            decorations.unreact(message.ts, text.GAVE_UP)
        decorations.react(message.ts, text.EYES)
        if message.queued:
            decorations.unreact(message.ts, text.INBOX)
    if turn.placeholder_state != "posted":
        ts = post_once(
            rt,
            lease,
            view,
            post="placeholder",
            state_field="placeholder_state",
            state=turn.placeholder_state,
            markdown=view.placeholder(rt.settings),
            actions=view.controls(),
        )
        now = rt.clock()
        lease.save(now, placeholder_state="posted", placeholder_ts=ts, placeholder_updated_at=now)
        failpoint("after_placeholder_commit")
    native.mark_working(rt, view)
    lease.save(rt.clock(), step=states.SUBMIT, next_run_at=rt.clock(), failures=0)


def run_close(rt: Runtime, lease: Lease, view: TurnView) -> None:
    """An interrupted turn: its placeholder says so, and its messages lose 👀. A withdrawn one (its queued
    replies all deleted): its queued notice says so, and loses its Send now."""
    turn = view.turn
    decorations = Decorations(rt, view)
    if turn.outcome == WITHDRAWN:
        notice = turn.queued_notice_ts
        if notice is None and turn.queued_notice_state == "posting":  # posted as the replies went away?
            marker = {"turn_id": turn.id, "post": "queued-notice"}
            notice = best_effort(
                view,
                "the queued notice's lookup",
                partial(
                    rt.slack.find_marked_reply,
                    channel=view.channel,
                    thread_ts=view.thread_ts,
                    event_type=MARKER_EVENT,
                    payload=marker,
                    oldest=turn.requested_at - 1.0,
                ),
            )
        if notice:
            decorations.edit("the withdrawn notice", notice, text.QUEUED_WITHDRAWN)
        lease.release(rt.clock(), next_run_at=None, step=states.DONE)
        return
    if turn.placeholder_ts:
        note = text.interrupted(turn.stop_requested_by)
        decorations.edit("the interrupted note", turn.placeholder_ts, note)
    for message in view.messages:
        decorations.unreact(message.ts, text.EYES)
        decorations.react(message.ts, text.STOPPED)
    lease.release(rt.clock(), next_run_at=None, step=states.DONE)


def _admit(rt: Runtime, lease: Lease, view: TurnView) -> bool:
    """Check every author of the turn (a merged batch may have several) before anything is shown. Those
    refused hear why, in a message only they see, and their messages stay out of what the agent gets
    (`allowed_messages`); the requester's caps count too. When nobody is left, the turn ends here and
    nothing reaches Blocks; whoever sends again later is checked again (a cap may have freed)."""
    turn = view.turn
    if turn.retry_of is not None:
        # Whoever pressed Retry must be allowed to drive the agent themselves; if not, the retry is
        # undone (the failed turn gets its messages back, and may still be retried by someone who is).
        reason = check_author(rt, view, turn.requested_by, caps=True)
        if reason is not None:
            tell_refused(rt, view, turn.requested_by, reason)
            with lease.transaction(rt.clock()) as conn:
                conn.execute(
                    update(InboundMessage)
                    .where(InboundMessage.turn_id == turn.id)
                    .values(turn_id=turn.retry_of)
                )
                lease.write(conn, rt.clock(), retry_of=None)
            finish(lease, view.conversation.id, rt.clock(), REFUSED)
            return False
    authors = list(dict.fromkeys([turn.requested_by, *(m.user_id for m in view.messages)]))
    admitted = []
    for author in authors:
        reason = check_author(rt, view, author, caps=author == turn.requested_by)
        if reason is None:
            admitted.append(author)
        else:
            tell_refused(rt, view, author, reason)
    if not admitted:
        finish(lease, view.conversation.id, rt.clock(), REFUSED)
        return False
    if admitted[0] != turn.requested_by:
        lease.save(rt.clock(), requested_by=admitted[0])  # the late-answer mention and the audit name them
    return True


def allowed_messages(rt: Runtime, view: TurnView) -> list[InboundMessage]:
    """The turn's messages whose authors may drive the agent (they were told at the start otherwise)."""
    verdicts = {
        author: check_author(rt, view, author, caps=False) is None
        for author in {m.user_id for m in view.messages}
    }
    return [m for m in view.messages if verdicts[m.user_id]]


def tell_refused(rt: Runtime, view: TurnView, user_id: str, reason: str) -> None:
    best_effort(
        view,
        "the refusal",
        partial(
            rt.slack.post_ephemeral,
            channel=view.channel,
            user=user_id,
            text=text.refused(reason),
            thread_ts=view.thread_ts,
        ),
    )
