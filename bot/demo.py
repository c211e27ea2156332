"""`blocks-slack demo`: the real bot, over real HTTP, against both simulators, through a short scripted
conversation (a mention answered with its result line and pull request, a follow-up, a reply queued while
the agent works and sent now, live progress with the agent's plan, a stop, a long answer), printed as the
threads would look in Slack. No Slack workspace, no Blocks key, no network beyond this machine."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bot.chat import block_actions_payload, find_buttons, send_interaction
from bot.config import Settings
from bot.service import Service, build
from bot.sim.blocks import BlocksSimulator, SimConfig
from bot.sim.events import EventSender
from bot.sim.slack import BOT_USER_ID, SlackStub, StubMessage
from bot.sim.wsgi import serve_in_thread
from bot.slack import controls, messages

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
            progress_edit_seconds=0.5,
            poll_first_seconds=1.0,
        )
        service = build(settings, "serve", host="127.0.0.1")
        service.start()
        sender = EventSender(f"http://127.0.0.1:{service.port}", SIGNING_SECRET)
        started = time.monotonic()
        try:
            out(f"blocks-slack demo: bot on port {service.port}; both simulators on loopback")
            out("(#delay=…, #long=… and #pr are simulator directives: how long the simulated agent works,")
            out(" how long its answer is, and that it opens a pull request)\n")
            first = _say(
                slack, sender, "UALICE", f"<@{BOT_USER_ID}> /codex why does the nightly build fail? #pr"
            )
            _wait_done(slack, first)
            out("alice's question, answered: the result line, the pull request, 👍/👎")
            out(render_thread(slack, slack.thread(CHANNEL, first.ts)))

            follow_up = _say(
                slack, sender, "UALICE", f"Can you fix it? #delay={20 * delay:g}", thread=first.ts
            )
            _wait(lambda: _shows(slack, follow_up, " step"), 30)
            queued = _say(slack, sender, "UBOB", "Also add a regression test, please.", thread=first.ts)
            notice = _wait_for_button(slack, first, controls.SEND_NOW)
            out("While the agent works on alice's follow-up, bob replies: queued 📥, with Send now")
            out(render_thread(slack, slack.thread(CHANNEL, first.ts)[-4:]))
            press_as(sender, notice, controls.SEND_NOW, "UBOB")
            _wait_done(slack, queued)
            out("bob pressed Send now: alice's follow-up is interrupted, and his reply went at once")
            out(render_thread(slack, slack.thread(CHANNEL, first.ts)[-5:]))

            report = _say(
                slack,
                sender,
                "UCAROL",
                f"<@{BOT_USER_ID}> write the full incident report #long=7000 #delay={4 * delay:g}",
            )
            _wait(lambda: _shows(slack, report, "☑"), 30)
            out("While the agent works on carol's request, her thread shows what it does, and its plan:")
            out(render_thread(slack, slack.thread(CHANNEL, report.ts)))

            refactor = _say(
                slack, sender, "UDAVE", f"<@{BOT_USER_ID}> refactor the billing module #delay=600"
            )
            placeholder = _wait_for_button(slack, refactor, controls.STOP)
            _wait(lambda: _shows(slack, refactor, "[View session]"), 30)
            press_as(sender, placeholder, controls.STOP, "UDAVE")
            _wait(lambda: bool(refactor.reactions.get(messages.STOPPED)), 30)
            out("dave pressed Stop: the agent was asked where it left things, and said so")
            out(render_thread(slack, slack.thread(CHANNEL, refactor.ts)))

            _wait_done(slack, report)
            _wait(lambda: _finished(service), 60)
            out("carol's report, when it is in (split across messages):")
            out(render_thread(slack, slack.thread(CHANNEL, report.ts)))
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
        labels = [f"[{b.label}]" for b in find_buttons([message])]
        if labels:
            lines.append(f"{indent}  " + " ".join(labels))
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


def _shows(slack: SlackStub, message: StubMessage, text: str) -> bool:
    """A bot message of the message's thread shows `text`."""
    thread = slack.thread(CHANNEL, message.thread_ts or message.ts)
    return any(text in m.markdown for m in thread if m.is_bot and m.ts > message.ts)


def _wait_for_button(slack: SlackStub, top: StubMessage, action_id: str) -> StubMessage:
    def found() -> StubMessage | None:
        thread = slack.thread(CHANNEL, top.ts)
        return next((m for m in thread if any(b.action_id == action_id for b in find_buttons([m]))), None)

    _wait(lambda: found() is not None, 30)
    message = found()
    assert message is not None
    return message


def press_as(sender: EventSender, message: StubMessage, action_id: str, user: str) -> None:
    """`user` presses the message's button, as Slack sends it."""
    button = next(b for b in find_buttons([message]) if b.action_id == action_id)
    payload = block_actions_payload(
        button, message, user=user, user_name=user.lower(), thread_ts=message.thread_ts
    )
    send_interaction(sender, payload).raise_for_status()


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
