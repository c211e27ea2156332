"""`blocks-slack chat`: a conversation with the real bot in this terminal, with no Slack workspace.

The bot runs for real (intake, worker, database) and talks to an in-process Slack stub; Blocks is the
in-process simulator, or the real Blocks API when `BLOCKS_API_KEY` is set. What you type reaches the bot
as signed Slack events, and the screen shows the thread as Slack would, redrawn whenever the stub's state
changes. Buttons on the bot's messages are numbered; typing a number presses one (a signed
`block_actions` interaction, as Slack sends it).

The pieces are kept apart so that most of it is testable without a terminal: `render_thread` and
`render_screen` are pure (stub state → lines), `LineEditor` turns keystrokes into lines, `Chat` does what
a line asks, and `Terminal` is the thin layer of termios and ANSI around them.
"""

from __future__ import annotations

import contextlib
import copy
import getpass
import logging
import os
import re
import select
import signal
import sys
import tempfile
import termios
import textwrap
import time
import tty
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TextIO

import httpx

from bot import logs
from bot.config import ConfigError, Settings
from bot.service import Service, StartupError, build, one_line
from bot.sim.blocks import BlocksSimulator, SimConfig
from bot.sim.events import EventSender
from bot.sim.slack import BOT_USER_ID, TEAM_ID, SlackStub, StubMessage
from bot.sim.wsgi import serve_in_thread
from bot.slack import messages

CHANNEL = "C0CHAT"
USER_ID = "UCHAT"
SIGNING_SECRET = "chat-signing-secret"
SIM_ANSWER_DELAY = 3.0
POLL_SECONDS = 0.2  # how often the stub's state is looked at: a few times a second
PROMPT = "> "
ENVIRONMENT = ("BLOCKS_API_KEY", "BLOCKS_API_URL", "BLOCKS_AGENT", "DATABASE_URL")
EMOJI = messages.GLYPHS
HINT = "Enter sends · a number presses that button · /help lists the commands"
HELP = [
    "/new [text]   start a new thread (with text: its first message)",
    "/quit         leave (Ctrl-D on an empty line, or Ctrl-C, too)",
    "/help         this list",
    "<number>      press the button with that number",
    "anything else is a message: the first one starts a thread that mentions @blocks, the rest reply in it",
]
_MENTION = re.compile(r"<@(\w+)>")
_TYPED_MENTION = re.compile(r"(?<![\w<])@blocks\b")


# -- rendering: pure functions of the stub's state ---------------------------------------------------


@dataclass(frozen=True)
class Button:
    number: int
    message_ts: str
    block_id: str
    action_id: str
    label: str
    value: str | None = None
    url: str | None = None
    style: str | None = None
    kind: str = "button"  # or "feedback_buttons": one of an answer's 👍/👎


def find_buttons(thread: Sequence[StubMessage]) -> list[Button]:
    """The buttons of the bot's messages in the thread, numbered from 1 in the order Slack shows them."""
    found: list[Button] = []
    for message in thread:
        if not message.is_bot:
            continue
        for block in message.blocks:
            for element in _interactive_elements(block):
                block_id, action_id = str(block.get("block_id", "")), str(element.get("action_id", ""))
                kind = str(element.get("type"))
                if kind == "feedback_buttons":  # one element, two buttons: 👍 and 👎
                    sides = [element.get(side) for side in ("positive_button", "negative_button")]
                    pressable: list[Mapping[str, Any]] = [side for side in sides if isinstance(side, dict)]
                elif kind == "button":
                    pressable = [element]
                else:
                    continue
                for source in pressable:
                    found.append(
                        Button(
                            number=len(found) + 1,
                            message_ts=message.ts,
                            block_id=block_id,
                            action_id=action_id,
                            label=_plain(source.get("text")),
                            value=_optional_str(source.get("value")),
                            url=_optional_str(source.get("url")),
                            style=_optional_str(source.get("style")),
                            kind=kind,
                        )
                    )
    return found


def _interactive_elements(block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Buttons sit in an `actions` (or `context_actions`) block's elements, or as a `section` block's
    accessory."""
    if block.get("type") in ("actions", "context_actions"):
        elements = block.get("elements")
        return [e for e in elements if isinstance(e, dict)] if isinstance(elements, list) else []
    accessory = block.get("accessory")
    return [accessory] if block.get("type") == "section" and isinstance(accessory, dict) else []


def render_thread(
    thread: Sequence[StubMessage],
    users: Mapping[str, str],
    *,
    width: int = 80,
    max_body_lines: int | None = None,
) -> list[str]:
    """The thread as Slack shows it: each message's author, `(edited)`, reactions, text and buttons;
    replies indented under the first message. Bodies over `max_body_lines` lines are cut short."""
    buttons = find_buttons(thread)
    lines: list[str] = []
    for index, message in enumerate(thread):
        indent = "" if index == 0 else "    │ "
        lines.append(indent + _author_line(message, users))
        body = _wrap(_body(message, users), max(20, width - len(indent) - 2))
        if max_body_lines is not None and len(body) > max_body_lines:
            hidden = len(body) - max_body_lines
            more = f"… {hidden} more line{'s' if hidden != 1 else ''} (all of it is printed when you leave)"
            body = [*body[:max_body_lines], more]
        lines.extend(f"{indent}  {line}".rstrip() for line in body)
        labels = [f"[{b.number}] {b.label}" for b in buttons if b.message_ts == message.ts]
        if labels:
            lines.append(f"{indent}  " + "   ".join(labels))
    return lines


def render_screen(
    *,
    header: Sequence[str],
    thread: Sequence[StubMessage],
    users: Mapping[str, str],
    notice: Sequence[str],
    width: int,
    rows: int,
) -> list[str]:
    """The whole screen but the prompt: header, the thread (its end, when it is taller than the room
    left), and the notice under it. Never more than `rows - 1` lines, none wider than `width`, so that
    drawing it never scrolls the terminal."""
    rule = "─" * width
    top = [*(_clip(line, width) for line in header), rule]
    bottom = [rule, *(_clip(line, width) for line in notice)]
    room = rows - len(top) - len(bottom) - 1
    if thread:
        body = render_thread(thread, users, width=width, max_body_lines=max(4, rows - 12))
    else:
        body = ["Type a message: it starts a thread that mentions @blocks."]
    return [*top, *_fit(body, room), *bottom][: max(rows - 1, 0)]


def _author_line(message: StubMessage, users: Mapping[str, str]) -> str:
    who = users.get(message.user, message.user)
    edited = " (edited)" if message.edited else ""
    marks = "  ".join(
        EMOJI.get(name, f":{name}:") + (f" {len(reacted)}" if len(reacted) > 1 else "")
        for name, reacted in message.reactions.items()
        if reacted
    )
    return f"{who}{edited}{'   ' + marks if marks else ''}"


def _body(message: StubMessage, users: Mapping[str, str]) -> str:
    """What Slack shows: the blocks when there are any (markdown, or section text), else the text."""
    shown = [_block_text(block) for block in message.blocks]
    text = "\n".join(part for part in shown if part) or message.text
    return _MENTION.sub(lambda m: "@" + users.get(m.group(1), m.group(1)), text)


def _block_text(block: Mapping[str, Any]) -> str:
    if block.get("type") == "markdown":
        return str(block.get("text", ""))
    if block.get("type") in ("section", "header", "context"):
        return _plain(block.get("text")) or " ".join(_plain(e) for e in block.get("elements", []) or [])
    return ""


def _plain(value: object) -> str:
    """A text object's text (`{"type": "plain_text", "text": …}`), or the value itself if it is a string."""
    if isinstance(value, dict):
        return str(value.get("text", ""))
    return value if isinstance(value, str) else ""


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _wrap(text: str, width: int) -> list[str]:
    """Wrapped here rather than by the terminal, so the screen knows how many rows it takes."""
    wrapped: list[str] = []
    for line in text.splitlines() or [""]:
        wrapped.extend(textwrap.wrap(line, width, replace_whitespace=False, drop_whitespace=True) or [""])
    return wrapped


def _fit(lines: Sequence[str], room: int) -> list[str]:
    """The last lines that fit: the newest messages matter most, as in Slack."""
    if room <= 0:
        return []
    if len(lines) <= room:
        return list(lines)
    if room == 1:
        return [lines[-1]]
    hidden = len(lines) - (room - 1)
    return [f"  ↑ {hidden} earlier line{'s' if hidden != 1 else ''}", *lines[-(room - 1) :]]


def _clip(line: str, width: int) -> str:
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


# -- pressing a button: Slack's interaction payload ---------------------------------------------------


def block_actions_payload(
    button: Button,
    message: StubMessage,
    *,
    user: str,
    user_name: str,
    thread_ts: str | None,
    now: float | None = None,
) -> dict[str, Any]:
    """A `block_actions` interaction as Slack sends it when someone presses `button` on `message`."""
    stamp = f"{now if now is not None else time.time():.6f}"
    action: dict[str, Any] = {
        "type": button.kind,
        "block_id": button.block_id,
        "action_id": button.action_id,
        "text": {"type": "plain_text", "text": button.label, "emoji": True},
        "action_ts": stamp,
    }
    action.update(
        {k: v for k, v in (("value", button.value), ("url", button.url), ("style", button.style)) if v}
    )
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message.ts,
        "channel_id": message.channel,
        "is_ephemeral": False,
    }
    if thread_ts and thread_ts != message.ts:
        container["thread_ts"] = thread_ts
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": "A0SIM",
        "token": "verification-token-unused",
        "container": container,
        "trigger_id": f"{int(float(stamp))}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}",
        "team": {"id": TEAM_ID, "domain": "sim"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": message.channel, "name": "chat"},
        "message": message.to_json(),
        "state": {"values": {}},
        "actions": [action],
    }


def send_interaction(sender: EventSender, payload: Mapping[str, Any]) -> httpx.Response:
    """Post it to the bot as Slack does: a form with one `payload` field of JSON, signed like an event."""
    return sender.post_interaction(payload)


# -- the conversation, without the terminal ---------------------------------------------------------


@dataclass
class Outcome:
    notice: list[str] | None = None  # None: leave the notice as it is
    quit: bool = False


class Chat:
    """One person talking to the bot through the stub: each line is a message, a command or a press."""

    def __init__(
        self, slack: SlackStub, sender: EventSender, *, channel: str = CHANNEL, user: str = USER_ID
    ) -> None:
        self.slack, self.sender, self.channel, self.user = slack, sender, channel, user
        self.thread_ts: str | None = None
        self.threads: list[str] = []  # every thread started, oldest first, for the transcript

    @property
    def users(self) -> dict[str, str]:
        return dict(self.slack.users)

    def handle(self, line: str) -> Outcome:
        text = line.strip()
        word, _, rest = text.partition(" ")
        if not text:
            return Outcome()
        if word in ("/quit", "/exit"):
            return Outcome(quit=True)
        if word == "/help":
            return Outcome(notice=HELP)
        if word == "/new":
            self.thread_ts = None
            if rest.strip():
                return self.say(rest.strip())
            return Outcome(notice=["New thread: your next message starts it."])
        if text.isdigit():
            thread = self.snapshot()
            button = next((b for b in find_buttons(thread) if b.number == int(text)), None)
            if button is not None:
                pressed = next(m for m in thread if m.ts == button.message_ts)
                return Outcome(notice=[self.press(button, pressed)])
        return self.say(text)

    def say(self, text: str) -> Outcome:
        """Write in Slack: the first message of a thread mentions the bot, later ones reply in it."""
        text = _TYPED_MENTION.sub(f"<@{BOT_USER_ID}>", text)
        mention = f"<@{BOT_USER_ID}>"
        if self.thread_ts is None and mention not in text:
            text = f"{mention} {text}"
        message = self.slack.human_message(self.channel, self.user, text, self.thread_ts)
        if self.thread_ts is None:
            self.thread_ts = message.ts
            self.threads.append(message.ts)
        try:
            deliveries = self.sender.deliver_message(
                channel=self.channel,
                user=self.user,
                text=text,
                ts=message.ts,
                thread_ts=None if message.ts == self.thread_ts else self.thread_ts,
                mention=mention in text,
            )
        except httpx.HTTPError as exc:
            return Outcome(notice=[f"the bot cannot be reached: {one_line(exc)}"])
        refused = [d.status for d in deliveries if d.status != 200]
        if refused:
            return Outcome(notice=[f"the bot answered {refused[0]} (Slack would deliver it again)"])
        return Outcome(notice=[HINT])

    def press(self, button: Button, message: StubMessage) -> str:
        """Press `button` of `message` as this user: the bot gets what Slack would send, and the notice
        says what it answered."""
        payload = block_actions_payload(
            button,
            message,
            user=self.user,
            user_name=self.slack.users.get(self.user, self.user),
            thread_ts=self.thread_ts,
        )
        try:
            status = send_interaction(self.sender, payload).status_code
        except httpx.HTTPError as exc:
            return f"pressed [{button.number}] {button.label}: the bot cannot be reached: {one_line(exc)}"
        if status == 200:
            return f"pressed [{button.number}] {button.label}: the bot acknowledged it"
        if status == 404:
            return f"pressed [{button.number}] {button.label}: the bot has no handler for it (404)"
        return f"pressed [{button.number}] {button.label}: the bot answered {status}"

    def snapshot(self, thread_ts: str | None = None) -> list[StubMessage]:
        """A copy of the thread: the stub's server threads change its messages in place (edits,
        reactions), so the copy is taken under the stub's own lock."""
        top = thread_ts or self.thread_ts
        if top is None:
            return []
        with self.slack._lock:
            return copy.deepcopy(self.slack.thread(self.channel, top))


# -- keystrokes → lines -------------------------------------------------------------------------------


class LineEditor:
    """The line being typed, edited as a terminal in canonical mode would (the terminal is in cbreak
    mode so that redrawing the screen does not lose what is typed)."""

    def __init__(self) -> None:
        self.buffer = ""
        self._escape = ""  # an escape sequence (an arrow key) being swallowed

    def feed(self, text: str) -> tuple[list[str], bool]:
        """The lines completed by `text`, and whether the user asked to leave (Ctrl-C, or Ctrl-D on an
        empty line)."""
        lines: list[str] = []
        for char in text:
            if self._escape:
                self._escape += char
                if _escape_complete(self._escape):
                    self._escape = ""
            elif char == "\x1b":
                self._escape = char
            elif char in "\r\n":
                lines.append(self.buffer)
                self.buffer = ""
            elif char in "\x7f\x08":
                self.buffer = self.buffer[:-1]
            elif char == "\x15":  # Ctrl-U
                self.buffer = ""
            elif char == "\x03":  # Ctrl-C
                return lines, True
            elif char == "\x04":  # Ctrl-D: the end of input, as a shell reads it, on an empty line
                if not self.buffer:
                    return lines, True
            elif char == "\t":
                self.buffer += " "
            elif char.isprintable():
                self.buffer += char
        return lines, False


def _escape_complete(sequence: str) -> bool:
    if len(sequence) < 2:
        return False
    if sequence[1] == "[":  # CSI: parameters, then one final byte
        return len(sequence) > 2 and "\x40" <= sequence[-1] <= "\x7e"
    if sequence[1] == "O":  # SS3: one more character
        return len(sequence) > 2
    return True  # Alt and a key


# -- the terminal -------------------------------------------------------------------------------------


class Terminal:
    """cbreak mode (keys arrive one by one, unechoed) on the alternate screen; restored on exit."""

    def __init__(self, fd: int, out: TextIO) -> None:
        self.fd, self.out = fd, out
        self._saved: list[Any] = []
        self._decoder = _utf8_decoder()

    def __enter__(self) -> Terminal:
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        # Ctrl-C arrives as a key rather than as SIGINT, so it can never cut short a request to the bot.
        mode = termios.tcgetattr(self.fd)
        mode[3] &= ~termios.ISIG
        termios.tcsetattr(self.fd, termios.TCSANOW, mode)
        self.out.write("\x1b[?1049h")
        self.out.flush()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(OSError):  # the terminal may be gone already (a hang-up)
            self.out.write("\x1b[?1049l")
            self.out.flush()
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def read(self, timeout: float) -> str | None:
        """What was typed within `timeout` seconds ("" if nothing), or None once the terminal is gone."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return ""
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the terminal was closed
            return None
        return self._decoder.decode(data) if data else None

    def size(self) -> tuple[int, int]:
        try:
            found = os.get_terminal_size(self.out.fileno())
        except OSError:
            return 80, 24
        return max(found.columns, 20), max(found.lines, 8)

    def draw(self, frame: Sequence[str], typed: str) -> None:
        # Overwrite line by line and clear what is left, rather than clear the screen first: no flicker.
        drawn = "".join(f"{line}\x1b[K\r\n" for line in frame)
        self.out.write(f"\x1b[H{drawn}\x1b[J")
        self.prompt(typed)

    def prompt(self, typed: str) -> None:
        room = self.size()[0] - len(PROMPT) - 1
        shown = typed if len(typed) <= room else "…" + typed[-(room - 1) :]
        self.out.write(f"\r\x1b[2K{PROMPT}{shown}")
        self.out.flush()


def _utf8_decoder() -> Any:
    import codecs

    return codecs.getincrementaldecoder("utf-8")(errors="replace")


# -- the bot and its surroundings ----------------------------------------------------------------------


class ChatStartError(Exception):
    """The chat cannot start; the message is the one line to print."""


@dataclass
class Backend:
    slack: SlackStub
    service: Service
    sender: EventSender
    header: list[str]
    _stack: contextlib.ExitStack = field(repr=False)

    def close(self) -> None:
        """Stop the bot (worker, then its server), then the simulators; remove the temporary database."""
        self._stack.close()


def chat_settings(
    env: Mapping[str, str], *, slack_url: str, blocks_url: str | None, database_url: str
) -> Settings:
    """The settings `serve` would read, with the Slack side pointed at the stub and Blocks at the
    simulator (`blocks_url`), or at the real API when `blocks_url` is None."""
    chosen = {name: env[name] for name in ENVIRONMENT if env.get(name, "").strip()}
    values = {
        **chosen,
        "SLACK_BOT_TOKEN": "xoxb-chat-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_url + "/api/",
        "DATABASE_URL": chosen.get("DATABASE_URL", database_url),
        "PORT": "0",
        "HOST": "127.0.0.1",
    }
    if blocks_url is not None:
        values.update(BLOCKS_API_KEY="chat-simulator-key", BLOCKS_API_URL=blocks_url)
    settings = Settings.from_env(values)
    # Progress edits only go to the stub, so they need not wait the usual 15 s between them.
    settings = replace(settings, idle_poll_seconds=0.2, progress_edit_seconds=1.0)
    if blocks_url is None:
        return settings  # the real API: its rate limit and the usual polling cadence
    return replace(settings, poll_first_seconds=0.3, poll_max_seconds=1.0, blocks_rate_limit_per_minute=6000)


def start_backend(env: Mapping[str, str], *, log_path: str | None = None) -> Backend:
    stack = contextlib.ExitStack()
    try:
        return _start(stack, env, log_path)
    except BaseException:
        stack.close()
        raise


def _start(stack: contextlib.ExitStack, env: Mapping[str, str], log_path: str | None) -> Backend:
    slack = SlackStub()
    slack.users[USER_ID] = _login_name()
    slack_server = serve_in_thread(slack)
    stack.callback(slack_server.stop)
    real = bool(env.get("BLOCKS_API_KEY", "").strip())
    blocks_url = None
    if not real:
        blocks_server = serve_in_thread(
            BlocksSimulator(SimConfig(answer_delay=SIM_ANSWER_DELAY, rate_limit=6000))
        )
        stack.callback(blocks_server.stop)
        blocks_url = blocks_server.url
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="blocks-slack-chat-"))
    try:
        settings = chat_settings(
            env,
            slack_url=slack_server.url,
            blocks_url=blocks_url,
            database_url=f"sqlite:///{Path(folder) / 'chat.db'}",
        )
    except ConfigError as exc:
        raise ChatStartError(f"configuration error: {exc}") from None
    scrub = _configure_logging(stack, settings, log_path)
    try:
        service = build(settings, "serve", host="127.0.0.1")
    except StartupError as exc:
        raise ChatStartError(scrub(str(exc))) from None
    except Exception as exc:
        # Whatever else goes wrong while starting is still one line, and never carries a secret.
        raise ChatStartError(f"cannot start: {type(exc).__name__}: {scrub(one_line(exc))}") from None
    stack.callback(service.stop)
    service.start()
    sender = EventSender(f"http://127.0.0.1:{service.port}", SIGNING_SECRET)
    stack.callback(sender.close)
    return Backend(slack, service, sender, _header(settings, service.port, real, env), stack)


def _configure_logging(
    stack: contextlib.ExitStack, settings: Settings, log_path: str | None
) -> logs.Scrubber:
    """The bot's log would tear through the screen: it goes to `log_path`, or only its critical lines
    (an uncaught exception) are shown."""
    scrub = logs.configure(settings.log_level, secrets=settings.secrets)
    root = logging.getLogger()
    if not log_path:
        root.handlers[0].setLevel(logging.CRITICAL)
        return scrub
    try:
        to_file = logging.FileHandler(log_path, encoding="utf-8")
    except OSError as exc:
        raise ChatStartError(f"cannot write the log to {log_path}: {exc.strerror}") from None
    stack.callback(to_file.close)
    # The same formatter and filters as the bot's own log: scrubbed of secrets, with its ids.
    to_file.setFormatter(root.handlers[0].formatter)
    for kept in root.handlers[0].filters:
        to_file.addFilter(kept)
    root.handlers[:] = [to_file]
    return scrub


def _header(settings: Settings, port: int, real: bool, env: Mapping[str, str]) -> list[str]:
    if real:
        blocks = f"Blocks API at {settings.blocks_api_url}, agent {settings.blocks_agent}"
    else:
        blocks = f"Blocks simulator (answers in {SIM_ANSWER_DELAY:g}s, or #delay=N in a message)"
    database = "DATABASE_URL" if env.get("DATABASE_URL", "").strip() else "a temporary SQLite file"
    return [f"blocks-slack chat · {blocks}", f"the bot on port {port} · database: {database} · channel #chat"]


def _login_name() -> str:
    try:
        return getpass.getuser() or "you"
    except (OSError, KeyError):  # no login name and no passwd entry (a container)
        return "you"


# -- the command ---------------------------------------------------------------------------------------


def run_chat(
    env: Mapping[str, str] | None = None,
    *,
    log_path: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    env = os.environ if env is None else env
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    if not (stdin.isatty() and stdout.isatty()):
        print("blocks-slack: chat needs a terminal (its input or output is not one)", file=sys.stderr)
        return 2
    print("blocks-slack chat: starting the bot…", file=stdout, flush=True)
    try:
        backend = start_backend(env, log_path=log_path)
    except ChatStartError as exc:
        print(f"blocks-slack: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C while it starts: everything started is stopped already
        return 130
    chat = Chat(backend.slack, backend.sender)
    try:
        with _interrupts_as_keyboard(), Terminal(stdin.fileno(), stdout) as terminal:
            with contextlib.suppress(KeyboardInterrupt):
                converse(chat, terminal, backend.header)
            width = terminal.size()[0]
        with contextlib.suppress(OSError):  # the terminal may be gone already (a hang-up)
            print_transcript(chat, stdout, width=width)
    finally:
        backend.close()
    return 0


def converse(chat: Chat, terminal: Terminal, header: Sequence[str]) -> None:
    """Read keys, act on each line, and redraw the screen whenever what it shows has changed."""
    editor = LineEditor()
    notice: list[str] = [HINT]
    shown: list[str] | None = None
    while True:
        typed = terminal.read(POLL_SECONDS)
        if typed is None:
            return
        lines, leave = editor.feed(typed)
        for line in lines:
            outcome = chat.handle(line)
            if outcome.quit:
                return
            if outcome.notice is not None:
                notice = outcome.notice
        if leave:
            return
        width, rows = terminal.size()
        frame = render_screen(
            header=header, thread=chat.snapshot(), users=chat.users, notice=notice, width=width, rows=rows
        )
        if frame != shown:
            terminal.draw(frame, editor.buffer)
            shown = frame
        elif typed:
            terminal.prompt(editor.buffer)


def print_transcript(chat: Chat, out: TextIO, *, width: int) -> None:
    """Every thread of the session in full, left on the normal screen once the chat's screen is gone."""
    for top in chat.threads:
        out.write("─" * width + "\n")
        out.write("".join(line + "\n" for line in render_thread(chat.snapshot(top), chat.users, width=width)))
    count = len(chat.threads)
    out.write(f"blocks-slack chat: {count} thread{'s' if count != 1 else ''}; the bot is stopped\n")
    out.flush()


@contextlib.contextmanager
def _interrupts_as_keyboard() -> Iterator[None]:
    """A closed terminal (SIGHUP) or a `kill` (SIGTERM) ends the chat as /quit does, so the bot is still
    stopped and the temporary database removed."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGHUP, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
