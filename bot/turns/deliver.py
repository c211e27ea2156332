"""The deliver step: the placeholder becomes the answer (or a notice), overflow goes to further replies,
✅ replaces 👀, and an answer that took minutes also gets a short reply that mentions the requester (an edit
notifies nobody). Then the turn ends and the queued replies, if any, go next.

Progress is committed after every part (`delivered_offset`), so a worker that resumes after a crash or a
Slack rate limit continues with the next part. Editing is idempotent; a new post is recorded before and
after, leaving only the documented window between Slack accepting it and our commit.
"""

from __future__ import annotations

import logging

from bot.config import Settings
from bot.failpoints import failpoint
from bot.slack import messages as text
from bot.slack.gateway import SlackTooLong, SlackUnreachable
from bot.slack.render import DEFAULT_PART_LIMIT, MIN_PART_LIMIT, fallback_text, neutralize, next_part
from bot.turns import states
from bot.turns.context import Runtime, TurnView
from bot.turns.finish import finish
from bot.turns.lease import Lease
from bot.turns.posting import post_once

logger = logging.getLogger(__name__)

_PLACEHOLDER_GONE = {"message_not_found", "msg_not_found", "cant_update_message"}


def body_of(view: TurnView, settings: Settings) -> str:
    """The full text to deliver: a notice as written, or the agent's answer made safe, with the link."""
    turn, session_url = view.turn, view.conversation.session_url
    if turn.notice_text is not None:
        return turn.notice_text
    answer = neutralize(turn.answer_text or "").strip()
    if not answer:
        return text.empty_answer(session_url)
    return answer + text.answer_footer(session_url, private=view.session_is_private(settings))


def run_deliver(rt: Runtime, lease: Lease, view: TurnView) -> None:
    turn = view.turn
    body = body_of(view, rt.settings)
    limit = turn.part_limit or DEFAULT_PART_LIMIT
    offset, parts, placeholder_ts = turn.delivered_offset, turn.parts_posted, turn.placeholder_ts
    post_state = turn.part_post_state
    while offset < len(body):
        part, end = next_part(body, offset, limit)
        try:
            if parts == 0 and placeholder_ts:
                _edit(rt, view, placeholder_ts, part)
            else:
                part_key = f"part-{parts + 1}"
                post_once(
                    rt,
                    lease,
                    view,
                    post=part_key,
                    state_field="part_post_state",
                    state=post_state,
                    markdown=part,
                )
        except SlackTooLong:
            if limit <= MIN_PART_LIMIT:
                raise
            limit = max(MIN_PART_LIMIT, limit // 2)
            logger.info("turn %s: Slack found a part too long; splitting at %d characters", turn.id, limit)
            lease.save(rt.clock(), part_limit=limit)
            continue
        except SlackUnreachable as exc:
            if parts == 0 and placeholder_ts and exc.error in _PLACEHOLDER_GONE:
                placeholder_ts = None  # someone deleted the placeholder: post the answer instead
                lease.save(rt.clock(), placeholder_ts=None)
                continue
            raise
        offset, parts, post_state = end, parts + 1, "none"
        lease.save(rt.clock(), delivered_offset=offset, parts_posted=parts, part_post_state="none")
        failpoint("after_part_commit")

    answered = turn.outcome in (None, states.ANSWERED)
    for message in view.messages:
        # 👀 goes first, so that nobody ever sees it beside the ✅.
        rt.slack.remove_reaction(channel=view.channel, ts=message.ts, name=text.EYES)
        rt.slack.add_reaction(
            channel=view.channel, ts=message.ts, name=text.DONE if answered else text.WARNING
        )

    now = rt.clock()
    if answered and now - turn.requested_at >= rt.settings.late_answer_seconds:
        _late_notice(rt, lease, view)
    finish(lease, view.conversation.id, rt.clock(), turn.outcome or states.ANSWERED, delivered_at=rt.clock())
    failpoint("after_finish")


def _edit(rt: Runtime, view: TurnView, ts: str, part: str) -> None:
    failpoint("before_answer_edit")
    rt.slack.update(channel=view.channel, ts=ts, text=fallback_text(part), markdown=part)
    failpoint("after_answer_edit")


def _late_notice(rt: Runtime, lease: Lease, view: TurnView) -> None:
    if view.turn.late_notice_state == "posted":
        return
    post_once(
        rt,
        lease,
        view,
        post="late-notice",
        state_field="late_notice_state",
        state=view.turn.late_notice_state,
        markdown=None,
        text=text.late_answer(view.turn.requested_by),
    )
    lease.save(rt.clock(), late_notice_state="posted")
