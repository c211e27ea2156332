"""Agent markdown → Slack: make untrusted text harmless, then cut it into parts Slack accepts.

Agent text is untrusted. It must never ping anyone (`<!channel>`, `<!here>`, `<!everyone>`, user groups,
users, bare `@here`/`@channel`) and a link must never show one URL while pointing to another. Pinging
tokens become plain text with a word joiner (U+2060) after the `@`, which Slack does not parse as a mention
but a reader does not notice.

Answers of any length arrive whole: `next_part` cuts at a paragraph, else a line, else a word boundary,
well below Slack's limits, and closes a code block at the end of a part and reopens it (with its language)
at the start of the next one. Parts are computed from an offset into the text so that a worker resuming
after a crash, or re-splitting smaller after `msg_too_long`, continues exactly where the last part ended.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

WORD_JOINER = "\u2060"
DEFAULT_PART_LIMIT = 3000
MIN_PART_LIMIT = 400
FALLBACK_LIMIT = 3500

_SPECIAL = re.compile(r"<!(channel|here|everyone|group)(?:\|[^>]*)?>", re.IGNORECASE)
_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|@?([^>]*))?>", re.IGNORECASE)
_OTHER_BANG = re.compile(r"<!([^>|]*)(?:\|([^>]*))?>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>", re.IGNORECASE)
_CHANNEL = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>", re.IGNORECASE)
_SLACK_LINK = re.compile(r"<((?:https?|mailto|ftp):[^>|\s]+)(?:\|([^>]*))?>", re.IGNORECASE)
_BARE_BROADCAST = re.compile(r"(?<![\w@])@(here|channel|everyone)\b", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_URLISH = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)+(?:[/:?#]\S*)?$", re.I)
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_CODE_SPAN = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def neutralize(text: str) -> str:
    """Make agent text safe to post: no pings, no disguised links."""
    text = _SPECIAL.sub(lambda m: f"@{WORD_JOINER}{m.group(1).lower()}", text)
    text = _SUBTEAM.sub(lambda m: f"@{WORD_JOINER}{m.group(1) or 'group'}", text)
    text = _USER.sub(lambda m: f"@{WORD_JOINER}{m.group(2) or m.group(1)}", text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(2) or m.group(1)}", text)
    text = _SLACK_LINK.sub(_slack_link_to_markdown, text)
    text = _OTHER_BANG.sub(lambda m: m.group(2) or m.group(1), text)
    text = _outside_code(text, lambda chunk: _BARE_BROADCAST.sub(f"@{WORD_JOINER}\\1", chunk))
    return _MD_LINK.sub(_honest_link, text)


def fallback_text(part: str) -> str:
    """The plain `text` beside the markdown block (notifications, old clients): mrkdwn-escaped."""
    escaped = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if len(escaped) > FALLBACK_LIMIT:
        escaped = escaped[: FALLBACK_LIMIT - 1].rstrip() + "…"
    return escaped


def next_part(text: str, offset: int, limit: int = DEFAULT_PART_LIMIT) -> tuple[str, int]:
    """The part of `text` that starts at `offset`, and the offset where the next part starts."""
    while offset < len(text) and text[offset] == "\n":
        offset += 1
    open_fence = _fence_open_at(text, offset)
    prefix = open_fence + "\n" if open_fence else ""
    budget = max(limit - len(prefix) - 5, 1)  # room for a closing "\n```"
    if len(text) - offset <= budget:
        return prefix + text[offset:], len(text)
    cut = _cut_point(text, offset, budget)
    body = text[offset:cut].rstrip("\n")
    if _fence_open_at(text, cut):
        body += "\n```"
    return prefix + body, cut


def split(text: str, limit: int = DEFAULT_PART_LIMIT) -> list[str]:
    parts, offset = [], 0
    while offset < len(text):
        part, offset = next_part(text, offset, limit)
        parts.append(part)
    return parts or [""]


def _cut_point(text: str, offset: int, budget: int) -> int:
    window = text[offset : offset + budget]
    for separator, minimum in (("\n\n", budget // 3), ("\n", budget // 4), (" ", budget // 2)):
        index = window.rfind(separator)
        if index >= minimum:
            return offset + index + len(separator)
    return offset + budget


def _fence_open_at(text: str, offset: int) -> str:
    """The opening fence line (e.g. "```python") of the code block `offset` lies in, or ""."""
    opening = ""
    for line in text[:offset].split("\n")[:-1]:  # complete lines only
        if _FENCE.match(line):
            opening = "" if opening else line.strip()
    return opening


def _slack_link_to_markdown(match: re.Match[str]) -> str:
    url, label = match.group(1), match.group(2)
    if not label or label == url:
        return url
    return f"[{label}]({url})"


def _honest_link(match: re.Match[str]) -> str:
    label, url = match.group(1), match.group(2)
    candidate = label.strip().strip("<>")
    if _URLISH.match(candidate) and _host(candidate) != _host(url):
        # The label looks like an address but is not where the link goes: show the real target.
        return f"{label} ({url})"
    return match.group(0)


def _host(url: str) -> str:
    if "://" not in url:
        url = "http://" + url
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def _outside_code(text: str, transform: Callable[[str], str]) -> str:
    pieces, last = [], 0
    for match in _CODE_SPAN.finditer(text):
        pieces.append(transform(text[last : match.start()]))
        pieces.append(match.group(0))
        last = match.end()
    pieces.append(transform(text[last:]))
    return "".join(pieces)
