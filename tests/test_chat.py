"""`blocks-slack chat`: driven through a pseudo-terminal against the simulator, its pure renderer, its line
editor, and pressing a button (a signed `block_actions` interaction the bot acknowledges)."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.__main__ import CHAT_ENVIRONMENT
from bot.chat import ENVIRONMENT as CHAT_READS
from bot.chat import Chat, LineEditor, chat_settings, find_buttons, render_screen, render_thread
from bot.sim.slack import BOT_USER_ID, StubMessage
from bot.slack import messages
from tests.conftest import CHANNEL, Rig

ROOT = Path(__file__).resolve().parents[1]
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BLOCKS_", "DATABASE_", "DYNO"))}
USERS = {"UALICE": "alice", BOT_USER_ID: "blocks"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class PtyChat:
    """`python -m bot chat` on a pseudo-terminal of 100×40, read as a person would see it."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "chat"],
            cwd=ROOT,
            env={**ENV, "TERM": "xterm", **(env or {})},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,  # its own controlling terminal: this one
        )
        os.close(slave)
        self.output = b""

    @property
    def text(self) -> str:
        return _ANSI.sub("", self.output.decode("utf-8", errors="replace"))

    @property
    def screen(self) -> str:
        """The last frame drawn: each one starts by moving the cursor home."""
        raw = self.output.decode("utf-8", errors="replace")
        return _ANSI.sub("", raw.rsplit("\x1b[H", 1)[-1])

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def expect(self, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{self.screen}")
            self._read(0.1)

    def wait_exit(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        self._read(0.1)
        return self.process.wait(timeout=1)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                self.output += os.read(self.master, 65536)
            except OSError:  # EIO: the chat has closed the terminal, which stays "ready"
                time.sleep(timeout)


@pytest.fixture
def pty_chat() -> Iterator[Callable[..., PtyChat]]:
    started: list[PtyChat] = []

    def start(env: dict[str, str] | None = None) -> PtyChat:
        started.append(PtyChat(env))
        return started[-1]

    yield start
    for chat in started:
        chat.close()


def test_a_conversation_in_the_terminal(pty_chat: Callable[..., PtyChat]) -> None:
    chat = pty_chat()
    chat.expect(lambda: "/help lists the commands" in chat.screen, "the chat to start")

    chat.type("why does the build fail? #delay=1")
    chat.expect(lambda: "👀" in chat.screen and "is working on it" in chat.screen, "👀 and the placeholder")
    assert "@blocks why does the build fail?" in chat.screen
    chat.expect(lambda: "Done: the change is ready for review." in chat.screen, "the answer")
    assert "✅" in chat.screen and "👀" not in chat.screen and "(edited)" in chat.screen

    chat.type("and the tests? #delay=1")
    chat.expect(lambda: "> and the tests?" in chat.screen, "the follow-up's answer, in the same thread")
    chat.expect(lambda: chat.screen.count("✅") == 2, "✅ on the follow-up")
    assert chat.screen.count("@blocks why does the build fail?") == 1

    chat.type("/quit")
    assert chat.wait_exit() == 0
    # What was said stays on the normal screen once the chat's own screen is gone.
    transcript = chat.text.rsplit("\x1b[?1049l", 1)[-1]
    assert "> and the tests?" in transcript and "1 thread; the bot is stopped" in transcript


@pytest.mark.parametrize("key", [b"\x04", b"\x03"], ids=["ctrl-d", "ctrl-c"])
def test_ctrl_d_or_ctrl_c_leaves(pty_chat: Callable[..., PtyChat], key: bytes) -> None:
    chat = pty_chat()
    chat.expect(lambda: "/help lists the commands" in chat.screen, "the chat to start")
    chat.type("/help")
    chat.expect(lambda: "/new [text]" in chat.screen, "the list of commands")
    os.write(chat.master, key)
    assert chat.wait_exit() == 0
    assert "0 threads; the bot is stopped" in chat.text


def test_a_bad_database_url_is_one_line(pty_chat: Callable[..., PtyChat]) -> None:
    chat = pty_chat({"DATABASE_URL": "postgres://nobody@127.0.0.1:9/none"})
    assert chat.wait_exit() == 2
    last = chat.text.strip().splitlines()[-1]
    assert last.startswith("blocks-slack: cannot use the database (DATABASE_URL)"), chat.text


def test_without_a_terminal_it_says_so() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "blocks-slack: chat needs a terminal (its input or output is not one)"


def test_help_lists_the_environment_it_reads() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--help"], cwd=ROOT, env=ENV, capture_output=True, text=True
    )
    assert result.returncode == 0 and "environment variables it reads:" in result.stdout
    assert list(CHAT_ENVIRONMENT) == list(CHAT_READS), "the help and what chat_settings reads agree"
    assert all(name in result.stdout for name in CHAT_READS)


def test_blocks_is_the_simulator_unless_a_key_is_set() -> None:
    env = {"BLOCKS_API_URL": "https://blocks.example", "BLOCKS_AGENT": "codex", "PORT": "80"}
    sim = chat_settings(
        env, slack_url="http://127.0.0.1:1", blocks_url="http://127.0.0.1:2", database_url="sqlite://"
    )
    assert (sim.blocks_api_url, sim.blocks_agent, sim.port) == ("http://127.0.0.1:2", "codex", 0)
    assert sim.slack_api_url == "http://127.0.0.1:1/api/" and sim.database_url == "sqlite://"
    real = chat_settings(
        {"BLOCKS_API_KEY": "bk-1", "DATABASE_URL": "sqlite:///kept.db"},
        slack_url="http://127.0.0.1:1",
        blocks_url=None,
        database_url="sqlite://",
    )
    assert (real.blocks_api_key, real.blocks_api_url) == ("bk-1", "https://api.blocks.team")
    assert real.database_url == "sqlite:///kept.db" and real.slack_api_url == "http://127.0.0.1:1/api/"


# -- the renderer ------------------------------------------------------------------------------------


def message(ts: str, user: str, text: str, **fields: Any) -> StubMessage:
    thread = None if ts == "1.000001" else "1.000001"
    return StubMessage(CHANNEL, ts, user, text, thread, is_bot=user == BOT_USER_ID, **fields)


def markdown(text: str) -> list[dict[str, Any]]:
    return [{"type": "markdown", "text": text}]


def stop_buttons(*labels: str) -> list[dict[str, Any]]:
    elements = [
        {"type": "button", "action_id": label.lower(), "text": {"type": "plain_text", "text": label}}
        for label in labels
    ]
    return [{"type": "actions", "block_id": "controls", "elements": elements}]


def test_the_placeholder_with_its_reaction() -> None:
    thread = [
        message("1.000001", "UALICE", f"<@{BOT_USER_ID}> why?", reactions={messages.EYES: {BOT_USER_ID}}),
        message("1.000002", BOT_USER_ID, "working", blocks=markdown("⏳ *claude* is working on it…")),
    ]
    assert render_thread(thread, USERS) == [
        "alice   👀",
        "  @blocks why?",
        "    │ blocks",
        "    │   ⏳ *claude* is working on it…",
    ]


def test_the_answer_is_an_edit_and_the_reactions_change() -> None:
    thread = [
        message("1.000001", "UALICE", "why?", reactions={messages.EYES: set(), messages.DONE: {BOT_USER_ID}}),
        message(
            "1.000002", BOT_USER_ID, "fallback", blocks=markdown("It was the cache.\n\nFixed."), edited=2
        ),
        message("1.000003", "UALICE", "thanks", reactions={messages.INBOX: {BOT_USER_ID}}),
        message("1.000004", BOT_USER_ID, "oops", reactions={messages.WARNING: {BOT_USER_ID, "UALICE"}}),
    ]
    assert render_thread(thread, USERS) == [
        "alice   ✅",  # a reaction everyone took back is not shown
        "  why?",
        "    │ blocks (edited)",
        "    │   It was the cache.",
        "    │",
        "    │   Fixed.",
        "    │ alice   📥",
        "    │   thanks",
        "    │ blocks   ⚠️ 2",  # no blocks: the text is shown
        "    │   oops",
    ]


def test_buttons_are_numbered_across_the_thread() -> None:
    accessory = [
        {
            "type": "section",
            "block_id": "s",
            "text": {"type": "mrkdwn", "text": "Run it again?"},
            "accessory": {
                "type": "button",
                "action_id": "retry",
                "text": {"type": "plain_text", "text": "Retry"},
            },
        }
    ]
    thread = [
        message(
            "1.000001", "UALICE", "go", blocks=stop_buttons("Ignored")
        ),  # a person's blocks: not the bot's
        message(
            "1.000002", BOT_USER_ID, "working", blocks=markdown("working…") + stop_buttons("Stop", "Cancel")
        ),
        message("1.000003", BOT_USER_ID, "again", blocks=accessory),
    ]
    lines = render_thread(thread, USERS)
    assert lines[-5:] == [
        "    │   working…",
        "    │   [1] Stop   [2] Cancel",
        "    │ blocks",
        "    │   Run it again?",
        "    │   [3] Retry",
    ]
    found = find_buttons(thread)
    assert [(b.number, b.label, b.action_id, b.message_ts) for b in found] == [
        (1, "Stop", "stop", "1.000002"),
        (2, "Cancel", "cancel", "1.000002"),
        (3, "Retry", "retry", "1.000003"),
    ]


def test_long_lines_wrap_and_long_answers_are_cut_short() -> None:
    thread = [message("1.000001", "UALICE", "word " * 30)]
    lines = render_thread(thread, USERS, width=40)
    assert all(len(line) <= 40 for line in lines) and len(lines) > 3
    long = [message("1.000001", BOT_USER_ID, "\n".join(f"line {n}" for n in range(50)))]
    cut = render_thread(long, USERS, max_body_lines=5)
    assert cut[-1] == "  … 45 more lines (all of it is printed when you leave)" and len(cut) == 7


def test_the_screen_shows_the_end_of_a_tall_thread_and_never_scrolls() -> None:
    thread = [message("1.000001", "UALICE", "first")] + [
        message(f"1.{n:06d}", BOT_USER_ID, f"reply {n}") for n in range(2, 40)
    ]
    screen = render_screen(header=["chat"], thread=thread, users=USERS, notice=["hint"], width=50, rows=20)
    assert len(screen) == 19 and all(len(line) <= 50 for line in screen)
    assert screen[0] == "chat" and screen[2].startswith("  ↑ ") and screen[-1] == "hint"
    assert screen[-3] == "    │   reply 39"


def test_the_line_editor() -> None:
    editor = LineEditor()
    assert editor.feed("hellp\x7fo\x1b[Dthere") == ([], False)  # an arrow key is swallowed
    assert editor.buffer == "hellothere"
    assert editor.feed("\r/quit\r") == (["hellothere", "/quit"], False)
    assert editor.feed("ab\x15\x04") == ([], True)  # Ctrl-U empties the line, then Ctrl-D leaves
    assert LineEditor().feed("x\x04") == ([], False)  # Ctrl-D on a line with text does not
    assert LineEditor().feed("x\x03") == ([], True)  # Ctrl-C always does
    other = LineEditor()
    assert other.feed("é\t\x1bOPz") == ([], False) and other.buffer == "é z"  # F1 (SS3) is swallowed


# -- pressing a button ----------------------------------------------------------------------------------


def test_pressing_a_button_sends_a_signed_block_actions_the_bot_acknowledges(rig: Rig) -> None:
    received: list[dict[str, Any]] = []
    assert rig.service.bolt is not None

    # The bot has no buttons of its own yet: a listener stands in for the one that will handle them.
    @rig.service.bolt.action("stop")
    def stop(ack: Callable[[], None], body: dict[str, Any]) -> None:
        ack()
        received.append(body)

    chat = Chat(rig.slack, rig.sender, channel=CHANNEL, user="UALICE")
    top = rig.slack.human_message(CHANNEL, "UALICE", "start")
    chat.thread_ts = top.ts
    posted = WebClient(
        token=rig.settings.slack_bot_token, base_url=rig.settings.slack_api_url
    ).chat_postMessage(
        channel=CHANNEL,
        thread_ts=top.ts,
        text="working",
        blocks=[
            {
                "type": "actions",
                "block_id": "controls",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "stop",
                        "value": "turn-7",
                        "text": {"type": "plain_text", "text": "Stop"},
                    },
                    {"type": "button", "action_id": "later", "text": {"type": "plain_text", "text": "Later"}},
                ],
            }
        ],
    )

    assert chat.handle("1").notice == ["pressed [1] Stop: the bot acknowledged it"]
    [body] = received
    assert body["type"] == "block_actions" and body["user"]["id"] == "UALICE"
    assert body["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": CHANNEL,
        "is_ephemeral": False,
        "thread_ts": top.ts,
    }
    [action] = body["actions"]
    assert (action["action_id"], action["block_id"], action["value"]) == ("stop", "controls", "turn-7")
    assert body["message"]["ts"] == posted["ts"]

    # Signed and well formed, but no listener: the bot's own answer is shown.
    assert chat.handle("2").notice == ["pressed [2] Later: the bot has no handler for it (404)"]
    # A number without a button is a message like any other.
    chat.handle("3")
    assert [m.text for m in rig.slack.thread(CHANNEL, top.ts) if not m.is_bot] == ["start", "3"]
