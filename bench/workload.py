"""The load, fixed and seeded: Poisson arrivals, turn durations log-uniform from 10 s to 20 min.

Everything here is in simulated seconds; a scenario divides by its time-compression factor to run it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

MIN_DURATION = 10.0
MAX_DURATION = 20 * 60.0


@dataclass(frozen=True)
class TurnSpec:
    index: int
    arrives_at: float  # simulated seconds from the start
    duration: float  # simulated seconds the agent works
    channel: str
    user: str = "UALICE"  # who asks (one sender standing for a team, unless a scenario says otherwise)


def mean_duration() -> float:
    """Mean of the log-uniform distribution on [MIN_DURATION, MAX_DURATION]."""
    return (MAX_DURATION - MIN_DURATION) / math.log(MAX_DURATION / MIN_DURATION)


def workload(*, running: float, minutes: float, seed: int, channels: int = 20) -> list[TurnSpec]:
    """Arrivals for `minutes` at the rate that keeps `running` turns in flight on average (Little's law)."""
    rng = random.Random(seed)
    rate = running / mean_duration()  # arrivals per simulated second
    turns: list[TurnSpec] = []
    now = 0.0
    while True:
        now += rng.expovariate(rate)
        if now > minutes * 60:
            return turns
        duration = math.exp(rng.uniform(math.log(MIN_DURATION), math.log(MAX_DURATION)))
        turns.append(TurnSpec(len(turns), now, duration, f"C{rng.randrange(channels):03d}"))


def flood(
    *, flood: int = 150, others: tuple[str, ...] = ("UBOB", "UCAROL"), each: int = 10, seed: int = 3
) -> list[TurnSpec]:
    """One person (UFLOOD) asks `flood` times within the first minute; each of `others` asks `each` times,
    spread over the next eight minutes (while the flood is being worked through). Durations as in
    `workload`; every request in a channel of its own."""
    rng = random.Random(seed)

    def duration() -> float:
        return math.exp(rng.uniform(math.log(MIN_DURATION), math.log(MAX_DURATION)))

    asks = [(rng.uniform(0.0, 60.0), "UFLOOD") for _ in range(flood)]
    asks += [(rng.uniform(30.0, 8 * 60.0), user) for user in others for _ in range(each)]
    asks.sort()
    return [TurnSpec(index, at, duration(), f"C{index:03d}", user) for index, (at, user) in enumerate(asks)]
