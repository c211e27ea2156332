"""The agent's activity and plan in plain words, from tool calls shaped like those of the agents Blocks runs;
and, whatever a tool's input holds, what is shown pings nobody and carries no link."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.blocks.tool_calls import ToolCall, parse_tool_call
from bot.slack.activity import PlanItem, checklist, describe, is_plan, plan_items
from tests.posted_text import assert_links_honest, assert_pings_nobody, links


def call(name: str, **args: object) -> str:
    return json.dumps({"__name__": name, "input": args})


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        (call("Bash", command="pytest -q", description="Run the tests"), "Running `pytest -q`"),
        (call("shell", command=["bash", "-lc", "cargo test"]), "Running `cargo test`"),
        (call("run_shell_command", command="npm run lint"), "Running `npm run lint`"),
        (json.dumps({"__name__": "Bash", "command": "make"}), "Running `make`"),  # arguments beside the name
        (json.dumps({"__name__": "bash", "input": "ls"}), "Running `ls`"),  # input as a plain string
        (json.dumps({"__name__": "Bash", "input": json.dumps({"command": "go vet"})}), "Running `go vet`"),
        (call("Edit", file_path="src/app.py", old_string="a", new_string="b"), "Editing `src/app.py`"),
        (
            call("apply_patch", input="*** Begin Patch\n*** Update File: a.py\n*** Add File: b.py\n"),
            "Editing 2 files",
        ),
        (call("Write", file_path="README.md", content="# x"), "Writing `README.md`"),
        (call("Read", file_path="src/cli.py"), "Reading `src/cli.py`"),
        (call("read_many_files", paths=["a.py", "b.py", "c.py"]), "Reading 3 files"),
        (call("Grep", pattern="parse_args", path="src"), "Searching for `parse_args`"),
        (call("Glob", pattern="**/*.py"), "Finding files `**/*.py`"),
        (call("LS", path="src"), "Listing `src`"),
        (call("WebSearch", query="httpx retries"), "Searching the web for `httpx retries`"),
        (call("WebFetch", url="https://evil.example/x"), "Reading a web page"),
        (call("Task", description="Review the diff"), "Delegating: Review the diff"),
        (call("mcp__github__create_pull_request", title="x"), "Using `mcp__github__create_pull_request`"),
        (call("frobnicate"), "Using `frobnicate`"),
        ("not json at all", "Using `tool`"),
        ("[1, 2]", "Using `tool`"),
    ],
)
def test_a_tool_call_reads_as_what_the_agent_is_doing(message: str, shown: str) -> None:
    assert describe([parse_tool_call(message)]) == shown


def test_reads_in_a_row_read_as_one_line() -> None:
    newest_first = [parse_tool_call(call("Read", file_path=p)) for p in ("c.py", "b.py", "c.py", "a.py")]
    newest_first.append(parse_tool_call(call("Bash", command="ls")))
    assert describe(newest_first) == "Reading 3 files"
    assert describe([]) == ""


def test_a_plan_reads_as_a_checklist() -> None:
    todo = parse_tool_call(
        call(
            "TodoWrite",
            todos=[
                {"content": "Find the bug", "status": "completed", "activeForm": "Finding the bug"},
                {"content": "Fix `parse_args`", "status": "in_progress"},
                {"content": "Add a test", "status": "pending"},
            ],
        )
    )
    assert is_plan(todo)
    assert checklist(plan_items(todo)) == ["☑ Find the bug", "▸ Fix \\`parse_args\\`", "☐ Add a test"]
    codex = parse_tool_call(
        call("update_plan", plan=[{"step": "Read code", "status": "completed"}, {"step": "Patch"}])
    )
    assert checklist(plan_items(codex)) == ["☑ Read code", "☐ Patch"]


def test_a_long_plan_shows_where_the_agent_is() -> None:
    items = [PlanItem(f"step {n}", "done" if n < 12 else "doing" if n == 12 else "todo") for n in range(20)]
    lines = checklist(items)
    # The last done item, the one in progress and what comes next; the rest counted.
    assert lines[:3] == ["☑ 11 done", "☑ step 11", "▸ step 12"] and lines[-1] == "… and 1 more"
    assert len(lines) == 10


tool_names = st.sampled_from(
    [
        "Bash",
        "shell",
        "Read",
        "Edit",
        "apply_patch",
        "Grep",
        "Glob",
        "LS",
        "Task",
        "TodoWrite",
        "WebSearch",
        "x",
    ]
)
hostile = st.one_of(
    st.text(max_size=120),
    st.lists(
        st.sampled_from(
            ["<!here>", "<!channel>", "<@U0ALICE>", "@here", "[good.com](https://evil.com)", "https://x.y",
             "`", "```", "\n", "*", "_", "<https://evil.com|good.com>", "good.com", " ", "\\", "＠here"]
        ),
        max_size=20,
    ).map("".join),
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=tool_names,
    text=hostile,
    key=st.sampled_from(["command", "file_path", "pattern", "query", "description", "input"]),
)
def test_whatever_a_tool_input_holds_the_activity_pings_nobody_and_links_nowhere(
    name: str, text: str, key: str
) -> None:
    parsed = parse_tool_call(
        json.dumps({"__name__": name, "input": {key: text, "todos": [{"content": text}]}})
    )
    shown = "\n".join([describe([parsed]), *checklist(plan_items(parsed))])
    assert "\n" not in describe([parsed])
    assert_pings_nobody(shown)
    assert_links_honest(shown)
    assert not links(shown), shown


def test_names_fold_for_matching() -> None:
    assert ToolCall("run_shell_command").kind == "runshellcommand"
    assert ToolCall("mcp__fs__read_file").kind == "readfile"
