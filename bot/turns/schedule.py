"""When to run a step again: poll intervals that grow with a turn's age and share the key's budget
fairly, and backoff after errors."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class PollPolicy:
    """A turn is polled every `first_seconds` while young, then at `age_fraction` of its age (so the
    answer of a long turn waits a small share of its duration), capped at `max_seconds`, and every
    `past_deadline_seconds` once past its deadline. Defaults chosen with the benchmark (bench/)."""

    first_seconds: float = 3.0
    age_fraction: float = 0.05
    max_seconds: float = 120.0
    past_deadline_seconds: float = 300.0

    def wanted(self, age: float, *, past_deadline: bool) -> float:
        if past_deadline:
            return self.past_deadline_seconds
        return min(max(age * self.age_fraction, self.first_seconds), self.max_seconds)

    def interval(self, age: float, *, past_deadline: bool, crowding: float = 1.0) -> float:
        """The wanted interval, stretched by `crowding` (see `crowding`) when the budget is short."""
        return self.wanted(age, past_deadline=past_deadline) * max(1.0, crowding)


def crowding(policy: PollPolicy, polling: Iterable[tuple[float, bool]], polls_per_second: float) -> float:
    """How many times more polls all running turns want than the budget allows (at least 1).

    `polling` is (age, past deadline) of every turn being polled. Stretching every interval by this
    factor keeps the total within the budget while young turns stay faster than old ones: under load
    every turn slows down alike, and none starves.
    """
    demand = sum(1.0 / policy.wanted(age, past_deadline=late) for age, late in polling)
    return max(1.0, demand / polls_per_second) if polls_per_second > 0 else math.inf


class CrowdingCache:
    """The crowding factor, recomputed at most every `seconds` per process (it reads every polling turn)."""

    def __init__(self, seconds: float = 2.0) -> None:
        self.seconds = seconds
        self._value = 1.0
        self._at = -math.inf
        self._lock = threading.Lock()

    def get(self, now: float, compute: Callable[[], float]) -> float:
        with self._lock:
            if now - self._at >= self.seconds:
                self._value = compute()
                self._at = now
            return self._value


def backoff(failures: int, retry_after: float | None = None) -> float:
    """Seconds before retrying after the `failures`-th consecutive error: exponential with full jitter,
    or what the server asked for."""
    if retry_after is not None:
        return max(retry_after, 0.5)
    ceiling = min(MAX_BACKOFF_SECONDS, 2.0 ** min(failures, 16))
    return ceiling * (0.5 + random.random() / 2)
