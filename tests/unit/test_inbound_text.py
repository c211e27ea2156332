from __future__ import annotations

import pytest

from bot.slack.inbound_text import to_agent_markdown

NAMES = {"U1": "alice", "U2": "bob"}


@pytest.mark.parametrize(
    ("slack", "agent"),
    [
        ("ask <@U2>", "ask @bob"),
        ("ask <@U2|robert>", "ask @robert"),
        ("in <#C1|eng>", "in #eng"),
        ("in <#C1>", "in #C1"),
        ("<!here> look", "@here look"),
        ("<!subteam^S1|@oncall> look", "@oncall look"),
        ("<https://x.dev/a?b=1&amp;c=2|the doc>", "[the doc](https://x.dev/a?b=1&c=2)"),
        ("<https://x.dev>", "https://x.dev"),
        ("<mailto:a@b.dev|a@b.dev>", "a@b.dev"),
        ("1 &lt; 2 &amp;&amp; 3 &gt; 2", "1 < 2 && 3 > 2"),
        ("typed &amp;lt;b&amp;gt;", "typed &lt;b&gt;"),
        ("<!date^1392734382^{date}|Feb 18>", "Feb 18"),
    ],
)
def test_slack_markup_becomes_plain_markdown(slack: str, agent: str) -> None:
    assert to_agent_markdown(slack, lambda uid: NAMES.get(uid, uid)) == agent
