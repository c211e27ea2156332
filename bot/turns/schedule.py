"""When to run a step again: poll intervals that grow with a turn's age, and backoff after errors.

Sharing the key's budget is not done here: a poll that is due waits for a token; tokens go by fair shares
to the workspace and then the person served least recently (see `shares`), and among their overdue polls
to the one furthest behind its own interval (see `lease.claim_next`). So when the budget is short every
person's turns get the same share, each of their turns' effective interval stretches by the same factor —
never faster than the budget allows, none starved — and as soon as there is room again every turn is back
to its own pace.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class PollPolicy:
    """A turn is polled every `first_seconds` while young, then at `age_fraction` of its age (so the
    answer of a long turn waits a small share of its duration), capped at `max_seconds`, and every
    `past_deadline_seconds` once past its deadline. Defaults chosen with the benchmark (bench/)."""

    first_seconds: float = 3.0
    age_fraction: float = 0.07
    max_seconds: float = 120.0
    past_deadline_seconds: float = 300.0

    def interval(self, age: float, *, past_deadline: bool) -> float:
        if past_deadline:
            return self.past_deadline_seconds
        return min(max(age * self.age_fraction, self.first_seconds), self.max_seconds)

    def next_poll(self, *, due_at: float, now: float, age: float, past_deadline: bool) -> float:
        """When to poll again after a poll that was due at `due_at` and finished at `now`.

        The cadence is kept from the due time, not from when the poll finished: "every 3 s" means every
        3 s, not 3 s plus the time a claim and a request take (which would add to every answer's wait).
        A poll that ran late (it waited for a token) does not catch up in a burst: the next one is at
        least half an interval away."""
        interval = self.interval(age, past_deadline=past_deadline)
        return max(due_at + interval, now + interval / 2)

    def behind(
        self, *, now: float, due_at: float, submitted_at: float | None, deadline_at: float | None
    ) -> float:
        """How far a due poll is behind its own cadence, in intervals: which of several due polls goes
        first when tokens are short (see `lease.claim_next`)."""
        age = max(0.0, due_at - (submitted_at or due_at))
        past_deadline = deadline_at is not None and due_at >= deadline_at
        return (now - due_at) / self.interval(age, past_deadline=past_deadline)


def backoff(failures: int, retry_after: float | None = None) -> float:
    """Seconds before retrying after the `failures`-th consecutive error: exponential with full jitter,
    or what the server asked for."""
    if retry_after is not None:
        return max(retry_after, 0.5)
    ceiling = min(MAX_BACKOFF_SECONDS, 2.0 ** min(failures, 16))
    return ceiling * (0.5 + random.random() / 2)
