"""More turns than the Blocks key can carry: nothing is lost and nothing goes over the limit, and the
people running the bot are told (a warning in the log, the queue in `/healthz`) instead of only seeing
slow answers."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from bot.sim.slack import BOT_USER_ID
from bot.slack import messages
from tests.conftest import Rig

WINDOW = 6.0  # the bot's and the simulator's minute, compressed to 6 s


# The budget's arithmetic is the same on both databases (tests/db covers its SQL on each).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_saturated_key_is_reported_in_the_log_and_health_and_every_turn_is_still_answered(
    make_rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.turns.backlog")
    rig = make_rig(
        blocks_rate_limit_per_minute=12,  # about 1.6 requests a second
        rate_window_seconds=WINDOW,
        poll_max_seconds=0.5,  # a request waiting longer than this means the key is saturated
        time_scale=60.0,  # the worker looks at the queue every second
    )
    rig.blocks.config.rate_limit, rig.blocks.config.rate_window = 12, WINDOW
    health_url = f"http://127.0.0.1:{rig.service.port}/healthz"
    questions = [rig.say("UALICE", f"<@{BOT_USER_ID}> task {i} #delay=1", channel=f"C{i}") for i in range(8)]

    seen_waiting: list[dict[str, float]] = []

    def reported() -> bool:
        seen_waiting.append(httpx.get(health_url).json()["blocks_backlog"])
        return any("the Blocks key is saturated" in r.getMessage() for r in caplog.records)

    rig.wait(reported, timeout=20, what="the saturation warning")
    assert any(backlog["waiting"] > 0 and backlog["longest_wait_seconds"] > 0 for backlog in seen_waiting)

    for question in questions:
        rig.wait_reaction(question, messages.DONE, timeout=60)
        assert len(rig.bot_replies(question)) == 1
    rig.wait(
        lambda: any("has caught up" in r.getMessage() for r in caplog.records), timeout=10, what="caught up"
    )
    assert httpx.get(health_url).json()["blocks_backlog"] == {"waiting": 0, "longest_wait_seconds": 0.0}
    assert rig.blocks.max_requests_in_window(WINDOW) <= 12
    assert sum(1 for entry in rig.blocks.log if entry["status"] == 429) == 0
