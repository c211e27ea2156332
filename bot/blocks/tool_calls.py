"""The agent's tool calls as Blocks reports them: a `tool_call` item's `message` is a JSON-encoded string,
`{"__name__": "<tool>", "input": <args>}` on current deployments, or the arguments beside `__name__`
(`{"__name__": "<tool>", "command": "…"}`) on others; `input` itself may be an object, a JSON-encoded
object or a plain string. Only the invocation is exposed, never the tool's result.

Everything here is untrusted text from the agent: read defensively (anything unreadable is a tool with no
arguments, never an error) and shown only through the neutralizer (see `slack/activity.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

UNKNOWN_TOOL = "tool"


@dataclass(frozen=True)
class ToolCall:
    name: str  # as the agent named it ("Bash", "run_shell_command", "mcp__github__create_pr")
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The name folded for matching: lower case, without an MCP server prefix or separators."""
        name = self.name.rsplit("__", 1)[-1] if self.name.startswith("mcp__") else self.name
        return "".join(char for char in name.lower() if char.isalnum())


def parse_tool_call(message: str) -> ToolCall:
    """A tool call from a `tool_call` item's text."""
    try:
        data = json.loads(message)
    except (TypeError, ValueError):
        return ToolCall(UNKNOWN_TOOL, {"input": message} if message else {})
    if not isinstance(data, dict):
        return ToolCall(UNKNOWN_TOOL, {"input": data})
    name = data.get("__name__") or data.get("name") or data.get("tool")
    args = {key: value for key, value in data.items() if key not in ("__name__", "name", "tool")}
    if "input" in args:
        nested = _object(args["input"])
        if nested is not None:
            args = {**{k: v for k, v in args.items() if k != "input"}, **nested}
    return ToolCall(str(name) if isinstance(name, str) and name.strip() else UNKNOWN_TOOL, args)


def _object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None
