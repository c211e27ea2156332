from __future__ import annotations

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.sim.slack import SlackStub
from bot.slack.errors import SlackRateLimited
from bot.slack.gateway import SlackGateway
from bot.slack.pacing import SlackPacer, SlackTiers


def pacer(engine: Engine, now: list[float], **tiers: float) -> SlackPacer:
    return SlackPacer(engine, bot_token="xoxb-1", tiers=SlackTiers(**tiers), clock=lambda: now[0])


def test_essential_calls_use_the_whole_bucket_others_leave_a_share(engine: Engine) -> None:
    now = [1000.0]
    slack = pacer(engine, now, tier3_per_minute=50)  # capacity 3, 42 a minute
    granted_optional = 0
    while slack.acquire("chat.update", "C1", essential=False) == 0:
        granted_optional += 1
    granted_essential = 0
    while slack.acquire("chat.update", "C1", essential=True) == 0:
        granted_essential += 1
    assert granted_optional >= 1 and granted_essential >= 1
    assert granted_optional + granted_essential == 3
    assert slack.acquire("chat.update", "C1", essential=False) > 0, "optional calls are dropped now"


def test_on_a_one_token_bucket_optional_calls_still_go_when_nobody_waits(engine: Engine) -> None:
    now = [1000.0]
    slack = pacer(engine, now, tier3_per_minute=10)  # chat.update: one token, refilled every 7.5 s
    assert slack.acquire("chat.update", "C1", essential=False) == 0
    assert slack.acquire("chat.update", "C1", essential=False) > 0, "spent: dropped"
    now[0] += 8
    assert slack.acquire("chat.update", "C1", essential=True) == 0
    assert slack.acquire("chat.update", "C1", essential=True) > 0  # holds the next token
    now[0] += 8
    assert slack.acquire("chat.update", "C1", essential=False) > 0, "a reservation is pending"


def test_waiting_essential_calls_get_one_slot_each_in_order(engine: Engine) -> None:
    now = [1000.0]
    slack = pacer(engine, now, tier3_per_minute=50)
    while slack.acquire("reactions.add", "C1", essential=True) == 0:
        pass  # the burst is spent; that last call was given the next token
    waits = [slack.acquire("reactions.add", "C1", essential=True) for _ in range(5)]
    gap = 60 / 31  # reactions sustain 31 a minute (45 less their burst of 14)
    assert waits == pytest.approx([gap * (i + 2) for i in range(5)], rel=1e-6)
    # A caller that waited its turn calls without asking again; a newcomer queues behind the five.
    now[0] += waits[0]
    assert slack.acquire("reactions.add", "C1", essential=True) == pytest.approx(gap * 5)


def test_no_window_of_a_minute_sees_more_than_the_tier(engine: Engine) -> None:
    now = [0.0]
    slack = pacer(engine, now, tier3_per_minute=50)
    calls: list[float] = []  # when each essential call is made: now, or when its reserved token is due
    while now[0] < 300:
        calls.append(now[0] + slack.acquire("reactions.add", "C1", essential=True))
        now[0] += 0.25
    worst = max(sum(1 for t in calls if start <= t < start + 60) for start in calls)
    assert worst <= 45, "50 a minute less the 10% headroom"


def test_answer_edits_sustain_nearly_the_whole_tier(engine: Engine) -> None:
    now = [0.0]
    slack = pacer(engine, now, tier3_per_minute=50)
    calls: list[float] = []
    while now[0] < 300:
        calls.append(now[0] + slack.acquire("chat.update", "C1", essential=True))
        now[0] += 0.25
    made = sum(1 for t in calls if t < 300)
    assert made >= 5 * 41, "the burst is small, so a busy workspace keeps ~42 of its 45 a minute"


def test_posts_are_paced_per_channel_and_other_methods_not_at_all(engine: Engine) -> None:
    now = [0.0]
    slack = pacer(engine, now, posts_per_minute_per_channel=10)
    while slack.acquire("chat.postMessage", "C1", essential=True) == 0:
        pass
    assert slack.acquire("chat.postMessage", "C2", essential=True) == 0
    assert slack.acquire("conversations.replies", "C1", essential=True) == 0


def test_a_429_from_slack_pauses_the_bucket(engine: Engine) -> None:
    now = [0.0]
    slack = pacer(engine, now)
    assert slack.acquire("chat.update", "C1", essential=True) == 0
    slack.rate_limited("chat.update", "C1", retry_after=10)
    assert 10 <= slack.acquire("chat.update", "C1", essential=True) <= 15, "the pause, then a slower refill"


def test_a_step_that_waited_for_its_token_spends_it_without_asking_again(
    engine: Engine, slack_stub: tuple[SlackStub, str]
) -> None:
    stub, url = slack_stub
    now = [1000.0]
    gateway = SlackGateway(WebClient(token="xoxb-1", base_url=url + "/api/"), pacer=pacer(engine, now))
    message = stub.human_message("C1", "UALICE", "hello")
    with pytest.raises(SlackRateLimited) as waited:
        for name in ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o"):
            gateway.add_reaction(channel="C1", ts=message.ts, name=name)
    assert waited.value.reserved and waited.value.retry_after > 0
    now[0] += waited.value.retry_after
    with gateway.holding("reactions.add"):
        gateway.add_reaction(channel="C1", ts=message.ts, name="white_check_mark")  # the held token
        with pytest.raises(SlackRateLimited):
            gateway.add_reaction(channel="C1", ts=message.ts, name="eyes")  # the next is queued again
    assert message.reactions.get("white_check_mark")
    assert stub.rate_limited_calls == 0
