"""The App Home view as plain functions of what was read: within Slack's limits in the fullest case (100
blocks, unique block ids, section texts of 3,000 characters at most), what a member and an admin each
see, and what is left when the database could not be read."""

from __future__ import annotations

import json
from typing import Any

from bot.blocks.keys import key_hash
from bot.blocks.pull_requests import PullRequest
from bot.config import Settings
from bot.oauth.workspace_keys import ConnectedKey
from bot.preferences.values import deployment_defaults, resolve
from bot.slack.home.facts import Defaults, Facts, KeyBudget, Session, Usage
from bot.slack.home.keys import SHOWN_KEYS, KeysShown
from bot.slack.home.view import ACTION_DEFAULTS, MAX_BLOCKS, UNREADABLE, home_view
from bot.turns.access import AccessPolicy, policy_of

NOW = 1_800_000_000.0
SETTINGS = Settings(slack_bot_token="", slack_signing_secret="", blocks_api_key="k")
DEFAULTS = Defaults(
    {"agent": "codex", "members_may_configure": "off"},
    resolve({}, {"agent": "codex"}, deployment_defaults(SETTINGS)),
    members_may_configure=False,
)


def session(number: int, *, state: str = "answered", prs: int = 0, channel_type: str = "channel") -> Session:
    return Session(
        number,
        f"C{number:08d}",
        channel_type,
        "claude",
        state,
        NOW - 60 * number,
        f"https://blocks.team/s/{number}",
        tuple(
            PullRequest(f"acme/repo-{n}", n, f"https://github.com/acme/repo-{n}/pull/{n}")
            for n in range(1, prs + 1)
        ),
    )


def fullest() -> dict[str, Any]:
    """Everything at its most: ten sessions with five pull requests each, forty keys (and more), every
    access list long, a notice."""
    keys = tuple(ConnectedKey(key_hash(f"key-{n}"), None, "UADMIN", NOW) for n in range(SHOWN_KEYS + 5))
    facts = Facts(
        tuple(session(n, prs=7) for n in range(10)),
        DEFAULTS,
        Usage(NOW - 3600, 1234, 1000, 34, 150, 50, 98765, partial=True),
        tuple(KeyBudget(f"{n:012x}", 3, 3, 87) for n in range(SHOWN_KEYS + 5)),
    )
    many = frozenset(f"C{n:010d}" for n in range(300))
    access = AccessPolicy(channels=many, users=frozenset(f"U{n:010d}" for n in range(300)), usergroups=many)
    return home_view(facts=facts, keys=KeysShown(own=keys), admin=True, access=access, now=NOW, notice="Hi.")


def test_the_fullest_tab_keeps_within_slacks_limits() -> None:
    view = fullest()
    blocks = view["blocks"]
    assert len(blocks) <= MAX_BLOCKS, len(blocks)
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids) == len(set(ids)), "block ids are unique"
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= 75
    assert len(json.dumps(view)) < 250_000


def test_a_member_reads_the_how_to_their_sessions_and_the_defaults_and_no_admin_part() -> None:
    facts = Facts((session(1, state="working", prs=1), session(2, channel_type="im")), DEFAULTS)
    view = home_view(facts=facts, keys=KeysShown(own=()), admin=False, access=policy_of(SETTINGS), now=NOW)
    text = _texts(view)
    assert "`@Blocks /codex add a test for the date parser`" in text, "examples"
    assert "⏳ *working* · claude · <#C00000001> · <!date^" in text
    assert "✅ *answered* · claude · your DM" in text
    assert "*Default agent*: codex\n" in text, "the workspace's own default"
    assert "Blocks is not connected to this workspace yet" in text
    assert "Who may use the agent" not in text and "Blocks budget" not in text
    buttons = [
        e for b in view["blocks"] for e in [*b.get("elements", []), b.get("accessory") or {}] if "url" in e
    ]
    assert [b["text"]["text"] for b in buttons] == ["View session", "PR acme/repo-1#1", "View session"]
    assert ACTION_DEFAULTS not in json.dumps(view)


def test_an_admin_also_gets_the_forms_the_access_settings_and_the_days_usage() -> None:
    facts = Facts(
        (), DEFAULTS, Usage(NOW - 60, 3, 2, 1, 0, 0, 9, partial=False), (KeyBudget("abc", 2, 3, 87),)
    )
    policy = AccessPolicy(allow_dms=False, channels=frozenset({"C1"}), running_per_user=5)
    view = home_view(
        facts=facts, keys=KeysShown(environment=1, managed=False), admin=True, access=policy, now=NOW
    )
    text = _texts(view)
    assert ACTION_DEFAULTS in json.dumps(view)
    assert "*Direct messages*: turned off" in text and "only 1 channel (<#C1>)" in text
    assert "*Running requests per person*: 5" in text
    assert "3 turns (2 answered, 1 failed, 0 working) · 9 Blocks requests" in text
    assert "`abc`: 2 of 3 requests free now, refills 87 a minute" in text
    assert "BLOCKS_API_KEY" in text and "No sessions yet" in text


def test_a_day_busier_than_the_window_is_counted_as_at_least() -> None:
    facts = Facts((), DEFAULTS, Usage(NOW, 20000, 1, 0, 0, 0, 5, partial=True), ())
    view = home_view(facts=facts, keys=KeysShown(), admin=True, access=AccessPolicy(), now=NOW)
    assert "at least 20000 turns" in _texts(view)
    assert "no Blocks key, nothing to spend" in _texts(view)


def test_without_the_database_the_tab_still_says_how_to_use_the_bot() -> None:
    view = home_view(
        facts=None, keys=KeysShown(environment=1, managed=False), admin=True, access=AccessPolicy(), now=NOW
    )
    text = _texts(view)
    assert UNREADABLE in text and "Blocks coding agents" in text
    assert "Your recent sessions" not in text and "Today" not in text


def _texts(view: dict[str, Any]) -> str:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            found.extend(v for k, v in node.items() if k == "text" and isinstance(v, str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(view["blocks"])
    return "\n".join(found)
