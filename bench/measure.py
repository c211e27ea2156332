"""What a run produced, read off the simulators: 429s, the busiest window, requests per turn, and the
latency a bridge adds (answer visible in Slack minus answer available in Blocks)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.workload import TurnSpec
from bot.sim.blocks import BlocksSimulator
from bot.sim.slack import SlackStub

ANSWER = re.compile(r"ANSWER\[(\d+)\]")


@dataclass(frozen=True)
class KeyUse:
    """What one Blocks key was asked, read off the simulator's log (entries carry their key)."""

    key: str
    sessions: int  # sessions it created
    # Counted in the second half of the arrivals (the load at its level, past the ramp from none running):
    requests: int
    per_minute: float  # the same, a simulated minute
    polls_per_minute: float  # of which reads that succeeded
    busiest: int  # most requests in any window (the key's limit applies to this), the whole run
    rate_limited: int  # 429s, the whole run


@dataclass
class SideResult:
    name: str
    turns: int
    delivered: int
    blocks_requests: int
    blocks_429s: int
    busiest_minute: int
    added_short: list[float] = field(default_factory=list)  # simulated seconds, turns under a minute
    added_long: list[float] = field(default_factory=list)
    added_long_fraction: list[float] = field(default_factory=list)  # added / duration, longer turns
    slack_ratelimited: int = 0
    keys: list[KeyUse] = field(default_factory=list)  # one per Blocks key that was sent, by key
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def requests_per_turn(self) -> float:
        return self.blocks_requests / self.delivered if self.delivered else float("inf")


def answer_text(index: int, agent: str) -> str:
    return f"ANSWER[{index}] from {agent}: done."


def collect(
    name: str, specs: list[TurnSpec], blocks: BlocksSimulator, slack: SlackStub, scale: float
) -> SideResult:
    available = _available_at(blocks)
    visible = _visible_at(slack)
    result = SideResult(
        name=name,
        turns=len(specs),
        delivered=sum(1 for spec in specs if spec.index in visible),
        blocks_requests=len(blocks.log),
        blocks_429s=sum(1 for entry in blocks.log if entry["status"] == 429),
        busiest_minute=blocks.max_requests_in_window(60 / scale),
        slack_ratelimited=slack.rate_limited_calls,
    )
    _load_while_arriving(result, specs, blocks, scale)
    arriving = _arrival_window(specs, blocks, scale)
    if arriving is not None:
        start, end = arriving
        result.keys = key_use(blocks.log, start=(start + end) / 2, end=end, scale=scale)
    added_by_turn = added_latency(specs, available, visible, scale)
    result.extra["added_by_turn"] = added_by_turn
    for spec in specs:
        if spec.index not in added_by_turn:
            continue
        added = added_by_turn[spec.index]
        if spec.duration < 60:
            result.added_short.append(added)
        else:
            result.added_long.append(added)
            result.added_long_fraction.append(added / spec.duration)
    return result


def added_latency(
    specs: list[TurnSpec], available: Mapping[int, float], visible: Mapping[int, float], scale: float
) -> dict[int, float]:
    """Per delivered turn (by index), simulated seconds from its answer in Blocks to its answer in Slack."""
    return {
        spec.index: max(0.0, visible[spec.index] - available[spec.index]) * scale
        for spec in specs
        if spec.index in visible and spec.index in available
    }


def _load_while_arriving(
    result: SideResult, specs: list[TurnSpec], blocks: BlocksSimulator, scale: float
) -> None:
    """Poll requests a minute, and turns the bridge was polling (created, answer not yet found by a poll),
    on average while requests kept arriving: the two figures a round-robin cycle is made of."""
    arriving = _arrival_window(specs, blocks, scale)
    if arriving is None:
        return
    start, end = arriving
    created = _created_at(blocks)
    polls = sum(
        1 for e in blocks.log if e["method"] == "GET" and start <= e["at"] <= end and e["status"] == 200
    )
    minutes = (end - start) * scale / 60
    found = _found_at(blocks)
    polling_seconds = sum(
        max(0.0, min(found.get(index, end), end) - at) for index, at in created.items() if at <= end
    )
    result.extra["polls_per_minute"] = polls / minutes if minutes else 0.0
    result.extra["polled"] = polling_seconds / (end - start) if end > start else 0.0


def _arrival_window(
    specs: list[TurnSpec], blocks: BlocksSimulator, scale: float
) -> tuple[float, float] | None:
    """While requests kept arriving, in the simulator's clock: from the first session created to the last
    arrival."""
    created = _created_at(blocks)
    if not created or not specs:
        return None
    start = min(created.values())
    return start, start + specs[-1].arrives_at / scale


def key_use(log: Sequence[Mapping[str, Any]], *, start: float, end: float, scale: float) -> list[KeyUse]:
    """Per key (sorted): sessions created, requests (and successful reads) a simulated minute between
    `start` and `end` (the simulator's clock), the busiest simulated minute and the 429s over the whole
    log."""
    minutes = (end - start) * scale / 60
    stamps: dict[str, list[float]] = {}
    for entry in log:
        stamps.setdefault(str(entry["key"]), []).append(float(entry["at"]))
    found = []
    for key in sorted(stamps):
        entries = [entry for entry in log if str(entry["key"]) == key]
        counted = [entry for entry in entries if start <= entry["at"] <= end]
        polls = sum(1 for entry in counted if entry["method"] == "GET" and entry["status"] == 200)
        found.append(
            KeyUse(
                key=key,
                sessions=sum(
                    1
                    for entry in entries
                    if entry["method"] == "POST"
                    and entry["path"] == "/rest/v1/sessions"
                    and entry["status"] == 200
                ),
                requests=len(counted),
                per_minute=len(counted) / minutes if minutes > 0 else 0.0,
                polls_per_minute=polls / minutes if minutes > 0 else 0.0,
                busiest=busiest(stamps[key], 60 / scale),
                rate_limited=sum(1 for entry in entries if entry["status"] == 429),
            )
        )
    return found


def busiest(stamps: Sequence[float], window: float) -> int:
    """The most stamps in any `window`-long span (a sliding window)."""
    ordered = sorted(stamps)
    best, first = 0, 0
    for last, stamp in enumerate(ordered):
        while ordered[first] <= stamp - window:
            first += 1
        best = max(best, last - first + 1)
    return best


def _found_at(blocks: BlocksSimulator) -> dict[int, float]:
    """When a poll first saw each answer: the first successful read of its thread once it was final."""
    reads: dict[str, list[float]] = {}
    for entry in blocks.log:
        if entry["method"] == "GET" and entry["status"] == 200 and "/threads/" in entry["path"]:
            thread_id = entry["path"].split("/threads/", 1)[1].split("/", 1)[0]
            reads.setdefault(thread_id, []).append(entry["at"])
    found = {}
    for thread in blocks.threads.values():
        match = ANSWER.search(thread.answer)
        final_at = thread.final_at
        if match and final_at is not None:
            seen = [at for at in reads.get(thread.id, []) if at >= final_at]
            if seen:
                found[int(match.group(1))] = min(seen)
    return found


def _created_at(blocks: BlocksSimulator) -> dict[int, float]:
    found = {}
    for thread in blocks.threads.values():
        match = ANSWER.search(thread.answer)
        session = blocks.sessions.get(thread.session_id)
        if match and session is not None and session.threads and session.threads[0] == thread.id:
            found[int(match.group(1))] = thread.created_at
    return found


def _available_at(blocks: BlocksSimulator) -> dict[int, float]:
    found = {}
    for thread in blocks.threads.values():
        match = ANSWER.search(thread.answer)
        if match and thread.final_at is not None:
            found[int(match.group(1))] = thread.final_at
    return found


def _visible_at(slack: SlackStub) -> dict[int, float]:
    """The first time Slack showed each answer (a post or an edit that carried it, and succeeded)."""
    found: dict[int, float] = {}
    for call in slack.calls:
        if call["method"] not in ("chat.postMessage", "chat.update") or not call.get("ok"):
            continue
        match = ANSWER.search(str(call["params"].get("text", "")) + str(call["params"].get("blocks", "")))
        if match:
            found.setdefault(int(match.group(1)), call["at"])
    return found


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[position]
