from __future__ import annotations

from bot.blocks.budget import BudgetPolicy
from bot.turns.schedule import CrowdingCache, PollPolicy, backoff, crowding

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


def test_with_room_in_the_budget_nobody_is_slowed() -> None:
    few = [(age, False) for age in (5, 50, 500, 1000)]
    assert crowding(POLICY, few, BUDGET.polls_per_second) == 1.0


def test_under_load_every_turn_slows_alike_and_the_total_fits_the_budget() -> None:
    many = [(float(age), False) for age in range(10, 4010, 20)]  # 200 turns of all ages
    factor = crowding(POLICY, many, BUDGET.polls_per_second)
    assert factor > 1
    total = sum(1 / POLICY.interval(age, past_deadline=False, crowding=factor) for age, _ in many)
    assert total <= BUDGET.polls_per_second * 1.0001
    young, old = (
        POLICY.interval(10, past_deadline=False, crowding=factor),
        POLICY.interval(3000, past_deadline=False, crowding=factor),
    )
    assert young < old, "young turns stay faster than old ones"


def test_the_crowding_factor_is_cached_briefly() -> None:
    cache, calls = CrowdingCache(seconds=2), []

    def compute() -> float:
        calls.append(1)
        return 1.5

    for now in (0.0, 1.0, 1.9, 2.0, 3.0):
        assert cache.get(now, compute) == 1.5
    assert len(calls) == 2


def test_backoff_grows_with_jitter_and_honours_the_server() -> None:
    assert 1 <= backoff(1) <= 2
    assert 150 <= backoff(20) <= 300
    assert backoff(3, retry_after=12) == 12
