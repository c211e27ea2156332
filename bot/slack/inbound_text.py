"""Slack message markup → the plain markdown the agent reads.

`<@U…>` becomes `@name`, `<#C…|x>` becomes `#x`, `<url|label>` becomes `[label](url)`, `<!here>` becomes
`@here`, and the three entities Slack escapes (`&amp;`, `&lt;`, `&gt;`) are unescaped last, so that text
the user typed as `<b>` reaches the agent as `<b>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>", re.IGNORECASE)
_CHANNEL = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>", re.IGNORECASE)
_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|@?([^>]*))?>", re.IGNORECASE)
_BANG = re.compile(r"<!([^>|]*)(?:\|([^>]*))?>")
_LINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^>|]+)(?:\|([^>]*))?>", re.IGNORECASE)


def to_agent_markdown(text: str, user_name: Callable[[str], str]) -> str:
    text = _USER.sub(lambda m: "@" + (m.group(2) or user_name(m.group(1))), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _SUBTEAM.sub(lambda m: "@" + (m.group(1) or "group"), text)
    text = _BANG.sub(_special, text)
    text = _LINK.sub(_link, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _special(match: re.Match[str]) -> str:
    keyword, label = match.group(1), match.group(2)
    if keyword in ("here", "channel", "everyone"):
        return "@" + keyword
    return label or keyword  # e.g. <!date^…|fallback text>


def _link(match: re.Match[str]) -> str:
    url, label = match.group(1), match.group(2)
    if url.lower().startswith("mailto:"):
        return label or url[len("mailto:") :]
    if not label or label == url:
        return url
    return f"[{label}]({url})"
