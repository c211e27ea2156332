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
from sqlalchemy import select, text

from bot.blocks.keys import key_hash, key_label
from bot.chat import send_interaction
from bot.db.models import PreferenceChange
from bot.oauth.workspace_keys import WorkspaceKeys
from bot.preferences import views
from bot.preferences.store import save_channel
from bot.secrets_at_rest import Vault
from bot.service import build
from bot.sim.blocks import BlocksSimulator
from bot.sim.events import EventSender, envelope
from bot.sim.process import free_port
from bot.sim.slack import BOT_USER_ID, TEAM_ID, SlackStub
from bot.slack import messages
from bot.slack.home import (
    ACTION_CONNECT,
    ACTION_DEFAULTS,
    ACTION_REMOVE,
    KEY_BLOCK,
    KEY_INPUT,
    ONLY_ADMINS,
    ONLY_ADMINS_DEFAULTS,
    VIEW_CONNECT,
)
from tests.conftest import SIGNING_SECRET, Rig, rig_settings
from tests.e2e.test_installs import ENCRYPTION_KEY, Installs

TEAM = "TALPHA"
MENTION = f"<@{BOT_USER_ID}>"
ADMIN, MEMBER, LISTED = "UALICE", "UBOB", "UCAROL"  # a Slack admin, a member, one of ADMIN_USERS
# Keys nobody could mistake for anything else in a log line or a recorded call.
GOOD = "blk-good-" + secrets.token_hex(12)
BAD = "blk-bad-" + secrets.token_hex(12)


def open_tab(sender: EventSender, slack: SlackStub, user: str, *, team: str = TEAM_ID) -> dict[str, Any]:
    """The user opens the bot's Home tab; returns the view the bot published for them (before the ack)."""
    published = len(_publishes(slack, user))
    event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}
    assert sender.send(envelope(event, team_id=team)).status == 200
    assert len(_publishes(slack, user)) > published, "published before the ack"
    return slack.home_views[user]


def press(
    sender: EventSender,
    slack: SlackStub,
    user: str,
    action_id: str,
    value: str | None = None,
    *,
    team: str = TEAM_ID,
    trigger: str = "",
) -> str:
    """The user presses a button of their tab; the bot's answer."""
    home = slack.home_views.get(user, {"id": "V0", "type": "home", "blocks": []})
    action: dict[str, Any] = {"type": "button", "action_id": action_id, "block_id": "b", "action_ts": "1"}
    if value is not None:
        action["value"] = value
    payload = {
        **interaction("block_actions", user, trigger or slack.new_trigger(), team=team),
        "container": {"type": "view", "view_id": home["id"]},
        "view": home,
        "actions": [action],
    }
    return _send(sender, payload)


def submit_view(
    sender: EventSender, slack: SlackStub, user: str, view: dict[str, Any], *, team: str = TEAM_ID
) -> dict[str, Any] | None:
    """The user submits `view` (a modal with its state); the bot's answer (None: it closed)."""
    payload = {**interaction("view_submission", user, slack.new_trigger(), team=team), "view": view}
    started = time.monotonic()
    body = _send(sender, payload)
    assert time.monotonic() - started < 3.0, "answered within Slack's 3 seconds"
    return json.loads(body) if body else None


def defaults_form(
    modal: dict[str, Any],
    choices: dict[str, str],
    *,
    members: bool | None = None,
    prompts: str | None = None,
) -> dict[str, Any]:
    """The workspace defaults modal with `choices` picked (name → option value), the members' checkbox
    and the prompts as given (else as the modal showed them)."""
    values: dict[str, Any] = {}
    for block in modal["blocks"]:
        name, element = block.get("block_id"), block.get("element") or {}
        if element.get("type") == "static_select":
            picked = choices.get(name, element["initial_option"]["value"])
            option = next(o for o in element["options"] if o["value"] == picked)
            values[name] = {views.SELECT: {"type": "static_select", "selected_option": option}}
        elif element.get("type") == "checkboxes":
            on = bool(element.get("initial_options")) if members is None else members
            values[name] = {
                views.SELECT: {"type": "checkboxes", "selected_options": element["options"] if on else []}
            }
        elif name == views.PROMPTS_BLOCK:
            text = element.get("initial_value", "") if prompts is None else prompts
            values[name] = {views.PROMPTS_INPUT: {"type": "plain_text_input", "value": text or None}}
        elif name == views.CUSTOM_AGENT_BLOCK:
            values[name] = {
                views.CUSTOM_AGENT_INPUT: {"type": "plain_text_input", "value": element.get("initial_value")}
            }
    return {**modal, "type": "modal", "callback_id": views.VIEW_WORKSPACE, "state": {"values": values}}


def _send(sender: EventSender, payload: dict[str, Any]) -> str:
    response = send_interaction(sender, payload)
    assert response.status_code == 200, response.text
    return response.text


def _publishes(slack: SlackStub, user: str) -> list[dict[str, Any]]:
    return [c for c in slack.calls_to("views.publish") if c["params"].get("user_id") == user]


@dataclass
class Home:
    installs: Installs
    keys: WorkspaceKeys
    answers: list[str] = field(default_factory=list)  # every body the bot answered an interaction with

    @property
    def slack(self) -> SlackStub:
        return self.installs.slack

    def open_tab(self, user: str) -> dict[str, Any]:
        return open_tab(self.installs.sender, self.slack, user, team=TEAM)

    def press(self, user: str, action_id: str, value: str | None = None, *, trigger: str = "") -> None:
        self.answers.append(
            press(self.installs.sender, self.slack, user, action_id, value, team=TEAM, trigger=trigger)
        )

    def submit(self, user: str, key: str) -> dict[str, Any] | None:
        """The user types `key` into the modal and submits it; the bot's answer (None: it closed)."""
        modal = next((v for v in reversed(self.slack.opened_views)), {"id": "V1", "blocks": []})
        state = {"values": {KEY_BLOCK: {KEY_INPUT: {"type": "plain_text_input", "value": key}}}}
        view = {**modal, "type": "modal", "callback_id": VIEW_CONNECT, "state": state}
        answer = submit_view(self.installs.sender, self.slack, user, view, team=TEAM)
        self.answers.append(json.dumps(answer) if answer else "")
        return answer

    def saved(self) -> list[str]:
        return [k.key_hash for k in self.keys.list(TEAM, None)]

    def assert_never_shown(self, key: str, caplog: pytest.LogCaptureFixture) -> None:
        logged = [r for r in caplog.records if key in r.getMessage() or key in str(r.args)]
        assert not logged, [r.getMessage() for r in logged]
        calls = [c["method"] for c in self.slack.calls if key in json.dumps(c["params"])]
        assert not calls, calls
        assert not any(key in answer for answer in self.answers)


def interaction(kind: str, user: str, trigger_id: str, *, team: str = TEAM_ID) -> dict[str, Any]:
    return {
        "type": kind,
        "team": {"id": team, "domain": team.lower()},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
        "api_app_id": "A0SIM",
        "token": "verification-token-unused",
        "trigger_id": trigger_id,
        "enterprise": None,
        "is_enterprise_install": False,
    }


def texts(view: dict[str, Any]) -> str:
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


def action_ids(view: dict[str, Any]) -> list[str]:
    """The action ids of the view's buttons that do something (link buttons only open their link)."""
    ids: list[str] = []
    for block in view.get("blocks", []):
        elements = [*block.get("elements", []), *([block["accessory"]] if "accessory" in block else [])]
        ids += [
            e["action_id"] for e in elements if isinstance(e, dict) and "action_id" in e and "url" not in e
        ]
    return ids


def links(view: dict[str, Any]) -> list[tuple[str, str]]:
    """The view's link buttons: (what they say, where they go)."""
    found: list[tuple[str, str]] = []
    for block in view.get("blocks", []):
        elements = [*block.get("elements", []), *([block["accessory"]] if "accessory" in block else [])]
        found += [(e["text"]["text"], e["url"]) for e in elements if isinstance(e, dict) and "url" in e]
    return found


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
    assert ACTION_CONNECT in action_ids(tab) and "No Blocks key is connected" in texts(tab)
    publish = home.slack.calls_to("views.publish")[-1]
    assert publish["token"].startswith(f"xoxb-{TEAM}-"), "the workspace's own token"
    member = home.open_tab(MEMBER)
    assert not action_ids(member) and "Ask a workspace admin" in texts(member)

    home.press(ADMIN, ACTION_CONNECT)
    assert home.slack.opened_views[-1]["callback_id"] == VIEW_CONNECT
    assert home.submit(ADMIN, f"  {GOOD}\n") is None, "saved: the modal closes"
    assert [k.added_by for k in home.keys.list(TEAM, None)] == [ADMIN]
    assert home.keys.keys(TEAM, None) == (GOOD,)
    label = key_label(key_hash(GOOD))
    home.installs.wait(lambda: label in texts(home.slack.home_views[ADMIN]), "the home with the label")
    tab = home.slack.home_views[ADMIN]
    assert "Connected key" in texts(tab) and ACTION_REMOVE in action_ids(tab)
    with home.installs.service.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM workspace_keys")).all()
    assert len(rows) == 1 and GOOD not in repr(rows), "stored encrypted"
    assert "Blocks is connected" in texts(home.open_tab(MEMBER))

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
    assert ONLY_ADMINS in texts(home.slack.home_views[MEMBER])

    listed = home.open_tab(LISTED)
    assert ACTION_CONNECT in action_ids(listed), "ADMIN_USERS are admins here"
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
    assert f"Removed key `{key_label(hashed)}`" in texts(tab) and ACTION_REMOVE not in action_ids(tab)
    home.assert_never_shown(GOOD, caplog)


def test_a_modal_whose_trigger_expired_is_answered_on_the_tab(start_home: Callable[..., Home]) -> None:
    home = start_home()
    trigger = home.slack.new_trigger()
    home.slack.expire_trigger(trigger)
    home.press(ADMIN, ACTION_CONNECT, trigger=trigger)
    assert not home.slack.opened_views
    assert [c["ok"] for c in home.slack.calls_to("views.open")] == [False]
    assert "did not open in time" in texts(home.slack.home_views[ADMIN])


def test_installed_with_one_token_the_tab_says_keys_come_from_the_environment(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    event = {"type": "app_home_opened", "user": ADMIN, "channel": "DALICE", "tab": "home"}
    assert rig.sender.send(envelope(event)).status == 200
    tab = rig.slack.home_views[ADMIN]
    assert "BLOCKS_API_KEY" in texts(tab) and not action_ids(tab)
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


# -- the workspace defaults --------------------------------------------------------------------------------

SLACK_ADMIN = "UADMIN"
OTHER_CHANNEL = "C0OTHER"


def _changes(rig: Rig) -> list[tuple[str | None, str, str, str | None]]:
    with rig.engine.connect() as conn:
        rows = conn.execute(
            select(
                PreferenceChange.channel_id,
                PreferenceChange.user_id,
                PreferenceChange.name,
                PreferenceChange.new_value,
            ).order_by(PreferenceChange.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_an_admin_sets_the_workspace_defaults_and_the_next_turn_of_a_channel_without_its_own_uses_them(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.slack.admins.add(SLACK_ADMIN)
    tab = open_tab(rig.sender, rig.slack, SLACK_ADMIN)
    assert ACTION_DEFAULTS in action_ids(tab), "an admin gets the form's button"
    assert "Default agent*: claude (deployment)" in texts(tab), "the defaults in force, and from where"
    member = open_tab(rig.sender, rig.slack, MEMBER)
    assert ACTION_DEFAULTS not in action_ids(member)
    assert "Default agent*: claude (deployment)" in texts(member), "everyone reads the defaults"

    press(rig.sender, rig.slack, SLACK_ADMIN, ACTION_DEFAULTS)
    modal = rig.slack.opened_views[-1]
    assert modal["callback_id"] == views.VIEW_WORKSPACE
    # A channel with its own choice keeps it.
    with rig.engine.begin() as conn:
        save_channel(
            conn,
            team_id=TEAM_ID,
            channel_id=OTHER_CHANNEL,
            user_id=SLACK_ADMIN,
            values={"agent": "gemini"},
            now=1.0,
        )
    form = defaults_form(modal, {"agent": "codex", "answers": "summary"}, members=True)
    assert submit_view(rig.sender, rig.slack, SLACK_ADMIN, form) is None, "saved: the modal closes"

    assert _changes(rig) == [
        (OTHER_CHANNEL, SLACK_ADMIN, "agent", "gemini"),
        (None, SLACK_ADMIN, "agent", "codex"),
        (None, SLACK_ADMIN, "answers", "summary"),
        (None, SLACK_ADMIN, "members_may_configure", "on"),
    ], "every change recorded: who, what (and when)"
    rig.wait(
        lambda: "Default agent*: codex\n" in texts(rig.slack.home_views[SLACK_ADMIN]), what="the redrawn tab"
    )
    assert "every member of the channel" in texts(rig.slack.home_views[SLACK_ADMIN])

    here = rig.say("UALICE", f"{MENTION} why is the build red? #long=5000")
    there = rig.say("UALICE", f"{MENTION} why is the build red?", channel=OTHER_CHANNEL)
    rig.wait_reaction(here)
    rig.wait_reaction(there)
    assert rig.agent_of(here) == "codex", "the workspace default"
    assert rig.agent_of(there) == "gemini", "the channel's own choice wins"
    assert messages.SUMMARY_NOTE in rig.answer_text(here), "the worker's choices too"


def test_only_admins_change_the_workspace_defaults(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(admin_users=(LISTED,))
    rig.slack.admins.add(SLACK_ADMIN)
    opened = len(rig.slack.opened_views)
    press(rig.sender, rig.slack, MEMBER, ACTION_DEFAULTS)
    assert len(rig.slack.opened_views) == opened, "no form for a member"
    assert ONLY_ADMINS_DEFAULTS in texts(rig.slack.home_views[MEMBER])

    press(rig.sender, rig.slack, SLACK_ADMIN, ACTION_DEFAULTS)
    form = defaults_form(rig.slack.opened_views[-1], {"agent": "codex"})
    answer = submit_view(rig.sender, rig.slack, MEMBER, form)
    assert answer == {"response_action": "errors", "errors": {"agent": ONLY_ADMINS_DEFAULTS}}
    rig.slack.admins.discard(SLACK_ADMIN)
    answer = submit_view(rig.sender, rig.slack, SLACK_ADMIN, form)
    assert answer is not None and answer["errors"] == {"agent": ONLY_ADMINS_DEFAULTS}, (
        "asked again at the save"
    )
    assert _changes(rig) == [], "nothing saved"

    assert submit_view(rig.sender, rig.slack, LISTED, form) is None, "ADMIN_USERS are admins here"
    assert _changes(rig) == [(None, LISTED, "agent", "codex")]


def test_a_defaults_form_with_mistakes_goes_back_to_the_admin(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.slack.admins.add(SLACK_ADMIN)
    press(rig.sender, rig.slack, SLACK_ADMIN, ACTION_DEFAULTS)
    form = defaults_form(rig.slack.opened_views[-1], {}, prompts="Fix a test | fix it\nno bar on this line")
    answer = submit_view(rig.sender, rig.slack, SLACK_ADMIN, form)
    assert answer is not None and set(answer["errors"]) == {views.PROMPTS_BLOCK}, answer
    assert _changes(rig) == []
    prompts = "Fix a test | Find the failing test and fix it."
    form = defaults_form(rig.slack.opened_views[-1], {}, prompts=prompts)
    assert submit_view(rig.sender, rig.slack, SLACK_ADMIN, form) is None
    press(rig.sender, rig.slack, SLACK_ADMIN, ACTION_DEFAULTS)
    shown = next(b for b in rig.slack.opened_views[-1]["blocks"] if b.get("block_id") == views.PROMPTS_BLOCK)
    assert shown["element"]["initial_value"] == prompts, "the form shows what was saved"


def test_a_defaults_form_whose_trigger_expired_is_answered_on_the_tab(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.slack.admins.add(SLACK_ADMIN)
    trigger = rig.slack.new_trigger()
    rig.slack.expire_trigger(trigger)
    press(rig.sender, rig.slack, SLACK_ADMIN, ACTION_DEFAULTS, trigger=trigger)
    assert not rig.slack.opened_views
    assert [c["ok"] for c in rig.slack.calls_to("views.open")] == [False]
    assert "did not open in time" in texts(rig.slack.home_views[SLACK_ADMIN])


def test_a_tab_slack_refuses_is_answered_200_and_drawn_at_the_next_visit(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.slack.inject("views.publish", "internal_error")
    event = {"type": "app_home_opened", "user": MEMBER, "channel": f"D{MEMBER}", "tab": "home"}
    assert rig.sender.send(envelope(event)).status == 200, "Slack is answered: a retry would not help"
    assert MEMBER not in rig.slack.home_views
    assert "No sessions yet" in texts(open_tab(rig.sender, rig.slack, MEMBER))
