"""What the agent reads: the Slack messages of one turn, with who wrote them, as plain markdown."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.slack.inbound_text import to_agent_markdown


@dataclass(frozen=True)
class Authored:
    user_id: str
    text: str
    files_json: str = "[]"

    @property
    def files(self) -> list[dict[str, str]]:
        try:
            files = json.loads(self.files_json)
        except ValueError:
            return []
        return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []


def compose(
    messages: Sequence[Authored],
    user_name: Callable[[str], str],
    *,
    history: Sequence[Authored] = (),
    external_left_out: int = 0,
) -> str:
    """One request text: optional earlier thread messages, then this turn's messages, oldest first.
    `external_left_out`: earlier messages by people of other organizations, left out (the agent is told)."""
    sections = []
    if history or external_left_out:
        lines = ["Earlier messages in this Slack thread, oldest first:"] if history else []
        for earlier in history:
            lines.append(f"@{user_name(earlier.user_id)}: {to_agent_markdown(earlier.text, user_name)}")
        if external_left_out:
            plural = "s" if external_left_out != 1 else ""
            lines.append(
                f"({external_left_out} earlier message{plural} in this thread, by people outside this "
                "organization, left out.)"
            )
        sections.append("\n".join(lines))
    if len(messages) == 1:
        heading = "Slack message from @{name}:"
    else:
        sections.append(f"{len(messages)} Slack messages, sent while you were busy, oldest first.")
        heading = "From @{name}:"
    for message in messages:
        body = to_agent_markdown(message.text, user_name).strip()
        parts = [heading.format(name=user_name(message.user_id)), body]
        if message.files:
            parts.append(_files_note(message.files))
        sections.append("\n".join(part for part in parts if part))
    return "\n\n".join(sections)


def _files_note(files: list[dict[str, str]]) -> str:
    lines = ["Files attached in Slack (not forwarded: only their names and Slack links):"]
    for file in files:
        lines.append(f"- {file.get('name') or 'file'}: {file.get('permalink') or '(no link)'}")
    return "\n".join(lines)
