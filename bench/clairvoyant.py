"""The floor under a load: a bridge that knows the instant each answer is ready in Blocks and spends exactly
one poll on it then, under the same token buckets as blocks-slack (Blocks: creates first, then answers in
the order they became ready; Slack: one `chat.update` per answer, within the Tier 3 bucket). No real bridge
can show answers sooner; when even this one falls behind, the load is beyond the key or the workspace's
tier, and the latency is the backlog's, not the polling policy's.

Pure computation on the seeded load, in simulated seconds: no processes, no simulators.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from bench.workload import TurnSpec
from bot.db.token_bucket import BucketSize


@dataclass(frozen=True)
class Floor:
    added: list[float]  # per turn: answer shown minus answer ready, simulated seconds
    blocks_needed_per_minute: float  # a create and a poll per turn, while turns arrive
    edits_needed_per_minute: float  # an answer edit per turn, while turns arrive
    # Turns created but not yet polled even once, at the worst moment, whatever order a bridge polls in:
    # every turn needs at least one poll, and the key leaves only what creates do not take.
    never_polled: int


class Bucket:
    """A token bucket served in order, in simulated seconds: each call takes the next token at or after
    `at`. Also used by `bench.model`, whose Slack edits take their token in turn (the bucket goes into
    debt, as the bot's reservations do)."""

    def __init__(self, size: BucketSize) -> None:
        self.size = size
        self.level, self.last = size.capacity, 0.0

    def level_at(self, at: float) -> float:
        return min(self.size.capacity, self.level + (at - self.last) * self.size.refill_per_second)

    def ready_at(self, at: float, keep: float = 0.0) -> float:
        """When a token is there for a request wanted at `at`, leaving `keep` behind (nothing changes)."""
        at = max(at, self.last)
        level = self.level_at(at)
        return at if level >= 1.0 + keep else at + (1.0 + keep - level) / self.size.refill_per_second

    def take(self, at: float) -> None:
        self.level, self.last = self.level_at(at) - 1.0, at


def clairvoyant(specs: list[TurnSpec], blocks: BucketSize, edits: BucketSize) -> Floor:
    ordered = sorted(specs, key=lambda spec: spec.arrives_at)
    key, slack = Bucket(blocks), Bucket(edits)
    ready: list[float] = []  # heap of the times answers become ready in Blocks
    added: list[float] = []
    created = 0
    while created < len(ordered) or ready:
        next_create = ordered[created].arrives_at if created < len(ordered) else float("inf")
        at = key.ready_at(min(next_create, ready[0] if ready else float("inf")))
        key.take(at)
        if next_create <= at:  # creates go first
            heapq.heappush(ready, at + ordered[created].duration)
            created += 1
        else:
            answer_ready = heapq.heappop(ready)
            shown = slack.ready_at(at)
            slack.take(shown)
            added.append(shown - answer_ready)
    minutes = max(1.0, (ordered[-1].arrives_at - ordered[0].arrives_at) / 60) if ordered else 1.0
    return Floor(
        added=added,
        blocks_needed_per_minute=2 * len(ordered) / minutes,
        edits_needed_per_minute=len(ordered) / minutes,
        never_polled=_never_polled(ordered, blocks),
    )


def _never_polled(ordered: list[TurnSpec], blocks: BucketSize) -> int:
    """The most turns that had been created but could not yet have had a single poll: when the k-th turn
    arrives, the key has given at most capacity + rate × t tokens, k of them to creates."""
    start = ordered[0].arrives_at if ordered else 0.0
    worst = 0.0
    for created, spec in enumerate(ordered, start=1):
        tokens = blocks.capacity + blocks.refill_per_second * (spec.arrives_at - start)
        worst = max(worst, created - max(0.0, tokens - created))
    return int(worst)
