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
    young = POLICY.interval(age=1, polling_turns=1, budget=BUDGET, past_deadline=False)
    middle = POLICY.interval(age=60, polling_turns=1, budget=BUDGET, past_deadline=False)
    old = POLICY.interval(age=3600, polling_turns=1, budget=BUDGET, past_deadline=False)
    late = POLICY.interval(age=3600, polling_turns=1, budget=BUDGET, past_deadline=True)
    assert young == 3 and middle == 12 and old == 30 and late == 300


def test_under_load_every_turn_slows_to_its_fair_share_of_the_budget() -> None:
    interval = POLICY.interval(age=1, polling_turns=200, budget=BUDGET, past_deadline=False)
    assert interval == 200 / BUDGET.polls_per_second
    assert 200 * 60 / interval <= 90


def test_backoff_grows_with_jitter_and_honours_the_server() -> None:
    assert 1 <= backoff(1) <= 2
    assert 150 <= backoff(20) <= 300
    assert backoff(3, retry_after=12) == 12
