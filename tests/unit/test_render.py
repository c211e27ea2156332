from __future__ import annotations

import time

import pytest

from bot.slack.render import (
    DEFAULT_PART_LIMIT,
    FALLBACK_LIMIT,
    WORD_JOINER,
    fallback_text,
    neutralize,
    neutralize_inline,
    next_part,
    safe_url,
    split,
)

WJ = WORD_JOINER


@pytest.mark.parametrize(
    ("agent_text", "shown"),
    [
        ("<!channel> deploy", f"@{WJ}channel deploy"),
        ("<!here|here> now", f"@{WJ}here now"),
        ("<!everyone>", f"@{WJ}everyone"),
        ("<!subteam^S0123|@oncall> help", f"@{WJ}oncall help"),
        ("<!subteam^S0123>", f"@{WJ}group"),
        ("thanks <@U0123ABC>", f"thanks @{WJ}U0123ABC"),
        ("thanks <@U0123ABC|bob>", f"thanks @{WJ}bob"),
        ("see <#C0123|general>", "see #general"),
        ("hey @here and @channel and @everyone", f"hey @{WJ}here and @{WJ}channel and @{WJ}everyone"),
        ("mail me: me@here.com", "mail me: me@here.com"),
        ("<!date^1392734382^{date}|Feb 18>", "Feb 18"),
    ],
)
def test_agent_text_never_pings(agent_text: str, shown: str) -> None:
    assert neutralize(agent_text) == shown


def test_broadcasts_are_broken_inside_code_too() -> None:
    # What counts as code differs between the markdown block and the mrkdwn fallback (which has no backslash
    # escapes), so code is not trusted to be inert: the invisible word joiner goes in there as well.
    text = "run `notify @here` then\n```\necho @channel\n```\nbut @here pings"
    assert (
        neutralize(text) == f"run `notify @{WJ}here` then\n```\necho @{WJ}channel\n```\nbut @{WJ}here pings"
    )


@pytest.mark.parametrize(
    ("agent_text", "shown"),
    [
        # Escaped backticks are text, not code: markdown renders "`@here`" and it pings.
        ("\\`@here\\`", f"\\`@{WJ}here\\`"),
        ("_@here_", f"_@{WJ}here_"),  # "_" is emphasis here, not part of a word
        ("@here_", f"@{WJ}here_"),
        ("@**here**", f"@{WJ}**here**"),
        ("&#64;here", f"&#64;{WJ}here"),  # a character reference renders as "@"
        ("\\@channel", f"\\@{WJ}channel"),
        ("＠everyone", f"＠{WJ}everyone"),  # fullwidth @
        ("<\\!here>", f"<{WJ}\\!here>"),  # renders as "<!here>"
        ("<@bob>", f"<{WJ}@bob>"),
        ("<!here", f"<{WJ}!here"),
        ("<#general", f"<{WJ}#general"),
        ("&lt;!channel&gt;", f"&lt;{WJ}!channel&gt;"),
    ],
)
def test_pings_hidden_from_the_old_filter_are_broken(agent_text: str, shown: str) -> None:
    assert neutralize(agent_text) == shown


@pytest.mark.parametrize(
    ("agent_text", "shown"),
    [
        ("[**https://good.com**](https://evil.com)", "**https://good.com** (https://evil.com)"),
        ("[`good.com`](https://evil.com)", "`good.com` (https://evil.com)"),
        ("[good\\.com](https://evil.com)", "good\\.com (https://evil.com)"),
        ("[good&#46;com](https://evil.com)", "good&#46;com (https://evil.com)"),
        ('[good.com](https://evil.com "Good")', "good.com (https://evil.com)"),
        ("[good.com](<https://evil.com/a b>)", "good.com (https://evil.com/a%20b)"),
        ("[good.com](\nhttps://evil.com\n)", "good.com (https://evil.com)"),
        ("[good .com](https://evil.com)", "good .com (https://evil.com)"),
        ("[https://good.com\n](https://evil.com)", "https://good.com\n (https://evil.com)"),
        ("[gооd.com](https://evil.com)", "gооd.com (https://evil.com)"),  # Cyrillic о
        ("[gοοd.com](https://evil.com)", "gοοd.com (https://evil.com)"),  # Greek ο
        ("[good．com](https://evil.com)", "good．com (https://evil.com)"),  # fullwidth dot
        ("[good。com](https://evil.com)", "good。com (https://evil.com)"),  # ideographic full stop
        ("[good\u200b.com](https://evil.com)", "good\u200b.com (https://evil.com)"),  # zero-width space
        ("[пример.рф](https://evil.com)", "пример.рф (https://evil.com)"),  # an IDN label
        ("[https://good](https://evil)", "https://good (https://evil)"),
        ("[[good.com]](https://evil.com)", "\\[good.com\\] (https://evil.com)"),
        ("[good.com `]`](https://evil.com)", "good.com `]` (https://evil.com)"),
        ("[support@good.com](https://evil.com)", "support@good.com (https://evil.com)"),
        ("[Sign in at good.com](https://evil.com)", "Sign in at good.com (https://evil.com)"),
        ("[good.com] (https://evil.com)", "good.com (https://evil.com)"),  # lenient parsers link this
        ("![good.com](https://evil.com)", "good.com (https://evil.com)"),  # images render as links
        ("<https://evil.com|*good.com*>", "*good.com* (https://evil.com)"),
        ("<javascript:alert(1)|good.com>", "good.com (javascript:alert%281%29)"),
        # Browsers read "\\" as "/", other parsers do not: both readings must agree with the label.
        ("[good.com](https://good.com\\\\@evil.com)", "good.com (https://good.com/@evil.com)"),
        ("[good.com](https://xn--gd-fmca.com)", "good.com (https://xn--gd-fmca.com)"),
        ("[good.com](https://gооd.com)", "good.com (https://xn--gd-fmca.com)"),  # the lookalike shows
    ],
)
def test_disguised_links_missed_by_the_old_filter_show_their_target(agent_text: str, shown: str) -> None:
    assert neutralize(agent_text) == shown


@pytest.mark.parametrize(
    ("agent_text", "shown"),
    [
        # The host is read from the visible word the link is part of, not only from its label.
        (
            "[good](https://evil.com)[.com](https://evil.com)",
            "good (https://evil.com).com (https://evil.com)",
        ),
        ("[good](https://evil.com).com", "good (https://evil.com).com"),
        ("good[.com](https://evil.com)", "good.com (https://evil.com)"),
        ("good [.com](https://evil.com)", "good .com (https://evil.com)"),  # "good .com" reads as good.com
        (
            "[good](https://good.com)[.com](https://evil.com)",
            "[good](https://good.com).com (https://evil.com)",
        ),
        ("**[good](https://evil.com)**.com", "**good (https://evil.com)**.com"),
        ("[good](https://evil.com)`.com`", "good (https://evil.com)`.com`"),
        ("[good](https://evil.com)&#46;com", "good (https://evil.com)&#46;com"),
        ("good&#46;[com](https://evil.com)", "good&#46;com (https://evil.com)"),
        ("[good][1].com\n\n[1]: https://evil.com", "good (https://evil.com).com\n\n[1]: https://evil.com"),
        ("https://good.com/[download](https://evil.com)", "https://good.com/download (https://evil.com)"),
        # A link beside it is read both as a link and as text (a renderer may not see its definition).
        (
            "[good](https://evil.com).com[™][r]\n\n[r]: https://x.dev",
            "good (https://evil.com).com[™][r]\n\n[r]: https://x.dev",
        ),
        ("<https://evil.com|good><https://evil.com|.com>", "good (https://evil.com).com (https://evil.com)"),
        # An image inside a link shows as its text: "good" + ".com".
        (
            "[![good](https://x.dev/i.png)](https://evil.com).com",
            "!\\[good\\](https://x.dev/i.png) (https://evil.com).com",
        ),
        # A name is found anywhere in a word, not only as the whole word.
        ("[good.com&](https://evil.com)", "good.com& (https://evil.com)"),
        ("[visit:good.com](https://evil.com)", "visit:good.com (https://evil.com)"),
        ("[-good.com-](https://evil.com)", "-good.com- (https://evil.com)"),
        ("[good.com*](https://evil.com)", "good.com* (https://evil.com)"),  # a lone "*" shows
        ("[go\u0334od.com](https://evil.com)", "go\u0334od.com (https://evil.com)"),  # a combining mark
        ("[good᛫com](https://evil.com)", "good᛫com (https://evil.com)"),  # a runic dot
        # Combining marks on punctuation or at the end of a label hide nothing.
        ("[https:/\u0334/good](https://evil.com)", "https:/\u0334/good (https://evil.com)"),
        ("[bank.dev\u0334-\u0334](https://evil.com)", "bank.dev\u0334-\u0334 (https://evil.com)"),
        # Markup characters each may show or not: "`good.co`*m" shows good.co (a lone "*"), not good.com.
        ("[`good.co`*m](https://good.com)", "`good.co`*m (https://good.com)"),
        ("`пример`[.](https://evil.com)`co._u`", "`пример`. (https://evil.com)`co._u`"),
        # What a renderer shows beside a link: a code span's content (one space off each end), an autolink's
        # address; a lone "\r" ends a line.
        ("[good](https://evil.com)` .com `", "good (https://evil.com)` .com `"),
        ("` good `[.com](https://evil.com)", "` good `.com (https://evil.com)"),
        ("[Sign in at](https://evil.com)<https://good.com>", "Sign in at (https://evil.com)https://good.com"),
        ("[good.com][x]\r\r[x]: https://evil.com", "good.com (https://evil.com)\n\n[x]: https://evil.com"),
        # Only ASCII spaces end a destination (CommonMark) or, as far as anyone knows, a Slack URL.
        ("[good.com][r]\n\n[r]: \u00a0evil.com", "good.com (%C2%A0evil.com)\n\n[r]: \u00a0evil.com"),
        ("<https://evil.com\u3000x|good.com>", "good.com (https://evil.com%20x)"),
        # Control characters are invisible in a label.
        ("[g\x01ood.com](https://evil.com)", "g\x01ood.com (https://evil.com)"),
        ("[g\x7food.com](https://evil.com)", "g\x7food.com (https://evil.com)"),
        ("[g\x85ood.com](https://evil.com)", "g\x85ood.com (https://evil.com)"),
        ("[good](https://evil.com)\x01.com", "good (https://evil.com)\x01.com"),
        # Backslashes and references in a target: both the decoded and the written target must agree.
        (
            "[good.com](https://evil.com\\.good.com)",
            "good.com (https://evil.com.good.com, https://evil.com/.good.com)",
        ),
        (
            "[good.com](<https://evil.com\\.good.com>)",
            "good.com (https://evil.com.good.com, https://evil.com/.good.com)",
        ),
        (
            "[good.com][1]\n\n[1]: https://evil.com\\.good.com",
            "good.com (https://evil.com.good.com, https://evil.com/.good.com)\n\n[1]: https://evil.com\\.good.com",
        ),
        ("<https://evil.com\\.good.com|good.com>", "good.com (https://evil.com%5C.good.com)"),
        # A backslash before a control character or a line break: markdown-it keeps the destination going.
        ("[good.com](https://good.com\\\n@evil.com)", "good.com (https://good.com/@evil.com)"),
        ("[good.com](<https://good.com\\\x0b@evil.com>)", "good.com (https://good.com/%0B@evil.com)"),
        ("[good.com](https://evil.com%5C.good.com)", "good.com (https://evil.com%5C.good.com)"),
    ],
)
def test_gaps_a_reviewer_found_are_closed(agent_text: str, shown: str) -> None:
    assert neutralize(agent_text) == shown
    assert neutralize(shown) == shown


@pytest.mark.parametrize(
    ("agent_text", "shown"),
    [
        # Only a plain ``` block is code to the link rules: Slack does not document the other fences.
        ("~~~\n[good.com](https://evil.com)\n~~~", "~~~\ngood.com (https://evil.com)\n~~~"),
        ("````\n[good.com](https://evil.com)\n````", "````\ngood.com (https://evil.com)\n````"),
        ("~~~~md\n[good.com](https://evil.com)\n~~~~", "~~~~md\ngood.com (https://evil.com)\n~~~~"),
        # Read with tilde fences, the link is in a ``` block; read without them, it is prose.
        (
            "~~~\n```\n~~~\n```\n[good.com](https://evil.com)\n```",
            "~~~\n```\n~~~\n```\ngood.com (https://evil.com)\n```",
        ),
        # A parser that toggles at every fence line reads the link as prose.
        (
            "```\n~~~\n[good.com](https://evil.com)\n~~~\n```",
            "```\n~~~\ngood.com (https://evil.com)\n~~~\n```",
        ),
        ("```py\n[good.com](https://evil.com)\n```", "```py\n[good.com](https://evil.com)\n```"),
        ("```\n[good.com](https://evil.com)", "```\ngood.com (https://evil.com)"),  # unclosed
    ],
)
def test_only_plain_backtick_blocks_are_exempt_from_the_link_rules(agent_text: str, shown: str) -> None:
    assert neutralize(agent_text) == shown


@pytest.mark.parametrize(
    "markdown",
    [
        "see [docs](https://x.dev).",
        "[a](https://x.dev)[b](https://y.dev)",
        "[good](https://good.com)[.com](https://good.com)",
        "good.com, [x](https://evil.com)",
        "[docs](https://x.dev)/[api](https://x.dev/api)",
        "[`README.md`](https://github.com/x/y/blob/main/README.md): [v1.2](https://github.com/x/y/releases)",
        "[https://github.com/socketio/socket.io](https://github.com/socketio/socket.io)",
        "[me@good.com](mailto:me@good.com)",
        "[docs.good.com](https://good.com)",
        "[हिंदी.भारत](https://हिंदी.भारत)",
        "[docs](https://x.dev) `example.com`",
        "[docs](https://x.dev)`code` example.com",
        "[github.com/socketio/socket.io](https://github.com/socketio/socket.io)",
        "[good.com](https://good.com/a%2Fb)",
        "[a](x)" * 300,
    ],
)
def test_honest_links_beside_text_or_links_pass_unchanged(markdown: str) -> None:
    assert neutralize(markdown) == markdown


def test_control_characters_cannot_join_a_broadcast() -> None:
    assert neutralize("@\x01here") == f"@{WJ}\x01here"
    assert neutralize("<\x01!here>") == f"<{WJ}\x01!here>"


@pytest.mark.parametrize(
    ("agent_text", "shown"),
    [
        ("[good.com][1]\n\n[1]: https://evil.com", "good.com (https://evil.com)\n\n[1]: https://evil.com"),
        (
            "[good.com][]\n\n[good.com]: https://evil.com",
            "good.com (https://evil.com)\n\n\\[good.com\\]: https://evil.com",
        ),
        (
            "[good.com]\n\n[Good.com]: <https://evil.com>",
            "good.com (https://evil.com)\n\n\\[Good.com\\]: https://evil.com",
        ),
        ("[the docs][d]\n\n[d]: https://evil.com", "[the docs][d]\n\n[d]: https://evil.com"),
        ("[good.com][g]\n\n[g]: https://good.com/x", "[good.com][g]\n\n[g]: https://good.com/x"),
    ],
)
def test_reference_links_are_resolved_like_inline_ones(agent_text: str, shown: str) -> None:
    assert neutralize(agent_text) == shown


@pytest.mark.parametrize(
    "markdown",
    [
        "[пример.рф](https://xn--e1afmkfd.xn--p1ai)",
        "[münchen.de](https://münchen.de/rathaus)",
        "[docs.python.org](https://docs.python.org/3/)",
        "[python.org](https://docs.python.org/3/)",
        "[GOOD.COM](https://www.good.com)",
        "[README.md](https://github.com/x/y/blob/main/README.md)",
        "[`os.path`](https://docs.python.org/3/library/os.path.html)",
        "[the docs](https://evil.dev)",
        "mail me@here.com or see [RFC 2606](https://www.rfc-editor.org/rfc/rfc2606)",
        "```html\n<!DOCTYPE html>\n```".replace("<!", "<" + WJ + "!"),
        "```\n[good.com](https://evil.com) is how a disguised link looks\n```",
        "| a | b |\n|---|---|\n| `x` | [docs](https://x.dev) |",
    ],
)
def test_honest_markdown_passes_unchanged(markdown: str) -> None:
    assert neutralize(markdown) == markdown


def test_an_html_doctype_in_code_only_gets_a_word_joiner() -> None:
    assert neutralize("```\n<!DOCTYPE html>\n```") == f"```\n<{WJ}!DOCTYPE html>\n```"


def test_a_slack_link_inside_code_is_broken_only_if_disguised() -> None:
    code = "```\n<https://evil.com|good.com> and <https://x.dev|docs>\n```"
    assert neutralize(code) == f"```\n<{WJ}https://evil.com|good.com> and <https://x.dev|docs>\n```"


def test_bidi_overrides_that_reorder_a_label_are_dropped() -> None:
    assert neutralize("[\u202emoc.doog](https://moc.doog) &#x202E;x") == "[moc.doog](https://moc.doog) x"


def test_neutralize_is_idempotent_on_the_examples() -> None:
    text = "[[good.com](https://good.com)](https://evil.com) <!here> [x][1]\n\n[1]: https://evil.com @here"
    once = neutralize(text)
    assert neutralize(once) == once


@pytest.mark.parametrize(
    "pathological",
    [
        "[" * 100_000,
        "]" * 100_000,
        "[" * 20_000 + "good.com" + "](https://evil.com)" * 20_000,
        "![" * 20_000 + "good.com" + "](https://evil.com)" * 20_000,
        "[a](" * 25_000,
        "`" * 100_000,
        "<!" * 50_000,
        "@" * 100_000,
        "\\" * 100_000,
        "&#64;" * 20_000,
        "<https://x|" * 9_000,
        "[a]: https://evil.com\n" * 4_000 + "[a] " * 5_000,
        "[good.com]: https://evil.com\n" * 3_000 + "[good.com] " * 3_000,
        "[a](x)" * 20_000,
        "[good](https://evil.com)" * 10_000 + ".com",
        "x" * 50_000 + "[a](b)" + "y" * 50_000,
        "[a](x)<a@b>" * 10_000,
        "[a](x)" + "&#46;" * 20_000,
        "[go" + "*o" * 3_000 + "](x)",
        "~~~\n```\n" * 10_000,
        '[a](x "' * 14_000,
        "| [a `b | c` ](x) " * 5_000,
    ],
)
def test_pathological_input_finishes(pathological: str) -> None:
    started = time.monotonic()
    once = neutralize(pathological)
    assert neutralize(once) == once
    assert time.monotonic() - started < 30  # generous: this guards against quadratic blow-ups only


@pytest.mark.parametrize(
    ("untrusted", "shown"),
    [
        (
            "ran `rm -rf` on *all* [x](https://y) <b> a|b",
            "ran \\`rm -rf\\` on \\*all\\* \\[x\\](https://y) \\<b\\> a\\|b",
        ),
        ("line one\nline two\n\n  three", "line one line two three"),
        ("@here look", f"@{WJ}here look"),
        ("<!channel> deploy", f"@{WJ}channel deploy"),
        ("[good.com](https://evil.com)", "good.com (https://evil.com)"),
        ("# heading", "\\# heading"),
        ("1. item", "1\\. item"),
        ("_italic_ and snake_case", "\\_italic\\_ and snake_case"),
        ("already \\*escaped\\*", "already \\*escaped\\*"),
    ],
)
def test_inline_text_is_one_inert_line(untrusted: str, shown: str) -> None:
    assert neutralize_inline(untrusted) == shown


def test_inline_text_is_cut_without_creating_a_broadcast() -> None:
    cut = neutralize_inline("a " * 97 + "@hereafter", limit=200)
    assert len(cut) <= 200 and cut.endswith("…")
    assert "@here" not in cut
    assert neutralize_inline("x" * 500, limit=10) == "x" * 9 + "…"
    assert len(neutralize_inline("\\*" * 300, limit=51)) <= 51


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://app.blocks.team/sessions/abc123", "https://app.blocks.team/sessions/abc123"),
        ("HTTPS://App.Blocks.Team:8443/s?x=1#y", "https://app.blocks.team:8443/s?x=1#y"),
        ("https://x.dev/a)b(c", "https://x.dev/a%29b%28c"),
        ("https://x.dev/<!here>|[x]", "https://x.dev/%3C!here%3E%7C%5Bx%5D"),
        ("https://x.dev/@here", "https://x.dev/%40here"),
        ("https://пример.рф/путь", "https://xn--e1afmkfd.xn--p1ai/%D0%BF%D1%83%D1%82%D1%8C"),
        ("https://x.dev/a b", None),
        ("https://x.dev/a\nb", None),
        ("https://x.dev/\u202e", None),
        ("javascript:alert(1)", None),
        ("//x.dev/a", None),
        ("/sessions/abc", None),
        ("https://user@evil.dev/", None),
        ("https://good.dev\\@evil.dev/", None),
        ("https://x.dev:99999/", None),
        ("https:///x", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_url_accepts_only_plain_absolute_web_urls(url: str | None, safe: str | None) -> None:
    assert safe_url(url) == safe


@pytest.mark.parametrize(
    ("agent_text", "shown"),
    [
        ("[https://good.dev](https://evil.dev/x)", "https://good.dev (https://evil.dev/x)"),
        ("[good.dev/login](https://evil.dev)", "good.dev/login (https://evil.dev)"),
        ("[www.good.dev](https://good.dev/page)", "[www.good.dev](https://good.dev/page)"),
        ("[the docs](https://evil.dev)", "[the docs](https://evil.dev)"),
        ("<https://evil.dev|https://good.dev>", "https://good.dev (https://evil.dev)"),
        ("<https://x.dev/a|the doc>", "[the doc](https://x.dev/a)"),
        ("<https://x.dev/a>", "https://x.dev/a"),
    ],
)
def test_links_cannot_show_one_url_and_point_to_another(agent_text: str, shown: str) -> None:
    assert neutralize(agent_text) == shown


def test_fallback_escapes_slack_control_characters_and_stays_short() -> None:
    assert fallback_text("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"
    long = fallback_text("x" * 10_000)
    assert len(long) <= 3500 and long.endswith("…")


@pytest.mark.parametrize("tail", ["@hereafter is fine", "@channels", "@everyones"])
def test_truncating_the_fallback_never_creates_a_broadcast(tail: str) -> None:
    for start in range(FALLBACK_LIMIT - 15, FALLBACK_LIMIT):
        shown = fallback_text("x " * (start // 2) + tail + " y" * 100)
        assert len(shown) <= FALLBACK_LIMIT
        assert not any(f"@{word}" in shown.lower() for word in ("here", "channel", "everyone")) or all(
            shown.lower().split(f"@{word}")[1][:1].isalpha()
            for word in ("here", "channel", "everyone")
            if f"@{word}" in shown.lower()
        )


def test_short_text_is_one_part() -> None:
    assert split("hello") == ["hello"]
    assert next_part("hello", 0) == ("hello", 5)


def test_split_prefers_paragraph_then_line_boundaries() -> None:
    paragraphs = "\n\n".join(f"Paragraph {i}. " + "words " * 60 for i in range(30))
    parts = split(paragraphs, 1000)
    assert all(len(p) <= 1000 for p in parts)
    assert all(p.startswith("Paragraph") for p in parts), "every part starts at a paragraph"
    assert "\n\n".join(parts) == paragraphs


def test_split_without_any_boundary_cuts_hard_and_loses_nothing() -> None:
    blob = "x" * 7000
    parts = split(blob, 1000)
    assert "".join(parts) == blob and all(len(p) <= 1000 for p in parts)


def test_a_code_block_longer_than_a_part_is_closed_and_reopened() -> None:
    code = "```python\n" + "\n".join(f"value_{i} = {i}" for i in range(400)) + "\n```\nAfter the code."
    parts = split(code, 800)
    assert len(parts) > 3
    for part in parts[:-1]:
        assert part.endswith("\n```")
    for part in parts[1:]:
        assert part.startswith("```python\n")
    assert all(p.count("```") % 2 == 0 for p in parts)
    assert parts[-1].endswith("After the code.")
    body = "".join(p.removeprefix("```python\n").removesuffix("\n```") + "\n" for p in parts)
    for i in range(400):
        assert f"value_{i} = {i}\n" in body


def test_next_part_resumes_exactly_where_the_last_part_ended() -> None:
    text = "\n\n".join("para " * 100 for _ in range(20))
    offset, rebuilt = 0, []
    while offset < len(text):
        part, offset = next_part(text, offset, 700)
        rebuilt.append(part)
    assert rebuilt == split(text, 700)
    # A smaller limit from the middle on (after msg_too_long) continues without gap or overlap.
    first, offset = next_part(text, 0, 2000)
    parts = [first]
    while offset < len(text):
        part, offset = next_part(text, offset, 400)
        parts.append(part)
    assert all(len(p) <= 400 for p in parts[1:])
    assert sum(p.split().count("para") for p in parts) == 2000


@pytest.mark.parametrize(
    "text", ["x" * 2990 + "@hereafter" + "y" * 100, "x" * 2990 + "me@here.com " + "y" * 100]
)
def test_a_hard_cut_never_creates_a_broadcast(text: str) -> None:
    for limit in range(2985, 3001):
        for part in split(text, limit):
            assert len(part) <= limit
            for word in ("@here", "@channel", "@everyone"):
                index = part.find(word)
                assert (
                    index < 0
                    or part[index + len(word) : index + len(word) + 1].isalnum()
                    or (index > 0 and part[index - 1].isalnum())
                ), part[-20:]


def test_tilde_and_long_fences_are_closed_and_reopened_with_their_own_marker() -> None:
    code = "~~~~text\n" + "\n".join(f"line {i} ```" for i in range(300)) + "\n~~~~\nAfter."
    parts = split(code, 700)
    assert len(parts) > 3
    assert all(part.endswith("\n~~~~") for part in parts[:-1])
    assert all(part.startswith("~~~~text\n") for part in parts[1:])


def test_default_part_limit_is_well_below_slack_limits() -> None:
    assert DEFAULT_PART_LIMIT <= 4000
