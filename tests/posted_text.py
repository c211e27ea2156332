"""Reading what the bot posted the way Slack and a markdown renderer would, to check the README's promise
about untrusted text: it pings nobody, and no link's text names one site while it goes to another.

The reading is independent of the neutralizer's: an independent CommonMark parser (markdown-it-py) for the
`markdown` block, Slack's own `<…>` rules for both the block and the plain `text` fallback, and tables of its
own. The markdown is read three times: with link targets as CommonMark decodes them; as written (a renderer
that keeps backslashes and character references in a target sends a browser elsewhere:
`https://evil.com\\.good.com`); and with `~~~` fences as text (for a renderer that knows only backtick
fences). Every link counts, whatever its scheme.

A link is honest when every address named in its visible text, or in the visible word it is part of (the
text and the links right beside it, up to whitespace or a bracket, quote or comma), is where it goes:
`[good](https://evil.com).com` shows "good.com". Addresses are found as a person reads them: compatibility
forms folded, invisible, control and combining characters dropped, lookalike letters and dots mapped; any
dotted name whose last label is a known top-level domain (or is not ASCII), anywhere in a word, and the host
of a `scheme://` URL; names in a URL's path are not addresses.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt
from markdown_it import helpers as markdown_helpers
from markdown_it.token import Token

from bot.slack.render import fallback_text

# Slack's own syntax in posted text: a special mention, a user, a channel, a subteam, or a labelled link.
SLACK_PING = re.compile(r"<[!@#]")
# (A URL is taken to end only at ASCII whitespace: Slack does not document what else ends it.)
SLACK_LABELLED = re.compile(
    r"<([a-z][a-z0-9+.-]*:[^<>|\x00-\x20]*|www\.[^<>|\x00-\x20]*)\|([^<>]*)>", re.IGNORECASE
)
BROADCAST = re.compile(r"(?<![\w@])@(here|channel|everyone)(?!\w)", re.IGNORECASE)
CONTROLS = {code: None for code in [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]}

# Lookalikes of Latin letters and of the dot (after NFKC and case folding): Cyrillic, Greek, Armenian,
# Latin small capitals and IPA letters, and dots from other scripts.
LOOKALIKES = str.maketrans(
    {
        **dict(zip("аеорсхуіјѕԁԛԝһӏкмнтвёєїўԍүҽ", "aeopcxyijsdqwhlkmhtbeeeygye", strict=True)),
        **dict(zip("αορτυνικεηχγωϲϳβ", "aoptuvikenxywcjb", strict=True)),
        **dict(zip("օսցհոա", "oughnw", strict=True)),
        **dict(zip("ᴀʙᴄᴅᴇɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢɑɡɩıȷ", "abcdeghijklmnoprstuvwyzagiij", strict=True)),
        **dict.fromkeys("·・‧∙⋅٠۔܁܂ꓸ⸱。᛫ㆍ", "."),
    }
)
# Top-level domains the checker knows (file extensions such as .md, .py, .sh are left out on purpose).
TOP_LEVEL = frozenset(
    re.findall(
        r"\S+",
        "com net org edu gov mil int info biz name pro app dev page io ai co me tv cc uk de fr es it nl eu "
        "us ca au jp cn ru br ch se no fi pl be at dk cz xyz online site top club shop store tech cloud "
        "blog news live link click zip mov example test invalid localhost",
    )
)
NAME = r"[^\W_]+(?:-+[^\W_]+)*"
DOTTED = re.compile(rf"{NAME}(?:\.{NAME})+")
SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://")
PATH = re.compile(r"[/?#\\]")
SPECIAL_SCHEME = re.compile(r"(https?|wss?|ftp|file):/*", re.IGNORECASE)
WORD_BREAK = frozenset("()[]{}<>\"',;|!")
PIECE_BREAK = re.compile(r"[\s()\[\]{}<>\"',;|!]+")


def folded(text: str) -> str:
    """Compatibility forms folded (＠ is @). Invisible characters stay: Slack matches its tokens literally,
    and an invisible character (the neutralizer's word joiner) is what breaks a match."""
    return unicodedata.normalize("NFKC", text)


def perceived(text: str) -> str:
    """Text as a person reads an address in it: NFKC and case folded, format, control and combining
    characters dropped, lookalikes mapped."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(CONTROLS)
    text = "".join(char for char in text if unicodedata.category(char) not in ("Cf", "Mn", "Me"))
    return text.translate(LOOKALIKES)


def rendered_inline(tokens: list[Token]) -> list[Token]:
    found: list[Token] = []
    for token in tokens:
        if token.type == "inline" and token.children:
            found.extend(token.children)
    return found


class _Markdown(MarkdownIt):
    """CommonMark with GFM tables and strikethrough, linking every target (markdown-it refuses javascript:
    and a few others; a lenient renderer might not). With `as_written`, link targets are kept as written:
    backslash escapes and character references left in, nothing percent-encoded."""

    def __init__(self, *, as_written: bool = False) -> None:
        super().__init__("commonmark")
        self.enable("table").enable("strikethrough")
        self.as_written = as_written
        if as_written:
            self.helpers = SimpleNamespace(  # type: ignore[assignment]
                parseLinkLabel=markdown_helpers.parseLinkLabel,
                parseLinkTitle=markdown_helpers.parseLinkTitle,
                parseLinkDestination=_destination_as_written,
            )

    def validateLink(self, url: str) -> bool:
        return True

    def normalizeLink(self, url: str) -> str:
        return url if self.as_written else super().normalizeLink(url)


def _destination_as_written(string: str, pos: int, maximum: int) -> object:
    result = markdown_helpers.parseLinkDestination(string, pos, maximum)
    if result.ok:
        angle = string[pos] == "<"
        result.str = string[pos + 1 : result.pos - 1] if angle else string[pos : result.pos]
    return result


COMMONMARK = _Markdown()
AS_WRITTEN = _Markdown(as_written=True)
TILDE_FENCE = re.compile(r"^( {0,3})~~~", re.MULTILINE)


def without_tilde_fences(posted: str) -> str:
    """The text as a renderer that knows only backtick fences reads it (whether Slack's markdown block
    knows `~~~` fences is not documented): a tilde fence is a paragraph there."""
    return TILDE_FENCE.sub(r"\1\\~~~", posted)


def visible_text(posted: str) -> str:
    """Every piece of text a markdown renderer shows, code included, with references resolved."""
    pieces = []
    tokens = COMMONMARK.parse(posted)
    for token in tokens:
        if token.type in ("fence", "code_block"):
            pieces.append(token.content)
    for child in rendered_inline(tokens):
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


@dataclass(frozen=True)
class SeenLink:
    """A link as a reader meets it: what it shows, the visible word it is part of, where it goes."""

    label: str  # perceived
    word: str  # perceived
    target: str


def _seen(pieces: list[tuple[str, tuple[int, ...]]], targets: list[str]) -> list[SeenLink]:
    """The links among visible pieces of text (each with the links it belongs to)."""
    text, spans = "", dict[int, tuple[int, int]]()
    for piece, owners in pieces:
        start, text = len(text), text + perceived(piece)
        for owner in owners:
            first, _ = spans.get(owner, (start, 0))
            spans[owner] = (first, len(text))
    found = []
    for owner, (start, end) in spans.items():
        if start == end:
            continue  # nothing to see, nothing to click
        left, right = start, end
        while left > 0 and not text[left - 1].isspace() and text[left - 1] not in WORD_BREAK:
            left -= 1
        while right < len(text) and not text[right].isspace() and text[right] not in WORD_BREAK:
            right += 1
        found.append(SeenLink(text[start:end], text[left:right], targets[owner]))
    return found


def markdown_links(posted: str, markdown: MarkdownIt = COMMONMARK) -> list[SeenLink]:
    """Every link and image a markdown renderer makes, autolinks aside (they show their own target)."""
    found: list[SeenLink] = []
    for token in markdown.parse(posted):
        if token.type != "inline" or not token.children:
            continue
        pieces: list[tuple[str, tuple[int, ...]]] = []
        targets: list[str] = []
        autolinks: set[int] = set()
        open_links: list[int] = []
        for child in token.children:
            if child.type == "link_open":
                open_links.append(len(targets))
                if child.markup == "autolink":
                    autolinks.add(len(targets))
                targets.append(str(child.attrs.get("href", "")))
            elif child.type == "link_close" and open_links:
                open_links.pop()
            elif child.type == "image":
                alt = "".join(grandchild.content for grandchild in child.children or [])
                pieces.append((alt, (*open_links, len(targets))))
                targets.append(str(child.attrs.get("src", "")))
            elif child.type in ("text", "code_inline", "html_inline"):
                pieces.append((child.content, tuple(open_links)))
            elif child.type in ("softbreak", "hardbreak"):
                pieces.append(("\n", tuple(open_links)))
        pieces = [(piece, tuple(o for o in owners if o not in autolinks)) for piece, owners in pieces]
        found.extend(_seen(pieces, targets))
    return found


def slack_links(posted: str) -> list[SeenLink]:
    """Every `<url|label>` link Slack makes (anywhere: Slack reads its syntax before any markdown)."""
    pieces: list[tuple[str, tuple[int, ...]]] = []
    targets: list[str] = []
    last = 0
    for match in SLACK_LABELLED.finditer(posted):
        pieces.append((posted[last : match.start()], ()))
        pieces.append((match.group(2), (len(targets),)))
        url = match.group(1)
        targets.append("http://" + url if url.lower().startswith("www.") else url)
        last = match.end()
    pieces.append((posted[last:], ()))
    return _seen(pieces, targets)


def _dotted(text: str) -> list[str]:
    found = []
    for match in DOTTED.finditer(text):
        top = match.group().rsplit(".", 1)[1]
        if top in TOP_LEVEL or (not top.isascii() and top.isalpha()):
            found.append(match.group())
    return found


def named_hosts(text: str) -> list[str]:
    """The addresses perceived text names: dotted names with a known (or non-ASCII) top-level domain, and
    the host of a scheme:// URL; in a word that starts with an address, not what is in its path."""
    hosts: list[str] = []
    for piece in PIECE_BREAK.split(text):
        scheme = SCHEME.match(piece)
        start = scheme.end() if scheme else 0
        path = PATH.search(piece, start)
        end = path.start() if path else len(piece)
        found = _dotted(piece[:end])
        if scheme:
            host = piece[start:end].rpartition("@")[2].partition(":")[0]
            found.extend([host] if host else [])
        hosts.extend(found or _dotted(piece))
    return [host.removeprefix("www.") for host in hosts]


def target_host(target: str) -> str:
    """Where a browser goes: backslashes are slashes, the host after any userinfo, percent-decoded."""
    return _host(target, backslash_is_slash=True)


def _host(target: str, *, backslash_is_slash: bool) -> str:
    url = unquote(target).strip()
    url = url.replace("\\", "/") if backslash_is_slash else url
    if url.lower().startswith("mailto:"):
        return url.partition("?")[0].rpartition("@")[2].rstrip(".").lower() if "@" in url else ""
    special = SPECIAL_SCHEME.match(url)
    if special:  # a browser takes any number of slashes after these: "https:evil.com" is evil.com
        url = special.group(1) + "://" + url[special.end() :]
    elif url.startswith("//"):
        url = "http:" + url  # scheme-relative: the host follows
    elif "://" not in url and not url.lower().startswith("javascript:"):
        url = "http://" + url
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    host = host.lower()
    if not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")  # as a browser sends it
    host = host.rstrip(".")  # the root: "good.com." is good.com
    return host[4:] if host.startswith("www.") else host


def _as_read(host: str) -> str:
    """A target host as a reader compares it with a label: IDNA decoded, perceived."""
    labels = []
    for label in host.split("."):
        try:
            labels.append(label.encode("ascii").decode("idna") if label.startswith("xn--") else label)
        except UnicodeError:
            labels.append(label)
    return perceived(".".join(labels))


def honest_about(named: list[str], target: str) -> bool:
    """Whether a link to `target` goes to every host in `named` (or to a subdomain or parent of it)."""
    went = [_as_read(_host(target, backslash_is_slash=flag)) for flag in (True, False)]
    return all(
        host == place or place.endswith("." + host) or host.endswith("." + place)
        for host in named
        for place in went
    )


def assert_pings_nobody(posted: str) -> None:
    for text in dict.fromkeys((posted, posted.translate(CONTROLS))):  # controls dropped: a renderer may
        shown_text = folded(visible_text(text))
        assert not SLACK_PING.search(text), posted
        assert not SLACK_PING.search(shown_text), posted
        assert not BROADCAST.search(text), posted
        assert not BROADCAST.search(shown_text), posted
    fallback = fallback_text(posted)
    assert not SLACK_PING.search(fallback) and not BROADCAST.search(fallback), fallback


def assert_links_honest(posted: str) -> None:
    readings = [*markdown_links(posted), *markdown_links(posted, AS_WRITTEN), *slack_links(posted)]
    if without_tilde_fences(posted) != posted:
        readings.extend(markdown_links(without_tilde_fences(posted)))
    for seen in readings:
        named = named_hosts(seen.label) + named_hosts(seen.word)
        assert honest_about(named, seen.target), (seen, posted)
