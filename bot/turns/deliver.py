"""The deliver step: the placeholder becomes the answer (or a notice), overflow goes to further replies,
✅ replaces 👀, and an answer that took minutes also gets a short reply that mentions the requester (an edit
notifies nobody). Then the turn ends and the queued replies, if any, go next.

Progress is committed after every part (`delivered_offset`), so a worker that resumes after a crash or a
Slack rate limit continues with the next part. Editing is idempotent; a new post is recorded before and
after, leaving only the documented window between Slack accepting it and our commit.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from bot import metrics
from bot.blocks import pull_requests
from bot.config import Settings
from bot.failpoints import failpoint
from bot.slack import controls
from bot.slack import messages as text
from bot.slack.errors import SlackError, SlackMessageGone, SlackTooLong, is_refusal
from bot.slack.render import (
    DEFAULT_PART_LIMIT,
    MIN_PART_LIMIT,
    fallback_text,
    fits_plain,
    neutralize,
    next_part,
)
from bot.turns import states
from bot.turns.best_effort import BEST_EFFORT_TRIES, Decorations, best_effort
from bot.turns.context import Runtime, TurnView
from bot.turns.finish import finish
from bot.turns.lease import Lease
from bot.turns.posting import post_once
from bot.turns.resend import RETRYABLE, retryable
from bot.turns.stop import STOPPING, stopped_answer

logger = logging.getLogger(__name__)

# The calls whose refusal says something about the part itself (its blocks, the placeholder): only these
# lead to the fallbacks (post instead of edit, plain text instead of markdown).
POSTING_METHODS = frozenset({"chat.postMessage", "chat.update"})


def body_of(view: TurnView, settings: Settings) -> str:
    """The full text to deliver: a notice as written, or the agent's answer made safe, with the link."""
    turn, session_url = view.turn, view.conversation.session_url
    if turn.notice_text is not None:
        return turn.notice_text
    if turn.stop_state == STOPPING:
        return stopped_answer(view)  # the agent's line on where it left things, with who stopped it
    answer = neutralize(turn.answer_text or "").strip()
    if not answer:
        return text.empty_answer(session_url)
    if settings.answers == "summary":
        # The channel chose summaries: the start of the answer, cut where a part would be; the rest is in
        # the session that the result line links.
        start, end = next_part(answer, 0, SUMMARY_LIMIT)
        answer = answer if end >= len(answer) else start.rstrip() + "\n\n" + text.SUMMARY_NOTE
    elif is_long(view, settings):
        # The thread shows its start, cut where a part would be; the whole of it is shared as a file.
        start, _ = next_part(answer, 0, DEFAULT_PART_LIMIT - LONG_NOTE_ROOM)
        answer = start.rstrip() + "\n\n" + text.long_answer_note(len(turn.answer_text or ""))
    # Only what never changes once the answer is in: the body is cut into parts by offset, across runs.
    started = turn.submitted_at or turn.requested_at
    took = (turn.answer_ready_at or started) - started
    return answer + text.answer_footer(
        session_url,
        private=view.session_is_private(settings),
        agent=view.conversation.agent,
        seconds=took,
        steps=text.steps(turn.steps, at_least=turn.steps_partial),
    )


def outcome_reaction(outcome: str | None) -> str:
    """The reaction on the person's messages that tells how their turn ended, at a glance."""
    if outcome in (None, states.ANSWERED):
        return text.DONE
    if outcome == states.STOPPED:
        return text.STOPPED
    if outcome == states.FAILED:
        return text.FAILED
    if outcome == states.EXPIRED:
        return text.GAVE_UP
    return text.WARNING


def run_deliver(rt: Runtime, lease: Lease, view: TurnView) -> None:
    turn = view.turn
    body = body_of(view, rt.settings)
    limit = turn.part_limit or DEFAULT_PART_LIMIT
    offset, parts, placeholder_ts = turn.delivered_offset, turn.parts_posted, turn.placeholder_ts
    post_state = turn.part_post_state
    plain = False  # Slack refused this part with its markdown block: send it as plain text
    while offset < len(body):
        part, end = next_part(body, offset, limit)
        last = end >= len(body) and not plain
        actions = _result_buttons(view) if last else []
        if plain and not fits_plain(part) and limit > MIN_PART_LIMIT:
            # Sent as plain text, escaping makes it longer: smaller parts, so that none is cut.
            limit = max(MIN_PART_LIMIT, limit // 2)
            lease.save(rt.clock(), part_limit=limit)
            continue
        try:
            if parts == 0 and placeholder_ts:
                _edit(rt, view, placeholder_ts, part, actions)
            else:
                part_key = f"part-{parts + 1}"
                post_once(
                    rt,
                    lease,
                    view,
                    post=part_key,
                    state_field="part_post_state",
                    state=post_state,
                    markdown=None if plain else part,
                    text=fallback_text(part) if plain else None,
                    actions=actions,
                )
        except SlackTooLong:
            if limit <= MIN_PART_LIMIT:
                raise
            limit = max(MIN_PART_LIMIT, limit // 2)
            logger.info("turn %s: Slack found a part too long; splitting at %d characters", turn.id, limit)
            lease.save(rt.clock(), part_limit=limit)
            continue
        except SlackError as exc:
            if exc.method not in POSTING_METHODS:
                raise  # e.g. the lookup of an unconfirmed post: the part itself was not refused
            if parts == 0 and placeholder_ts and _cannot_edit(exc, turn.failures):
                # Deleted, too old to edit, or refused: the answer becomes a new reply instead.
                logger.info(
                    "turn %s: placeholder cannot be edited (%s); posting the answer", turn.id, exc.error
                )
                placeholder_ts = None
                lease.save(rt.clock(), placeholder_ts=None)
                continue
            if not plain and is_refusal(exc, turn.failures + 1):
                logger.info(
                    "turn %s: Slack refused a part (%s); sending it as plain text", turn.id, exc.error
                )
                plain, post_state = True, "none"  # refused: it was not posted
                continue
            raise
        offset, parts, post_state, plain = end, parts + 1, "none", False
        lease.save(rt.clock(), delivered_offset=offset, parts_posted=parts, part_post_state="none")
        failpoint("after_part_commit")

    if is_long(view, rt.settings) and turn.file_state not in ("uploaded", "refused"):
        _share_whole(rt, lease, view)
    answered = turn.outcome in (None, states.ANSWERED)
    decorations = Decorations(rt, view)
    for message in view.messages if turn.outcome != states.USAGE else ():  # usage: no 👀 to replace
        # 👀 goes first, so that nobody ever sees it beside the ✅.
        decorations.unreact(message.ts, text.EYES)
        decorations.react(message.ts, outcome_reaction(turn.outcome), essential=True)

    now = rt.clock()
    if answered and now - turn.requested_at >= rt.settings.late_answer_seconds:
        best_effort(view, "the late-answer mention", partial(_late_notice, rt, lease, view))
    finish(lease, view.conversation.id, rt.clock(), turn.outcome or states.ANSWERED, delivered_at=rt.clock())
    if answered and turn.answer_ready_at is not None:
        metrics.ADDED_LATENCY_SECONDS.observe(max(0.0, rt.clock() - turn.answer_ready_at))
    failpoint("after_finish")


# Up to about four messages' worth the answer arrives split into parts; past that, its start, and the whole
# of it as a markdown file in the thread (twenty messages of text are read by nobody).
LONG_ANSWER = 12_000
LONG_NOTE_ROOM = 500  # the note and the result line, so that the start and they are one message
# A summary (`ANSWERS=summary`, or a channel's choice): about a paragraph or two.
SUMMARY_LIMIT = 600


def is_long(view: TurnView, settings: Settings) -> bool:
    """An answer shown by its start and shared whole as a file (not in a channel that chose summaries)."""
    turn = view.turn
    return (
        settings.answers == "full"
        and turn.notice_text is None
        and turn.stop_state is None
        and len(neutralize(turn.answer_text or "").strip()) > LONG_ANSWER
    )


def _share_whole(rt: Runtime, lease: Lease, view: TurnView) -> None:
    """The whole answer as `answer-<turn>.md` in the thread, once: an upload that may have happened before
    a crash is looked for first. The file is the answer's complement, not the answer: Slack refusing it
    (no `files:write`, files turned off), or failing it a few times, leaves the start and the session
    link, and the turn ends as answered."""
    turn = view.turn
    filename = f"answer-{turn.id}.md"
    try:
        if turn.file_state == "uploading":
            found = rt.slack.shared_file(channel=view.channel, thread_ts=view.thread_ts, filename=filename)
            if found is not None:
                lease.save(rt.clock(), file_state="uploaded", file_id=found)
                return
        lease.save(rt.clock(), file_state="uploading")
        file_id = rt.slack.upload_markdown(
            channel=view.channel,
            thread_ts=view.thread_ts,
            filename=filename,
            title=f"{view.conversation.agent}'s answer",
            content=neutralize(turn.answer_text or ""),  # a preview of it shows links: honest ones only
        )
    except SlackError as exc:
        # An install made before the bot asked for `files:write` lacks the scope: that is a refusal too.
        refused = exc.error == "missing_scope" or is_refusal(exc, turn.failures + 1)
        if not refused and turn.failures + 1 < BEST_EFFORT_TRIES:
            raise  # may pass: the step runs again, and looks for the file first
        logger.warning(
            "turn %s: the answer's file is not shared (%s); its start is in the thread", turn.id, exc.error
        )
        lease.save(rt.clock(), file_state="refused")
        return
    lease.save(rt.clock(), file_state="uploaded", file_id=file_id)


def _result_buttons(view: TurnView) -> list[dict[str, Any]]:
    """Under the last part: the pull requests the agent opened, then 👍/👎 for an answer, or Retry for a
    turn that failed or gave up waiting."""
    turn = view.turn
    buttons = []
    if turn.notice_text is None and turn.stop_state is None:
        prs = pull_requests.merge(
            pull_requests.loads(turn.pull_requests_json), pull_requests.find(turn.answer_text or "")
        )
        if prs:
            buttons.append(controls.pull_requests(prs))
    if turn.outcome in RETRYABLE and retryable(turn.stop_state, turn.texts_purged_at):
        buttons.append(controls.failed(turn.id))
    elif turn.notice_text is None and turn.outcome in (None, states.ANSWERED):
        buttons.append(controls.answered(turn.id))
    return buttons


def _cannot_edit(exc: SlackError, failures: int) -> bool:
    return isinstance(exc, SlackMessageGone) or is_refusal(exc, failures + 1)


def _edit(rt: Runtime, view: TurnView, ts: str, part: str, actions: list[dict[str, Any]]) -> None:
    failpoint("before_answer_edit")
    rt.slack.update(channel=view.channel, ts=ts, text=fallback_text(part), markdown=part, actions=actions)
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
