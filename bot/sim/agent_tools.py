"""The tool calls a simulated agent makes while it works, named and shaped like the real coding agents'
(Claude Code, Codex, Gemini CLI; the others use Claude Code's names, as OpenCode and Cursor nearly do):
a plan, a search, reads, an edit, the plan updated, the tests run. Each is the `message` of a `tool_call`
item: `{"__name__": <tool>, "input": <args>}`, as Blocks writes it.
"""

from __future__ import annotations

import json
from typing import Any

PLAN = ("Find where the arguments are parsed", "Fix the off-by-one in parse_args", "Run the tests")


def _statuses(done: int) -> list[str]:
    return ["completed"] * done + ["in_progress"] + ["pending"] * (len(PLAN) - done - 1)


def _claude() -> list[tuple[str, dict[str, Any]]]:
    def todos(done: int) -> dict[str, Any]:
        return {
            "todos": [
                {"content": text, "status": status, "activeForm": text}
                for text, status in zip(PLAN, _statuses(done), strict=True)
            ]
        }

    return [
        ("TodoWrite", todos(0)),
        ("Grep", {"pattern": "def parse_args", "path": "src", "output_mode": "content"}),
        ("Read", {"file_path": "/work/repo/src/cli.py"}),
        ("Read", {"file_path": "/work/repo/tests/test_cli.py"}),
        ("TodoWrite", todos(1)),
        ("Edit", {"file_path": "/work/repo/src/cli.py", "old_string": "args[1:]", "new_string": "args"}),
        ("TodoWrite", todos(2)),
        ("Bash", {"command": "pytest -q tests/test_cli.py", "description": "Run the CLI tests"}),
    ]


def _codex() -> list[tuple[str, dict[str, Any]]]:
    def plan(done: int) -> dict[str, Any]:
        return {"plan": [{"step": text, "status": s} for text, s in zip(PLAN, _statuses(done), strict=True)]}

    patch = "\n".join(
        [
            "*** Begin Patch",
            "*** Update File: src/cli.py",
            "@@",
            "-    rest = args[1:]",
            "+    rest = args",
            "*** End Patch",
        ]
    )
    return [
        ("update_plan", plan(0)),
        ("shell", {"command": ["bash", "-lc", "rg -n 'def parse_args' src"]}),
        ("shell", {"command": ["bash", "-lc", "sed -n 1,80p src/cli.py"]}),
        ("update_plan", plan(1)),
        ("apply_patch", {"input": patch}),
        ("update_plan", plan(2)),
        ("shell", {"command": ["bash", "-lc", "pytest -q"]}),
    ]


def _gemini() -> list[tuple[str, dict[str, Any]]]:
    def todos(done: int) -> dict[str, Any]:
        return {
            "todos": [{"description": t, "status": s} for t, s in zip(PLAN, _statuses(done), strict=True)]
        }

    return [
        ("write_todos", todos(0)),
        ("search_file_content", {"pattern": "def parse_args"}),
        ("read_file", {"absolute_path": "/work/repo/src/cli.py"}),
        ("write_todos", todos(1)),
        ("replace", {"file_path": "/work/repo/src/cli.py", "old_string": "args[1:]", "new_string": "args"}),
        ("write_todos", todos(2)),
        ("run_shell_command", {"command": "pytest -q", "description": "Run the tests"}),
    ]


def tool_calls(agent: str, *, viewed_pr: str | None = None) -> list[str]:
    """The `message` of each tool call the agent makes, in order; with `viewed_pr`, it looks at that pull
    request first (`gh pr view URL`)."""
    script = _codex() if agent == "codex" else _gemini() if agent == "gemini" else _claude()
    if viewed_pr is not None:
        script.insert(1, ("Bash", {"command": f"gh pr view {viewed_pr} --comments"}))
    return [json.dumps({"__name__": name, "input": args}) for name, args in script]
