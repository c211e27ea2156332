"""The bot as real processes (`python -m bot serve`), for the crash and replica tests.

A rig runs either in single-token mode (SLACK_BOT_TOKEN and BLOCKS_API_KEY, one workspace) or in OAuth
mode with several workspaces installed through the bot's own pages, each with its own Blocks key (`keys`
names them); `assert_workspaces_kept_apart` then checks that no Slack call or Blocks request of one
workspace went out with another's token or key.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.db.engine import make_engine
from bot.oauth.workspace_keys import WorkspaceKeys
from bot.secrets_at_rest import Vault
from bot.sim.blocks import BlocksSimulator
from bot.sim.events import Delivery, EventSender, envelope, message_event
from bot.sim.process import ROOT, BotProcess, free_port
from bot.sim.slack import BOT_USER_ID, TEAM_ID, SlackStub, StubMessage
from tests.conftest import CHANNEL, SIGNING_SECRET

MENTION = f"<@{BOT_USER_ID}>"
# OAuth mode: the workspaces installed, each with its own Blocks key, of its own Blocks workspace (the
# simulator keeps each Blocks workspace's sessions to the keys of that workspace).
TEAM_KEYS = {"TALPHA": "key-alpha", "TBETA": "key-beta"}
BLOCKS_WORKSPACES = {"key-alpha": "blocks-alpha", "key-beta": "blocks-beta"}
HEALTHY_SECONDS = 60.0
_SESSION_IN_PATH = re.compile(r"^/rest/v1/sessions/([^/]+)")


@dataclass
class CrashRig:
    blocks: BlocksSimulator
    slack: SlackStub
    env: dict[str, str]
    tmp: Path
    started: list[BotProcess]
    # OAuth mode: each workspace to install and the Blocks key it connects. Empty: single-token mode.
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def teams(self) -> list[str]:
        return list(self.keys)

    def start(self, failpoint: str = "", command: str = "serve", env: Mapping[str, str] = {}) -> BotProcess:
        """`python -m bot <command>`, with `env` besides the rig's: serve and web are returned healthy, a
        worker as soon as it runs."""
        return self.start_many(1, failpoint, command, env)[0]

    def start_many(
        self, count: int, failpoint: str = "", command: str = "serve", env: Mapping[str, str] = {}
    ) -> list[BotProcess]:
        """`count` processes started at once, as replicas are deployed (their migrations take turns under
        the database's lock), so that they come up in the time one does."""
        ports: set[int] = set()
        while len(ports) < count:  # none of them listens yet: the same free port could come up twice
            ports.add(free_port())
        bots = []
        for port in sorted(ports):
            log = self.tmp / f"bot-{len(self.started)}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "bot", command],
                    cwd=ROOT,
                    env={**self.env, **env, "BLOCKS_SLACK_FAILPOINTS": failpoint, "PORT": str(port)},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            bot = BotProcess(process, port, log)
            self.started.append(bot)
            bots.append(bot)
        if command != "worker":
            for bot in bots:
                # BotProcess.spawn's 20 s is short on two shared cores while another test runs three bots.
                bot.wait_healthy(timeout=HEALTHY_SECONDS)
        return bots

    def install(self, bot: BotProcess) -> None:
        """Every workspace of `keys` installs the app through `bot`'s pages, then connects its key."""
        # Slack sends the installer back to the redirect URL configured for the app: this process's.
        self.slack.oauth.redirect_uri = f"{bot.url}/slack/oauth_redirect"
        for team in self.keys:
            done = install_through_pages(bot.url, team)
            assert done.status_code == 200, done.text
        # Keys are connected in App Home or with `blocks-slack workspaces`; both store them like this.
        engine = make_engine(self.env["DATABASE_URL"])
        try:
            stored = WorkspaceKeys(engine, Vault.from_env_value(self.env["BLOCKS_SLACK_ENCRYPTION_KEY"]))
            for team, key in self.keys.items():
                stored.add(team, None, key, "UADMIN")
        finally:
            engine.dispose()

    def say(
        self,
        bot: BotProcess,
        user: str,
        text: str,
        thread: StubMessage | None = None,
        *,
        team: str = TEAM_ID,
        channel: str = CHANNEL,
    ) -> StubMessage:
        message = self.slack.human_message(channel, user, text, thread.ts if thread else None, team=team)
        sender = EventSender(bot.url, SIGNING_SECRET)
        try:
            deliver(sender, message, mention=MENTION in text)
        except httpx.HTTPError:
            pass  # the bot killed itself before answering the second delivery (the first was recorded)
        finally:
            sender.close()
        return message

    def wait(self, condition: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                logs = "\n".join(b.log.read_text()[-2000:] for b in self.started)
                raise AssertionError(f"timed out waiting for {what}\n{logs}")
            time.sleep(0.05)


def team_channel(team: str, number: int) -> str:
    """A channel of `team`'s: its id names the team, so that each Slack call can be told apart."""
    return f"C{team}{number}"


def deliver(sender: EventSender, message: StubMessage, *, mention: bool) -> list[Delivery]:
    """Deliver a person's channel message the way Slack does (as `deliver_message`), from the workspace
    of its author: `app_mention` too when it mentions the bot, then `message`."""
    kinds = ["app_mention", "message"] if mention else ["message"]
    deliveries = []
    for kind in kinds:
        event = message_event(
            channel=message.channel,
            user=message.user,
            text=message.text,
            ts=message.ts,
            thread_ts=message.thread_ts,
            kind=kind,
            team_id=message.team,
        )
        deliveries.append(sender.send(envelope(event, team_id=message.team)))
    return deliveries


def install_through_pages(url: str, team: str) -> httpx.Response:
    """An admin of `team` opens the bot's install page, clicks Add to Slack, allows, and comes back."""
    with httpx.Client(timeout=10) as browser:
        page = browser.get(f"{url}/slack/install")
        assert page.status_code == 200, page.text
        link = re.search(r'href="([^"]*oauth/v2/authorize[^"]*)"', page.text)
        assert link is not None, page.text
        allowed = browser.get(link.group(1).replace("&amp;", "&") + f"&team={team}")
        assert allowed.status_code == 302, allowed.text
        # Bolt's state cookie is Secure (Slack wants https): over loopback http, hand it on ourselves.
        cookie = page.headers["set-cookie"].split(";")[0]
        return browser.get(allowed.headers["location"], headers={"cookie": cookie})


def assert_workspaces_kept_apart(rig: CrashRig, asked: Iterable[StubMessage]) -> None:
    """No workspace's Slack call went out with another's token, nor its Blocks request with another's
    key: each channel's calls used only tokens Slack issued to the channel's workspace, every Blocks
    request used a connected key, a session was only ever asked for with keys of the Blocks workspace
    that created it, and each question's session was created with its own workspace's key."""
    issued = rig.slack.oauth.tokens
    for team in rig.teams:
        used = {c["token"] for c in rig.slack.calls if c["params"].get("channel", "").startswith(f"C{team}")}
        assert used, f"no Slack call in {team}'s channels"
        owners = {issued[t].team_id if t in issued else None for t in used}
        assert owners == {team}, f"{team}'s channels were written with tokens of {owners}"
    # Every other call too (users.info and the like name no channel). The authorize page is no API call
    # (no token); oauth.v2.access is authenticated by the app's client id and secret.
    tokens = {
        c["token"] for c in rig.slack.calls if c["method"] not in ("oauth.v2.authorize", "oauth.v2.access")
    }
    assert all(t in issued for t in tokens), f"tokens Slack never issued: {tokens - set(issued)}"

    connected = set(rig.keys.values())
    for entry in rig.blocks.log:
        assert entry["key"] in connected, entry
        found = _SESSION_IN_PATH.match(entry["path"])
        if found and found.group(1) in rig.blocks.sessions:
            owner = rig.blocks.sessions[found.group(1)].workspace
            assert owner == BLOCKS_WORKSPACES[entry["key"]], f"{entry} asked for a session of {owner}"
    first_messages = {
        m["session_id"]: m["message"]
        for m in reversed(rig.blocks.snapshot()["user_messages"])  # the first of each session wins
    }
    for message in asked:
        quoted = message.text.split("> ", 1)[-1]
        created = [sid for sid, sent in first_messages.items() if sent.endswith(quoted)]
        workspaces = {rig.blocks.sessions[sid].workspace for sid in created}
        expected = BLOCKS_WORKSPACES[rig.keys[message.team]]
        assert workspaces <= {expected}, f"{quoted!r} of {message.team} started sessions in {workspaces}"
