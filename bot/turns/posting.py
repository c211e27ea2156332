"""Posting a new Slack message at most once, across crashes.

`chat.postMessage` has no idempotency key. So a post is recorded as "posting" before it is sent and
carries a marker in its message metadata (the turn and which post it is). A worker that finds "posting"
on entry does not know whether the earlier attempt reached Slack: it first looks for the marker among the
thread's replies since the request, and posts only if it is not there.

What remains open: a worker that crashes after Slack accepted the post and before the lookup can see it
(Slack shows new replies at once, so in practice: a thread longer than one `conversations.replies` page, or
an app limited to 15 replies a call). README, "Delivery guarantees", names this window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bot.failpoints import failpoint
from bot.slack.errors import SlackAuthError, SlackError, SlackRateLimited, SlackTransient
from bot.slack.render import fallback_text
from bot.turns.context import Runtime, TurnView
from bot.turns.lease import Lease

logger = logging.getLogger(__name__)

MARKER_EVENT = "blocks_slack_post"


def post_once(
    rt: Runtime,
    lease: Lease,
    view: TurnView,
    *,
    post: str,
    state_field: str,
    state: str,
    markdown: str | None,
    text: str | None = None,
    actions: Sequence[dict[str, Any]] = (),
) -> str:
    """Post `markdown` (or plain `text`) in the turn's thread once, with `actions` (buttons) under it;
    return its ts."""
    marker = {"turn_id": view.turn.id, "post": post}
    if state == "posting":
        try:
            found = rt.slack.find_marked_reply(
                channel=view.channel,
                thread_ts=view.thread_ts,
                event_type=MARKER_EVENT,
                payload=marker,
                oldest=view.turn.requested_at - 1.0,
            )
        except (SlackRateLimited, SlackTransient, SlackAuthError):
            raise  # may pass: look again later
        except SlackError as exc:
            # Slack will not show the thread (a refusal): posting again is the lesser harm than never.
            logger.warning(
                "turn %s: cannot look for %s before posting it (%s)", view.turn.id, post, exc.error
            )
            found = None
        if found is not None:
            logger.info("turn %s: %s was posted before a restart; not posting it again", view.turn.id, post)
            return found
    lease.save(rt.clock(), **{state_field: "posting"})
    failpoint(f"before_post_{post}")
    ts = rt.slack.post(
        channel=view.channel,
        thread_ts=view.thread_ts,
        text=text if text is not None else fallback_text(markdown or ""),
        markdown=markdown,
        metadata={"event_type": MARKER_EVENT, "event_payload": marker},
        actions=actions,
    )
    failpoint(f"after_post_{post}")
    return ts
