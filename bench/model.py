"""The scheduling alone, replayed: a seeded load through the bot's polling policy and token buckets, as an
event simulation in simulated seconds, with no processes and no HTTP (a heavy run takes about a second).

It models what sets the latency under load: creates first, polls waiting for a token from the Blocks bucket
(leaving the poll reserve), the order in which due polls get tokens, each poll's next due time
(`PollPolicy.next_poll`), and each answer's `chat.update` taken in turn from the edits bucket. It leaves out
what costs real milliseconds (claims, requests, the 👀 and placeholder), so it is a little optimistic; on
the heavy load its p95 lands within a few percent of the real run's.

It answers what the real run is too slow to sweep: whether another order of polls would do better on the
same load (`ORDERS`), and how latency grows with the load on one key (`python -m bench --only model`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from bench.clairvoyant import Bucket
from bench.workload import MAX_DURATION, MIN_DURATION, TurnSpec
from bot.blocks.budget import BudgetPolicy
from bot.db.token_bucket import BucketSize
from bot.turns.lease import POLL_LOOKAHEAD
from bot.turns.schedule import PollPolicy


@dataclass
class _Turn:
    created: float
    ready: float  # when Blocks has the answer
    due: float
    polled: float  # when it was last polled (its creation, before the first poll)


@dataclass(frozen=True)
class Replay:
    added: list[float]  # per turn: answer shown in Slack minus answer ready in Blocks
    polls: int


# An order picks, among the due polls (sorted most overdue first), the one that gets the token.
Order = Callable[[list[_Turn], float, PollPolicy, float], _Turn]


def _bot_order(due: list[_Turn], now: float, policy: PollPolicy, deadline: float) -> _Turn:
    """blocks-slack's: of the few most overdue, the one furthest behind its own cadence."""
    return max(
        due[:POLL_LOOKAHEAD],
        key=lambda t: policy.behind(
            now=now, due_at=t.due, submitted_at=t.created, deadline_at=t.created + deadline
        ),
    )


def _most_overdue(due: list[_Turn], now: float, policy: PollPolicy, deadline: float) -> _Turn:
    return due[0]


def _most_likely_done(due: list[_Turn], now: float, policy: PollPolicy, deadline: float) -> _Turn:
    """Told the true distribution of durations (log-uniform, 10 s to 20 min), which no real bridge is: the
    turn most likely to have finished since it was last polled."""

    def chance(turn: _Turn) -> float:
        since = max(turn.polled - turn.created, MIN_DURATION)
        if since >= MAX_DURATION:
            return 1.0
        age = min(max(now - turn.created, since), MAX_DURATION)
        return math.log(age / since) / math.log(MAX_DURATION / since)

    return max(due, key=chance)


ORDERS: dict[str, Order] = {
    "blocks-slack (furthest behind its cadence)": _bot_order,
    "most overdue first": _most_overdue,
    "most likely finished, knowing the true durations": _most_likely_done,
}


def replay(
    specs: list[TurnSpec],
    *,
    budget: BudgetPolicy,
    edits: BucketSize,
    policy: PollPolicy,
    deadline: float,
    order: Order = _bot_order,
) -> Replay:
    arrivals = sorted(specs, key=lambda spec: spec.arrives_at)
    key, slack = Bucket(BucketSize(budget.capacity, budget.refill_per_second)), Bucket(edits)
    in_flight: list[_Turn] = []
    added: list[float] = []
    polls, created, now = 0, 0, 0.0
    while created < len(arrivals) or in_flight:
        next_arrival = arrivals[created].arrives_at if created < len(arrivals) else math.inf
        next_due = min((turn.due for turn in in_flight), default=math.inf)
        create_at = key.ready_at(max(next_arrival, now))
        poll_at = key.ready_at(max(next_due, now), keep=budget.poll_reserve) if in_flight else math.inf
        if create_at <= poll_at:  # creates go first
            now = create_at
            key.take(now)
            spec = arrivals[created]
            created += 1
            in_flight.append(_Turn(now, now + spec.duration, now + policy.first_seconds, now))
            continue
        now = poll_at
        key.take(now)
        polls += 1
        due = sorted((turn for turn in in_flight if turn.due <= now), key=lambda turn: turn.due)
        turn = order(due, now, policy, deadline)
        if turn.ready <= now:
            in_flight.remove(turn)
            shown = slack.ready_at(now)
            slack.take(now)
            added.append(shown - turn.ready)
            continue
        age = now - turn.created
        turn.due = policy.next_poll(due_at=turn.due, now=now, age=age, past_deadline=age >= deadline)
        turn.polled = now
    return Replay(added, polls)
