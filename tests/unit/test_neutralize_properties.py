"""The README's promise about agent text, as properties over generated text: whatever the agent writes,
what the bot posts pings nobody and has no link whose text names one site while it goes to another.

The output is read by an independent CommonMark parser (markdown-it-py), the way a markdown renderer reads
it, and by Slack's own rules for its `<…>` syntax; the neutralizer's own reading is not trusted (see
`tests/posted_text.py`). Inputs are built from the pieces that attacks are made of (brackets, backticks,
escapes, references, Slack tokens, lookalike forms, line breaks), from the shapes of a disguised link (an
address in lookalike letters and dots, cut into links to elsewhere, text, code and images, inside a fence
Slack may not show as code, beside a target that reads two ways), with odd characters sprinkled in, and
from arbitrary text.

The examples are gaps found in review and by running these with many more examples
(`max_examples=5000`); at the default count the file runs in a few seconds.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.blocks.client import Message
from bot.slack import messages
from bot.slack.render import neutralize, neutralize_inline, safe_url, split
from bot.turns import progress
from tests.posted_text import assert_links_honest, assert_pings_nobody, links, target_host

PIECES = [
    "[", "]", "(", ")", "<", ">", "|", "!", "@", "#", "here", "channel", "everyone", "U0ALICE", "C0GEN",
    "`", "``", "```", "```\n", "~~~\n", "````\n", "*", "**", "_", "~", "\\", "\\.", "&#64;", "&lt;",
    "&#x40;", "&period;", "https://", "http://", "good.com", "evil.com", "www.", "evil.example/x", ".", ":",
    "/", " ", "  ", "\n", "\n\n", "\t", "＠", "．", "ｇood.com", "\u200b", "\u2060", "\u202e", "\x01",
    "\x85", '"', "'", "title", "[1]: ", "[1]", "]: ", "<!", "<@", "<#", "<https://", "<!here>",
    "<!channel>", "<@U0ALICE>", "subteam^S0", "mailto:", "javascript:", "% ", "%2e", "|", "> ", "- ",
    "1. ", "    ", "good", ".com", ".io", "](https://evil.com)", "[good](https://evil.com)", "gооd",
    "https://evil.com\\.good.com", "\u0334", "ꓸ", "·",
]  # fmt: skip
hostile = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=5)), max_size=30).map("".join),
)
PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The shapes of a disguised link, to build many of: an address (in lookalike letters and dots, with
# invisible, control and markup characters in it) cut into pieces that are links to somewhere else, plain
# text, images, code or Slack links, inside a label of several words, next to a target that reads two ways.
NAMES = ["good", "docs.good", "bank", "my-bank", "paypal", "login.bank", "münchen", "пример"]
TOP_LEVEL = ["com", "io", "dev", "org", "net", "co.uk", "de", "app", "xyz", "example", "рф", "shop"]
ADDRESS_PREFIXES = ["", "", "", "https://", "http://", "www.", "user@", "mailto:me@", "visit:", "-"]
ADDRESS_SUFFIXES = ["", "", "", "/login", ":8443", "/x?y=1", "#top", "&", "-", "!", "'s", "?", "…", "™"]
LOOKALIKE_LETTERS = {
    "o": ["о", "ο", "օ", "ᴏ", "ｏ"], "a": ["а", "α", "ᴀ", "ɑ"], "e": ["е", "ε", "ᴇ", "ҽ"],
    "c": ["с", "ϲ", "ᴄ"], "d": ["ԁ", "ᴅ"], "g": ["ɡ", "ԍ", "ɢ"], "i": ["і", "ι", "ɪ", "ı"],
    "l": ["ӏ", "ʟ", "ℓ"], "p": ["р", "ρ", "ᴘ"], "k": ["к", "κ", "ᴋ"], "n": ["ո", "ɴ"], "m": ["м", "ᴍ"],
    "b": ["в", "ʙ"], "y": ["у", "ү", "ʏ"], "u": ["υ", "ս", "ᴜ"], "h": ["һ", "հ", "ʜ"], "t": ["т", "ᴛ"],
    "s": ["ѕ", "ꜱ"], "w": ["ԝ", "ᴡ"], "x": ["х", "χ"],
}  # fmt: skip
LOOKALIKE_DOTS = [
    ".", ".", ".", "．", "。", "｡", "·", "‧", "\\.", "&#46;", "&period;", "٠", "ꓸ", "᛫", "ㆍ", "․",
]  # fmt: skip
HIDDEN = ["\u200b", "\u2060", "\u00ad", "\ufeff", "\x01", "\x1f", "\x7f", "\x85", "\x9b", "\u0334", "\u0301"]
MARKUP = ["*", "**", "_", "~", "~~", "`", "\\*", "<b>", "</b>"]
ELSEWHERE = [
    "https://evil.com", "https://evil.example/x", "http://good.com.evil.net/", "javascript:alert(1)",
    "mailto:x@evil.com", "//evil.com", "evil.com", "https://evil.com\\.good.com",
    "https://evil.com&#47;.good.com", "https://good.com\\@evil.com", "<https://evil.com/a b>",
    "https://evil.com#good.com", "https://evil.com?good.com", "https://good.com@evil.com",
]  # fmt: skip
WORDS = ["Sign in at", "see", "the", "docs:", "(", "now", "and", "**Note**", "→", "1.", "at"]
# Characters to sprinkle anywhere: spaces of every kind, controls Python counts as spaces, invisible and
# combining characters, markup, escapes and references, line endings, fences.
SPRINKLES = [
    *"\u00a0\u2009\u3000\t\r\x0b\x0c\x1c\x85\u200b\u2060\u00ad\u0301\u0334\u20e3*_~`\\&;:/@.-#?!'\",|()[]<>{}",
    *["&#46;", "&nbsp;", "&amp;", "\\.", "&#x2F;", "  ", "\n", "\n\n", "```", "~~~", "&#8203;", "\r\n"],
]  # fmt: skip


@st.composite
def addresses(draw: st.DrawFn) -> str:
    """An address as a reader would read it, written with characters that hide what it is."""
    address = draw(st.sampled_from(NAMES)) + "." + draw(st.sampled_from(TOP_LEVEL))
    address = draw(st.sampled_from(ADDRESS_PREFIXES)) + address + draw(st.sampled_from(ADDRESS_SUFFIXES))
    written = []
    for char in address:
        if char == "." and draw(st.integers(0, 2)) == 0:
            written.append(draw(st.sampled_from(LOOKALIKE_DOTS)))
        elif char in LOOKALIKE_LETTERS and draw(st.integers(0, 5)) == 0:
            written.append(draw(st.sampled_from(LOOKALIKE_LETTERS[char])))
        else:
            written.append(char.upper() if draw(st.integers(0, 9)) == 0 else char)
        if draw(st.integers(0, 11)) == 0:
            written.append(draw(st.sampled_from(HIDDEN + MARKUP)))
    return "".join(written)


@st.composite
def disguised(draw: st.DrawFn) -> str:
    """An address cut into pieces, each a link somewhere else, text, an image, code or a Slack link, inside
    words; or inside a fence that Slack may not show as code."""
    address = draw(addresses())
    cuts = sorted(set(draw(st.lists(st.integers(1, max(len(address) - 1, 1)), max_size=3))))
    pieces = [address[start:end] for start, end in zip([0, *cuts], [*cuts, len(address)], strict=True)]
    kinds = [
        draw(st.sampled_from(["link", "link", "text", "image", "slack", "code", "bold", "reference"]))
        for _ in pieces
    ]
    if not {"link", "image", "slack", "reference"} & set(kinds):
        kinds[draw(st.integers(0, len(kinds) - 1))] = "link"
    written, definitions = [], []
    for number, (piece, kind) in enumerate(zip(pieces, kinds, strict=True)):
        target = draw(st.sampled_from(ELSEWHERE))
        label = piece
        if kind in ("link", "image", "reference") and draw(st.integers(0, 3)) == 0:
            label = f"{draw(st.sampled_from(WORDS))} {piece}"
        if kind in ("link", "image", "reference") and draw(st.integers(0, 3)) == 0:
            label = f"{label} {draw(st.sampled_from(WORDS))}"
        if kind == "reference":
            definitions.append(f"\n\n[r{number}]: {target}")
        written.append(
            {
                "link": f"[{label}]({target})",
                "image": f"![{label}]({target})",
                "slack": f"<{target.strip('<>')}|{label}>",
                "code": f"`{piece}`",
                "bold": f"**{piece}**",
                "text": piece,
                "reference": f"[{label}][r{number}]",
            }[kind]
        )
    text = draw(st.sampled_from(["", "", "See ", "(", "**", "> ", "- ", "1. ", "| a | "]))
    text += "".join(written) + draw(st.sampled_from(["", "", " now", ".", ")", "**", "\n", " |"]))
    fence = draw(st.sampled_from(["", "", "", "", "~~~", "````", "~~~~", "```"]))
    if fence:
        text = f"{fence}\n{text}\n{fence}"
    return text + "".join(definitions)


@st.composite
def sprinkled(draw: st.DrawFn) -> str:
    """Disguised links and hostile pieces, with a few characters that change how they read put anywhere."""
    parts = st.one_of(disguised(), st.sampled_from(PIECES))
    text = draw(st.lists(parts, min_size=1, max_size=5).map("".join))
    for _ in range(draw(st.integers(0, 4))):
        index = draw(st.integers(0, len(text)))
        text = text[:index] + draw(st.sampled_from(SPRINKLES)) + text[index:]
    return text


@PROPERTY
@example("0\\@HERE")  # a backslash is no letter where Slack's mrkdwn (the fallback text) reads it
@given(hostile)
def test_an_answer_pings_nobody_and_its_links_go_where_they_say(agent_text: str) -> None:
    posted = neutralize(agent_text)
    assert_pings_nobody(posted)
    assert_links_honest(posted)
    assert neutralize(posted) == posted, "idempotent: a second pass finds nothing left to do"


@PROPERTY
@given(hostile, st.integers(min_value=400, max_value=3000))
def test_every_part_of_a_long_answer_is_as_safe_as_the_whole(agent_text: str, limit: int) -> None:
    for part in split(neutralize(agent_text * 20), limit):
        assert len(part) <= limit
        assert_pings_nobody(part)


@PROPERTY
@example("0\\@HERE", 80)
@given(hostile, st.integers(min_value=1, max_value=300))
def test_a_progress_or_error_line_is_one_short_inert_line(untrusted: str, limit: int) -> None:
    line = neutralize_inline(untrusted, limit)
    assert "\n" not in line and len(line) <= limit
    assert_pings_nobody(line)
    assert not links(line), "no link at all: inline text cannot bend the bot's own sentence"
    # Inside the bot's own sentences too.
    for sentence in (
        messages.rejected(line, 400),
        messages.unconfirmed_create(line),
        messages.unavailable(line, 3),
        messages.bot_failed(line),
        messages.working("claude", None, [], _progress_of(untrusted)),
    ):
        assert_pings_nobody(sentence)
        assert not links(sentence)


def _progress_of(untrusted: str) -> str | None:
    """The placeholder's progress note when the agent's latest message is `untrusted`."""
    items = [Message("m1", "assistant", "message", untrusted, "t", None, "")]
    return progress.note(progress.advance(items, steps=2, cursor=None, plan=[], at_least=False), 300)


@PROPERTY
@given(hostile)
def test_a_link_the_bot_makes_from_an_api_url_goes_where_the_api_said_or_nowhere(url: str) -> None:
    for candidate in (url, "https://blocks.example/s/" + url, "https://" + url):
        safe = safe_url(candidate)
        if safe is None:
            continue
        posted = messages.session_link(safe)
        found = links(posted)
        assert len(found) == 1, posted
        label, target = found[0]
        assert label == "View session"
        assert target_host(target) == target_host(candidate), (candidate, target)
        assert_pings_nobody(posted)


@PROPERTY
@example("[good](https://evil.com)[.com](https://evil.com)")
@example("[good](https://evil.com).com")
@example("[g\x01ood.com](https://evil.com)")
@example("[good.com](https://evil.com\\.good.com)")
@example("~~~\n[good.com](https://evil.com)\n~~~")
@example("````\n[good.com](https://evil.com)\n````")
@example("https://good.com/[download](https://evil.com)")
@example("[Sign in at good.com&](https://evil.com)")
@example("good [.com](https://evil.com)")
@example("good&#46;[com](https://evil.com)")
@example("<https://evil.com|good><https://evil.com|.com>")
@example("[![good](https://x.dev/i.png)](https://evil.com).com")
@example("~~~\n```\n~~~\n```\n[good.com](https://evil.com)\n```")
@example("<https://evil.com\\.good.com|good.com>")
@example("[good][1].com\n\n[1]: https://evil.com")
@example("[good.com][x]\r\r[x]: https://evil.com")
@example("[Sign in at](https://evil.com)<https://good.com>")
@example("[good.com][r]\n\n[r]: \u00a0evil.com")
@example("[good.com](https://good.com\\\n@evil.com)")
@example("<https://evil.com\u3000x|good.com>")
@example("`-пример`[.](https://evil.com)`co._u`")
@example("[`good.co`*m](https://good.com)")
@example("[https:/\u0334/good](https://evil.com)")
@example("[good](https://evil.com)` .com `")
@example("[mail (](https://evil.com)to:me<bhttps://evil.com?x@good.com>")
@given(
    st.one_of(
        disguised(),
        st.lists(st.one_of(disguised(), st.sampled_from(PIECES)), min_size=2, max_size=6).map("".join),
        sprinkled(),
        hostile,
    )
)
def test_no_address_in_sight_of_a_link_names_another_place(agent_text: str) -> None:
    """Whatever a link's text, and the word it is part of, seems to name, the link goes there or is gone."""
    posted = neutralize(agent_text)
    assert_links_honest(posted)
    assert neutralize(posted) == posted, "idempotent"
