from __future__ import annotations

import pytest

from bot.slack.render import (
    DEFAULT_PART_LIMIT,
    WORD_JOINER,
    fallback_text,
    neutralize,
    next_part,
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


def test_bare_broadcasts_inside_code_are_left_alone() -> None:
    text = "run `notify @here` then\n```\necho @channel\n```\nbut @here pings"
    assert neutralize(text) == f"run `notify @here` then\n```\necho @channel\n```\nbut @{WJ}here pings"


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


def test_default_part_limit_is_well_below_slack_limits() -> None:
    assert DEFAULT_PART_LIMIT <= 4000
