"""The README's promise about agent text, as properties over generated text: whatever the agent writes,
what the bot posts pings nobody and has no link whose text names one site while it goes to another.

The output is read by an independent CommonMark parser (markdown-it-py), the way a markdown renderer reads
it, and by Slack's own rules for its `<…>` syntax; the neutralizer's own reading is not trusted. Inputs are
built from the pieces that attacks are made of (brackets, backticks, escapes, references, Slack tokens,
lookalike forms, line breaks) as well as from arbitrary text.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack import messages
from bot.slack.render import neutralize, neutralize_inline, safe_url, split
from tests.posted_text import assert_links_honest, assert_pings_nobody, links, target_host

PIECES = [
    "[", "]", "(", ")", "<", ">", "|", "!", "@", "#", "here", "channel", "everyone", "U0ALICE", "C0GEN",
    "`", "``", "```", "```\n", "~~~\n", "*", "**", "_", "~", "\\", "\\.", "&#64;", "&lt;", "&#x40;",
    "&period;", "https://", "http://", "good.com", "evil.com", "www.", "evil.example/x", ".", ":", "/",
    " ", "  ", "\n", "\n\n", "\t", "＠", "．", "ｇood.com", "\u200b", "\u2060", "\u202e", '"', "'",
    "title", "[1]: ", "[1]", "]: ", "<!", "<@", "<#", "<https://", "<!here>", "<!channel>", "<@U0ALICE>",
    "subteam^S0", "mailto:", "javascript:", "% ", "%2e", "|", "> ", "- ", "1. ", "    ",
]  # fmt: skip
hostile = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=5)), max_size=30).map("".join),
)
PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
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
        messages.working("claude", None, [], messages.progress_line(2, untrusted)),
    ):
        assert_pings_nobody(sentence)
        assert not links(sentence)


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
