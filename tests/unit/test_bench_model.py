from __future__ import annotations

from bench.model import ORDERS, replay
from bench.workload import TurnSpec, workload
from bot.blocks.budget import BudgetPolicy
from bot.db.token_bucket import BucketSize
from bot.turns.schedule import PollPolicy

PLENTY = BudgetPolicy(capacity=100, refill_per_second=100, poll_reserve=1)
EDITS = BucketSize(capacity=100, refill_per_second=100)
POLICY = PollPolicy()


def test_with_budget_to_spare_an_answer_waits_at_most_one_of_its_poll_intervals() -> None:
    specs = [TurnSpec(i, i * 7.0, duration, "C1") for i, duration in enumerate((10.0, 45.0, 300.0, 1000.0))]
    result = replay(specs, budget=PLENTY, edits=EDITS, policy=POLICY, deadline=1800)
    assert len(result.added) == 4
    for spec, added in zip(specs, sorted(result.added), strict=True):
        assert 0 <= added <= POLICY.interval(spec.duration * 1.08, past_deadline=False)


def test_a_load_beyond_the_key_still_delivers_every_turn_in_every_order() -> None:
    specs = workload(running=60, minutes=5, seed=3)
    budget = BudgetPolicy.for_limit(30, 0.1)  # 26 a minute: fewer than the turns arriving need
    for order in ORDERS.values():
        result = replay(specs, budget=budget, edits=EDITS, policy=POLICY, deadline=1800, order=order)
        assert len(result.added) == len(specs)
        assert result.polls >= len(specs)  # every turn needs at least one poll
        assert max(result.added) > 60  # and they queue
