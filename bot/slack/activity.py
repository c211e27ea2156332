"""What the agent is doing, in plain words, from its tool calls: "Running `pytest -q`", "Editing
`src/app.py`", "Reading 3 files", "Searching for `parse_args`"; a tool we do not know reads "Using `tool`".
And its plan, where it keeps one (Claude Code's `TodoWrite`, Codex's `update_plan`, Gemini's
`write_todos`, Cursor's and OpenCode's todo tools carry the whole list with statuses each time), as a
checklist.

Names and argument keys are those of the coding agents Blocks runs (Claude Code, Codex, Gemini CLI,
OpenCode, Cursor); the match is on the folded name (`ToolCall.kind`). Every piece of a tool's input is
untrusted: it is neutralized (no ping, no link, no markup that breaks out), put on one line and cut short,
and shown as inline code or escaped text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.blocks.tool_calls import ToolCall
from bot.slack.neutralize import neutralize, neutralize_broadcasts, neutralize_inline

CODE_LIMIT = 60  # characters of a command, path or pattern shown
ITEM_LIMIT = 80  # characters of one checklist item
CHECKLIST_ITEMS = 8  # items shown; the rest are counted

SHELL = {"bash", "shell", "runshellcommand", "runterminalcmd", "execcommand", "executecommand", "terminal"}
READ = {"read", "readfile", "view", "cat", "notebookread", "readmanyfiles"}
EDIT = {"edit", "multiedit", "strreplace", "strreplacebasededittool", "replace", "editfile", "notebookedit",
        "applypatch", "patch"}  # fmt: skip
WRITE = {"write", "writefile", "createfile"}
SEARCH = {"grep", "searchfilecontent", "grepsearch", "codebasesearch", "search", "rg", "ripgrep"}
FIND = {"glob", "filesearch", "find", "findfiles"}
LIST = {"ls", "list", "listdir", "listdirectory"}
WEB_SEARCH = {"websearch", "googlewebsearch"}
WEB_FETCH = {"webfetch", "fetch", "readurl"}
DELEGATE = {"task", "agent", "dispatchagent", "subagent"}
PLAN = {"todowrite", "writetodos", "updateplan", "todo"}

_PATH_KEYS = ("file_path", "path", "absolute_path", "target_file", "filename", "notebook_path",
              "relative_workspace_path", "dir_path", "directory")  # fmt: skip
_PATCH_FILE = re.compile(r"^\*\*\* (?:Update|Add|Delete) File: (.+)$", re.MULTILINE)


def code(text: str, limit: int = CODE_LIMIT) -> str:
    """Untrusted text as inline code: neutralized, on one line, without backticks, cut to `limit`."""
    line = " ".join(neutralize(text).replace("`", "'").split())
    if len(line) > limit:
        # A cut can make a broadcast ("@hereafter" → "@here…"): guard it.
        line = neutralize_broadcasts(line[: limit - 1].rstrip() + "…")
    return f"`{line}`" if line else ""


def is_plan(call: ToolCall) -> bool:
    return call.kind in PLAN or "todo" in call.kind


def describe(calls: Sequence[ToolCall]) -> str:
    """The agent's current activity from its tool calls, newest first (plans left out by the caller).
    Several reads in a row read as one line ("Reading 3 files")."""
    if not calls:
        return ""
    newest = calls[0]
    if newest.kind in READ:
        paths = []
        for call in calls:
            if call.kind not in READ:
                break
            for path in _paths(call):
                if path not in paths:
                    paths.append(path)
        if len(paths) > 1:
            return f"Reading {len(paths)} files"
    return _one(newest)


def _one(call: ToolCall) -> str:
    kind, args = call.kind, call.args
    if kind in SHELL:
        return _with("Running", _command(args))
    if kind in READ:
        paths = _paths(call)
        return (
            f"Reading {len(paths)} files" if len(paths) > 1 else _with("Reading", paths[0] if paths else "")
        )
    if kind in EDIT:
        paths = _paths(call)
        return (
            f"Editing {len(paths)} files" if len(paths) > 1 else _with("Editing", paths[0] if paths else "")
        )
    if kind in WRITE:
        return _with("Writing", _first(args, _PATH_KEYS))
    if kind in SEARCH:
        return _with("Searching for", _first(args, ("pattern", "query", "regex", "search", "input")))
    if kind in FIND:
        return _with("Finding files", _first(args, ("pattern", "glob", "query", "name", "input")))
    if kind in LIST:
        return _with("Listing", _first(args, (*_PATH_KEYS, "input")))
    if kind in WEB_SEARCH:
        return _with("Searching the web for", _first(args, ("query", "q", "input")))
    if kind in WEB_FETCH:
        return "Reading a web page"  # never its address: a link is not ours to show
    if kind in DELEGATE:
        task = _first(args, ("description", "prompt", "input"))
        return f"Delegating: {neutralize_inline(task, ITEM_LIMIT)}" if task else "Delegating to a helper"
    return f"Using {code(call.name, 40) or 'a tool'}"


def _with(verb: str, subject: str) -> str:
    shown = code(subject)
    return f"{verb} {shown}" if shown else verb


def _command(args: dict[str, Any]) -> str:
    command = args.get("command", args.get("cmd", args.get("input", "")))
    if isinstance(command, list):
        words = [str(word) for word in command]
        # Codex wraps commands in a shell: ["bash", "-lc", "pytest -q"] is "pytest -q".
        if (
            len(words) >= 3
            and words[0].rsplit("/", 1)[-1] in ("bash", "sh", "zsh")
            and words[1] in ("-c", "-lc")
        ):
            return " ".join(words[2:])
        return " ".join(words)
    return command if isinstance(command, str) else ""


def _paths(call: ToolCall) -> list[str]:
    args = call.args
    found = []
    for key in ("paths", "file_paths", "target_files"):
        value = args.get(key)
        if isinstance(value, list):
            found += [str(item) for item in value if isinstance(item, str | int | float)]
    single = _first(args, _PATH_KEYS)
    if single:
        found.append(single)
    patch = args.get("patch", args.get("input"))
    if isinstance(patch, str):
        found += [match.strip() for match in _PATCH_FILE.findall(patch)]
    unique: list[str] = []
    for path in found:
        if path and path not in unique:
            unique.append(path)
    return unique


def _first(args: dict[str, Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = args.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ""


# -- plans ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanItem:
    text: str
    status: str  # done | doing | todo


_DONE = {"completed", "complete", "done", "finished"}
_DOING = {"in_progress", "inprogress", "in-progress", "active", "doing", "running"}
MARKS = {"done": "☑", "doing": "▸", "todo": "☐"}


def plan_items(call: ToolCall) -> list[PlanItem]:
    """The whole list a plan tool carries, in its order."""
    raw: list[Any] = next(
        (
            call.args[key]
            for key in ("todos", "plan", "items", "steps")
            if isinstance(call.args.get(key), list)
        ),
        [],
    )
    items = []
    for entry in raw:
        if isinstance(entry, str):
            text, status = entry, "todo"
        elif isinstance(entry, dict):
            text = _first(entry, ("content", "step", "description", "title", "text", "activeForm"))
            status = str(entry.get("status", "")).lower()
        else:
            continue
        if text.strip():
            items.append(
                PlanItem(text, "done" if status in _DONE else "doing" if status in _DOING else "todo")
            )
    return items


def checklist(items: Sequence[PlanItem]) -> list[str]:
    """The plan as checklist lines, at most CHECKLIST_ITEMS of them (the first items not done, with those
    done before them), the rest counted."""
    if not items:
        return []
    start = 0
    if len(items) > CHECKLIST_ITEMS:
        first_open = next((i for i, item in enumerate(items) if item.status != "done"), len(items))
        start = max(0, min(first_open - 1, len(items) - CHECKLIST_ITEMS))
    shown = items[start : start + CHECKLIST_ITEMS]
    lines = [f"{MARKS[item.status]} {neutralize_inline(item.text, ITEM_LIMIT)}" for item in shown]
    before, after = start, len(items) - start - len(shown)
    if before:
        lines.insert(0, f"☑ {before} done")
    if after:
        lines.append(f"… and {after} more")
    return lines
