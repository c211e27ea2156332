"""Untrusted text → text safe to post in Slack: it cannot ping anyone, and no link lies about where it goes.

Everything the agent or the Blocks API writes is untrusted: answers, progress lines, tool-call inputs, error
details, URLs. Two renderers read what the bot posts: Slack's `markdown` block (standard markdown) and the
plain `text` fallback (mrkdwn, with &, < and > escaped by `render.fallback_text`). They disagree about what
is code, what is a link and which characters are escaped, and Slack does not document its markdown parser.
So the rules here do not hinge on guessing one parse right:

* Pings are broken wherever they could form, code included: a word joiner (U+2060, invisible) goes after
  the `<` of `<!…>`, `<@…>`, `<#…>` and after the `@` of `@here`, `@channel`, `@everyone`. They are looked
  for in what a renderer *shows* (backslash escapes and character references resolved, Unicode compatibility
  forms folded, emphasis and code markers and control characters skipped), not in the raw characters, so
  `\\@here`, `&#64;here`, `＠here`, `@**here**` and `@<U+0001>here` are caught as well. The word joiner is
  the premise: Slack matches these tokens literally, and U+2060 breaks the match without changing what a
  reader sees.
* A link whose visible text names a host or URL must go to that host; otherwise it is replaced by its text
  followed by the real target in plain sight: `good.com (https://evil.example/x)`. The visible text is the
  label, with the links inside it shown as their labels, and also the word the link is part of: the text
  and the links right beside it (read as links and as text), up to whitespace or a bracket, quote or comma,
  since `[good](https://evil.com).com` and `[good](https://evil.com)[.com](https://evil.com)` both show
  "good.com". Links are found under several readings of the markdown (CommonMark with code spans per
  paragraph, per block, per line and per table cell, and with code spans ignored), and a link that is
  disguised under any reading is rewritten. The text is read as a person reads it: markdown undone (and
  also not: a lone `*` may show), NFKC, invisible and control characters dropped, lookalike dots and
  letters mapped, and any dotted name with a top-level domain counts wherever it is in a word
  ("visit:good.com&"). The target host is read as a browser reads it (WHATWG-style: backslashes,
  userinfo, percent-encoding, IDNA), and, where they lead elsewhere, as other parsers read it: decoded
  and as written (`https://evil.com\\.good.com` is evil.com.good.com decoded, evil.com to a browser given
  the backslash), backslash as a character, percent-decoded first. Hosts match when one is the other or a
  subdomain of it.
* Only plain ``` blocks are treated as code by the link rules (Slack shows them verbatim): whether Slack's
  markdown block knows `~~~` fences, longer fences, or the finer points of CommonMark's fence rules is not
  documented, and a guess that something is code could hide a link, while a guess that it is prose only
  costs a harmless rewrite. So a block counts as code only if CommonMark, a parser that knows only
  backtick fences, and a naive one that toggles at every fence line all read its contents as code (see
  `_code_bodies`); the disguised links of every other block are rewritten like anywhere else.
* The result is a fixed point: the passes repeat until nothing changes, so `neutralize` is idempotent and a
  rewrite can never assemble a new hazard from the pieces of an old one. If the passes do not settle (only
  adversarial input does that), every bracket and Slack link opener is defused outright.

Everything is linear-ish: regexes are possessive or anchored on single characters, scans jump between the
few characters that matter, label and word reading is bounded, and the words around a run of adjacent
links are walked once for the run, not once per link.
"""

from __future__ import annotations

import bisect
import functools
import html.entities
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from encodings import idna
from urllib.parse import unquote

WORD_JOINER = "\u2060"

# --------------------------------------------------------------------------------------------------
# Character tables


def _code_points(*spans: tuple[int, int]) -> dict[int, None]:
    return {cp: None for start, stop in spans for cp in range(start, stop + 1)}


# Explicit bidirectional overrides, embeddings and isolates reorder what a reader sees ("moc.live" shown as
# "evil.com"); ordinary text never needs them (the implicit marks LRM/RLM stay), so they are dropped.
_BIDI_CONTROLS = _code_points((0x202A, 0x202E), (0x2066, 0x2069))
_BIDI_REFERENCE = re.compile(r"&#(?:[xX]0*+(?:202[a-eA-E]|206[6-9])|0*+(?:823[4-8]|838[2-5]));")

# Characters a reader cannot see: Unicode format characters (Cf), variation selectors, fillers, and the C0
# and C1 control characters other than tab and the line endings (renderers show nothing for them, or drop
# them). A label "good<ZWSP>.com" or "g<U+0001>ood.com" reads as good.com, so they are dropped before a label
# or a host is read.
_INVISIBLE = _code_points(
    (0x0000, 0x0008), (0x000B, 0x000C), (0x000E, 0x001F), (0x007F, 0x009F), (0x00AD, 0x00AD),
    (0x034F, 0x034F), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD),
    (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001), (0xE0020, 0xE007F), (0xE0100, 0xE01EF),
)  # fmt: skip

# Punctuation that looks like the dot, slash, colon or at sign of an address (NFKC already folds the
# fullwidth and small forms). Only labels are mapped: a browser does not, so a target keeps them.
_LOOKALIKE_PUNCTUATION = str.maketrans(
    {
        **dict.fromkeys(
            "\u00b7\u0387\u0589\u0660\u06d4\u06f0\u0701\u0702\u1427\u2027\u2219\u22c5\u2e31", "."
        ),
        **dict.fromkeys("\u16eb\u2e33\u3002\u30fb\u318d\ua4f8", "."),
        **dict.fromkeys("\u2044\u2215\u2571\u29f8\u3033", "/"),
        **dict.fromkeys("\u02d0\u05c3\u2236\ua789", ":"),
    }
)

# Letters that look like Latin ones (after case folding). Used only to decide whether a label *looks like*
# an address; hosts are then compared exactly, so "gооgle.com" (Cyrillic о) never equals google.com.
_CONFUSABLE_LETTERS = str.maketrans(
    "аᴀвеёєіїјкӏмнорԛсѕтуўхԁԝһɡıɩαβεηικνορτυχγωօսցհոɑԍүҽϲϳաʙᴄᴅᴇɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢȷ",
    "aabeeeiijklmhopqcstyyxdwhgiiabenikvoptuxywoughnagyecjwbcdeghijklmnoprstuvwyzj",
)

_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_LONE_UNDERSCORES = re.compile(r"(?<![^\W_])_++|_++(?![^\W_])")  # emphasis, not snake_case


def _combining_marks() -> str:
    """The combining marks (Mn, Mc, Me) of the first two planes, as the inside of a regex class: they belong
    to the letter they sit on ("go\u0334od.com" is one name), though Python's \\w does not match them."""
    ranges: list[str] = []
    first = last = -2
    for code in range(0x0300, 0x20000):
        if unicodedata.category(chr(code))[0] != "M":
            continue
        if code != last + 1:
            if first >= 0:
                ranges.append(f"{chr(first)}-{chr(last)}")
            first = code
        last = code
    ranges.append(f"{chr(first)}-{chr(last)}")
    return "".join(ranges)


_MARKS = _combining_marks()

# --------------------------------------------------------------------------------------------------
# What a renderer shows: escapes and character references


_ESCAPE_OR_REFERENCE = re.compile(
    r"\\([!-/:-@\[-`{-~])|&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
)


def _reference(body: str) -> str | None:
    """The text of the character reference `&body;`, or None if markdown does not know it."""
    if body[0] == "#":
        code = int(body[2:], 16) if body[1] in "xX" else int(body[1:])
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    return html.entities.html5.get(body + ";")


def _unescape(text: str) -> str:
    """Backslash escapes and character references resolved, as markdown shows text and link targets."""
    if "\\" not in text and "&" not in text:
        return text

    def resolve(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(1)
        shown = _reference(match.group(2))
        return match.group(0) if shown is None else shown

    return _ESCAPE_OR_REFERENCE.sub(resolve, text)


@functools.lru_cache(maxsize=8192)
def _fold(char: str) -> str:
    return unicodedata.normalize("NFKC", char).casefold()


_VIEW_PIECE = re.compile(
    r"\\[!-/:-@\[-`{-~]|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
    r"|[^\\&\x80-\U0010ffff]++|[^\x00-\x7f]++|[\\&]"
)


def _view(text: str) -> tuple[str, list[int]]:
    """What a renderer shows, folded for matching, and for each shown character the source offset just after
    the escape, reference or character it comes from (where a word joiner goes to break a match)."""
    shown: list[str] = []
    ends: list[int] = []
    for match in _VIEW_PIECE.finditer(text):
        piece, start, end = match.group(), match.start(), match.end()
        if len(piece) == 2 and piece[0] == "\\":
            shown.append(piece[1])
            ends.append(end)
            continue
        decoded = _reference(piece[1:-1]) if len(piece) > 2 and piece[0] == "&" else None
        if decoded is not None:
            folded = "".join(_fold(char) for char in decoded)
            shown.append(folded)
            ends.extend([end] * len(folded))
        elif piece.isascii():
            shown.append(piece.lower())
            ends.extend(range(start + 1, end + 1))
        else:
            for after, char in enumerate(piece, start + 1):
                folded = _fold(char)
                shown.append(folded)
                ends.extend([after] * len(folded))
    return "".join(shown), ends


# --------------------------------------------------------------------------------------------------
# Pings

# Emphasis, code and bracket markers a renderer does not show between letters, and control characters (a
# renderer or Slack may drop them, which would join "@" and "here").
_SKIPPED = r"[*_~`\[\]\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*+"
_BROADCAST = re.compile(
    r"(?<![^\W_])@"
    + _SKIPPED
    + "(?:"
    + "|".join(_SKIPPED.join(word) for word in ("here", "channel", "everyone"))
    + r")(?![^\W_])"
)
# The same after a backslash, in the text as written: markdown shows "\\@here" as "@here" after whatever
# precedes the backslash (a letter: no broadcast), but Slack's mrkdwn (the fallback text) keeps the
# backslash, which is no letter.
_ESCAPED_BROADCAST = re.compile(r"\\@" + _BROADCAST.pattern.split("@", 1)[1], re.IGNORECASE)
_ANGLE_MENTION = re.compile(r"<[*_~`\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*+[!@#]")
_MARK_CANDIDATE = re.compile("[@<&\ufe6b\uff20\ufe64\uff1c]")


def _word_joiners(text: str, offsets: Iterable[int]) -> str:
    positions = sorted(set(offsets))
    if not positions:
        return text
    pieces, last = [], 0
    for position in positions:
        pieces.append(text[last:position])
        pieces.append(WORD_JOINER)
        last = position
    pieces.append(text[last:])
    return "".join(pieces)


def neutralize_broadcasts(text: str) -> str:
    """`@here`, `@channel` and `@everyone` broken wherever a renderer would show them (idempotent).

    For text already neutralized and then cut (a part, a truncated fallback): a cut can turn `@hereafter`
    into `@here`, or `me@here.com` into `@here.com`."""
    if not _MARK_CANDIDATE.search(text):
        return text
    return _word_joiners(text, _broadcast_offsets(text))


def _broadcast_offsets(text: str) -> list[int]:
    """Where a word joiner goes, right after the "@", for each broadcast a renderer could show."""
    view, ends = _view(text)
    offsets = [ends[m.start()] for m in _BROADCAST.finditer(view)]
    return offsets + [m.start() + 2 for m in _ESCAPED_BROADCAST.finditer(text)]


def _marks(text: str) -> str:
    """Word joiners wherever Slack could see a mention, a broadcast or a disguised Slack link."""
    links = [
        _Link(m.start(), m.start(2), m.end(2), m.end(), _target_readings(_slack_target(m.group(1))), True)
        for m in _SLACK_LABELLED.finditer(text)
    ]
    neighbours = _Neighbours(text, links, 0, len(text))
    offsets = [link.opener + 1 for link in links if _link_disguised(text, link, neighbours)]
    if _MARK_CANDIDATE.search(text):
        view, ends = _view(text)
        offsets.extend(_broadcast_offsets(text))
        offsets.extend(ends[m.start()] for m in _ANGLE_MENTION.finditer(view))
    return _word_joiners(text, offsets)


# --------------------------------------------------------------------------------------------------
# Fenced code blocks

_FENCE_OPEN = re.compile(r" {0,3}+(`{3,}+|~{3,}+)(.*)", re.DOTALL)
_FENCE_CLOSE = re.compile(r" {0,3}+(`{3,}+|~{3,}+)[ \t\r]*+")


@dataclass(frozen=True)
class Fence:
    """A fenced code block: offsets of its opening line, its first content line and its end."""

    start: int
    body: int
    end: int
    opening: str  # the opening line, stripped: "```python"
    marker: str  # the fence itself: "```", "~~~~"
    closed: bool


def _fence_blocks(text: str, *, tildes: bool) -> list[tuple[Fence, int]]:
    """Fenced code blocks by CommonMark's rules (top level only), each with where its closing line starts
    (its end if unclosed). With `tildes=False`, as a parser that knows only backtick fences reads them."""
    found: list[tuple[Fence, int]] = []
    current: tuple[int, int, str, str] | None = None
    offset = 0
    for line in text.split("\n"):
        following = offset + len(line) + 1
        if current is None:
            match = _FENCE_OPEN.fullmatch(line)
            if (
                match
                and (tildes or match.group(1)[0] == "`")
                and not (match.group(1)[0] == "`" and "`" in match.group(2))
            ):
                current = (offset, following, line.strip(), match.group(1))
        else:
            match = _FENCE_CLOSE.fullmatch(line)
            marker = current[3]
            if match and match.group(1)[0] == marker[0] and len(match.group(1)) >= len(marker):
                end = min(following, len(text))
                found.append((Fence(current[0], current[1], end, current[2], marker, True), offset))
                current = None
        offset = following
    if current is not None:
        found.append((Fence(current[0], current[1], len(text), current[2], current[3], False), len(text)))
    return found


def fences(text: str) -> list[Fence]:
    """The fenced code blocks of `text` by CommonMark's rules (top level only); the last may be unclosed."""
    return [fence for fence, _ in _fence_blocks(text, tildes=True)]


_ANY_FENCE_LINE = re.compile(r"[ \t]*+(?:```|~~~)")


def _code_bodies(text: str) -> list[tuple[int, int]]:
    """The contents of the fenced blocks that are code however the fences are read, and only those.

    Slack does not document which fences its markdown block knows. A guess that something is code could
    hide a link from the rules below, a guess that it is prose only costs a harmless rewrite, so a block
    counts as code only if CommonMark, a parser that knows only backtick fences and a naive one that
    toggles at every line starting with ``` or ~~~ all read its contents as code: it opens with exactly three
    backticks and is closed, and no line inside starts with a fence marker. Tilde fences, longer fences and
    blocks with fences inside are prose here (their disguised links are rewritten, like anywhere else)."""
    if "```" not in text:
        return []
    backtick_only = [
        (fence.body, close) for fence, close in _fence_blocks(text, tildes=False) if fence.body < close
    ]
    starts = [body for body, _ in backtick_only]
    toggles: list[int] = []  # where the lines start that a naive parser toggles at
    offset = 0
    for line in text.split("\n"):
        if _ANY_FENCE_LINE.match(line):
            toggles.append(offset)
        offset += len(line) + 1
    bodies = []
    for fence, close in _fence_blocks(text, tildes=True):
        if not fence.closed or fence.marker != "```" or fence.body >= close:
            continue
        index = bisect.bisect_right(starts, fence.body) - 1
        if index < 0 or backtick_only[index][1] < close:
            continue  # a backtick-only parser does not read all of it as code
        # The opening line is a naive parser's opening toggle (an even one), the closing line its next one.
        opening = bisect.bisect_left(toggles, fence.start)
        if opening % 2 or opening + 1 >= len(toggles) or toggles[opening + 1] != close:
            continue
        bodies.append((fence.body, close))
    return bodies


def _prose_spans(text: str) -> list[tuple[int, int]]:
    """Everything outside the contents of code blocks (see `_code_bodies`)."""
    spans, last = [], 0
    for body, close in _code_bodies(text):
        spans.append((last, body))
        last = close
    spans.append((last, len(text)))
    return [(start, end) for start, end in spans if start < end]


def _map_prose(text: str, transform: Callable[[str], str]) -> str:
    pieces, last = [], 0
    for start, end in _prose_spans(text):
        pieces.append(text[last:start])
        pieces.append(transform(text[start:end]))
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


# --------------------------------------------------------------------------------------------------
# Slack's own syntax: mentions and <url|label> links

_SPECIAL = re.compile(r"<!(channel|here|everyone|group)(?:\|[^<>]*+)?>", re.IGNORECASE)
_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]++(?:\|@?([^<>]*+))?>", re.IGNORECASE)
_OTHER_BANG = re.compile(r"<!([^<>|]*+)(?:\|([^<>]*+))?>")
_USER = re.compile(r"<@([UW][A-Z0-9]++)(?:\|([^<>]*+))?>", re.IGNORECASE)
_CHANNEL = re.compile(r"<#([CGD][A-Z0-9]++)(?:\|([^<>]*+))?>", re.IGNORECASE)
# A Slack URL ends at ASCII whitespace (whether Slack also ends it at other spaces is not documented: it
# is assumed not to, so that "<https://evil.example\u3000x|good.com>" is read as the link it may be).
_SLACK_BARE = re.compile(r"<((?:https?|mailto|ftp):[^<>|\x00-\x20\x7f]++)>", re.IGNORECASE)
_SLACK_LABELLED = re.compile(
    r"<((?:[a-z][a-z0-9+.-]*+:|www\.)[^<>|\x00-\x20\x7f]*+)\|([^<>]*+)>", re.IGNORECASE
)
_SLACK_OPENER = re.compile(r"<(?=(?:[a-z][a-z0-9+.-]*+:|www\.)[^<>|\x00-\x20\x7f]*+[|>])", re.IGNORECASE)


def _slack_target(url: str) -> str:
    return "http://" + url if url[:4].lower() == "www." else url


def _slack_link_to_markdown(match: re.Match[str]) -> str:
    url, label = _slack_target(match.group(1)), match.group(2)
    if not label or label == match.group(1):
        return url
    escaped = label.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"[{escaped}]({_percent(url, _DESTINATION_SAFE)})"


def _convert_slack_syntax(prose: str) -> str:
    """Slack's tokens become what they would show, without pinging; Slack links become markdown links."""
    prose = _BIDI_REFERENCE.sub("", prose)
    prose = _SPECIAL.sub(lambda m: f"@{WORD_JOINER}{m.group(1).lower()}", prose)
    prose = _SUBTEAM.sub(lambda m: f"@{WORD_JOINER}{m.group(1) or 'group'}", prose)
    prose = _USER.sub(lambda m: f"@{WORD_JOINER}{m.group(2) or m.group(1)}", prose)
    prose = _CHANNEL.sub(lambda m: f"#{m.group(2) or m.group(1)}", prose)
    prose = _SLACK_BARE.sub(lambda m: m.group(1), prose)
    prose = _SLACK_LABELLED.sub(_slack_link_to_markdown, prose)
    return _OTHER_BANG.sub(lambda m: m.group(2) or m.group(1), prose)


# --------------------------------------------------------------------------------------------------
# Hosts: what a label names, where a target goes

_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "file"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*+):")
_C0_AND_SPACE = "".join(chr(code) for code in range(0x21))


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Public suffixes under which different people own sibling names: "github.io" does not vouch for
# "evil.github.io". Only consulted when a label names the shorter of two nested hosts.
_PUBLIC_SUFFIXES = _words(
    "co.uk org.uk ac.uk gov.uk me.uk com.au net.au org.au co.nz co.jp co.kr co.in co.za com.br com.cn "
    "com.mx com.tr com.sg github.io gitlab.io herokuapp.com vercel.app netlify.app pages.dev workers.dev "
    "web.app firebaseapp.com appspot.com blogspot.com azurewebsites.net cloudfront.net s3.amazonaws.com "
    "fly.dev onrender.com glitch.me ngrok.io ngrok-free.app surge.sh readthedocs.io wordpress.com "
    "substack.com notion.site"
)

# Top-level domains a bare label ("good.com", no scheme, path or port) must end in to read as an address:
# every country code and the generic ones people actually see. "os.path" or "console.log" are code.
_COUNTRY_CODES = _words(
    "ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt bw "
    "by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg er es et "
    "eu fi fj fk fm fo fr ga gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie "
    "il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv "
    "ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr "
    "nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sk sl "
    "sm sn so sr ss st su sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz "
    "va vc ve vg vi vn vu wf ws ye yt za zm zw"
)
_GENERIC = _words(
    "com net org edu gov mil int info biz name pro mobi aero asia coop jobs museum travel tel cat post "
    "arpa app dev page new run zip mov docs google android chrome youtube gmail microsoft windows azure "
    "office bing apple icloud amazon aws meta facebook xyz online site top club shop store tech cloud "
    "blog news live world space website link click help support email today life network systems "
    "solutions services software design digital media agency zone tools codes chat social wiki fun art "
    "studio one guru company group team center global plus gmbh ltd inc llc bank money finance financial "
    "capital credit loan insurance legal law security secure fyi ninja rocks lol best work works review "
    "host hosting domains server build photos pics video tube game games play bet casino win vip sale "
    "deals market login account download exe example test invalid localhost local onion"
)
_TOP_LEVEL = _COUNTRY_CODES | _GENERIC
# Country codes that are also everyday file extensions: "README.md" and "main.py" are files, not sites.
_FILE_EXTENSIONS = _words("md py rs sh pl pm tf ml mk so cc ps in am ac gd sv cl mo")


def _from_punycode(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        return idna.ToUnicode(label)
    except (UnicodeError, ValueError, IndexError):
        return label


def _host_key(host: str) -> str:
    """A host as compared: folded, invisible characters and the root dot dropped, IDNA decoded, no www."""
    host = unicodedata.normalize("NFKC", host.translate(_INVISIBLE)).casefold().replace("\u3002", ".")
    host = ".".join(_from_punycode(label) for label in host.rstrip(".").split("."))
    host = unicodedata.normalize("NFKC", host).casefold()
    return host[4:] if host.startswith("www.") else host


@dataclass(frozen=True)
class _Url:
    scheme: str  # lower case, "" when the target has none
    has_authority: bool
    userinfo: str  # with its "@", or ""
    host: str  # as written
    port: str  # with its ":", or ""
    rest: str  # path, query and fragment, or the whole opaque part (mailto:, javascript:)


def _parse_url(url: str, *, browser: bool = True) -> _Url:
    """A link target split the way a browser splits it (WHATWG): `\\` is `/` and any number of slashes may
    follow the scheme of a web URL; a target without a scheme is taken to start with a host. With
    `browser=False`, a backslash is an ordinary character (RFC 3986), as other URL parsers read it."""
    url = url.strip(_C0_AND_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
    match = _SCHEME.match(url)
    scheme = match.group(1).lower() if match else ""
    rest = url[match.end() :] if match else url
    if scheme in _SPECIAL_SCHEMES or not scheme:
        rest = (rest.replace("\\", "/") if browser else rest).lstrip("/")
    elif rest.startswith("//"):
        rest = rest[2:]
    else:
        return _Url(scheme, False, "", "", "", rest)
    end = min((index for index in map(rest.find, "/?#") if index >= 0), default=len(rest))
    authority, rest = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    if hostport.startswith("[") and "]" in hostport:
        host, port = hostport[: hostport.index("]") + 1], hostport[hostport.index("]") + 1 :]
    else:
        host, colon, port = hostport.partition(":")
        port = colon + port
    return _Url(scheme, True, userinfo + at, host, port, rest)


@functools.lru_cache(maxsize=8192)
def _target_hosts(target: str) -> tuple[str | None, ...]:
    """The host a link target leads to (None: no host, as javascript: or a fragment). A backslash makes
    parsers disagree (`https://good.example\\@evil.example`), and so does percent-encoding before the path
    (`https://evil.example%5C.good.example`, decoded by a careless parser first): then every reading is
    returned."""
    readings = dict.fromkeys((target, unquote(target, errors="replace") if "%" in target else target))
    hosts = []
    for reading in readings:
        hosts.append(_target_host(_parse_url(reading)))
        if "\\" in reading:
            hosts.append(_target_host(_parse_url(reading, browser=False)))
    return tuple(dict.fromkeys(hosts))


def _target_host(url: _Url) -> str | None:
    if url.scheme == "mailto":
        address = url.rest.split("?")[0]
        return _host_key(unquote(address.rpartition("@")[2])) if "@" in address else None
    if not url.has_authority:
        return None
    return _host_key(unquote(url.host, errors="replace"))


def _same_site(named: str, target: str | None) -> bool:
    """Whether a label naming host `named` is honest about a link to host `target`."""
    if target is None:
        return False
    if named == target:
        return True
    shorter, longer = sorted((named, target), key=len)
    return "." in shorter and shorter not in _PUBLIC_SUFFIXES and longer.endswith("." + shorter)


def _authority_host(perceived: str, canonical: str, start: int) -> tuple[str, str, bool, bool]:
    """From `start` on: the host (perceived, canonical), and whether a userinfo and a port came with it."""
    end = min((i for i in (perceived.find(c, start) for c in "/?#\\") if i >= 0), default=len(perceived))
    at = perceived.rfind("@", start, end)
    host_start = at + 1 if at >= 0 else start
    colon = perceived.find(":", host_start, end)
    host_end = colon if colon >= 0 else end
    return perceived[host_start:host_end], canonical[host_start:host_end], at >= 0, colon >= 0


def _token_host(perceived: str, canonical: str) -> str | None:
    """The host one word of a label names, if it reads as a URL, an e-mail address or a domain."""
    separator = perceived.find("://")
    if separator >= 0:
        return _host_key(_authority_host(perceived, canonical, separator + 3)[1])
    if perceived.startswith("mailto:"):
        return _host_key(canonical[canonical.rfind("@") + 1 :]) if "@" in perceived else None
    host, host_canonical, userinfo, port = _authority_host(perceived, canonical, 0)
    if port and not perceived[perceived.find(":", perceived.rfind("@") + 1) + 1 :].split("/")[0].isdigit():
        return None  # "note:", "time: 10" are words, not host:port
    labels = host.rstrip(".").split(".")
    if len(labels) == 1:
        return _host_key(host_canonical) if host == "localhost" and port else None
    if not all(label and label.replace("-", "").isalnum() for label in labels):
        return None
    top = labels[-1]
    if all(label.isdigit() for label in labels):
        return _host_key(host_canonical) if len(labels) == 4 else None
    bare = not (userinfo or port or len(host) < len(perceived.rstrip(".")))
    if bare and (
        top in _FILE_EXTENSIONS or not (top in _TOP_LEVEL or top.startswith("xn--") or not top.isascii())
    ):
        return None
    if not top.isalpha() and not top.startswith("xn--"):
        return None
    return _host_key(host_canonical)


_LABEL_WORD = re.compile(r"[^\s()\[\]{}<>\"'`,;|!*]++")
# Stands for a `*`, `~`, `` ` `` or lone `_`: each may be markup (not shown) or text (shown), depending on
# what pairs with what and on the renderer; a private-use character that folding and mapping leave alone.
_MAYBE = "\ue000"
_MARKUP_MAYBE = str.maketrans(dict.fromkeys("*~`", _MAYBE))
_MAX_MAYBE = 12  # a name with more markup characters in it than that is not read
_NAME_RUN = re.compile(f"(?:[^\\W_]|[.\\-{_MAYBE}{_MARKS}])++")  # letters, digits, marks, dots, hyphens
_MARK = re.compile(f"[{_MARKS}]")
_STRAY_MARKS = re.compile(f"(?<![^\\W_]|[{_MARKS}])[{_MARKS}]++")  # on punctuation: "/\u0334/" reads "//"
_PATH_START = re.compile(r"[/?#\\]")
_WORD_SCHEME = re.compile(f"[a-z][a-z0-9+.{_MAYBE}-]*+:{_MAYBE}*+/{_MAYBE}*+/")
_MAX_LABEL = 1000  # longer labels are not read: their links are shown with their target
_MAX_WORD = 3 * _MAX_LABEL  # a label with the visible text on either side of it


def _perceived(text: str) -> str:
    """Text as a reader sees it: NFKC and case folded, invisible characters dropped, lookalike punctuation
    mapped, combining marks that sit on anything but a letter or digit dropped."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_INVISIBLE)
    return _STRAY_MARKS.sub("", text.translate(_LOOKALIKE_PUNCTUATION))


def _label_texts(label: str) -> list[str]:
    """A label as a reader sees it, escapes and references resolved: once with its markup characters
    marked `_MAYBE`, once with all of them shown as written ("good.com*" names good.com)."""
    unescaped = _unescape(label)
    marked = _LONE_UNDERSCORES.sub(lambda m: _MAYBE * len(m.group()), unescaped.translate(_MARKUP_MAYBE))
    return [_perceived(text) for text in dict.fromkeys((marked, unescaped))]


def _joined(text: str) -> str:
    """Whitespace a reader skips inside an address dropped: line breaks, and spaces around `.`, `/`, `:`, `@`
    ("good .com", "https:// good.com")."""

    def keep(match: re.Match[str]) -> str:
        before = text[: match.start()].rstrip(_MAYBE)[-1:]
        after = text[match.end() :].lstrip(_MAYBE)[:1]
        joined = (
            "\n" in match.group()
            or "\r" in match.group()
            or after in ("", ".", "/", ":", "@")
            or before in ("/", "@")
        )
        return "" if joined else match.group()

    return re.sub(r"\s++", keep, text)


def _named(perceived: str, canonical: str, start: int, end: int) -> list[str] | None:
    """The dotted names in perceived[start:end] that read as a domain (a known or non-ASCII top-level domain,
    or an IPv4 address), wherever they are in a word: "visit:good.com", "good.com&", "-good.com-". Each
    markup character in a name may hide or show (and then end the name): "`good.co`*m" shows good.co, and
    "go**o**d.com" good.com, so every stretch between them is read. None if there are too many to read."""
    hosts: list[str] = []
    for run in _NAME_RUN.finditer(perceived, start, end):
        maybe = [index for index in range(run.start(), run.end()) if perceived[index] == _MAYBE]
        if len(maybe) > _MAX_MAYBE:
            return None
        starts, ends = [run.start(), *(index + 1 for index in maybe)], [*maybe, run.end()]
        for first, last in ((first, last) for first in starts for last in ends if first < last):
            shape = perceived[first:last].replace(_MAYBE, "")
            written = canonical[first:last].replace(_MAYBE, "")
            hosts.extend(
                _host_key(written[labels[0][0] : labels[-1][1]])
                for labels in _names(shape, 0, len(shape))
                if len(labels) >= 2 and _reads_as_domain(shape, labels)
            )
    return hosts


def _names(perceived: str, start: int, end: int) -> Iterator[list[tuple[int, int]]]:
    """The dot-separated names in a run of name characters, as the spans of their labels, in one pass: a
    name ends at an empty label or at a hyphen that ends a label ("good.com-.x"), one starts after a hyphen
    ("a.-good.com"); combining marks at either end of a label do not count ("good.com\u0334-")."""
    labels: list[tuple[int, int]] = []
    position = start
    while position <= end:
        dot = perceived.find(".", position, end)
        stop = end if dot < 0 else dot
        first, last = position, stop
        while first < last and (perceived[first] == "-" or _MARK.match(perceived, first)):
            first += 1
        while last > first and (perceived[last - 1] == "-" or _MARK.match(perceived, last - 1)):
            last -= 1
        if first == last or "-" in perceived[position:first]:
            yield labels
            labels = []
        if first < last:
            labels.append((first, last))
            if "-" in perceived[last:stop]:
                yield labels
                labels = []
        position = stop + 1
    yield labels


def _reads_as_domain(perceived: str, labels: list[tuple[int, int]]) -> bool:
    shapes = [_MARK.sub("", perceived[start:end]) for start, end in labels]
    top = shapes[-1]
    if all(shape.isdigit() for shape in shapes):
        return len(shapes) == 4
    if top.startswith("xn--"):
        return True
    if top.isascii():
        return top in _TOP_LEVEL and top not in _FILE_EXTENSIONS
    return top.isalpha()


def _word_hosts(perceived: str, canonical: str) -> list[str] | None:
    """The hosts one word of a label names: as a URL, an e-mail address or a domain, and every dotted name
    that reads as a domain before the path; all of the word if it does not start with a scheme and nothing
    before its path names a host ("to:me/https://evil.example?x@good.example" names both)."""
    hosts: list[str] = []
    structured = _token_host(perceived.replace(_MAYBE, ""), canonical.replace(_MAYBE, ""))
    if structured is not None:
        hosts.append(structured)
    scheme = _WORD_SCHEME.match(perceived)
    path = _PATH_START.search(perceived, scheme.end() if scheme else 0)
    authority_end = path.start() if path else len(perceived)
    named = _named(perceived, canonical, 0, authority_end)
    if named is not None and not named and not scheme and authority_end < len(perceived):
        named = _named(perceived, canonical, authority_end, len(perceived))
    if named is None:
        return None
    hosts.extend(named)
    return hosts


@functools.lru_cache(maxsize=8192)
def _label_hosts(label: str) -> tuple[str, ...] | None:
    """The hosts a link label (or the visible word around one) names (empty: none), or None if it is too
    long to read."""
    if len(label) > _MAX_WORD:
        return None
    hosts: list[str] = []
    for canonical in _label_texts(label):
        if "." not in canonical and ":" not in canonical:
            continue
        for variant in dict.fromkeys((canonical, _joined(canonical))):
            perceived = variant.translate(_CONFUSABLE_LETTERS)
            for word in _LABEL_WORD.finditer(perceived):
                start, end = word.span()
                while end > start and perceived[end - 1] in ".,:;?":
                    end -= 1
                found = _word_hosts(perceived[start:end], variant[start:end]) if start < end else []
                if found is None:
                    return None
                hosts.extend(found)
    return tuple(dict.fromkeys(hosts))


def _disguised(label: str, targets: Iterable[str]) -> bool:
    """Whether a link with this label could lead somewhere other than where its text says."""
    hosts = _label_hosts(label)
    if hosts is None:
        return True
    if not hosts:
        return False
    leads_to = [host for target in targets for host in _target_hosts(target)]
    return any(not _same_site(host, target) for host in hosts for target in leads_to)


# --------------------------------------------------------------------------------------------------
# Showing a target as plain text

_DESTINATION_SAFE = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#@!$&+,;=%'*[]_"
)
_DISPLAY_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#@!$&+,;=%'")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_AMPERSAND_REFERENCE = re.compile(r"&(?=#?[A-Za-z0-9]++;)")


def _percent(text: str, safe: frozenset[str]) -> str:
    """Characters outside `safe` percent-encoded (as UTF-8); `%` kept only where it already encodes."""
    text = _AMPERSAND_REFERENCE.sub("%26", _LONE_PERCENT.sub("%25", text))
    if all(char in safe for char in text):
        return text
    return "".join(
        char if char in safe else "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        for char in text
    )


def _ascii_host(host: str) -> str:
    """A host as ASCII: percent-decoded, and IDNA-encoded so that a lookalike shows as xn--…"""
    host = unquote(host, errors="replace")
    if host.isascii():
        return host
    labels = unicodedata.normalize("NFKC", host).replace("\u3002", ".").split(".")
    encoded = []
    for label in labels:
        try:
            encoded.append(idna.ToASCII(label).decode("ascii") if label else label)
        except (UnicodeError, ValueError, IndexError):
            encoded.append(_percent(label, _DISPLAY_SAFE))
    return ".".join(encoded)


def _display_url(target: str) -> str:
    """A target as plain text a reader can trust: the host a browser would use, in ASCII, and no character
    that markdown or Slack could read as syntax."""
    url = _parse_url(target)
    if url.scheme in _SPECIAL_SCHEMES:
        target = f"{url.scheme}://{url.userinfo}{_ascii_host(url.host)}{url.port}{url.rest}"
    else:
        target = target.strip(_C0_AND_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
    return _percent(target, _DISPLAY_SAFE)


# --------------------------------------------------------------------------------------------------
# Finding links

_DEFINITION = re.compile(
    r"^[ \t>*+\-.)0-9]*+\[((?:\\.|[^\\\[\]]){1,999}+)\]:[ \t]*+(?:\n[ \t>]*+)?"
    r"(<(?:\\.|[^\\<>\n])*+>|[^\x00-\x20\x7f<][^\x00-\x20\x7f]*+)",  # (only ASCII spaces end it)
    re.MULTILINE,
)
_REFERENCE = re.compile(r"\[((?:\\.|[^\\\[\]]){0,999}+)\]")
# A backslash takes the next character with it, whatever it is (markdown-it does so, a control character or
# a line break included, where CommonMark would end the destination): the lenient reading finds more links.
_ANGLE_DESTINATION = re.compile(r"<((?:\\(?s:.)|[^\\<>\n])*+)>")
_TITLES = {
    '"': re.compile(r'"(?:\\.|[^\\"])*+"', re.DOTALL),
    "'": re.compile(r"'(?:\\.|[^\\'])*+'", re.DOTALL),
    "(": re.compile(r"\((?:\\.|[^\\()])*+\)", re.DOTALL),
}
_DESTINATION_STOP = re.compile(r"[\\()\x00-\x20\x7f]")
_AUTOLINK = re.compile(
    r"<(?:[A-Za-z][A-Za-z0-9+.-]{1,31}+:[^\x00-\x20\x7f<>]*+|[^\x00-\x20\x7f<>@]++@[^\x00-\x20\x7f<>@]++)>"
)
_SPECIALS_CODE = re.compile(r"[\\`<!\[\]]")
_SPECIALS_NAIVE = re.compile(r"[\\!\[\]]")
_BLANK = re.compile(r"[ \t\r\f\v]*+")
_BLOCK_START = re.compile(r"[ \t]*+(?:[-+*][ \t]|\d{1,9}[.)][ \t]|>|#{1,6}(?:[ \t]|$)|\|)")
_MAX_DEFINITIONS = 8
_MAX_PAREN_DEPTH = 32  # CommonMark's own bound; also what keeps destination scans linear


@dataclass(frozen=True)
class _Link:
    opener: int  # the "[" (or the "!" of "![")
    label_start: int
    closer: int  # the "]"
    end: int  # just after the destination, the "[ref]" or the "]"
    targets: tuple[str, ...]
    strict: bool  # CommonMark would make this a link (not only a lenient parser)


def _reference_key(label: str) -> str:
    return " ".join(label.split()).casefold()


def _target_readings(raw: str) -> tuple[str, ...]:
    """A destination as markdown decodes it (escapes and references resolved), and as written when a
    renderer that keeps them would go elsewhere: `https://evil.com\\.good.com` is evil.com.good.com decoded,
    evil.com to a browser that is given the backslash."""
    shown = _unescape(raw)
    if shown == raw or _target_hosts(raw) == _target_hosts(shown):
        return (shown,)
    return shown, raw


def _destination(raw: str) -> tuple[str, ...]:
    if raw.startswith("<") and raw.endswith(">"):
        raw = raw[1:-1]
    return _target_readings(raw)


def _definitions(text: str, prose: list[tuple[int, int]]) -> tuple[dict[str, tuple[str, ...]], set[int]]:
    """Reference definitions, generously: also where CommonMark would not take them (inside a paragraph,
    after list or quote markers). All definitions of a label count, not only the first; past a few, the
    label counts as leading somewhere unknown (""). Also returns where their labels open: such a "[" is
    rewritten differently (see `_rewrite`)."""
    found: dict[str, dict[str, None]] = {}
    openers: set[int] = set()
    for start, end in prose:
        for match in _DEFINITION.finditer(text, start, end):
            key = _reference_key(match.group(1))
            if key:
                targets = found.setdefault(key, {})
                if len(targets) < _MAX_DEFINITIONS:
                    targets.update(dict.fromkeys(_destination(match.group(2))))
                else:
                    targets[""] = None
                openers.add(match.start(1) - 1)
    return {key: tuple(targets) for key, targets in found.items()}, openers


def _skip_space(text: str, index: int, end: int) -> int:
    while index < end and text[index] in " \t":
        index += 1
    if index < end and text[index] == "\n":
        index += 1
        while index < end and text[index] in " \t":
            index += 1
    return index


def _raw_destination(text: str, index: int, end: int) -> int:
    """The end of a destination without angle brackets: balanced parentheses, no space or control (unless
    after a backslash, see `_ANGLE_DESTINATION`)."""
    depth = 0
    while True:
        stop = _DESTINATION_STOP.search(text, index, end)
        if stop is None:
            return end
        index = stop.start()
        char = text[index]
        if char == "\\":
            index += 2 if index + 1 < end and text[index + 1] != " " else 1
        elif char == "(" and depth < _MAX_PAREN_DEPTH:
            depth += 1
            index += 1
        elif char == ")" and depth:
            depth -= 1
            index += 1
        else:
            return index


def _inline_tail(text: str, index: int, end: int) -> tuple[tuple[str, ...], int, bool] | None:
    """`(destination "title")` right after a "]" (or after spaces: lenient parsers allow them): the readings
    of the destination (see `_target_readings`), the end, and whether spaces came first."""
    start = index
    while index < end and text[index] in " \t":
        index += 1
    if index >= end or text[index] != "(":
        return None
    index = _skip_space(text, index + 1, end)
    if index < end and text[index] == "<":
        angle = _ANGLE_DESTINATION.match(text, index, end)
        if angle is None:
            return None
        raw, index = angle.group(1), angle.end()
    else:
        after = _raw_destination(text, index, end)
        raw, index = text[index:after], after
    spaced = _skip_space(text, index, end)
    if spaced > index and spaced < end and text[spaced] in _TITLES:
        title = _TITLES[text[spaced]].match(text, spaced, end)
        if title is None:
            return None
        spaced = _skip_space(text, title.end(), end)
    if spaced < end and text[spaced] == ")":
        return _target_readings(raw), spaced + 1, index > start and text[start] in " \t"
    return None


def _complete(
    text: str, opener: int, label_start: int, closer: int, end: int, definitions: dict[str, tuple[str, ...]]
) -> _Link | None:
    """The link that the "]" at `closer` completes, if any: inline, full, collapsed or shortcut reference.
    Every target a renderer could pick is collected."""
    targets: list[str] = []
    stop = closer + 1
    tail = _inline_tail(text, closer + 1, end)
    if tail is not None:
        targets.extend(tail[0])
        stop = tail[1]
    if definitions and (tail is None or tail[2]):
        label_key = _reference_key(text[label_start:closer]) if closer - label_start <= 999 else ""
        reference = _REFERENCE.match(text, closer + 1, end) if tail is None else None
        if reference is not None:
            key = _reference_key(reference.group(1)) or label_key
            if key in definitions:
                targets.extend(definitions[key])
                stop = reference.end()
        targets.extend(definitions.get(label_key, ()))
    if not targets:
        return None
    strict = tail is None or not tail[2]
    return _Link(opener, label_start, closer, stop, tuple(dict.fromkeys(targets)), strict)


class _BacktickRuns:
    """Where every maximal run of backticks starts, by length: finds the run that closes a code span."""

    def __init__(self, text: str) -> None:
        self._starts: dict[int, list[int]] = {}
        for run in re.finditer(r"`++", text):
            self._starts.setdefault(run.end() - run.start(), []).append(run.start())

    def closing(self, length: int, after: int, end: int) -> int | None:
        starts = self._starts.get(length, [])
        index = bisect.bisect_left(starts, after)
        if index < len(starts) and starts[index] + length <= end:
            return starts[index] + length
        return None

    def opening(self, length: int, before: int, start: int) -> int | None:
        """Where the nearest run of `length` backticks that ends by `before` starts (not before `start`)."""
        starts = self._starts.get(length, [])
        index = bisect.bisect_right(starts, before - length) - 1
        return starts[index] if index >= 0 and starts[index] >= start else None


def _code_content(code: str) -> str:
    """What a code span shows of what is between its backticks (CommonMark): line endings are spaces, and one
    space goes from each end if both have one ("` .com `" shows ".com")."""
    code = code.replace("\n", " ")
    if len(code) >= 2 and code[0] == code[-1] == " " and code.strip(" "):
        code = code[1:-1]
    return code


def _scan(
    text: str,
    start: int,
    end: int,
    *,
    code: bool,
    retain: bool,
    definitions: dict[str, tuple[str, ...]],
    runs: _BacktickRuns,
) -> list[_Link]:
    """Links in text[start:end] by CommonMark's bracket algorithm. `code`: code spans and autolinks take
    precedence over brackets. `retain`: a "]" that completes nothing leaves its opener open, and no link
    disables the openers around it (lenient parsers)."""
    found: list[_Link] = []
    openers: list[tuple[int, int, bool]] = []
    active_from = (
        0  # openers (other than images) below this index are inside a link: CommonMark disables them
    )
    specials = _SPECIALS_CODE if code else _SPECIALS_NAIVE
    index = start
    while index < end:
        match = specials.search(text, index, end)
        if match is None:
            break
        index = match.start()
        char = text[index]
        if char == "\\":
            index += 2 if index + 1 < end and text[index + 1] in _ASCII_PUNCTUATION else 1
        elif char == "`":
            run_end = index
            while run_end < end and text[run_end] == "`":
                run_end += 1
            index = runs.closing(run_end - index, run_end, end) or run_end
        elif char == "<":
            autolink = _AUTOLINK.match(text, index, end)
            index = autolink.end() if autolink else index + 1
        elif char == "!":
            if index + 1 < end and text[index + 1] == "[":
                openers.append((index, index + 2, True))
                index += 2
            else:
                index += 1
        elif char == "[":
            openers.append((index, index + 1, False))
            index += 1
        else:
            index, disables = _close_bracket(
                text, index, end, openers, found, definitions, retain, active_from
            )
            active_from = len(openers) if disables else min(active_from, len(openers))
    return found


def _close_bracket(
    text: str,
    closer: int,
    end: int,
    openers: list[tuple[int, int, bool]],
    found: list[_Link],
    definitions: dict[str, tuple[str, ...]],
    retain: bool,
    active_from: int,
) -> tuple[int, bool]:
    """Handles the "]" at `closer`: where scanning continues, and whether the link it completed disables the
    openers before it (a CommonMark link, not an image, cannot contain another link)."""
    if not openers:
        return closer + 1, False
    opener, label_start, image = openers.pop()
    if not image and len(openers) < active_from:
        return closer + 1, False  # an opener inside a link cannot start another one
    link = _complete(text, opener, label_start, closer, end, definitions)
    if link is None:
        if retain:
            openers.append((opener, label_start, image))
        return closer + 1, False
    found.append(link)
    return link.end, link.strict and not image and not retain


def _line_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    while start < end:
        newline = text.find("\n", start, end)
        stop = end if newline < 0 else newline
        spans.append((start, stop))
        start = stop + 1
    return spans


def _cells(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A table row's cells (GFM splits at every unescaped "|", even inside code)."""
    cells, last, index = [], start, text.find("|", start, end)
    while index >= 0:
        if index == start or text[index - 1] != "\\":
            cells.append((last, index))
            last = index + 1
        index = text.find("|", index + 1, end)
    cells.append((last, end))
    return [(a, b) for a, b in cells if a < b]


@dataclass(frozen=True)
class _Reading:
    code: bool
    retain: bool
    units: tuple[tuple[int, int], ...]


def _readings(text: str, prose: list[tuple[int, int]]) -> list[_Reading]:
    """The ways the prose is read for links. Code spans cannot cross a block, but which lines start a block
    depends on the parser (a list item, a quote line, a table cell), so code-aware scans run over every
    plausible unit: paragraphs, blocks, lines and cells. Scans that ignore code run over paragraphs."""
    paragraphs: list[tuple[int, int]] = []
    units: set[tuple[int, int]] = set()
    for start, end in prose:
        paragraph = block = -1
        previous = start
        for line_start, line_end in _line_spans(text, start, end):
            if _BLANK.fullmatch(text, line_start, line_end):
                if paragraph >= 0:
                    paragraphs.append((paragraph, previous))
                    units.add((block, previous))
                paragraph = block = -1
                continue
            units.add((line_start, line_end))
            if text.find("|", line_start, line_end) >= 0:
                units.update(_cells(text, line_start, line_end))
            if paragraph < 0:
                paragraph = block = line_start
            elif _BLOCK_START.match(text, line_start, line_end):
                units.add((block, previous))
                block = line_start
            previous = line_end
        if paragraph >= 0:
            paragraphs.append((paragraph, previous))
            units.add((block, previous))
    units.update(paragraphs)
    return [
        _Reading(code=True, retain=False, units=tuple(sorted(units))),
        _Reading(code=False, retain=False, units=tuple(paragraphs)),
        _Reading(code=False, retain=True, units=tuple(paragraphs)),
    ]


# --------------------------------------------------------------------------------------------------
# The visible word a link is part of

# What ends a word around a link, as shown (whitespace aside): "good.com,[x](…)" is not one address.
_WORD_BREAK = frozenset("()[]{}<>\"',;|!")
_JOINS_BEFORE = frozenset("/@")  # whitespace after these is skipped by a reader of an address …
_JOINS_AFTER = frozenset("./:@")  # … and so is whitespace before these ("good .com")
_MAY_JOIN_AFTER = _JOINS_AFTER | {"\\", "&"}  # an escape or a reference may show one of them
# Controls that Python counts as whitespace are invisible (`_INVISIBLE`): they do not end a word.
_INVISIBLE_SPACE = "\x0b\x0c\x1c\x1d\x1e\x1f\x85"
_PLAIN_RUN = re.compile(rf"(?:[^\s()\[\]{{}}<>\"',;|!\\&]|[{_INVISIBLE_SPACE}])++")
_REFERENCE_AT = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_CONTEXT_LIMIT = _MAX_LABEL  # characters read on either side of a link; a longer word gets it rewritten


def _space(char: str) -> bool:
    return char.isspace() and char not in _INVISIBLE_SPACE


def _breaks(shown: str) -> bool:
    return any(char in _WORD_BREAK or _space(char) for char in shown)


def _shown_at(text: str, index: int, end: int) -> tuple[str, int]:
    """What the source at `index` shows (an escape, a character reference or a character) and where the
    next one starts."""
    char = text[index]
    if char == "\\" and index + 1 < end and text[index + 1] in _ASCII_PUNCTUATION:
        return text[index + 1], index + 2
    if char == "&":
        reference = _REFERENCE_AT.match(text, index, end)
        shown = _reference(reference.group(1)) if reference else None
        if reference and shown is not None:
            return shown, reference.end()
    return char, index + 1


def _word_forward(text: str, index: int, stop: int, previous: str) -> tuple[int, bool]:
    """How far the word that reaches `index` goes before `stop`, and whether it ends there. `previous`: the
    character shown just before `index`."""
    while index < stop:
        plain = _PLAIN_RUN.match(text, index, stop)
        if plain:
            previous, index = text[plain.end() - 1], plain.end()
            continue
        if _space(text[index]):
            after = index
            while after < stop and _space(text[after]):
                after += 1
            following = _shown_at(text, after, stop)[0] if after < stop else ""
            if previous in _JOINS_BEFORE or (following and following[0] in _JOINS_AFTER):
                index = after
                continue
            return index, True
        shown, after = _shown_at(text, index, stop)
        if _breaks(shown):
            return index, True
        previous, index = shown[-1:] or previous, after
    return index, False


def _word_backward(text: str, index: int, stop: int, following: str) -> tuple[int, bool]:
    """Where the word that reaches back to `index` starts, going no further back than `stop`, and whether
    it starts there. `following`: the character shown at `index`."""
    while index > stop:
        char = text[index - 1]
        if _space(char):
            before = index - 1
            while before > stop and _space(text[before - 1]):
                before -= 1
            previous = text[before - 1] if before > stop else ""
            if previous in _JOINS_BEFORE or (following and following[0] in _JOINS_AFTER):
                index = before
                continue
            return index, True
        if char == ";":
            ampersand = text.rfind("&", max(stop, index - 40), index)
            reference = _REFERENCE_AT.match(text, ampersand, index) if ampersand >= 0 else None
            shown = _reference(reference.group(1)) if reference and reference.end() == index else None
            if shown is not None:
                if _breaks(shown):
                    return index, True
                following, index = shown, ampersand
                continue
        if char in _WORD_BREAK:
            return index, True
        following, index = char, index - 1
    return index, False


# How the word around a link is walked: (links beside it are links, code spans beside it are code).
_WALKS = ((True, True), (True, False), (False, False))


class _Neighbours:
    """The links one scan found in text[start:end], by where they open and end: what a reader sees of a link
    is its label with the links inside it shown as their labels, and the word it is part of takes in the
    text and the links right beside it, up to whitespace: `[good](https://evil.com).com` reads "good.com".

    Contexts are remembered by position, so that a run of adjacent links is walked once, not once per link;
    one longer than `_CONTEXT_LIMIT` shown characters is not read (None: its links are rewritten)."""

    def __init__(
        self, text: str, links: list[_Link], start: int, end: int, runs: _BacktickRuns | None = None
    ) -> None:
        self.text, self.start, self.end, self.runs = text, start, end, runs
        self.by_opener: dict[int, _Link] = {}
        self.by_end: dict[int, _Link] = {}
        for link in sorted(links, key=lambda link: (link.opener, -link.end)):
            self.by_opener.setdefault(link.opener, link)
            self.by_end.setdefault(link.end, link)
        self.openers = sorted(self.by_opener)
        self.ends = sorted(self.by_end)
        self._labels: dict[int, str] = {}
        self._rights: dict[tuple[int, str, bool, bool], str | None] = {}
        self._lefts: dict[tuple[int, str, bool, bool], str | None] = {}

    def label(self, link: _Link) -> str:
        """The label as shown: the links inside it replaced by their own shown labels."""
        shown = self._labels.get(link.opener)
        if shown is None and link.closer - link.label_start > _MAX_LABEL:
            shown = self.text[link.label_start : link.closer]  # not read (see `_link_disguised`)
        if shown is None:
            text, index, pieces = self.text, link.label_start, []
            position = bisect.bisect_left(self.openers, index)
            while position < len(self.openers) and self.openers[position] < link.closer:
                inner = self.by_opener[self.openers[position]]
                if inner.opener >= index and inner.end <= link.closer and inner is not link:
                    pieces.append(text[index : inner.opener])
                    pieces.append(self.label(inner))
                    index = inner.end
                position += 1
            pieces.append(text[index : link.closer])
            shown = self._labels[link.opener] = "".join(pieces)
        return shown

    def words(self, link: _Link, label: str) -> set[str] | None:
        """The visible word around the link (its shown label with what touches it on either side), with the
        links beside it read as links (their labels show) and as text (their brackets end the word: a
        reference whose definition a renderer does not see), and code spans beside it read as code (what
        they show, see `_code_content`) and as text; None if it is too long to read."""
        text, before, after = self.text, link.opener - 1, link.end
        first, last = (_shown_at(label, 0, len(label))[0] if label else ""), label[-1:]
        # Most links have whitespace or punctuation on either side: nothing to walk.
        if before < self.start or (
            text[before] in _WORD_BREAK and text[before] != ";" and link.opener not in self.by_end
        ):
            lefts: set[str | None] = {""}  # (";" may end a character reference: "&#46;" shows ".")
        elif (
            text[before] in " \n"
            and first not in _JOINS_AFTER
            and not text[before - 1 : before].isspace()
            and text[before - 1 : before] not in _JOINS_BEFORE
        ):
            lefts = {""}
        else:
            lefts = {self._left(link.opener, first, chain, code) for chain, code in _WALKS}
        if after >= self.end or (text[after] in _WORD_BREAK and after not in self.by_opener):
            rights: set[str | None] = {""}
        elif (
            text[after] in " \n"
            and last not in _JOINS_BEFORE
            and not text[after + 1 : after + 2].isspace()
            and text[after + 1 : after + 2] not in _MAY_JOIN_AFTER
        ):
            rights = {""}
        else:
            rights = {self._right(link.end, last, chain, code) for chain, code in _WALKS}
        if None in lefts or None in rights:
            return None
        return {f"{left}{label}{right}" for left in lefts for right in rights}

    def _right(self, index: int, previous: str, chain: bool, code: bool) -> str | None:
        steps: list[tuple[tuple[int, str, bool, bool], str]] = []  # where the walk went, what each step added
        tail: str | None = ""
        while index < self.end:
            key = (index, previous, chain, code)
            if key in self._rights:
                tail = self._rights[key]
                break
            span = self._code_after(index) if code else None
            if span is not None:
                shown = _code_content(self.text[span[0] : span[1]])
                reached, ended = _word_forward(shown, 0, min(len(shown), _CONTEXT_LIMIT + 1), previous)
                steps.append((key, shown[:reached]))
                if ended or reached > _CONTEXT_LIMIT:
                    break
                previous, index = shown[-1:] or previous, span[2]
                continue
            beside = self.by_opener.get(index)
            if beside is not None:
                if not chain:
                    break
                shown = self.label(beside)
                reached, ended = _word_forward(shown, 0, min(len(shown), _CONTEXT_LIMIT + 1), previous)
                steps.append((key, shown[:reached]))
                if ended or reached > _CONTEXT_LIMIT:
                    break
                previous, index = shown[-1:] or previous, beside.end
                continue
            position = bisect.bisect_right(self.openers, index)
            following = self.openers[position] if position < len(self.openers) else self.end
            stop = min(following, self.end, index + _CONTEXT_LIMIT + 1)
            if code and (backtick := self.text.find("`", index + 1, stop)) >= 0:
                stop = backtick
            reached, ended = _word_forward(self.text, index, stop, previous)
            steps.append((key, self.text[index:reached]))
            if ended or reached - index > _CONTEXT_LIMIT:
                break
            previous, index = self.text[reached - 1], reached
        for key, piece in reversed(steps):
            tail = None if tail is None or len(piece) + len(tail) > _CONTEXT_LIMIT else piece + tail
            self._rights[key] = tail
        return tail

    def _left(self, index: int, following: str, chain: bool, code: bool) -> str | None:
        steps: list[tuple[tuple[int, str, bool, bool], str]] = []
        head: str | None = ""
        while index > self.start:
            key = (index, following, chain, code)
            if key in self._lefts:
                head = self._lefts[key]
                break
            span = self._code_before(index) if code else None
            if span is not None:
                shown = _code_content(self.text[span[1] : span[2]])
                limit = max(len(shown) - _CONTEXT_LIMIT - 1, 0)
                reached, ended = _word_backward(shown, len(shown), limit, following)
                steps.append((key, shown[reached:]))
                if ended or len(shown) - reached > _CONTEXT_LIMIT:
                    break
                following, index = shown[:1] or following, span[0]
                continue
            beside = self.by_end.get(index)
            if beside is not None:
                if not chain:
                    break
                shown = self.label(beside)
                limit = max(len(shown) - _CONTEXT_LIMIT - 1, 0)
                reached, ended = _word_backward(shown, len(shown), limit, following)
                steps.append((key, shown[reached:]))
                if ended or len(shown) - reached > _CONTEXT_LIMIT:
                    break
                following, index = shown[:1] or following, beside.opener
                continue
            position = bisect.bisect_left(self.ends, index) - 1
            preceding = self.ends[position] if position >= 0 else self.start
            stop = max(preceding, self.start, index - _CONTEXT_LIMIT - 1)
            if code and (backtick := self.text.rfind("`", stop, index - 1)) >= 0:
                stop = backtick + 1
            reached, ended = _word_backward(self.text, index, stop, following)
            steps.append((key, self.text[reached:index]))
            if ended or index - reached > _CONTEXT_LIMIT:
                break
            following, index = self.text[reached], reached
        for key, piece in reversed(steps):
            head = None if head is None or len(piece) + len(head) > _CONTEXT_LIMIT else head + piece
            self._lefts[key] = head
        return head

    def _code_after(self, index: int) -> tuple[int, int, int] | None:
        """The code span that opens at `index`: where its content starts and ends, and where it ends."""
        if self.runs is None or self.text[index] != "`" or (index > 0 and self.text[index - 1] == "`"):
            return None
        run_end = index
        while run_end < self.end and self.text[run_end] == "`":
            run_end += 1
        closing = self.runs.closing(run_end - index, run_end, self.end)
        return None if closing is None else (run_end, closing - (run_end - index), closing)

    def _code_before(self, index: int) -> tuple[int, int, int] | None:
        """The code span that closes just before `index`: where it starts, and its content's start and end."""
        text = self.text
        if self.runs is None or text[index - 1] != "`" or (index < len(text) and text[index] == "`"):
            return None
        run_start = index - 1
        while run_start > self.start and text[run_start - 1] == "`":
            run_start -= 1
        length = index - run_start
        opening = self.runs.opening(length, run_start, self.start)
        return None if opening is None else (opening, opening + length, run_start)


def _autolinks(text: str, start: int, end: int) -> list[_Link]:
    """The autolinks in text[start:end], as neighbours only (they show their own target): `<https://x>`
    shows "https://x", which is part of the word of a link right beside it."""
    if text.find("<", start, end) < 0:
        return []
    return [
        _Link(match.start(), match.start() + 1, match.end() - 1, match.end(), (), False)
        for match in _AUTOLINK.finditer(text, start, end)
    ]


def _link_disguised(text: str, link: _Link, neighbours: _Neighbours) -> bool:
    """Whether the label, as written or as shown, or the visible word the link is part of names a host the
    link does not lead to."""
    if link.closer - link.label_start > _MAX_LABEL:
        return True  # not even sliced: nested labels would make that quadratic
    label = text[link.label_start : link.closer]
    if _disguised(label, link.targets):
        return True
    shown = neighbours.label(link)
    if shown != label and (len(shown) > _MAX_LABEL or _disguised(shown, link.targets)):
        return True
    words = neighbours.words(link, shown)
    return words is None or any(word != shown and _disguised(word, link.targets) for word in words)


def _disguised_links(text: str) -> tuple[list[_Link], set[int]]:
    """Every link, under any reading, whose label names a host its target does not lead to; and where the
    labels of reference definitions open."""
    if "]" not in text:
        return [], set()
    prose = _prose_spans(text)
    definitions, definition_openers = _definitions(text, prose)
    runs = _BacktickRuns(text)
    flagged: dict[tuple[int, int, int], _Link] = {}
    for reading in _readings(text, prose):
        for start, end in reading.units:
            links = _scan(
                text, start, end, code=reading.code, retain=reading.retain, definitions=definitions, runs=runs
            )
            neighbours = (
                _Neighbours(text, links + _autolinks(text, start, end), start, end, runs) if links else None
            )
            for link in links:
                key = (link.opener, link.closer, link.end)
                if key not in flagged and neighbours and _link_disguised(text, link, neighbours):
                    flagged[key] = link
    return sorted(flagged.values(), key=lambda link: (link.closer, link.opener)), definition_openers


# --------------------------------------------------------------------------------------------------
# Rewriting disguised links

_LINE_START_MARKER = re.compile(r"`{3}|~{3}|#{1,6}(?:[ \t]|$)|>|[-+*](?:[ \t]|$)|[=|]")
_LABEL_SPECIALS = re.compile(r"[\\`\[\]]")

_Edit = tuple[int, int, str]


def _label_brackets(text: str, start: int, end: int) -> list[int]:
    """Unescaped brackets of a label outside its code spans: escaped when the label becomes plain text, so
    that they cannot pair with what follows into a new link."""
    found, index = [], start
    while index < end:
        match = _LABEL_SPECIALS.search(text, index, end)
        if match is None:
            break
        index = match.start()
        char = text[index]
        if char == "\\":
            index += 2 if index + 1 < end and text[index + 1] in _ASCII_PUNCTUATION else 1
        elif char == "`":
            run_end = index
            while run_end < end and text[run_end] == "`":
                run_end += 1
            closing = re.compile(rf"(?<!`)`{{{run_end - index}}}(?!`)").search(text, run_end, end)
            index = closing.end() if closing else run_end
        else:
            found.append(index)
            index += 1
    return found


def _starts_line(text: str, index: int) -> bool:
    line_start = text.rfind("\n", 0, index) + 1
    return not text[line_start:index].strip(" \t")


def _rewrite(text: str, link: _Link, definition_openers: set[int]) -> tuple[list[_Edit], list[_Edit]]:
    """`[label](target)` → `label (target)`: the link is gone, its text stays, the real target is shown.
    Returns the edits that make the rewrite and the optional escapes of brackets inside the label.

    The label of a definition (`[good.com]: https://evil.example`) reads as a shortcut link wherever the
    line is not taken as a definition; its brackets are escaped instead, which leaves the line showing its
    real target and no longer defining anything."""
    if link.opener in definition_openers:
        return [(link.opener, link.opener + 1, "\\["), (link.closer, link.closer + 1, "\\]")], []
    label = text[link.label_start : min(link.closer, link.label_start + _MAX_LABEL + 1)]
    # Removing "[" must not turn the label into a fence, heading, list or quote line.
    prefix = "\\" if _starts_line(text, link.opener) and _LINE_START_MARKER.match(label) else ""
    shown = [url for url in dict.fromkeys(_display_url(target) for target in link.targets) if url]
    tail = f" ({', '.join(shown)})" if shown else ""
    edits = [(link.opener, link.label_start, prefix), (link.closer, link.end, tail)]
    # Brackets of a label too long to read stay: nested rewrites remove them, or the next pass does.
    inner = _label_brackets(text, link.label_start, link.closer) if len(label) <= _MAX_LABEL else []
    escapes = [(i, i + 1, "\\" + text[i]) for i in inner]
    return edits, escapes


class _Taken:
    """Disjoint ranges of text already being rewritten."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def free(self, start: int, end: int) -> bool:
        index = bisect.bisect_right(self._starts, start)
        if index and self._ends[index - 1] > start:
            return False
        return not (index < len(self._starts) and self._starts[index] < max(end, start + 1))

    def take(self, start: int, end: int) -> None:
        index = bisect.bisect_right(self._starts, start)
        self._starts.insert(index, start)
        self._ends.insert(index, max(end, start + 1))


def _rewrite_links(text: str) -> str:
    """Disguised links rewritten; one that overlaps another rewrite waits for the next pass."""
    links, definition_openers = _disguised_links(text)
    if not links:
        return text
    taken = _Taken()
    chosen: list[_Edit] = []
    optional: list[_Edit] = []
    for link in links:
        edits, escapes = _rewrite(text, link, definition_openers)
        if all(taken.free(start, end) for start, end, _ in edits):
            for start, end, replacement in edits:
                taken.take(start, end)
                chosen.append((start, end, replacement))
            optional.extend(escapes)
    for start, end, replacement in optional:
        if taken.free(start, end):
            taken.take(start, end)
            chosen.append((start, end, replacement))
    pieces, last = [], 0
    for start, end, replacement in sorted(chosen):
        pieces.append(text[last:start])
        pieces.append(replacement)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


# --------------------------------------------------------------------------------------------------
# The passes

_MAX_PASSES = 4
_RAW_BRACKET = re.compile(r"\\[!-/:-@\[-`{-~]|[\[\]]")


def _one_pass(text: str) -> str:
    return _marks(_rewrite_links(_map_prose(text, _convert_slack_syntax)))


def _defuse(text: str) -> str:
    """For input the passes cannot settle: no bracket and no Slack link opener is left to build a link from,
    code included, so that nothing depends on which lines are code."""
    text = _BIDI_REFERENCE.sub("", text)
    text = _RAW_BRACKET.sub(lambda m: m.group() if len(m.group()) == 2 else "\\" + m.group(), text)
    text = _SLACK_OPENER.sub("<" + WORD_JOINER, text)
    return _marks(text)


def neutralize(text: str) -> str:
    """Make untrusted markdown safe to post: no pings, no disguised links, all else unchanged. Idempotent.

    Line endings become "\\n" first: markdown reads a lone "\\r" as one, and the rules here split at "\\n"."""
    current = text.replace("\r\n", "\n").replace("\r", "\n").translate(_BIDI_CONTROLS)
    for _ in range(_MAX_PASSES):
        following = _one_pass(current)
        if following == current:
            return current
        current = following
    return _defuse(current)


# --------------------------------------------------------------------------------------------------
# One line of untrusted text inside the bot's own sentence

# An underscore between letters or digits can neither open nor close emphasis (snake_case, URLs): it stays.
_INLINE_SYNTAX = re.compile(r"\\[!-/:-@\[-`{-~]|[`*~\[\]<>|]|(?<![^\W_])_|_(?![^\W_])")
_LEADING_BLOCK_MARKER = re.compile(r"[#>+=-]|(\d{1,9})([.)])")


def _escape_inline(text: str) -> str:
    """Inline markdown made inert: what is already escaped stays, every other marker gets a backslash."""
    text = _INLINE_SYNTAX.sub(lambda m: m.group() if len(m.group()) == 2 else "\\" + m.group(), text)
    leading = _LEADING_BLOCK_MARKER.match(text)
    if leading is None:
        return text
    if leading.group(1):
        return leading.group(1) + "\\" + text[len(leading.group(1)) :]
    return "\\" + text


def neutralize_inline(text: str, limit: int = 200) -> str:
    """One line of untrusted text (progress, tool-call input, an API error) to show inside the bot's own
    sentence: neutralized, on one line, no markdown that could break out, at most `limit` characters."""
    if limit < 1:
        return ""
    line = _escape_inline(" ".join(neutralize(text).split()))
    if len(line) <= limit:
        return line
    keep = limit - 1
    while keep > 0:
        cut = line[:keep]
        trailing = len(cut) - len(cut.rstrip("\\"))
        if trailing % 2:  # never leave half an escape
            cut = cut[:-1]
        # A cut can make a broadcast ("@hereafter" → "@here…"): guard it, and stay within the limit.
        shortened = neutralize_broadcasts(cut.rstrip() + "…")
        if len(shortened) <= limit:
            return shortened
        keep -= len(shortened) - limit
    return "…"


# --------------------------------------------------------------------------------------------------
# URLs the bot links to itself

_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#!$&+,;=%'")
_HOST_ASCII = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?"
)
_HOST_IPV6 = re.compile(r"\[[0-9a-f:.]{2,45}\]")
_ABSOLUTE_WEB_URL = re.compile(r"(https?)://([^/?#]*)(.*)", re.IGNORECASE | re.DOTALL)


def safe_url(url: str | None) -> str | None:
    """A URL from an API, fit to put inside `[text](url)`: an absolute http(s) URL with a plain host and no
    credentials, every character that could end or bend the markdown link percent-encoded. None otherwise."""
    if not url or any(char.isspace() or unicodedata.category(char)[0] in "CZ" for char in url):
        return None
    match = _ABSOLUTE_WEB_URL.fullmatch(url)
    if match is None or "\\" in url or "@" in match.group(2):
        return None
    authority = match.group(2)
    bracket = authority.find("]") + 1 if authority.startswith("[") else 0
    host, colon, port = authority[:bracket], "", authority[bracket:]
    if not bracket:
        host, colon, port = authority.partition(":")
    elif port:
        colon, port = port[:1], port[1:]
        if colon != ":":
            return None
    if colon and not (port.isdigit() and int(port) <= 65535):
        return None
    host = _ascii_host(host).lower()
    if not (_HOST_ASCII.fullmatch(host) or _HOST_IPV6.fullmatch(host)):
        return None
    rest = _percent(match.group(3), _URL_SAFE)
    return f"{match.group(1).lower()}://{host}{colon}{port}{rest}"
