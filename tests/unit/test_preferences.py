"""The choices of channels and workspaces: resolution (property-tested), the modal's parsing, what a
turn takes with it, and the channel's change notice."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.config import Settings
from bot.preferences import apply, views
from bot.preferences.store import Change
from bot.preferences.values import BY_NAME, CHOICES, deployment_defaults, resolve, valid

SETTINGS = Settings(slack_bot_token="", slack_signing_secret="", blocks_api_key="")
DEFAULTS = deployment_defaults(SETTINGS)

# A stored value: one the choice takes, one it does not (an older or newer version's), or nothing.
stored = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(
        ["codex", "queue", "interrupt", "summary", "on", "starter", "mentions", "bogus value", "Codex!"]
    ),
)
rows = st.fixed_dictionaries({choice.name: stored for choice in CHOICES})


@given(rows, rows)
def test_channel_wins_over_workspace_over_deployment_and_every_value_is_valid(
    channel: dict[str, str | None], workspace: dict[str, str | None]
) -> None:
    resolved = resolve(channel, workspace, DEFAULTS)
    for choice in CHOICES:
        name = choice.name
        value, source = resolved[name], resolved.sources[name]
        assert valid(name, value), (name, value)
        if valid(name, channel[name]):
            assert (value, source) == (channel[name], "channel")
        elif valid(name, workspace[name]):
            assert (value, source) == (workspace[name], "workspace")
        else:
            assert (value, source) == (DEFAULTS[name], "deployment")


@given(rows, rows)
def test_what_a_turn_keeps_is_what_was_in_force_when_it_opened(
    channel: dict[str, str | None], workspace: dict[str, str | None]
) -> None:
    resolved = resolve(channel, workspace, DEFAULTS)
    settings = apply.turn_settings(SETTINGS, apply.snapshot(resolved))
    assert settings.answers == resolved["answers"]
    assert settings.private_sessions == (resolved["private_sessions"] == "on")
    assert settings.continue_threads == resolved["continue_threads"]


@given(st.text(max_size=80))
def test_a_damaged_snapshot_leaves_the_deployments_settings(stored_text: str) -> None:
    settings = apply.turn_settings(SETTINGS, stored_text)
    assert settings.answers in ("full", "summary")
    assert settings.continue_threads in ("anyone", "starter")


def test_a_turn_opened_before_choices_existed_has_the_deployments() -> None:
    assert apply.turn_settings(SETTINGS, None) is SETTINGS


def _state(picked: dict[str, str], custom: str | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: {views.SELECT: {"type": "static_select", "selected_option": {"value": value}}}
        for name, value in picked.items()
    }
    values[views.CUSTOM_AGENT_BLOCK] = {views.CUSTOM_AGENT_INPUT: {"value": custom}}
    return {"state": {"values": values}}


def test_a_submission_reads_each_choice_and_inherit_is_none() -> None:
    chosen, problems = views.submitted(_state({"agent": "codex", "busy_policy": views.INHERIT}))
    assert problems == {}
    assert chosen["agent"] == "codex" and chosen["busy_policy"] is None and chosen["answers"] is None


@given(st.text(max_size=40))
def test_a_custom_agent_is_taken_only_when_it_is_an_agent_id(custom: str) -> None:
    chosen, problems = views.submitted(_state({}, custom))
    cleaned = custom.strip().lower()
    if not cleaned:
        assert chosen["agent"] is None and not problems
    elif valid("agent", cleaned):
        assert chosen["agent"] == cleaned and not problems
    else:
        assert views.CUSTOM_AGENT_BLOCK in problems


def test_a_value_no_option_has_is_refused() -> None:
    _, problems = views.submitted(_state({"answers": "everything"}))
    assert "answers" in problems


def test_suggested_prompts_are_parsed_and_at_most_four() -> None:
    def parsed(text: str, members: bool = False) -> tuple[bool, list[dict[str, str]], dict[str, str]]:
        selected = [{"value": "on"}] if members else []
        values = {
            views.MEMBERS_BLOCK: {views.SELECT: {"selected_options": selected}},
            views.PROMPTS_BLOCK: {views.PROMPTS_INPUT: {"value": text}},
        }
        return views.submitted_workspace({"state": {"values": values}})

    assert parsed("Fix a bug | Find and fix the failing test\n\n", True) == (
        True,
        [{"title": "Fix a bug", "message": "Find and fix the failing test"}],
        {},
    )
    assert views.PROMPTS_BLOCK in parsed("no bar here")[2]
    assert views.PROMPTS_BLOCK in parsed("\n".join(f"t{i} | m{i}" for i in range(5)))[2]


def test_the_modal_shows_each_choice_with_its_default_and_source() -> None:
    inherited = resolve({}, {"agent": "gemini"}, DEFAULTS)
    resolved = resolve({"answers": "summary"}, {"agent": "gemini"}, DEFAULTS)
    modal = views.channel_modal("C1", {"answers": "summary"}, inherited, resolved)
    by_id = {b.get("block_id"): b for b in modal["blocks"]}
    assert by_id["agent"]["element"]["initial_option"]["text"]["text"] == "Default: gemini"
    assert "the workspace default" in by_id["agent"]["hint"]["text"]
    assert by_id["answers"]["element"]["initial_option"]["value"] == "summary"
    assert "this channel" in by_id["answers"]["hint"]["text"]
    for choice in CHOICES:
        options = by_id[choice.name]["element"]["options"]
        assert [o["value"] for o in options] == [views.INHERIT, *BY_NAME[choice.name].options]
        assert all(len(o["text"]["text"]) <= 75 for o in options), "Slack's limit for an option"


def test_the_channel_is_told_who_changed_what() -> None:
    after = resolve({"agent": "codex"}, {}, DEFAULTS)
    text = views.announcement(
        "UADMIN", [Change("agent", None, "codex"), Change("answers", "summary", None)], after
    )
    assert text.startswith("⚙️ <@UADMIN> changed the Blocks settings of this channel:")
    assert "*Default agent*: codex" in text
    assert "*Answers*: The whole answer in Slack (the deployment default)" in text
