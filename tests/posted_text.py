"""Reading what the bot posted the way Slack and a markdown renderer would, to check the README's promise
about untrusted text: it pings nobody, and no link's text names one site while it goes to another.

The reading is independent of the neutralizer's: an independent CommonMark parser (markdown-it-py) for the
`markdown` block, Slack's own `<…>` rules for both the block and the plain `text` fallback.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.slack.render import fallback_text

COMMONMARK = MarkdownIt("commonmark").enable("table").enable("strikethrough")
# Slack's own syntax in posted text: a special mention, a user, a channel, a subteam, or a labelled link.
SLACK_PING = re.compile(r"<[!@#]")
SLACK_LABELLED = re.compile(r"<([a-z][a-z0-9+.-]*:[^<>|\s]*|www\.[^<>|\s]*)\|([^<>]*)>", re.IGNORECASE)
BROADCAST = re.compile(r"(?<![\w@])@(here|channel|everyone)(?!\w)", re.IGNORECASE)
# A label that reads as an address, by a reader's plain eye (ASCII only: the neutralizer reads more).
HOST_IN_LABEL = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^\s/@]*@)?((?:[a-z0-9-]+\.)+(?:com|org|net|example|io))(?::\d+)?(?:[/?#]\S*)?$",
    re.IGNORECASE,
)


def folded(text: str) -> str:
    """Compatibility forms folded (＠ is @). Invisible characters stay: Slack matches its tokens literally,
    and an invisible character (the neutralizer's word joiner) is what breaks a match."""
    return unicodedata.normalize("NFKC", text)


def shown(text: str) -> str:
    """What a reader sees: NFKC, invisible format characters gone."""
    return "".join(char for char in folded(text) if unicodedata.category(char) != "Cf")


def rendered_inline(tokens: list[Token]) -> list[Token]:
    found: list[Token] = []
    for token in tokens:
        if token.type == "inline" and token.children:
            found.extend(token.children)
    return found


def visible_text(posted: str) -> str:
    """Every piece of text a markdown renderer shows, code included, with references resolved."""
    pieces = []
    for token in COMMONMARK.parse(posted):
        if token.type in ("fence", "code_block"):
            pieces.append(token.content)
    for child in rendered_inline(COMMONMARK.parse(posted)):
        if child.type in ("text", "code_inline"):
            pieces.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            pieces.append("\n")
    return "\n".join(pieces)


def links(posted: str) -> list[tuple[str, str]]:
    """(label as shown, target) of every link a CommonMark renderer makes."""
    found: list[tuple[str, str]] = []
    label: list[str] | None = None
    target = ""
    for child in rendered_inline(COMMONMARK.parse(posted)):
        if child.type == "link_open":
            label, target = [], str(child.attrs.get("href", ""))
        elif child.type == "link_close" and label is not None:
            found.append(("".join(label), target))
            label = None
        elif label is not None and child.type in ("text", "code_inline"):
            label.append(child.content)
        elif label is not None and child.type == "softbreak":
            label.append(" ")
    return found


def target_host(target: str) -> str:
    """Where a browser goes: backslashes are slashes, the host after any userinfo, percent-decoded."""
    url = unquote(target).replace("\\", "/").strip()
    if "://" not in url and not url.lower().startswith(("mailto:", "javascript:")):
        url = "http://" + url
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    host = host.rstrip(".").lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")  # as a browser sends it
        except UnicodeError:
            return host
    return host[4:] if host.startswith("www.") else host


def honest(label: str, target: str) -> bool:
    match = HOST_IN_LABEL.match(shown(label).strip().strip("<>").strip())
    if match is None:
        return True
    named = match.group(1).lower()
    named = named[4:] if named.startswith("www.") else named
    went = target_host(target)
    return went == named or went.endswith("." + named)


def assert_pings_nobody(posted: str) -> None:
    assert not SLACK_PING.search(posted), posted
    assert not SLACK_PING.search(folded(visible_text(posted))), posted
    assert not BROADCAST.search(posted), posted
    assert not BROADCAST.search(folded(visible_text(posted))), posted
    fallback = fallback_text(posted)
    assert not SLACK_PING.search(fallback) and not BROADCAST.search(fallback), fallback


def assert_links_honest(posted: str) -> None:
    for label, target in links(posted):
        assert honest(label, target), (label, target, posted)
    for match in SLACK_LABELLED.finditer(posted):
        assert honest(match.group(2), match.group(1)), (match.group(0), posted)
