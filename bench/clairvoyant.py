"""The floor under a load: a bridge that knows the instant each answer is ready in Blocks and spends exactly
one poll on it then, under the same token bucket as blocks-slack (creates first, then the answers in the
order they became ready). No real bridge can see answers sooner; when even this one falls behind, the load
is beyond the key, and its latency is the backlog's, not the polling policy's.

Pure computation on the seeded load, in simulated seconds: no processes, no simulators.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from bench.workload import TurnSpec
from bot.blocks.budget import BudgetPolicy


@dataclass(frozen=True)
class Floor:
    added: list[float]  # per turn: answer seen minus answer ready, simulated seconds
    requests_needed_per_minute: float  # creates + one poll per turn, while turns arrive


def clairvoyant(specs: list[TurnSpec], policy: BudgetPolicy) -> Floor:
    ordered = sorted(specs, key=lambda spec: spec.arrives_at)
    arrivals = [spec.arrives_at for spec in ordered]
    ready: list[float] = []  # heap of the times answers become ready
    added: list[float] = []
    level, last, created = policy.capacity, 0.0, 0
    rate = policy.refill_per_second
    while created < len(arrivals) or ready:
        next_create = arrivals[created] if created < len(arrivals) else float("inf")
        wanted = min(next_create, ready[0] if ready else float("inf"))
        level = min(policy.capacity, level + (wanted - last) * rate) if wanted > last else level
        last = max(last, wanted)
        if level < 1.0:  # wait for the next token
            last += (1.0 - level) / rate
            level = 1.0
        level -= 1.0
        if created < len(arrivals) and arrivals[created] <= last:  # creates go first
            heapq.heappush(ready, last + ordered[created].duration)
            created += 1
        else:
            added.append(last - heapq.heappop(ready))
    minutes = max(1.0, (arrivals[-1] - arrivals[0]) / 60) if arrivals else 1.0
    return Floor(added=added, requests_needed_per_minute=2 * len(arrivals) / minutes)
