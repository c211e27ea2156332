"""App Home over real HTTP, installed from Slack: an admin connects the workspace's Blocks key in a modal,
the key is checked against the Blocks simulator first (a refused key, Blocks unreachable and Blocks too
slow each say so), stored encrypted, used by the workspace's conversations, removable, and never shown
back: no log record, no Slack call and no answer to Slack carries it."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.blocks.keys import key_hash, key_label
from bot.chat import send_interaction
from bot.oauth.workspace_keys import WorkspaceKeys
from bot.secrets_at_rest import Vault
from bot.service import build
from bot.sim.blocks import BlocksSimulator
from bot.sim.events import EventSender, envelope
from bot.sim.process import free_port
from bot.sim.slack import SlackStub
from bot.slack import messages
from bot.slack.home import ACTION_CONNECT, ACTION_REMOVE, KEY_BLOCK, KEY_INPUT, ONLY_ADMINS, VIEW_CONNECT
from tests.conftest import SIGNING_SECRET, Rig, rig_settings
from tests.e2e.test_installs import ENCRYPTION_KEY, Installs

TEAM = "TALPHA"
ADMIN, MEMBER, LISTED = "UALICE", "UBOB", "UCAROL"  # a Slack admin, a member, one of ADMIN_USERS
# Keys nobody could mistake for anything else in a log line or a recorded call.
GOOD = "blk-good-" + secrets.token_hex(12)
BAD = "blk-bad-" + secrets.token_hex(12)


@dataclass
class Home:
    installs: Installs
    keys: WorkspaceKeys
    answers: list[str] = field(default_factory=list)  # every body the bot answered an interaction with

    @property
    def slack(self) -> SlackStub:
        return self.installs.slack

    def open_tab(self, user: str) -> dict[str, Any]:
        """The user opens the bot's Home tab; returns the view the bot published for them."""
        published = len(self.slack.calls_to("views.publish"))
        event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}
        assert self.installs.sender.send(envelope(event, team_id=TEAM)).status == 200
        assert len(self.slack.calls_to("views.publish")) == published + 1, "published before the ack"
        return self.slack.home_views[user]

    def press(self, user: str, action_id: str, value: str | None = None, *, trigger: str = "") -> None:
        home = self.slack.home_views.get(user, {"id": "V0", "type": "home", "blocks": []})
        action: dict[str, Any] = {"type": "button", "action_id": action_id, "block_id": "b", "action_ts": "1"}
        if value is not None:
            action["value"] = value
        payload = {
            **_interaction("block_actions", user, trigger or self.slack.new_trigger()),
            "container": {"type": "view", "view_id": home["id"]},
            "view": home,
            "actions": [action],
        }
        self._send(payload)

    def submit(self, user: str, key: str) -> dict[str, Any] | None:
        """The user types `key` into the modal and submits it; the bot's answer (None: it closed)."""
        modal = next((v for v in reversed(self.slack.opened_views)), {"id": "V1", "blocks": []})
        state = {"values": {KEY_BLOCK: {KEY_INPUT: {"type": "plain_text_input", "value": key}}}}
        view = {**modal, "type": "modal", "callback_id": VIEW_CONNECT, "state": state}
        payload = {**_interaction("view_submission", user, self.slack.new_trigger()), "view": view}
        started = time.monotonic()
        body = self._send(payload)
        assert time.monotonic() - started < 3.0, "answered within Slack's 3 seconds"
        return json.loads(body) if body else None

    def _send(self, payload: dict[str, Any]) -> str:
        response = send_interaction(self.installs.sender, payload)
        assert response.status_code == 200, response.text
        self.answers.append(response.text)
        return response.text

    def saved(self) -> list[str]:
        return [k.key_hash for k in self.keys.list(TEAM, None)]

    def assert_never_shown(self, key: str, caplog: pytest.LogCaptureFixture) -> None:
        logged = [r for r in caplog.records if key in r.getMessage() or key in str(r.args)]
        assert not logged, [r.getMessage() for r in logged]
        calls = [c["method"] for c in self.slack.calls if key in json.dumps(c["params"])]
        assert not calls, calls
        assert not any(key in answer for answer in self.answers)


def _interaction(kind: str, user: str, trigger_id: str) -> dict[str, Any]:
    return {
        "type": kind,
        "team": {"id": TEAM, "domain": TEAM.lower()},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
        "api_app_id": "A0SIM",
        "token": "verification-token-unused",
        "trigger_id": trigger_id,
        "enterprise": None,
        "is_enterprise_install": False,
    }


def _texts(view: dict[str, Any]) -> str:
    """Every text of a view, in one string."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            found.extend(v for k, v in node.items() if k == "text" and isinstance(v, str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(view.get("blocks"))
    return "\n".join(found)


def _action_ids(view: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    for block in view.get("blocks", []):
        elements = [*block.get("elements", []), *([block["accessory"]] if "accessory" in block else [])]
        ids += [e["action_id"] for e in elements if isinstance(e, dict) and "action_id" in e]
    return ids


@pytest.fixture
def start_home(
    database_url: str,
    blocks_sim: tuple[BlocksSimulator, str],
    slack_stub: tuple[SlackStub, str],
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Callable[..., Home]]:
    # Everything the process logs, down to DEBUG, is searched for the key.
    caplog.set_level(logging.DEBUG)
    started: list[Home] = []
    blocks, slack = blocks_sim[0], slack_stub[0]
    slack.oauth.add_workspace(TEAM)
    slack.admins = {ADMIN}

    def start(blocks_url: str | None = None) -> Home:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        slack.oauth.redirect_uri = f"{url}/slack/oauth_redirect"
        settings = replace(
            rig_settings(blocks_url or blocks_sim[1], slack_stub[1], database_url),
            slack_bot_token="",
            blocks_api_key="",  # no fallback: the workspace has only what App Home connects
            slack_client_id=slack.oauth.client_id,
            slack_client_secret=slack.oauth.client_secret,
            slack_authorize_url=slack_stub[1] + "/oauth/v2/authorize",
            encryption_key=ENCRYPTION_KEY,
            admin_users=(LISTED,),
            port=port,
        )
        service = build(settings, "serve", host="127.0.0.1")
        service.start()
        installs = Installs(blocks, slack, service, EventSender(url, SIGNING_SECRET), url)
        home = Home(installs, WorkspaceKeys(service.engine, Vault.from_env_value(ENCRYPTION_KEY)))
        started.append(home)
        assert installs.install(TEAM).status_code == 200
        return home

    yield start
    for home in started:
        home.installs.sender.close()
        home.installs.service.stop()


def test_an_admin_connects_a_key_that_is_stored_encrypted_and_used_by_conversations(
    start_home: Callable[..., Home], caplog: pytest.LogCaptureFixture
) -> None:
    home = start_home()
    tab = home.open_tab(ADMIN)
    assert ACTION_CONNECT in _action_ids(tab) and "No Blocks key is connected" in _texts(tab)
    publish = home.slack.calls_to("views.publish")[-1]
    assert publish["token"].startswith(f"xoxb-{TEAM}-"), "the workspace's own token"
    member = home.open_tab(MEMBER)
    assert not _action_ids(member) and "Ask a workspace admin" in _texts(member)

    home.press(ADMIN, ACTION_CONNECT)
    assert home.slack.opened_views[-1]["callback_id"] == VIEW_CONNECT
    assert home.submit(ADMIN, f"  {GOOD}\n") is None, "saved: the modal closes"
    assert [k.added_by for k in home.keys.list(TEAM, None)] == [ADMIN]
    assert home.keys.keys(TEAM, None) == (GOOD,)
    label = key_label(key_hash(GOOD))
    home.installs.wait(lambda: label in _texts(home.slack.home_views[ADMIN]), "the home with the label")
    tab = home.slack.home_views[ADMIN]
    assert "Connected key" in _texts(tab) and ACTION_REMOVE in _action_ids(tab)
    with home.installs.service.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM workspace_keys")).all()
    assert len(rows) == 1 and GOOD not in repr(rows), "stored encrypted"
    assert "Blocks is connected" in _texts(home.open_tab(MEMBER))

    asked = home.installs.mention(TEAM, "CTALPHA1", "hello with our own key")
    home.installs.wait(lambda: messages.DONE in asked.reactions, "the answer")
    used = {
        entry["key"] for entry in home.installs.blocks.log if entry["path"].startswith("/rest/v1/sessions")
    }
    assert used == {GOOD}, "the check and the conversation, with the key App Home connected"
    home.assert_never_shown(GOOD, caplog)


def test_a_refused_key_is_named_in_the_modal_and_nothing_is_saved(
    start_home: Callable[..., Home], caplog: pytest.LogCaptureFixture
) -> None:
    home = start_home()
    home.installs.blocks.config.api_keys = [GOOD]
    home.press(ADMIN, ACTION_CONNECT)
    answer = home.submit(ADMIN, BAD)
    assert answer is not None and answer["response_action"] == "errors", answer
    assert "Blocks refused this key (403)" in answer["errors"][KEY_BLOCK]
    assert home.saved() == []
    assert home.submit(ADMIN, "two words") is not None, "not a key: not even sent to Blocks"
    assert [e["key"] for e in home.installs.blocks.log] == [BAD]
    home.assert_never_shown(BAD, caplog)


@pytest.mark.parametrize("trouble", ["closed port", "server errors", "no answer"])
def test_blocks_unreachable_or_slow_is_told_apart_from_a_refused_key(
    start_home: Callable[..., Home], caplog: pytest.LogCaptureFixture, trouble: str
) -> None:
    home = start_home(f"http://127.0.0.1:{free_port()}" if trouble == "closed port" else None)
    blocks = home.installs.blocks
    if trouble == "server errors":
        blocks.inject(method="GET", path="/rest/v1/sessions/", status=503, count=5)
    if trouble == "no answer":
        blocks.inject(method="GET", path="/rest/v1/sessions/", hang=4.0, count=5)
    home.press(ADMIN, ACTION_CONNECT)
    answer = home.submit(ADMIN, GOOD)
    assert answer is not None and answer["response_action"] == "errors", answer
    told = answer["errors"][KEY_BLOCK]
    expected = "did not answer in time" if trouble == "no answer" else "cannot be reached"
    assert expected in told and "try again" in told and "refused" not in told, told
    assert home.saved() == []
    home.assert_never_shown(GOOD, caplog)


def test_only_admins_connect_and_remove_keys(
    start_home: Callable[..., Home], caplog: pytest.LogCaptureFixture
) -> None:
    home = start_home()
    answer = home.submit(MEMBER, GOOD)
    assert answer is not None and answer["errors"][KEY_BLOCK] == ONLY_ADMINS
    assert home.saved() == [] and not home.installs.blocks.log, "refused before Blocks is asked"
    opened = len(home.slack.opened_views)
    home.press(MEMBER, ACTION_CONNECT)
    assert len(home.slack.opened_views) == opened, "no modal for a member"
    assert ONLY_ADMINS in _texts(home.slack.home_views[MEMBER])

    listed = home.open_tab(LISTED)
    assert ACTION_CONNECT in _action_ids(listed), "ADMIN_USERS are admins here"
    home.press(LISTED, ACTION_CONNECT)
    assert home.submit(LISTED, GOOD) is None
    hashed = key_hash(GOOD)
    assert home.saved() == [hashed]

    home.press(MEMBER, ACTION_REMOVE, hashed)
    assert home.saved() == [hashed], "a member cannot remove it"
    home.slack.admins.discard(ADMIN)
    home.press(ADMIN, ACTION_REMOVE, hashed)
    assert home.saved() == [hashed], "nor can an admin who no longer is one"
    home.slack.admins.add(ADMIN)
    home.press(ADMIN, ACTION_REMOVE, hashed)
    assert home.saved() == []
    tab = home.slack.home_views[ADMIN]
    assert f"Removed key `{key_label(hashed)}`" in _texts(tab) and ACTION_REMOVE not in _action_ids(tab)
    home.assert_never_shown(GOOD, caplog)


def test_a_modal_whose_trigger_expired_is_answered_on_the_tab(start_home: Callable[..., Home]) -> None:
    home = start_home()
    trigger = home.slack.new_trigger()
    home.slack.expire_trigger(trigger)
    home.press(ADMIN, ACTION_CONNECT, trigger=trigger)
    assert not home.slack.opened_views
    assert [c["ok"] for c in home.slack.calls_to("views.open")] == [False]
    assert "did not open in time" in _texts(home.slack.home_views[ADMIN])


def test_installed_with_one_token_the_tab_says_keys_come_from_the_environment(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    event = {"type": "app_home_opened", "user": ADMIN, "channel": "DALICE", "tab": "home"}
    assert rig.sender.send(envelope(event)).status == 200
    tab = rig.slack.home_views[ADMIN]
    assert "BLOCKS_API_KEY" in _texts(tab) and not _action_ids(tab)
    messages_tab = {**event, "user": MEMBER, "tab": "messages"}
    assert rig.sender.send(envelope(messages_tab)).status == 200
    assert MEMBER not in rig.slack.home_views, "only the Home tab is drawn"


def test_the_stub_answers_views_calls_like_slack(slack_stub: tuple[SlackStub, str]) -> None:
    stub, url = slack_stub
    api = f"{url}/api/"
    headers = {"Authorization": "Bearer xoxb-stub-test"}
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []}
    trigger = stub.new_trigger()
    opened = httpx.post(api + "views.open", json={"trigger_id": trigger, "view": modal}, headers=headers)
    assert opened.json()["ok"] and stub.opened_views[0]["id"] == opened.json()["view"]["id"]
    again = httpx.post(api + "views.open", json={"trigger_id": trigger, "view": modal}, headers=headers)
    assert again.json()["error"] == "exchanged_trigger_id"
    update = {"view_id": opened.json()["view"]["id"], "view": {**modal, "blocks": [{"type": "divider"}]}}
    assert httpx.post(api + "views.update", json=update, headers=headers).json()["ok"]
    assert stub.opened_views[0]["blocks"] == [{"type": "divider"}]
    twice = [{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}]
    publish = {"user_id": "UALICE", "view": {"type": "home", "blocks": twice}}
    assert httpx.post(api + "views.publish", json=publish, headers=headers).json()["error"] == (
        "duplicate_block_id"
    )
