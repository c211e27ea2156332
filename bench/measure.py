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
    polls = [entry["at"] for entry in blocks.log if entry["method"] == "GET"]
    if len(polls) > 1:
        result.extra["polls_per_minute"] = len(polls) / ((polls[-1] - polls[0]) * scale / 60)
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
