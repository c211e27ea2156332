"""What the real process writes to its log, at DEBUG: JSON or text lines with the ids of what they are
about, and never a token, a key, the signing secret or a message body (unless asked for)."""

from __future__ import annotations

import json

import pytest

from bot.slack import messages
from tests.conftest import SIGNING_SECRET
from tests.e2e.processes import MENTION, CrashRig

SECRET_WORDS = "zebra-umbrella-8731"  # in the message, hence in the agent's answer too
# What is logged does not depend on the database.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _conversation(rig: CrashRig) -> str:
    bot = rig.start()
    top = rig.say(bot, "UALICE", f"{MENTION} please look at {SECRET_WORDS}")
    rig.wait(lambda: messages.DONE in top.reactions, what="the answer")
    follow_up = rig.say(bot, "UBOB", f"and {SECRET_WORDS} again", thread=top)
    rig.wait(lambda: messages.DONE in follow_up.reactions, what="the follow-up's answer")
    bot.stop()
    return bot.log.read_text()


def _secrets(rig: CrashRig) -> list[str]:
    return [rig.env["SLACK_BOT_TOKEN"], rig.env["BLOCKS_API_KEY"], SIGNING_SECRET]


def test_json_lines_at_debug_carry_ids_and_never_a_secret_or_a_message(crash_rig: CrashRig) -> None:
    crash_rig.env.update({"LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"})
    log = _conversation(crash_rig)
    entries = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert len(entries) > 10
    for entry in entries:
        assert {"timestamp", "level", "logger", "message"} <= entry.keys(), entry
    about_turns = [e for e in entries if "turn_id" in e]
    assert about_turns, "the worker's lines name their turn"
    assert all({"team", "channel"} <= e.keys() for e in about_turns)
    assert any("session_id" in e for e in about_turns), "once Blocks has the session, its id"
    assert any(e["logger"] == "bot.slack.app" and "channel" in e for e in entries), "intake names its channel"
    for secret in _secrets(crash_rig):
        assert secret not in log
    assert SECRET_WORDS not in log, "no message text and no answer, at any level"


def test_text_lines_carry_the_same_ids(crash_rig: CrashRig) -> None:
    crash_rig.env.update({"LOG_LEVEL": "DEBUG"})
    log = _conversation(crash_rig)
    assert any("[turn=" in line and "team=" in line and "channel=" in line for line in log.splitlines())
    for secret in _secrets(crash_rig):
        assert secret not in log
    assert SECRET_WORDS not in log


def test_message_bodies_are_logged_only_when_asked_and_start_up_says_so(crash_rig: CrashRig) -> None:
    crash_rig.env.update({"LOG_LEVEL": "DEBUG", "LOG_MESSAGE_BODIES": "true"})
    log = _conversation(crash_rig)
    assert "LOG_MESSAGE_BODIES=true" in log.splitlines()[0]
    assert SECRET_WORDS in log, "the libraries' DEBUG lines, with bodies, are let through"
    for secret in _secrets(crash_rig):
        assert secret not in log
