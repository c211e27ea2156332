"""`blocks-slack demo`: the real bot, over real HTTP, against both simulators, through a short scripted
conversation (a mention, a follow-up, a reply queued while the agent works, a long answer), printed as the
threads would look in Slack. No Slack workspace, no Blocks key, no network beyond this machine."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bot.config import Settings
from bot.service import Service, build
from bot.sim.blocks import BlocksSimulator, SimConfig
from bot.sim.events import EventSender
from bot.sim.slack import BOT_USER_ID, SlackStub, StubMessage
from bot.sim.wsgi import serve_in_thread
from bot.slack import messages

SIGNING_SECRET = "demo-signing-secret"
CHANNEL = "C0DEMO"
_EMOJI = messages.GLYPHS


def demo_settings(*, blocks_url: str, slack_url: str, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "slack_bot_token": "xoxb-demo-token",
        "slack_signing_secret": SIGNING_SECRET,
        "blocks_api_key": "demo-blocks-key",
        "slack_api_url": slack_url + "/api/",
        "blocks_api_url": blocks_url,
        "database_url": database_url,
        "port": 0,
        "idle_poll_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def run_demo(*, fast: bool = False, out: Callable[[str], None] = print) -> int:
    delay = 1.0 if fast else 2.0
    blocks, slack = BlocksSimulator(SimConfig(answer_delay=delay)), SlackStub()
    blocks_server, slack_server = serve_in_thread(blocks), serve_in_thread(slack)
    with tempfile.TemporaryDirectory() as folder:
        settings = demo_settings(
            blocks_url=blocks_server.url,
            slack_url=slack_server.url,
            database_url=f"sqlite:///{Path(folder) / 'demo.db'}",
            late_answer_seconds=6 * delay,
        )
        service = build(settings, "serve", host="127.0.0.1")
        service.start()
        sender = EventSender(f"http://127.0.0.1:{service.port}", SIGNING_SECRET)
        started = time.monotonic()
        try:
            out(f"blocks-slack demo: bot on port {service.port}; both simulators on loopback")
            out("(#delay=… and #long=… are simulator directives: how long the simulated agent works, and how")
            out(" long its answer is)\n")
            first = _say(slack, sender, "UALICE", f"<@{BOT_USER_ID}> /codex why does the nightly build fail?")
            _wait_done(slack, first)
            follow_up = _say(
                slack, sender, "UALICE", f"Can you fix it? #delay={2 * delay:g}", thread=first.ts
            )
            _wait(lambda: bool(follow_up.reactions.get(messages.EYES)), 30)
            queued = _say(slack, sender, "UBOB", "Also add a regression test, please.", thread=first.ts)
            _wait(lambda: bool(queued.reactions.get(messages.INBOX)), 30)
            out(
                "bob replied while the agent was working on alice's follow-up: queued 📥, sent when it ends\n"
            )
            _wait_done(slack, follow_up)
            _wait(lambda: _finished(service), 60)
            report = _say(
                slack,
                sender,
                "UCAROL",
                f"<@{BOT_USER_ID}> write the full incident report #long=7000 #delay={4 * delay:g}",
            )
            _wait(lambda: "[View session]" in _last_bot_text(slack, report), 30)
            out("While the agent works on carol's request, her thread shows:")
            out(render_thread(slack, slack.thread(CHANNEL, report.ts)))
            _wait_done(slack, report)
            _wait(lambda: _finished(service), 60)
            out("When every answer is in:")
            for top in (first, report):
                out(render_thread(slack, slack.thread(CHANNEL, top.ts)))
            out(
                f"{len(slack.calls)} Slack calls, {len(blocks.log)} Blocks requests, "
                f"{time.monotonic() - started:.1f}s in all"
            )
        finally:
            sender.close()
            service.stop()
            blocks_server.stop()
            slack_server.stop()
    return 0


def render_thread(slack: SlackStub, thread: list[StubMessage]) -> str:
    lines = ["─" * 72]
    for index, message in enumerate(thread):
        who = slack.users.get(message.user, message.user)
        indent = "" if index == 0 else "    │ "
        marks = " ".join(_EMOJI.get(name, f":{name}:") for name, users in message.reactions.items() if users)
        edited = " (edited)" if message.edited else ""
        lines.append(f"{indent}{who}{edited}{'   ' + marks if marks else ''}")
        body = re.sub(
            r"<@(\w+)>",
            lambda m: "@" + slack.users.get(m.group(1), m.group(1)),
            message.markdown or message.text,
        )
        if len(body) > 700:
            body = body[:600].rstrip() + f"\n… [{len(body) - 600} more characters in this part]"
        lines.extend(f"{indent}  {line}" for line in body.splitlines())
    return "\n".join(lines) + "\n"


def _say(
    slack: SlackStub, sender: EventSender, user: str, text: str, thread: str | None = None
) -> StubMessage:
    message = slack.human_message(CHANNEL, user, text, thread)
    sender.deliver_message(
        channel=CHANNEL,
        user=user,
        text=text,
        ts=message.ts,
        thread_ts=thread,
        mention=f"<@{BOT_USER_ID}>" in text,
    )
    return message


def _last_bot_text(slack: SlackStub, top: StubMessage) -> str:
    replies = [m for m in slack.thread(CHANNEL, top.ts) if m.is_bot]
    return replies[-1].markdown if replies else ""


def _wait_done(slack: SlackStub, message: StubMessage, timeout: float = 60) -> None:
    _wait(lambda: bool(message.reactions.get(messages.DONE)), timeout)


def _finished(service: Service) -> bool:
    from sqlalchemy import select

    from bot.db.models import Turn

    with service.engine.connect() as conn:
        return conn.execute(select(Turn.id).where(Turn.next_run_at.is_not(None))).first() is None


def _wait(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the demo conversation did not complete in time")
        time.sleep(0.1)
