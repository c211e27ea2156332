from __future__ import annotations

import pytest

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


def test_a_poll_fits_in_a_full_bucket_whatever_the_limit() -> None:
    # A reserve as large as the bucket would keep every poll waiting forever (small keys: capacity 1).
    for limit in range(1, 400):
        for headroom in (0.0, 0.1, 0.5):
            policy = BudgetPolicy.for_limit(limit, headroom)
            assert policy.capacity - policy.poll_reserve >= 1


def test_a_busy_key_sustains_nearly_its_whole_allowance() -> None:
    # Once the bucket is dry only the refill flows: the burst must not eat the sustained rate.
    assert BUDGET.capacity == 3 and BUDGET.poll_reserve == 1
    assert 60 * BUDGET.refill_per_second == 87


def test_young_turns_are_polled_quickly_older_ones_less_often() -> None:
    assert POLICY.interval(1, past_deadline=False) == 3
    assert POLICY.interval(100, past_deadline=False) == pytest.approx(7)
    assert POLICY.interval(3600, past_deadline=False) == 120
    assert POLICY.interval(3600, past_deadline=True) == 300


def test_polls_keep_their_cadence_and_a_late_one_does_not_catch_up_in_a_burst() -> None:
    # On time (the poll itself took 0.2 s): the next is one interval after the due time, not after it.
    assert POLICY.next_poll(due_at=100, now=100.2, age=10, past_deadline=False) == 103
    # Late by 10 s (no token): half an interval from now, not immediately.
    assert POLICY.next_poll(due_at=100, now=110, age=20, past_deadline=False) == 111.5


def test_the_answer_of_a_long_turn_waits_at_most_a_small_share_of_it() -> None:
    for duration in (60, 300, 1200):
        assert POLICY.interval(duration, past_deadline=False) <= 0.1 * duration


def test_backoff_grows_with_jitter_and_honours_the_server() -> None:
    assert 1 <= backoff(1) <= 2
    assert 150 <= backoff(20) <= 300
    assert backoff(3, retry_after=12) == 12


def test_how_far_behind_counts_in_the_turns_own_intervals() -> None:
    # 2 s late on a 3 s cadence is further behind than 20 s late on a 70 s one (age 1000 s at 7%).
    young = POLICY.behind(now=102, due_at=100, submitted_at=95, deadline_at=None)
    old = POLICY.behind(now=1120, due_at=1100, submitted_at=100, deadline_at=None)
    assert young == pytest.approx(2 / 3) and old == pytest.approx(20 / 70)
    # Past its deadline a turn is polled every 5 minutes: 60 s late is a fifth of an interval.
    assert POLICY.behind(now=2000, due_at=1940, submitted_at=100, deadline_at=1900) == pytest.approx(0.2)
