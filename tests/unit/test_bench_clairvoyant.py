from __future__ import annotations

import pytest

from bench.clairvoyant import clairvoyant
from bench.workload import TurnSpec, workload
from bot.blocks.budget import BudgetPolicy
from bot.db.token_bucket import BucketSize

PLENTY = BucketSize(capacity=100, refill_per_second=100)


def spec(index: int, arrives_at: float, duration: float) -> TurnSpec:
    return TurnSpec(index, arrives_at, duration, "C1")


def test_with_budget_to_spare_every_answer_is_seen_the_moment_it_is_ready() -> None:
    specs = [spec(i, i * 10.0, 30.0) for i in range(20)]
    floor = clairvoyant(specs, BucketSize(capacity=5, refill_per_second=1.0), PLENTY)
    assert floor.added == [0.0] * 20


def test_creates_go_first_and_answers_wait_for_tokens() -> None:
    # One token every 10 s, none stored: three creates at 0 take the tokens at 0 (stored), 10 and 20;
    # the first answer (ready at 0 + 5) is seen with the token at 30.
    specs = [spec(i, 0.0, 5.0) for i in range(3)]
    floor = clairvoyant(specs, BucketSize(capacity=1, refill_per_second=0.1), PLENTY)
    assert floor.added == pytest.approx([25.0, 25.0, 25.0])


def test_a_load_beyond_the_key_falls_behind_even_with_perfect_knowledge() -> None:
    specs = workload(running=200, minutes=20, seed=1)
    budget = BudgetPolicy.for_limit(100, 0.1)
    floor = clairvoyant(specs, BucketSize(budget.capacity, budget.refill_per_second), PLENTY)
    assert floor.blocks_needed_per_minute > 87
    assert len(floor.added) == len(specs)
    assert max(floor.added) > 120


def test_answers_found_together_wait_for_slack_edits() -> None:
    # Blocks to spare; Slack allows one edit every 10 s after the first: answers ready at once queue there.
    specs = [spec(i, 0.0, 5.0) for i in range(3)]
    floor = clairvoyant(specs, PLENTY, BucketSize(capacity=1, refill_per_second=0.1))
    assert floor.added == pytest.approx([0.0, 10.0, 20.0], abs=0.1)


def test_never_polled_counts_turns_no_order_could_have_polled_yet() -> None:
    # One token every 10 s, one stored: 4 turns arrive at 0, 10, 20, 30. By the 4th arrival the key has
    # given 1 + 3 = 4 tokens, all taken by the creates: none of the 4 can have been polled.
    specs = [spec(i, i * 10.0, 100.0) for i in range(4)]
    floor = clairvoyant(specs, BucketSize(capacity=1, refill_per_second=0.1), PLENTY)
    assert floor.never_polled == 4
    # With twice the refill, the 4th arrival finds 1 + 6 = 7 tokens: 4 creates and at most 3 polls.
    floor = clairvoyant(specs, BucketSize(capacity=1, refill_per_second=0.2), PLENTY)
    assert floor.never_polled == 1
    # Budget to spare: every turn could have been polled.
    assert clairvoyant(specs, PLENTY, PLENTY).never_polled == 0
