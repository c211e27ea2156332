"""manifest.yml is valid against Slack's official manifest schema and asks for what the bot needs.

The schema is Slack's (MIT), not ours, so it is not kept in this repository: it is read from
`../shared/slack-manifest-schema/` beside the checkout, where CI has it (override with
`BLOCKS_SLACK_MANIFEST_SCHEMA`). Where it is absent the schema tests skip and say why.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource

from bot.slack.agent_dm import DEFAULT_PROMPTS

ROOT = Path(__file__).resolve().parents[1]
SHARED_SCHEMAS = ROOT.parent / "shared" / "slack-manifest-schema"
SCHEMAS = Path(os.environ.get("BLOCKS_SLACK_MANIFEST_SCHEMA") or SHARED_SCHEMAS)
needs_schema = pytest.mark.skipif(
    not (SCHEMAS / "manifest.schema.json").is_file(),
    reason=f"Slack's manifest schema is not at {SCHEMAS} (set BLOCKS_SLACK_MANIFEST_SCHEMA to its folder)",
)
RAW = "https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas/"


def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@needs_schema
def test_manifest_is_valid_against_slacks_schema() -> None:
    registry: Registry = Registry()
    for version in ("1.0.0", "2.0.0"):
        schema = json.loads((SCHEMAS / f"manifest.schema.{version}.json").read_text())
        registry = registry.with_resource(
            f"{RAW}manifest.schema.{version}.json", Resource.from_contents(schema)
        )
    root = json.loads((SCHEMAS / "manifest.schema.json").read_text())
    errors = sorted(Draft7Validator(root, registry=registry).iter_errors(manifest()), key=str)
    assert errors == [], [e.message for e in errors]


@needs_schema
def test_a_broken_manifest_would_be_caught() -> None:
    schema = json.loads((SCHEMAS / "manifest.schema.1.0.0.json").read_text())
    broken = manifest()
    broken["display_information"]["name"] = "x" * 80
    assert list(Draft7Validator(schema).iter_errors(broken))


def test_manifest_subscribes_to_what_the_bot_handles() -> None:
    data = manifest()
    events = set(data["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.channels", "message.groups", "message.im", "reaction_added"} <= events
    scopes = set(data["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "reactions:write", "users:read", "im:history"} <= scopes
    assert data["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")


def test_manifest_enables_agent_messaging_with_the_bots_default_prompts() -> None:
    """The DM is Slack's agent messaging experience (`agent_view`, not the legacy `assistant_view`); its
    prompts are those the bot sets by default, so a workspace whose Slack refuses the call sees the same."""
    data = manifest()
    features = data["features"]
    assert "assistant_view" not in features
    assert features["agent_view"]["suggested_prompts"] == list(DEFAULT_PROMPTS)
    assert len(features["agent_view"]["agent_description"]) <= 300
    assert "assistant:write" in data["oauth_config"]["scopes"]["bot"]  # setSuggestedPrompts, setTitle
    assert "app_home_opened" in data["settings"]["event_subscriptions"]["bot_events"]  # the DM opened
