"""App Home's listeners when the database is away: the tab still publishes (the how-to, and a line that
says the rest cannot be read), the defaults form says so on the tab instead of opening, and a submitted
form is answered in the modal with "not saved" instead of failing the request."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.config import Settings
from bot.db.engine import make_engine
from bot.slack.home.keys import BlocksKeyCheck
from bot.slack.home.listeners import AppHome, Visitor
from bot.slack.home.tab import HomeTab, Place
from bot.slack.home.view import UNREADABLE

SETTINGS = Settings(
    slack_bot_token="xoxb-x", slack_signing_secret="s", blocks_api_key="k", admin_users=("UADMIN",)
)


class FakeClient:
    """The Web API calls the listeners make, recorded."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.opened: list[dict[str, Any]] = []

    def users_info(self, user: str) -> SimpleNamespace:
        return SimpleNamespace(data={"ok": True, "user": {"id": user, "name": user.lower()}})

    def views_publish(self, user_id: str, view: dict[str, Any]) -> None:
        self.published.append(view)

    def views_open(self, trigger_id: str, view: dict[str, Any]) -> None:
        self.opened.append(view)


@pytest.fixture
def away(tmp_path: Path) -> Engine:
    """A database that cannot be reached (its directory does not exist)."""
    return make_engine(f"sqlite:///{tmp_path / 'gone' / 'bot.db'}")


def home_of(engine: Engine) -> tuple[AppHome, FakeClient, Visitor]:
    client = FakeClient()
    home = AppHome(
        HomeTab(engine, SETTINGS), check=BlocksKeyCheck("http://blocks.invalid"), includes=lambda t, e: True
    )
    return home, client, Visitor(cast(WebClient, client), Place("T1", None), "UADMIN")


def test_the_tab_is_published_while_the_database_is_away(away: Engine) -> None:
    home, client, who = home_of(away)
    home.publish(who)
    (view,) = client.published
    text = str(view)
    assert UNREADABLE in text and "Blocks coding agents" in text, "the how-to, and why the rest is missing"


def test_the_defaults_form_says_on_the_tab_that_it_cannot_be_read(away: Engine) -> None:
    home, client, who = home_of(away)
    home.open_defaults_form(who, "trigger")
    assert client.opened == []
    assert "cannot be read right now" in str(client.published[-1])


def test_a_defaults_form_submitted_while_the_database_is_away_is_not_saved_and_says_so(away: Engine) -> None:
    home, _, who = home_of(away)
    view: dict[str, Any] = {"state": {"values": {}}}
    assert home.save_defaults(who, view) == {"agent": "Not saved (the database is away): try again."}
