from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.config import ENVIRONMENT, ConfigError, Settings

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "secret",
    "BLOCKS_API_KEY": "key",
}


def settings(**env: str) -> Settings:
    return Settings.from_env({**BASE, **env})


def test_defaults() -> None:
    s = settings()
    assert s.blocks_agent == "claude"
    assert s.blocks_api_url == "https://api.blocks.team"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.database_url == "sqlite:///blocks-slack.db" and not s.database_url_from_env
    assert s.busy_policy == "queue" and s.turn_deadline_seconds == 1800 and s.turn_horizon_seconds == 86400
    assert not s.socket_mode and s.port == 3000


@pytest.mark.parametrize("missing", ["SLACK_BOT_TOKEN", "BLOCKS_API_KEY"])
def test_a_missing_setting_is_named(missing: str) -> None:
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env(env)


def test_the_signing_secret_is_needed_only_over_http() -> None:
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "BLOCKS_API_KEY": "k"})
    s = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "BLOCKS_API_KEY": "k", "SLACK_APP_TOKEN": "xapp-1"})
    assert s.socket_mode


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SLACK_BOT_TOKEN", "xoxp-user-token"),
        ("SLACK_APP_TOKEN", "xoxb-wrong"),
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("BLOCKS_API_URL", "ftp://blocks"),
        ("SLACK_API_URL", "slack.com"),
        ("BLOCKS_AGENT", "gpt"),
        ("BUSY_POLICY", "drop"),
        ("REPLY_MODE", "some"),
        ("ANSWERS", "short"),
        ("TURN_DEADLINE_MINUTES", "soon"),
        ("PRIVATE_SESSIONS", "maybe"),
        ("DATABASE_URL", "mysql://x"),
        ("DATABASE_URL", "not a url"),
        ("BLOCKS_RATE_HEADROOM", "0.95"),
        ("WORKER_THREADS", "0"),
    ],
)
def test_a_malformed_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        settings(**{name: value})


def test_horizon_must_not_be_shorter_than_deadline() -> None:
    with pytest.raises(ConfigError, match="TURN_HORIZON_HOURS"):
        settings(TURN_DEADLINE_MINUTES="120", TURN_HORIZON_HOURS="1")


def test_heroku_style_database_urls_are_normalized() -> None:
    s = settings(DATABASE_URL="postgres://u:p@db.example:5432/app")
    assert s.database_url == "postgresql+psycopg://u:p@db.example:5432/app" and s.database_url_from_env


def test_ephemeral_disk_is_detected() -> None:
    assert settings(DYNO="web.1").ephemeral_disk
    assert not settings().ephemeral_disk


def test_knobs() -> None:
    s = settings(
        BUSY_POLICY="interrupt",
        REPLY_MODE="Mentions",
        ANSWERS="summary",
        PRIVATE_SESSIONS="yes",
        ALLOW_EXTERNAL_USERS="1",
        TURN_DEADLINE_MINUTES="5",
        TURN_HORIZON_HOURS="2",
        BLOCKS_AGENT="Codex",
        PORT="8080",
    )
    assert s.busy_policy == "interrupt" and s.private_sessions and s.allow_external_users
    assert s.turn_deadline_seconds == 300 and s.turn_horizon_seconds == 7200
    assert s.blocks_agent == "codex" and s.port == 8080
    assert s.reply_mode == "mentions" and s.answers == "summary"


def test_time_scale_compresses_policy_durations_and_the_rate_minute() -> None:
    s = settings(TIME_SCALE="20", LEASE_SECONDS="60", BLOCKS_TIMEOUT_SECONDS="30")
    assert s.turn_deadline_seconds == 90 and s.poll_first_seconds == 0.15 and s.rate_window_seconds == 3
    assert s.lease_seconds == 60 and s.blocks_timeout_seconds == 30, "real time stays real"
    with pytest.raises(ConfigError, match="TIME_SCALE"):
        settings(TIME_SCALE="0.5")


settings_for_properties = hypothesis_settings(max_examples=200, deadline=None)
SECRETS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "BLOCKS_API_KEY")
_PREFIX = {"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"}


@settings_for_properties
@given(
    name=st.sampled_from(SECRETS),
    head=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=6, max_size=30),
    bad=st.text(alphabet=st.sampled_from("\n\r\t \x00\x7f\u00a0\u2028é"), min_size=1, max_size=3),
    tail=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=6, max_size=30),
)
def test_a_malformed_secret_is_named_and_never_repeated(name: str, head: str, bad: str, tail: str) -> None:
    value = _PREFIX.get(name, "") + head + bad + tail
    with pytest.raises(ConfigError) as caught:
        settings(**{name: value})
    message = str(caught.value)
    assert name in message
    assert head not in message and tail not in message, "no part of the secret is shown"


def test_a_secret_pasted_with_a_trailing_line_break_is_accepted() -> None:
    assert settings(SLACK_BOT_TOKEN="xoxb-1234\n").slack_bot_token == "xoxb-1234"


def test_the_secrets_include_the_database_password() -> None:
    s = settings(DATABASE_URL="postgres://u:hunter2secret@db.example/app")
    assert "hunter2secret" in s.secrets and "key" in s.secrets


def test_every_variable_the_settings_read_is_documented_for_help() -> None:
    from pathlib import Path

    import bot.config

    source = Path(bot.config.__file__).read_text()
    read = set(re.findall(r'(?:reader\.\w+|env\.get)\(\s*"([A-Z][A-Z0-9_]+)"', source))
    assert read and read <= set(ENVIRONMENT), sorted(read - set(ENVIRONMENT))
