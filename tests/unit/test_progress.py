"""Live progress from the polls (turns/progress.py): steps counted once each across polls, a floor when a
poll may have missed some, the newest plan kept, the activity of the newest items, the coarse time."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.blocks.client import THREAD_READ_LIMIT, Message
from bot.sim.agent_tools import tool_calls
from bot.slack import messages
from bot.turns.progress import Progress, advance, load_plan, note


def call(number: int, name: str = "Bash", **args: Any) -> Message:
    body = json.dumps({"__name__": name, "input": args or {"command": f"step {number}"}})
    return Message(f"c{number}", "assistant", "tool_call", body, "t", None, "")


def said(number: int, text: str) -> Message:
    return Message(f"m{number}", "assistant", "message", text, "t", None, "")


def newest_first(items: list[Message], limit: int = THREAD_READ_LIMIT) -> list[Message]:
    return list(reversed(items))[:limit]


START = Progress(steps=0, cursor=None, plan=[], activity="")


def poll(before: Progress, items: list[Message]) -> Progress:
    return advance(
        newest_first(items),
        steps=before.steps,
        cursor=before.cursor,
        plan=before.plan,
        at_least=before.at_least,
    )


@given(st.lists(st.integers(min_value=0, max_value=THREAD_READ_LIMIT - 1), max_size=12))
def test_each_tool_call_is_counted_once_however_the_polls_fall(new_between_polls: list[int]) -> None:
    """Whatever comes between two polls (fewer than one read holds), every call is counted exactly once."""
    timeline: list[Message] = []
    state = START
    for count in new_between_polls:
        for _ in range(count):
            timeline.append(call(len(timeline)))
        state = poll(state, timeline)
    assert state.steps == len(timeline)
    assert not state.at_least


def test_more_calls_between_two_polls_than_a_read_holds_make_the_count_a_floor() -> None:
    timeline = [call(n) for n in range(3)]
    state = poll(START, timeline)
    timeline += [call(n) for n in range(3, 3 + THREAD_READ_LIMIT + 5)]
    state = poll(state, timeline)
    assert state.at_least and state.steps == 3 + THREAD_READ_LIMIT
    assert "23+ steps" in (note(state, 0) or "")
    state = poll(state, [*timeline, call(99)])
    assert state.at_least, "once a floor, always a floor"


def test_the_activity_is_the_newest_work_and_a_message_reads_as_itself() -> None:
    timeline = [call(1, "Read", file_path="a.py"), call(2, "Read", file_path="b.py")]
    assert poll(START, timeline).activity == "Reading 2 files"
    timeline.append(said(3, "Found it.\nThe parser skips the first argument."))
    assert poll(START, timeline).activity == "_Found it._"
    timeline.append(call(4, "Edit", file_path="a.py"))
    assert poll(START, timeline).activity == "Editing `a.py`"


def _script(agent: str) -> list[Message]:
    """The simulated agent's tool calls (bot/sim/agent_tools), oldest first."""
    return [
        Message(f"c{n}", "assistant", "tool_call", body, "t", None, "")
        for n, body in enumerate(tool_calls(agent))
    ]


def test_the_newest_plan_is_kept_when_its_call_is_out_of_the_read() -> None:
    timeline = _script("claude")
    state = poll(START, timeline)
    assert [item.status for item in state.plan] == ["done", "done", "doing"]
    timeline += [call(100 + n) for n in range(THREAD_READ_LIMIT)]  # the plan is no longer in a read
    later = poll(state, timeline)
    assert later.plan == state.plan
    assert load_plan(later.plan_json()) == later.plan


def test_each_simulated_agent_shows_its_plan_and_what_it_runs() -> None:
    for agent, running in (
        ("claude", "pytest -q tests/test_cli.py"),
        ("codex", "pytest -q"),
        ("gemini", "pytest -q"),
    ):
        items = _script(agent)
        shown = note(poll(START, items), 125) or ""
        assert shown.splitlines()[0] == f"Running `{running}` · {len(items)} steps · 2 min", (agent, shown)
        assert "▸ Run the tests" in shown and "☑ Fix the off-by-one in parse_args" in shown, (agent, shown)


def test_time_is_shown_in_whole_minutes() -> None:
    assert [messages.duration(s) for s in (0, 59.9, 60, 119, 3599, 3600, 3725)] == [
        "",
        "",
        "1 min",
        "1 min",
        "59 min",
        "1 h 0 min",
        "1 h 2 min",
    ]


def test_nothing_known_yet_shows_nothing() -> None:
    assert note(START, 30) is None
    assert load_plan("not json") == [] and load_plan('{"a": 1}') == [] and load_plan('[["x", "bogus"]]') == []
