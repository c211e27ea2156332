"""A Slack Web API stub: the methods the bot calls, a model of the channels it writes to, a record of
every call, and injected errors (`ratelimited` with `Retry-After`, or any Slack error code).

Like Slack, it answers HTTP 200 with `{"ok": false, "error": …}` for API errors and HTTP 429 for rate
limits; it refuses `text` over 4,000 characters (`msg_too_long`) and markdown blocks over
`markdown_limit` characters in all (`msg_blocks_too_long`).

Control endpoints under `/_stub/`: `POST messages` (a person writes: returns its ts), `GET thread`,
`GET calls`, `POST faults`, `POST config`, `POST reset`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.sim.socket_mode import SocketModeServer
from bot.sim.wsgi import Request, json_response

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0001"
TEXT_LIMIT = 4000


@dataclass
class StubMessage:
    channel: str
    ts: str
    user: str
    text: str
    thread_ts: str | None
    blocks: list[dict[str, Any]] = field(default_factory=list)
    reactions: dict[str, set[str]] = field(default_factory=dict)
    edited: int = 0
    is_bot: bool = False
    metadata: dict[str, Any] | None = None
    team: str = "T0001"  # the author's workspace: another one's in a shared channel

    @property
    def markdown(self) -> str:
        return "\n".join(b.get("text", "") for b in self.blocks if b.get("type") == "markdown")

    def to_json(self, *, with_metadata: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "message", "ts": self.ts, "user": self.user, "text": self.text}
        data.update(team=self.team, user_team=self.team)
        if with_metadata and self.metadata:
            data["metadata"] = self.metadata
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.is_bot:
            data["bot_id"] = BOT_ID
        if self.blocks:
            data["blocks"] = self.blocks
        if self.reactions:
            data["reactions"] = [
                {"name": name, "users": sorted(users), "count": len(users)}
                for name, users in self.reactions.items()
                if users
            ]
        return data


@dataclass
class StubFault:
    method: str
    error: str = "ratelimited"
    count: int = 1
    retry_after: int = 1
    http_status: int = 200  # a server error answers with this status


class SlackStub:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.markdown_limit = 12000
        self.users: dict[str, str] = {
            "UALICE": "alice",
            "UBOB": "bob",
            "UCAROL": "carol",
            BOT_USER_ID: "blocks",
        }
        self.private_channels: set[str] = set()
        # Sent back as `x-oauth-scopes` on the bot token's answers, as Slack does (None: no header).
        self.granted_scopes: list[str] | None = _manifest_scopes()
        self.socket_mode: SocketModeServer | None = None  # set to serve apps.connections.open
        # Slack's rate tiers, off unless set: method → (calls, window seconds); postMessage per channel.
        self.limits: dict[str, tuple[int, float]] = {}
        self._lock = threading.RLock()
        self._counter = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.messages: dict[tuple[str, str], StubMessage] = {}
            self.calls: list[dict[str, Any]] = []
            self.faults: list[StubFault] = []
            self.rate_limited_calls = 0
            self._windows: dict[tuple[str, str], list[float]] = {}

    # -- a person writes (tests and the demo) -------------------------------------------------------

    def human_message(
        self, channel: str, user: str, text: str, thread_ts: str | None = None, *, team: str = TEAM_ID
    ) -> StubMessage:
        with self._lock:
            message = StubMessage(channel, self._next_ts(), user, text, thread_ts, team=team)
            self.messages[(channel, message.ts)] = message
            return message

    def thread(self, channel: str, thread_ts: str) -> list[StubMessage]:
        with self._lock:
            found = [
                m
                for m in self.messages.values()
                if m.channel == channel and (m.ts == thread_ts or m.thread_ts == thread_ts)
            ]
        return sorted(found, key=lambda m: float(m.ts))

    def inject(
        self,
        method: str,
        error: str = "ratelimited",
        count: int = 1,
        retry_after: int = 1,
        http_status: int = 200,
    ) -> None:
        with self._lock:
            self.faults.append(StubFault(method, error, count, retry_after, http_status))

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self.calls if c["method"] == method]

    # -- WSGI ---------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_stub/"):
            status, body = self._control(request)
            return json_response(start_response, status, body)
        method = request.path.rsplit("/", 1)[-1]
        params = request.params()
        token = (request.header("authorization") or "").removeprefix("Bearer ").strip()
        with self._lock:
            call: dict[str, Any] = {"method": method, "params": params, "at": self.clock()}
            self.calls.append(call)
            status, body, headers = self._answer(method, params, token)
            call["ok"] = bool(body.get("ok"))
        return json_response(start_response, status, body, headers)

    def _answer(
        self, method: str, params: dict[str, Any], token: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        app_level = method == "apps.connections.open" and token.startswith("xapp-")
        if not token.startswith("xoxb-") and not app_level:
            return 200, {"ok": False, "error": "not_authed"}, {}
        fault = self._take_fault(method) or self._over_limit(method, params)
        if fault is not None:
            if fault.error == "ratelimited":
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
            return fault.http_status, {"ok": False, "error": fault.error}, {}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        scopes = self._scopes_header(token)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, scopes
        return 200, handler(params), scopes

    def _scopes_header(self, token: str) -> dict[str, str]:
        if self.granted_scopes is None or not token.startswith("xoxb-"):
            return {}
        return {"x-oauth-scopes": ",".join(self.granted_scopes)}

    def _over_limit(self, method: str, params: dict[str, Any]) -> StubFault | None:
        """Slack's tiers as sliding windows: `ratelimited` once a method's window is full."""
        if method not in self.limits:
            return None
        limit, window = self.limits[method]
        channel = str(params.get("channel", "")) if method == "chat.postMessage" else ""
        now = self.clock()
        recent = self._windows.setdefault((method, channel), [])
        recent[:] = [at for at in recent if at > now - window]
        if len(recent) >= limit:
            self.rate_limited_calls += 1
            return StubFault(method, "ratelimited", 1, retry_after=max(1, int(window / 10)))
        recent.append(now)
        return None

    def _take_fault(self, method: str) -> StubFault | None:
        for fault in self.faults:
            if fault.count > 0 and fault.method == method:
                fault.count -= 1
                return fault
        return None

    # -- methods ------------------------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://sim.slack.com/",
            "team": "Sim",
            "user": "blocks",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
        }

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode is None:
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": self.socket_mode.url}

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        problem = self._check_content(params)
        if problem:
            return {"ok": False, "error": problem}
        thread_ts = params.get("thread_ts")
        if thread_ts and (channel, thread_ts) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        message = StubMessage(
            channel,
            self._next_ts(),
            BOT_USER_ID,
            str(params.get("text") or ""),
            thread_ts,
            _blocks(params),
            is_bot=True,
            metadata=_json_field(params, "metadata"),
        )
        self.messages[(channel, message.ts)] = message
        return {"ok": True, "channel": channel, "ts": message.ts, "message": message.to_json()}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((str(params.get("channel")), str(params.get("ts"))))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if not message.is_bot:
            return {"ok": False, "error": "cant_update_message"}
        problem = self._check_content(params)
        if problem:
            return {"ok": False, "error": problem}
        message.text = str(params.get("text") or "")
        message.blocks = _blocks(params)
        message.edited += 1
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((str(params.get("channel")), str(params.get("timestamp"))))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        users = message.reactions.setdefault(str(params.get("name")), set())
        if BOT_USER_ID in users:
            return {"ok": False, "error": "already_reacted"}
        users.add(BOT_USER_ID)
        return {"ok": True}

    def _reactions_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((str(params.get("channel")), str(params.get("timestamp"))))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        users = message.reactions.get(str(params.get("name")), set())
        if BOT_USER_ID not in users:
            return {"ok": False, "error": "no_reaction"}
        users.discard(BOT_USER_ID)
        return {"ok": True}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        found = self.thread(str(params.get("channel")), str(params.get("ts")))
        if not found:
            return {"ok": False, "error": "thread_not_found"}
        oldest = float(params.get("oldest") or 0)
        found = [m for m in found if float(m.ts) >= oldest]
        limit = int(params.get("limit") or 1000)
        metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        return {
            "ok": True,
            "messages": [m.to_json(with_metadata=metadata) for m in found[:limit]],
            "has_more": len(found) > limit,
        }

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel"))
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "is_private": channel in self.private_channels,
                "is_im": channel.startswith("D"),
            },
        }

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user"))
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        name = self.users[user]
        return {"ok": True, "user": {"id": user, "name": name, "profile": {"display_name": name}}}

    # -- helpers ------------------------------------------------------------------------------------

    def _check_content(self, params: dict[str, Any]) -> str | None:
        if len(str(params.get("text") or "")) > TEXT_LIMIT:
            return "msg_too_long"
        markdown = sum(len(b.get("text", "")) for b in _blocks(params) if b.get("type") == "markdown")
        if markdown > self.markdown_limit:
            return "msg_blocks_too_long"
        return None

    def _next_ts(self) -> str:
        return f"{int(self.clock())}.{next(self._counter):06d}"

    def _control(self, request: Request) -> tuple[int, Any]:
        name = request.path[len("/_stub/") :]
        with self._lock:
            if name == "messages" and request.method == "POST":
                body = request.json() or {}
                message = self.human_message(
                    body["channel"], body["user"], body["text"], body.get("thread_ts")
                )
                return 200, {"ts": message.ts}
            if name == "thread":
                channel, ts = request.query["channel"][0], request.query["ts"][0]
                return 200, {"messages": [m.to_json() for m in self.thread(channel, ts)]}
            if name == "calls":
                return 200, {"calls": self.calls}
            if name == "faults" and request.method == "POST":
                self.faults.append(StubFault(**(request.json() or {})))
                return 200, {"ok": True}
            if name == "config" and request.method == "POST":
                body = request.json() or {}
                self.markdown_limit = int(body.get("markdown_limit", self.markdown_limit))
                return 200, {"ok": True}
            if name == "reset" and request.method == "POST":
                self.reset()
                return 200, {"ok": True}
        return 404, {"error": "unknown control endpoint"}


def _manifest_scopes() -> list[str] | None:
    """The bot scopes manifest.yml asks for: what an app installed from it is granted."""
    from bot.doctor import manifest_bot_scopes  # the doctor's reader, so both read the manifest alike

    try:
        return manifest_bot_scopes()
    except OSError:  # run from an installed package, without the checkout's manifest
        return None


def _json_field(params: dict[str, Any], name: str) -> Any:
    """Slack takes structured fields as JSON, or as JSON strings inside a form body."""
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _blocks(params: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = _json_field(params, "blocks")
    return [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else []
