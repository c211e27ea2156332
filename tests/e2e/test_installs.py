"""Installed from Slack in several workspaces (OAuth mode), over real HTTP: each workspace installed
through the pages, each with its own Blocks key against one Blocks simulator that keeps each key's
sessions to itself; no request of one workspace ever goes out with the other's token or key; an
uninstall in the middle of a turn ends it without another Slack call and purges its texts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.db.models import InboundMessage, Turn
from bot.oauth.workspace_keys import WorkspaceKeys
from bot.secrets_at_rest import Vault
from bot.service import Service, build
from bot.sim.blocks import BlocksSimulator
from bot.sim.events import EventSender, envelope, message_event
from bot.sim.process import free_port
from bot.sim.slack import BOT_USER_ID, SlackStub, StubMessage
from bot.slack import messages
from tests.conftest import SIGNING_SECRET, rig_settings
from tests.e2e.processes import install_through_pages

MENTION = f"<@{BOT_USER_ID}>"
KEYS = {"TALPHA": "key-alpha", "TBETA": "key-beta"}
ENCRYPTION_KEY = Fernet.generate_key().decode()


@dataclass
class Installs:
    blocks: BlocksSimulator
    slack: SlackStub
    service: Service
    sender: EventSender
    url: str

    def install(self, team: str) -> httpx.Response:
        """An admin of `team` opens the install page, clicks Add to Slack, allows, and comes back."""
        return install_through_pages(self.url, team)

    def mention(self, team: str, channel: str, text: str) -> StubMessage:
        message = self.slack.human_message(channel, "UALICE", f"{MENTION} {text}", team=team)
        event = message_event(
            channel=channel, user="UALICE", text=message.text, ts=message.ts, kind="app_mention", team_id=team
        )
        assert self.sender.send(envelope(event, team_id=team)).status == 200
        return message

    def wait(self, condition: Callable[[], object], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)


@pytest.fixture
def installs(
    database_url: str,
    blocks_sim: tuple[BlocksSimulator, str],
    slack_stub: tuple[SlackStub, str],
    tmp_path: Path,
) -> Iterator[Installs]:
    blocks, slack = blocks_sim[0], slack_stub[0]
    blocks.config.key_workspaces = {"key-alpha": "blocks-alpha", "key-beta": "blocks-beta"}
    for team in (*KEYS, "TGAMMA"):
        slack.oauth.add_workspace(team)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    slack.oauth.redirect_uri = f"{url}/slack/oauth_redirect"
    settings = replace(
        rig_settings(blocks_sim[1], slack_stub[1], database_url),
        slack_bot_token="",
        blocks_api_key="",  # no fallback: a workspace without its own key has none
        slack_client_id=slack.oauth.client_id,
        slack_client_secret=slack.oauth.client_secret,
        slack_authorize_url=slack_stub[1] + "/oauth/v2/authorize",
        encryption_key=ENCRYPTION_KEY,
        port=port,
    )
    service = build(settings, "serve", host="127.0.0.1")
    service.start()
    keys = WorkspaceKeys(service.engine, Vault.from_env_value(ENCRYPTION_KEY))
    for team, key in KEYS.items():
        keys.add(team, None, key, "UADMIN")
    sender = EventSender(url, SIGNING_SECRET)
    yield Installs(blocks, slack, service, sender, url)
    sender.close()
    service.stop()


def _tokens_used(slack: SlackStub, team: str) -> set[str]:
    return {c["token"] for c in slack.calls if c["params"].get("channel", "").startswith(f"C{team}")}


def test_two_workspaces_installed_from_slack_each_use_their_own_token_and_key(installs: Installs) -> None:
    for team in KEYS:
        done = installs.install(team)
        assert done.status_code == 200, done.text
    alpha = installs.mention("TALPHA", "CTALPHA1", "first in alpha")
    beta = installs.mention("TBETA", "CTBETA1", "first in beta")
    installs.wait(
        lambda: messages.DONE in alpha.reactions and messages.DONE in beta.reactions, "both answers"
    )

    alpha_tokens, beta_tokens = _tokens_used(installs.slack, "TALPHA"), _tokens_used(installs.slack, "TBETA")
    assert alpha_tokens and all(t.startswith("xoxb-TALPHA-") for t in alpha_tokens), alpha_tokens
    assert beta_tokens and all(t.startswith("xoxb-TBETA-") for t in beta_tokens), beta_tokens
    keys_by_path: dict[str, set[str]] = {}
    for entry in installs.blocks.log:
        keys_by_path.setdefault(entry["path"], set()).add(entry["key"])
    assert {"key-alpha", "key-beta"} == {k for keys in keys_by_path.values() for k in keys}
    assert all(len(keys) == 1 for path, keys in keys_by_path.items() if path != "/rest/v1/sessions")


def test_a_workspace_without_a_key_is_told_who_can_connect_one(installs: Installs) -> None:
    assert installs.install("TGAMMA").status_code == 200
    message = installs.mention("TGAMMA", "CTGAMMA1", "hello")
    installs.wait(lambda: messages.FAILED in message.reactions, "the notice")
    replies = [m for m in installs.slack.thread("CTGAMMA1", message.ts) if m.is_bot]
    assert replies[-1].markdown.startswith("⚠️ No Blocks key is connected"), replies[-1].markdown
    assert not installs.blocks.sessions, "nothing reached Blocks"


def test_an_event_of_a_workspace_that_has_not_installed_the_app_is_ignored(installs: Installs) -> None:
    message = installs.mention("TALPHA", "CTALPHA2", "not installed yet")
    time.sleep(1.0)
    assert not message.reactions and not installs.blocks.sessions


def test_uninstall_while_a_turn_runs_ends_it_without_another_slack_call_and_purges_its_texts(
    installs: Installs,
) -> None:
    assert installs.install("TALPHA").status_code == 200
    message = installs.mention("TALPHA", "CTALPHA3", "a long job #delay=30")
    installs.wait(lambda: messages.EYES in message.reactions and installs.blocks.sessions, "the session")
    uninstall = {"type": "app_uninstalled"}
    assert installs.sender.send(envelope(uninstall, team_id="TALPHA")).status == 200
    # A worker step that was already inside its Slack call when the uninstall landed may finish that
    # one call (Slack itself refuses it with token_revoked; its commit then fails the turn's fence). No
    # step may start a new one: count from once such a step has had time to end.
    time.sleep(0.5)
    calls_after = len(installs.slack.calls)
    with installs.service.engine.connect() as conn:
        turn = conn.execute(select(Turn)).one()
        texts = conn.execute(select(InboundMessage.text)).scalars().all()
    assert turn.phase == "finished" and turn.outcome == "uninstalled" and turn.lease_token is None
    assert turn.submit_text is None and texts == [""], "texts purged"
    time.sleep(1.5)
    assert len(installs.slack.calls) == calls_after, "no further Slack call for that workspace"
    again = installs.mention("TALPHA", "CTALPHA4", "after the uninstall")
    time.sleep(0.5)
    assert not again.reactions, "not installed any more: ignored"


def test_a_rotating_token_is_refreshed_by_the_worker_before_it_is_used(installs: Installs) -> None:
    """Slack's tokens last hours when rotation is on; one that expires soon is refreshed first (the worker
    posts outside any request), and the old one is never used again."""
    installs.slack.oauth.token_rotation = True
    installs.slack.oauth.token_lifetime_seconds = 3600  # within the refresh margin: refreshed at once
    assert installs.install("TALPHA").status_code == 200
    installed = installs.slack.oauth.active_tokens("TALPHA")
    assert len(installed) == 1
    message = installs.mention("TALPHA", "CTALPHA5", "hello")
    installs.wait(lambda: messages.DONE in message.reactions, "the answer")
    used = _tokens_used(installs.slack, "TALPHA")
    assert used and installed[0] not in used, "the worker refreshed before posting"
    assert installed[0] not in installs.slack.oauth.active_tokens("TALPHA"), "the old token is gone"
