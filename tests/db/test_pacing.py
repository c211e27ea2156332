from __future__ import annotations

from sqlalchemy import Engine

from bot.slack.pacing import SlackPacer, SlackTiers


def pacer(engine: Engine, now: list[float], **tiers: float) -> SlackPacer:
    return SlackPacer(engine, bot_token="xoxb-1", tiers=SlackTiers(**tiers), clock=lambda: now[0])


def test_essential_calls_use_the_whole_bucket_others_leave_a_share(engine: Engine) -> None:
    now = [1000.0]
    slack = pacer(engine, now, tier3_per_minute=50)  # capacity 3
    granted_optional = 0
    while slack.acquire("chat.update", "C1", essential=False) == 0:
        granted_optional += 1
    granted_essential = 0
    while slack.acquire("chat.update", "C1", essential=True) == 0:
        granted_essential += 1
    assert granted_optional >= 1 and granted_essential >= 1
    assert granted_optional + granted_essential == 3
    wait = slack.acquire("chat.update", "C1", essential=True)
    assert 0 < wait <= 2.0
    now[0] += wait
    assert slack.acquire("chat.update", "C1", essential=True) == 0


def test_no_window_of_a_minute_sees_more_than_the_tier(engine: Engine) -> None:
    now = [0.0]
    slack = pacer(engine, now, tier3_per_minute=50)
    granted: list[float] = []
    while now[0] < 300:
        if slack.acquire("reactions.add", "C1", essential=True) == 0:
            granted.append(now[0])
        now[0] += 0.25
    worst = max(sum(1 for t in granted if start <= t < start + 60) for start in granted)
    assert worst <= 45, "50 a minute less the 10% headroom"


def test_answer_edits_sustain_nearly_the_whole_tier(engine: Engine) -> None:
    now = [0.0]
    slack = pacer(engine, now, tier3_per_minute=50)
    granted = 0
    while now[0] < 300:
        granted += slack.acquire("chat.update", "C1", essential=True) == 0
        now[0] += 0.25
    assert granted >= 5 * 41, "the burst is small, so a busy workspace keeps ~42 of its 45 a minute"


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
