"""Under Slack's own tiers (enforced by the stub), a burst of turns is answered without one `ratelimited`:
the bot paces itself, and drops progress edits and 👀 before it delays an answer."""

from __future__ import annotations

from collections.abc import Callable

from bot.sim.slack import BOT_USER_ID, SlackStub
from bot.slack import messages
from tests.conftest import Rig

FACTOR = 30  # a Slack minute lasts two seconds here


def test_a_burst_of_turns_stays_within_slacks_tiers(
    make_rig: Callable[..., Rig], slack_stub: tuple[SlackStub, str]
) -> None:
    stub = slack_stub[0]
    window = 60 / FACTOR
    stub.limits = {
        "chat.update": (50, window),
        "reactions.add": (50, window),
        "reactions.remove": (50, window),
        "chat.postMessage": (60, window),
    }
    rig = make_rig(
        rate_window_seconds=window,  # the bot counts Slack's tiers in the same compressed minute
        slack_tier3_per_minute=50,
        slack_posts_per_minute_per_channel=60,
        progress_edit_seconds=0.1,
    )
    questions = [
        rig.say("UALICE", f"<@{BOT_USER_ID}> task {i} #delay=1", channel=f"C{i % 3}") for i in range(40)
    ]
    for question in questions:
        rig.wait_reaction(question, timeout=60)
    rig.settle(timeout=60)
    assert stub.rate_limited_calls == 0
    for question in questions:
        replies = rig.bot_replies(question)
        assert len(replies) == 1 and "You asked" in replies[0].markdown
        assert question.reactions.get(messages.DONE)
