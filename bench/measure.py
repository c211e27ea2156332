"""What a run produced, read off the simulators: 429s, the busiest window, requests per turn, and the
latency a bridge adds (answer visible in Slack minus answer available in Blocks)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bench.workload import TurnSpec
from bot.sim.blocks import BlocksSimulator
from bot.sim.slack import SlackStub

ANSWER = re.compile(r"ANSWER\[(\d+)\]")


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
    for spec in specs:
        if spec.index not in visible or spec.index not in available:
            continue
        added = max(0.0, visible[spec.index] - available[spec.index]) * scale
        if spec.duration < 60:
            result.added_short.append(added)
        else:
            result.added_long.append(added)
            result.added_long_fraction.append(added / spec.duration)
    return result


def _load_while_arriving(
    result: SideResult, specs: list[TurnSpec], blocks: BlocksSimulator, scale: float
) -> None:
    """Poll requests a minute, and turns the bridge was polling (created, answer not yet found by a poll),
    on average while requests kept arriving: the two figures a round-robin cycle is made of."""
    created = _created_at(blocks)
    if not created or not specs:
        return
    start = min(created.values())
    end = start + specs[-1].arrives_at / scale
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
