"""Agent markdown → Slack: make untrusted text harmless, then cut it into parts Slack accepts.

Agent text is untrusted. `bot.slack.neutralize` makes it harmless (no pings, no disguised links; see there
why and how); its functions are re-exported here, where the rest of the bot has always found them.

Answers of any length arrive whole: `next_part` cuts at a paragraph, else a line, else a word boundary,
well below Slack's limits, and closes a code block at the end of a part and reopens it (with its language)
at the start of the next one. Code blocks are found by CommonMark's fence rules (`fences`); the
neutralizer exempts only some of them from its link rules (never more), so a cut cannot expose as prose
anything it left unchecked. Parts are computed from an offset into the text
so that a worker resuming after a crash, or re-splitting smaller after `msg_too_long`, continues exactly
where the last part ended. A cut can turn harmless text into a broadcast (`@hereafter` → `@here`, or
`me@here.com` → `@here.com`), so every part and every fallback is guarded again after cutting.
"""

from __future__ import annotations

from bot.slack.neutralize import (
    WORD_JOINER,
    Fence,
    fences,
    neutralize,
    neutralize_broadcasts,
    neutralize_inline,
    safe_url,
)

__all__ = [
    "DEFAULT_PART_LIMIT",
    "FALLBACK_LIMIT",
    "MIN_PART_LIMIT",
    "WORD_JOINER",
    "fallback_text",
    "fits_plain",
    "neutralize",
    "neutralize_inline",
    "next_part",
    "safe_url",
    "split",
]

DEFAULT_PART_LIMIT = 3000
MIN_PART_LIMIT = 400
FALLBACK_LIMIT = 3500
_GUARD_ROOM = 2  # word joiners a cut may need: one at each end of a part


def _escaped(part: str) -> str:
    return part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fits_plain(part: str) -> bool:
    """Whether `part`, sent as plain text (the fallback of a refused markdown block), arrives whole:
    escaping can make it longer than `fallback_text` keeps."""
    return len(_escaped(part)) <= FALLBACK_LIMIT


def fallback_text(part: str) -> str:
    """The plain `text` beside the markdown block (notifications, old clients): mrkdwn-escaped, and cut
    short when longer than Slack's notifications use (see `fits_plain` for parts sent as text alone)."""
    escaped = _escaped(part)
    if len(escaped) > FALLBACK_LIMIT:
        escaped = escaped[: FALLBACK_LIMIT - 1 - _GUARD_ROOM].rstrip() + "…"
    return neutralize_broadcasts(escaped)


def next_part(text: str, offset: int, limit: int = DEFAULT_PART_LIMIT) -> tuple[str, int]:
    """The part of `text` that starts at `offset`, and the offset where the next part starts."""
    while offset < len(text) and text[offset] == "\n":
        offset += 1
    blocks = fences(text)
    opened = _fence_open_at(blocks, offset)
    prefix = opened.opening + "\n" if opened else ""
    closer_room = 1 + max((len(block.marker) for block in blocks), default=0)
    budget = max(limit - len(prefix) - closer_room - _GUARD_ROOM - 1, 1)
    if len(text) - offset <= budget:
        return neutralize_broadcasts(prefix + text[offset:]), len(text)
    cut = _cut_point(text, offset, budget)
    body = text[offset:cut].rstrip("\n")
    still_open = _fence_open_at(blocks, cut)
    if still_open:
        body += "\n" + still_open.marker
    return neutralize_broadcasts(prefix + body), cut


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


def _fence_open_at(blocks: list[Fence], offset: int) -> Fence | None:
    """The code block whose opening line ends before `offset` and whose closing line does not, if any."""
    for block in blocks:
        if block.body <= offset and not (block.closed and block.end <= offset):
            return block
    return None
