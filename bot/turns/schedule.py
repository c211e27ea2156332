"""When to run a step again: poll intervals that grow with a turn's age, and backoff after errors."""

from __future__ import annotations

import random

from bot.blocks.budget import BudgetPolicy

FIRST_POLL_SECONDS = 3.0
POLL_AGE_FRACTION = 0.2
MAX_POLL_SECONDS = 30.0
PAST_DEADLINE_POLL_SECONDS = 300.0
MAX_BACKOFF_SECONDS = 300.0


def poll_interval(*, age: float, polling_turns: int, policy: BudgetPolicy, past_deadline: bool) -> float:
    """A young turn is polled every few seconds, an older one at a fraction of its age (capped), one past
    its deadline every few minutes; never faster than the key's budget allows for all polling turns, so
    under load every turn slows down alike and none starves."""
    if past_deadline:
        wanted = PAST_DEADLINE_POLL_SECONDS
    else:
        wanted = min(max(age * POLL_AGE_FRACTION, FIRST_POLL_SECONDS), MAX_POLL_SECONDS)
    fair_share = polling_turns / policy.polls_per_second
    return max(wanted, fair_share)


def backoff(failures: int, retry_after: float | None = None) -> float:
    """Seconds before retrying after the `failures`-th consecutive error: exponential with full jitter,
    or what the server asked for."""
    if retry_after is not None:
        return max(retry_after, 0.5)
    ceiling = min(MAX_BACKOFF_SECONDS, 2.0 ** min(failures, 16))
    return ceiling * (0.5 + random.random() / 2)
