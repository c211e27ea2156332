from __future__ import annotations

from bot.blocks.budget import BudgetPolicy
from bot.turns.schedule import PollPolicy, backoff

BUDGET = BudgetPolicy.for_limit(100, 0.1)
POLICY = PollPolicy()


def test_budget_never_allows_more_than_the_limit_in_any_minute() -> None:
    for limit in (10, 37, 100, 1000):
        for headroom in (0.0, 0.1, 0.5, 0.85):
            policy = BudgetPolicy.for_limit(limit, headroom)
            assert policy.capacity >= 1 and policy.refill_per_second > 0
            assert policy.capacity + 60 * policy.refill_per_second <= limit * (1 - headroom) + 1e-9


def test_young_turns_are_polled_quickly_older_ones_less_often() -> None:
    assert POLICY.interval(1, past_deadline=False) == 3
    assert POLICY.interval(100, past_deadline=False) == 5
    assert POLICY.interval(3600, past_deadline=False) == 120
    assert POLICY.interval(3600, past_deadline=True) == 300


def test_the_answer_of_a_long_turn_waits_at_most_a_small_share_of_it() -> None:
    for duration in (60, 300, 1200):
        assert POLICY.interval(duration, past_deadline=False) <= 0.1 * duration


def test_backoff_grows_with_jitter_and_honours_the_server() -> None:
    assert 1 <= backoff(1) <= 2
    assert 150 <= backoff(20) <= 300
    assert backoff(3, retry_after=12) == 12
