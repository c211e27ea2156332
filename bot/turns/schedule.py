"""When to run a step again: poll intervals that grow with a turn's age, and backoff after errors."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.blocks.budget import BudgetPolicy

MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class PollPolicy:
    first_seconds: float = 3.0
    age_fraction: float = 0.2
    max_seconds: float = 30.0
    past_deadline_seconds: float = 300.0

    def interval(self, *, age: float, polling_turns: int, budget: BudgetPolicy, past_deadline: bool) -> float:
        """A young turn is polled every few seconds, an older one at a fraction of its age (capped), one
        past its deadline every few minutes; never faster than the key's budget allows for all polling
        turns, so under load every turn slows down alike and none starves."""
        if past_deadline:
            wanted = self.past_deadline_seconds
        else:
            wanted = min(max(age * self.age_fraction, self.first_seconds), self.max_seconds)
        fair_share = polling_turns / budget.polls_per_second
        return max(wanted, fair_share)


def backoff(failures: int, retry_after: float | None = None) -> float:
    """Seconds before retrying after the `failures`-th consecutive error: exponential with full jitter,
    or what the server asked for."""
    if retry_after is not None:
        return max(retry_after, 0.5)
    ceiling = min(MAX_BACKOFF_SECONDS, 2.0 ** min(failures, 16))
    return ceiling * (0.5 + random.random() / 2)
