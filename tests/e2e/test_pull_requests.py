"""Pull requests the agent opened appear as buttons on its answer: found in its answer, in the tool calls
the polls read, and in the session's `pull_requests` (one extra request, made only with a spare token of
the key). On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from bot.sim.blocks import OPENED_PR, SESSION_PR, VIEWED_PR
from bot.sim.slack import BOT_USER_ID
from bot.slack import controls
from tests.conftest import Rig

MENTION = f"<@{BOT_USER_ID}>"


def test_the_answer_carries_a_button_for_each_pull_request(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} fix the widget and open a PR #pr #delay=2")
    rig.wait_reaction(question)
    (answer,) = rig.bot_replies(question)
    blocks = {b.get("block_id"): b for b in answer.blocks}
    buttons = blocks[controls.PULL_REQUESTS_BLOCK]["elements"]
    assert [(b["text"]["text"], b["url"]) for b in buttons] == [
        ("PR acme/widgets#17", VIEWED_PR),  # seen in a tool call while it worked
        ("PR acme/widgets#42", OPENED_PR),  # named in its answer (and listed by the session)
        ("PR acme/widgets#43", SESSION_PR),  # listed by the session only (its id-only entry links nowhere)
    ]
    assert controls.ANSWER_BLOCK in blocks, "👍/👎 too"
    gets = [e for e in rig.blocks.log if e["method"] == "GET" and "/threads/" not in e["path"]]
    assert len(gets) == 1, "one extra request: the session, once its answer is in"


def test_the_sessions_pull_requests_are_the_first_request_dropped_when_the_key_is_short(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(blocks_rate_limit_per_minute=8)  # a key this small keeps no token spare
    question = rig.say("UALICE", f"{MENTION} fix it and open a PR #pr #delay=1")
    rig.wait_reaction(question, timeout=60)
    gets = [e for e in rig.blocks.log if e["method"] == "GET" and "/threads/" not in e["path"]]
    assert gets == [], "no spare token: the session is not read"
    (answer,) = rig.bot_replies(question)
    labels = [
        b["text"]["text"]
        for b in {b.get("block_id"): b for b in answer.blocks}[controls.PULL_REQUESTS_BLOCK]["elements"]
    ]
    assert labels == ["PR acme/widgets#17", "PR acme/widgets#42"], "what the answer and tool calls name"


def test_an_answer_without_pull_requests_has_no_such_buttons(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} explain it, see https://github.com/acme/widgets/issues/3")
    rig.wait_reaction(question)
    (answer,) = rig.bot_replies(question)
    assert controls.PULL_REQUESTS_BLOCK not in {b.get("block_id") for b in answer.blocks}
