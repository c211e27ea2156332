"""Live progress of a running turn, from what its polls already return (no extra Blocks request): the
agent's current activity in plain words, the number of steps (tool calls) so far, the time since the
request went, and its plan as a checklist where it keeps one.

A poll reads the newest items of the turn's thread only, so the steps are counted as they come: the
newest tool call counted is remembered (`progress_cursor`), and each poll adds the tool calls newer than
it. When more happened between two polls than one read returns, the count is a lower bound and reads so
("40+ steps"). A plan tool carries the whole list each time, so the newest plan seen is kept
(`plan_json`) and shown until a newer one replaces it, even once the call itself is out of the read.

Everything shown is the agent's text, neutralized by `slack/activity.py`; the note changes only when the
activity, the count, the plan or the elapsed minute does, so an edit is made only when there is news.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.blocks.client import THREAD_READ_LIMIT, Message
from bot.blocks.pull_requests import PullRequest, find, merge
from bot.blocks.tool_calls import parse_tool_call
from bot.slack import activity
from bot.slack import messages as text
from bot.slack.activity import PlanItem
from bot.slack.neutralize import neutralize_inline

MESSAGE_LIMIT = 120  # characters of the agent's latest message shown


@dataclass(frozen=True)
class Progress:
    steps: int  # tool calls counted so far
    cursor: str | None  # the id of the newest tool call counted
    plan: list[PlanItem]  # the newest plan seen (empty: none)
    activity: str  # what the agent is doing now, in plain words ("" when nothing is known)
    at_least: bool = False  # some steps may have come and gone between two polls: `steps` is a floor
    pull_requests: list[PullRequest] = field(default_factory=list)  # seen in its tool calls so far

    def plan_json(self) -> str | None:
        if not self.plan:
            return None
        return json.dumps([[item.text, item.status] for item in self.plan])


def load_plan(stored: str | None) -> list[PlanItem]:
    """A plan as `Progress.plan_json` stored it (anything unreadable: none)."""
    if not stored:
        return []
    try:
        data = json.loads(stored)
    except ValueError:
        return []
    if not isinstance(data, list):
        return []
    return [
        PlanItem(str(entry[0]), str(entry[1]))
        for entry in data
        if isinstance(entry, list) and len(entry) == 2 and entry[1] in activity.MARKS
    ]


def advance(
    items: Sequence[Message],
    *,
    steps: int,
    cursor: str | None,
    plan: list[PlanItem],
    at_least: bool,
    pull_requests: Sequence[PullRequest] = (),
) -> Progress:
    """The progress after a poll that read `items` (the thread's newest, newest first)."""
    calls = [item for item in items if item.type == "tool_call"]
    seen = next((index for index, item in enumerate(calls) if item.id == cursor), None)
    new = calls if seen is None else calls[:seen]
    # A full read that reaches back to no call counted before: older calls may have come unseen.
    missed = seen is None and len(items) >= THREAD_READ_LIMIT
    parsed = [parse_tool_call(item.text) for item in calls]
    plans = [call for call in parsed if activity.is_plan(call)]
    newest_plan = activity.plan_items(plans[0]) if plans else []
    return Progress(
        steps=steps + len(new),
        cursor=calls[0].id if calls else cursor,
        plan=newest_plan or plan,
        activity=_activity(items),
        at_least=at_least or missed,
        pull_requests=merge(pull_requests, *(find(call.text) for call in reversed(new))),
    )


def _activity(items: Sequence[Message]) -> str:
    """The newest thing the agent did: its tool calls since its last message (plans aside) in plain
    words, or, when it last wrote a message, the first line of it."""
    newest = next((item for item in items if item.type in ("tool_call", "message")), None)
    if newest is None:
        return ""
    if newest.type == "message":
        first = newest.text.strip().splitlines()[0] if newest.text.strip() else ""
        shown = neutralize_inline(first, MESSAGE_LIMIT)
        return f"_{shown}_" if shown else ""
    recent = []
    for item in items:
        if item.type == "message":
            break
        if item.type == "tool_call":
            recent.append(parse_tool_call(item.text))
    work = [call for call in recent if not activity.is_plan(call)]
    return activity.describe(work) if work else "Planning"


def note(progress: Progress, seconds: float) -> str | None:
    """The lines the placeholder shows under "is working on it…" (None: nothing to show yet)."""
    count = text.steps(progress.steps, at_least=progress.at_least)
    parts = [part for part in (progress.activity, count, text.duration(seconds)) if part]
    lines = [" · ".join(parts)] if parts else []
    lines += activity.checklist(progress.plan)
    return "\n".join(lines) or None
