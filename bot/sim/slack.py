"""A Slack Web API stub: the methods the bot calls, a model of the channels it writes to, a record of
every call, and injected errors (`ratelimited` with `Retry-After`, or any Slack error code).

Like Slack, it answers HTTP 200 with `{"ok": false, "error": …}` for API errors and HTTP 429 for rate
limits; it refuses `text` over 4,000 characters (`msg_too_long`) and markdown blocks over
`markdown_limit` characters in all (`msg_blocks_too_long`).

App Home and modals: `views.publish` keeps each user's home (`home_views[user]`), `views.open` takes a
trigger id of `new_trigger()` once, within three seconds (`expire_trigger` ages one: Slack's
`expired_trigger_id`), and records the modal (`opened_views`); `views.update` replaces a view by its id.

Agents (Slack's agent messaging experience): `agents.sessions.setStatus` keeps each thread's statuses
(`agent_sessions`); `assistant.threads.setSuggestedPrompts` keeps the prompts each DM shows
(`suggested_prompts[channel]`: one to four `{title, message}`; one with a `thread_ts` changes nothing, as
Slack ignores it for an agent-view app); `assistant.threads.setTitle` keeps every title each DM thread was
given (`thread_titles[(channel, thread_ts)]`, oldest first). Both need `assistant:write` among the token's
scopes, when the stub knows them (`missing_scope` otherwise).

Control endpoints under `/_stub/`: `POST messages` (a person writes: returns its ts), `GET thread`,
`GET calls`, `POST faults`, `POST config`, `POST reset`.

Installs (OAuth), modelled in `SlackStub.oauth` (a `StubOAuth`):
- `GET /oauth/v2/authorize?client_id=…&scope=…&state=…&redirect_uri=…&team=T…` is the page where the
  installer allows: it redirects (302) at once to `redirect_uri` (or the configured one) with `code` and
  `state`. `team=E…` installs organization-wide in that Enterprise Grid organization; stub-only
  `user=U…` names the installer (default UALICE) and `deny=1` answers `error=access_denied` instead.
  Unknown teams are created; `oauth.add_workspace(team, name, enterprise_id=…)` puts one in an org.
- `oauth.v2.access` (client id and secret by HTTP Basic or form) exchanges a code, once, within ten
  minutes, for an answer shaped like Slack's with a bot token `xoxb-<team>-…` (`xoxb-<enterprise>-…` for
  an organization-wide install); with token rotation on, also `refresh_token` and `expires_in`.
  `grant_type=refresh_token` returns a new token and refresh token; the old ones stop working.
- A token the stub issued decides its call's workspace (`auth.test` answers its team, enterprise and
  `is_enterprise_install`; `x-oauth-scopes` is what it was granted), and once refreshed answers
  `invalid_auth`, once expired `token_expired`, once revoked (uninstalled) `token_revoked`. Any other
  `xoxb-` token is the default workspace's (T0001), as before installs existed.
- Control: `POST /_stub/oauth` {client_id, client_secret, app_id, redirect_uri, token_rotation,
  token_lifetime_seconds}, `POST /_stub/oauth/revoke` {owner: team or enterprise id},
  `POST /_stub/oauth/expire` {token}, `GET /_stub/oauth/tokens?owner=…` (the working ones).
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

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
    files: list[dict[str, Any]] = field(default_factory=list)  # files shared with the message

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
        if self.files:
            data["files"] = [{k: v for k, v in f.items() if k != "content"} for f in self.files]
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
            "UDAVE": "dave",
            BOT_USER_ID: "blocks",
        }
        self.private_channels: set[str] = set()
        # users.info flags: guests (`is_restricted`; single-channel guests `is_ultra_restricted` too) and
        # workspace admins and owners.
        self.guests: set[str] = set()
        self.missing_users: set[str] = set()
        self.admins: set[str] = set()
        # usergroups.users.list: a user group's members.
        self.usergroups: dict[str, list[str]] = {}
        # Sent back as `x-oauth-scopes` on the bot token's answers, as Slack does (None: no header).
        self.granted_scopes: list[str] | None = _manifest_scopes()
        self.socket_mode: SocketModeServer | None = None  # set to serve apps.connections.open
        # Slack's rate tiers, off unless set: method → (calls, window seconds); postMessage per channel.
        self.limits: dict[str, tuple[int, float]] = {}
        self.oauth = StubOAuth(clock)  # installs: the authorize page, oauth.v2.access, issued tokens
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
            # Surfaces: the App Home each user was last shown (views.publish), the modals opened
            # (views.open, oldest first), every view by its id, and the trigger ids handed out.
            self.home_views: dict[str, dict[str, Any]] = {}
            self.opened_views: list[dict[str, Any]] = []
            self.views: dict[str, dict[str, Any]] = {}
            self.triggers: dict[str, _Trigger] = {}
            # Files uploaded (files_upload_v2), by id: name, length, content (bytes), title once shared.
            self.files: dict[str, dict[str, Any]] = {}
            # Agent sessions (agents.sessions.setStatus): each thread's statuses, oldest first, and title.
            self.agent_sessions: dict[tuple[str, str], dict[str, Any]] = {}
            # The agent DM: the suggested prompts each DM shows, and each DM thread's titles, oldest first.
            self.suggested_prompts: dict[str, list[dict[str, str]]] = {}
            self.thread_titles: dict[tuple[str, str], list[str]] = {}
            self._origin = "http://127.0.0.1"  # where this stub is reached: upload URLs point back here

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

    def new_trigger(self) -> str:
        """A trigger id, as Slack puts in an interaction payload: `views.open` takes it once, within
        `TRIGGER_LIFETIME_SECONDS` of now."""
        with self._lock:
            trigger_id = f"{int(self.clock())}.{next(self._counter)}.{secrets.token_hex(8)}"
            self.triggers[trigger_id] = _Trigger(issued_at=self.clock())
            return trigger_id

    def expire_trigger(self, trigger_id: str) -> None:
        """Let a trigger id outlive its three seconds: `views.open` answers `expired_trigger_id`."""
        with self._lock:
            self.triggers[trigger_id].issued_at = self.clock() - TRIGGER_LIFETIME_SECONDS - 1

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self.calls if c["method"] == method]

    # -- WSGI ---------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_stub/"):
            status, body = self._control(request)
            return json_response(start_response, status, body)
        if request.path == "/oauth/v2/authorize":
            return self._authorize_page(request, start_response)
        if request.path.startswith("/upload/"):  # files.getUploadURLExternal's upload_url: the bytes
            return self._receive_upload(request.path.removeprefix("/upload/"), request, start_response)
        self._origin = f"http://{request.header('host') or '127.0.0.1'}"
        method = request.path.rsplit("/", 1)[-1]
        params = request.params()
        token = (request.header("authorization") or "").removeprefix("Bearer ").strip()
        with self._lock:
            # The token too (its hash would do; the stub is for tests): which workspace's token was used.
            call: dict[str, Any] = {"method": method, "params": params, "at": self.clock(), "token": token}
            self.calls.append(call)
            status, body, headers = self._answer(method, params, token)
            call["ok"] = bool(body.get("ok"))
        return json_response(start_response, status, body, headers)

    def _answer(
        self, method: str, params: dict[str, Any], token: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        app_level = method == "apps.connections.open" and token.startswith("xapp-")
        # oauth.v2.access is authenticated by the app's client id and secret (HTTP Basic), not a token.
        if not token.startswith("xoxb-") and not app_level and method != "oauth.v2.access":
            return 200, {"ok": False, "error": "not_authed"}, {}
        refusal = self.oauth.refusal(token)
        if refusal is not None:
            return 200, {"ok": False, "error": refusal}, {}
        fault = self._take_fault(method) or self._over_limit(method, params)
        if fault is not None:
            if fault.error == "ratelimited":
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
            return fault.http_status, {"ok": False, "error": fault.error}, {}
        if method == "oauth.v2.access":
            return 200, self.oauth.access(params, token), {}
        if method == "auth.test" and (installed := self.oauth.auth_test(token)) is not None:
            return 200, installed, self._scopes_header(token)
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        scopes = self._scopes_header(token)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, scopes
        needed = METHOD_SCOPES.get(method)
        granted = scopes.get("x-oauth-scopes")
        if needed is not None and granted is not None and needed not in granted.split(","):
            return 200, {"ok": False, "error": "missing_scope", "needed": needed, "provided": granted}, scopes
        return 200, handler(params), scopes

    def _scopes_header(self, token: str) -> dict[str, str]:
        installed = self.oauth.scopes_of(token)
        if installed is not None:
            return {"x-oauth-scopes": installed}
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

    def _agents_sessions_setStatus(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, thread_ts, status = params.get("channel_id"), params.get("thread_ts"), params.get("status")
        if status not in ("active", "processing", "suspended", "closed") or not channel or not thread_ts:
            return {"ok": False, "error": "invalid_arguments"}
        if (str(channel), str(thread_ts)) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        session = self.agent_sessions.setdefault(
            (str(channel), str(thread_ts)), {"statuses": [], "title": None}
        )
        session["statuses"].append(status)
        if params.get("title"):
            session["title"] = str(params["title"])
        return {"ok": True}

    def _assistant_threads_setSuggestedPrompts(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, prompts = str(params.get("channel_id") or ""), _json_field(params, "prompts")
        if not channel:
            return {"ok": False, "error": "invalid_arguments"}
        if not channel.startswith("D"):  # only the bot's DM with someone has suggested prompts
            return {"ok": False, "error": "channel_not_found"}
        if not isinstance(prompts, list) or not 1 <= len(prompts) <= MAX_SUGGESTED_PROMPTS:
            return {"ok": False, "error": "invalid_arguments"}
        for prompt in prompts:
            if not isinstance(prompt, dict) or set(prompt) - {"title", "message"}:
                return {"ok": False, "error": "invalid_arguments"}
            if not all(isinstance(prompt.get(k), str) and prompt[k].strip() for k in ("title", "message")):
                return {"ok": False, "error": "invalid_arguments"}
        if params.get("thread_ts"):
            return {"ok": True}  # an agent-view app's call with a thread_ts fails silently, as Slack's does
        self.suggested_prompts[channel] = [dict(p) for p in prompts]
        return {"ok": True}

    def _assistant_threads_setTitle(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, thread_ts = str(params.get("channel_id") or ""), str(params.get("thread_ts") or "")
        title = params.get("title")
        if not channel or not thread_ts or not isinstance(title, str) or not title.strip():
            return {"ok": False, "error": "invalid_arguments"}
        if len(title) > THREAD_TITLE_LIMIT:
            return {"ok": False, "error": "invalid_arguments"}
        if not channel.startswith("D"):  # a title is what the DM's history shows: DM threads only
            return {"ok": False, "error": "channel_not_found"}
        root = self.messages.get((channel, thread_ts))
        if root is None or root.thread_ts not in (None, thread_ts):
            return {"ok": False, "error": "invalid_thread_ts"}
        self.thread_titles.setdefault((channel, thread_ts), []).append(title)
        return {"ok": True}

    # -- files (files_upload_v2: an upload URL, the bytes posted to it, then the share) -------------

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        name, length = params.get("filename"), params.get("length")
        if not name or not str(length or "").isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{len(self.files) + 1:08d}"
        self.files[file_id] = {"id": file_id, "name": str(name), "length": int(str(length)), "content": None}
        return {"ok": True, "file_id": file_id, "upload_url": f"{self._origin}/upload/{file_id}"}

    def _receive_upload(
        self, file_id: str, request: Request, start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        with self._lock:
            found = self.files.get(file_id)
            if found is not None:
                found["content"] = request.body
        start_response("200 OK" if found is not None else "404 Not Found", [("Content-Type", "text/plain")])
        return [b"OK" if found is not None else b"no such upload"]

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        listed = _json_field(params, "files") or []
        channel, thread_ts = str(params.get("channel_id") or ""), params.get("thread_ts")
        shared = []
        for item in listed if isinstance(listed, list) else []:
            found = self.files.get(str(item.get("id")))
            if found is None or found["content"] is None:
                return {"ok": False, "error": "file_not_found"}
            found["title"] = item.get("title") or found["name"]
            shared.append(found)
        if not shared:
            return {"ok": False, "error": "invalid_arguments"}
        if channel:
            if thread_ts and (channel, thread_ts) not in self.messages:
                return {"ok": False, "error": "thread_not_found"}
            text = str(params.get("initial_comment") or "")
            message = StubMessage(
                channel, self._next_ts(), BOT_USER_ID, text, thread_ts, is_bot=True, files=shared
            )
            self.messages[(channel, message.ts)] = message
        return {"ok": True, "files": [{k: v for k, v in f.items() if k != "content"} for f in shared]}

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
        # Like a workspace, the stub knows every member id it is asked about (named after it) unless told
        # to forget one.
        if user in self.missing_users or not (user[:1] in ("U", "W") and user.isalnum()):
            return {"ok": False, "error": "user_not_found"}
        name = self.users.get(user, user.lower())
        found = {
            "id": user,
            "name": name,
            "profile": {"display_name": name},
            "is_restricted": user in self.guests,
            "is_ultra_restricted": False,
            "is_admin": user in self.admins,
            "is_owner": False,
        }
        return {"ok": True, "user": found}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = str(params.get("usergroup", ""))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        """Seen only by `user`: recorded with the calls (`calls_to("chat.postEphemeral")`), not in the
        channel's messages."""
        if not params.get("user") or not params.get("channel"):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "message_ts": self._next_ts()}

    # -- surfaces: App Home and modals --------------------------------------------------------------

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        """The App Home tab of `user_id`: replaced whole by each publish."""
        user = str(params.get("user_id") or "")
        view = _json_field(params, "view")
        if not user or not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        if view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        problem = _view_problem(view)
        if problem:
            return {"ok": False, "error": problem}
        previous = self.home_views.get(user)
        stored = self._store_view(view, previous["id"] if previous else None)
        self.home_views[user] = stored
        return {"ok": True, "view": stored}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """A modal, opened with a trigger id of `new_trigger`: once each, within its three seconds."""
        view = _json_field(params, "view")
        if not isinstance(view, dict) or view.get("type") != "modal":
            return {"ok": False, "error": "invalid_arguments"}
        trigger = self.triggers.get(str(params.get("trigger_id") or ""))
        if trigger is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        if trigger.used:
            return {"ok": False, "error": "exchanged_trigger_id"}
        if self.clock() - trigger.issued_at > TRIGGER_LIFETIME_SECONDS:
            return {"ok": False, "error": "expired_trigger_id"}
        problem = _view_problem(view)
        if problem:
            return {"ok": False, "error": problem}
        trigger.used = True
        stored = self._store_view(view, None)
        self.opened_views.append(stored)
        return {"ok": True, "view": stored}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view = _json_field(params, "view")
        view_id = str(params.get("view_id") or "")
        if not isinstance(view, dict) or view_id not in self.views:
            return {"ok": False, "error": "not_found" if isinstance(view, dict) else "invalid_arguments"}
        problem = _view_problem(view)
        if problem:
            return {"ok": False, "error": problem}
        if view.get("type") != self.views[view_id]["type"]:
            return {"ok": False, "error": "invalid_arguments"}
        stored = self._store_view(view, view_id)
        for user, home in self.home_views.items():
            if home["id"] == view_id:
                self.home_views[user] = stored
        self.opened_views = [stored if v["id"] == view_id else v for v in self.opened_views]
        return {"ok": True, "view": stored}

    def _store_view(self, view: dict[str, Any], view_id: str | None) -> dict[str, Any]:
        stored = {**view, "id": view_id or f"V{next(self._counter):08d}", "hash": secrets.token_hex(6)}
        self.views[stored["id"]] = stored
        return stored

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
            if name.startswith("oauth"):
                return self._oauth_control(name, request)
        return 404, {"error": "unknown control endpoint"}

    def _oauth_control(self, name: str, request: Request) -> tuple[int, Any]:
        body = request.json() or {}
        if name == "oauth" and request.method == "POST":
            self.oauth.configure(body)
            return 200, {"ok": True}
        if name == "oauth/revoke" and request.method == "POST":
            return 200, {"ok": True, "revoked": self.oauth.revoke(str(body.get("owner", "")))}
        if name == "oauth/expire" and request.method == "POST":
            if str(body.get("token")) not in self.oauth.tokens:
                return 404, {"error": "no such token"}
            self.oauth.expire(str(body["token"]))
            return 200, {"ok": True}
        if name == "oauth/tokens":
            owner = (request.query.get("owner") or [""])[0]
            return 200, {"tokens": self.oauth.active_tokens(owner)}
        return 404, {"error": "unknown control endpoint"}

    def _authorize_page(self, request: Request, start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            self.calls.append(
                {"method": "oauth.v2.authorize", "params": request.params(), "at": self.clock()}
            )
        status, answer = self.oauth.authorize(request.query)
        if isinstance(answer, str):
            start_response("302 Found", [("Location", answer), ("Content-Length", "0")])
            return [b""]
        return json_response(start_response, status, answer)


# -- installs (OAuth) -------------------------------------------------------------------------------------

TRIGGER_LIFETIME_SECONDS = 3.0  # Slack's: a trigger id opens a view only within three seconds
METHOD_SCOPES = {  # methods whose scope the stub checks against the token's
    "assistant.threads.setSuggestedPrompts": "assistant:write",
    "assistant.threads.setTitle": "assistant:write",
}
MAX_SUGGESTED_PROMPTS = 4
# Slack documents none for setTitle; the stub takes the 200 it documents for an agent session's title.
THREAD_TITLE_LIMIT = 200
VIEW_BLOCK_LIMIT = 100  # blocks in a modal or an App Home view


@dataclass
class _Trigger:
    issued_at: float
    used: bool = False


def _view_problem(view: dict[str, Any]) -> str | None:
    """Slack's checks of a view that the bot could get wrong: its blocks, and a block_id used twice."""
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > VIEW_BLOCK_LIMIT:
        return "invalid_arguments"
    ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id")]
    if len(ids) != len(set(ids)):
        return "duplicate_block_id"
    return None


CODE_LIFETIME_SECONDS = 600  # Slack's: a code nobody exchanged is void after ten minutes
TOKEN_LIFETIME_SECONDS = 43200  # with token rotation on, Slack's access tokens live 12 hours
INSTALLER = "UALICE"  # who clicks Allow, unless the authorize link says `user=`


@dataclass
class StubWorkspace:
    team_id: str
    name: str
    enterprise_id: str | None = None


@dataclass
class StubToken:
    """A bot token the stub issued through an install or a refresh: whose it is and whether it works."""

    token: str
    team_id: str | None  # None: an organization-wide install (of `enterprise_id`)
    enterprise_id: str | None
    scope: str
    installer: str
    expires_at: float | None = None  # only with token rotation
    refresh_token: str | None = None
    status: str = "active"  # active | replaced (by a refresh) | revoked (uninstalled)

    def refusal(self, now: float) -> str | None:
        """The error Slack answers a call made with this token, or None when it works."""
        if self.status == "revoked":
            return "token_revoked"
        if self.status == "replaced":
            return "invalid_auth"
        if self.expires_at is not None and now >= self.expires_at:
            return "token_expired"
        return None


@dataclass
class _Code:
    team_id: str | None
    enterprise_id: str | None
    installer: str
    scope: str
    redirect_uri: str | None  # as the authorize link gave it: the exchange must repeat it
    expires_at: float


class StubOAuth:
    """Slack's side of an install: the authorize page, `oauth.v2.access` (code exchange and refresh),
    and the tokens they issue, each of one workspace or organization."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.client_id = "sim-client-id"
        self.client_secret = "sim-client-secret"
        self.app_id = "ASIM"
        self.token_rotation = False
        self.token_lifetime_seconds = TOKEN_LIFETIME_SECONDS
        # The app's Redirect URL (app settings): where the authorize page sends the installer when the
        # link names none.
        self.redirect_uri: str | None = None
        self.workspaces: dict[str, StubWorkspace] = {TEAM_ID: StubWorkspace(TEAM_ID, "Sim")}
        self.organizations: dict[str, str] = {}  # enterprise id → name
        self.tokens: dict[str, StubToken] = {}
        self._codes: dict[str, _Code] = {}
        self._renews: dict[str, str] = {}  # refresh token → the access token it renews
        self._serial = itertools.count(1)
        self._lock = threading.RLock()

    # -- the world ------------------------------------------------------------------------------------

    def add_workspace(
        self, team_id: str, name: str | None = None, *, enterprise_id: str | None = None
    ) -> StubWorkspace:
        with self._lock:
            if enterprise_id is not None:
                self.add_organization(enterprise_id)
            workspace = StubWorkspace(team_id, name or f"Workspace {team_id}", enterprise_id)
            self.workspaces[team_id] = workspace
            return workspace

    def add_organization(self, enterprise_id: str, name: str | None = None) -> None:
        with self._lock:
            if name is not None or enterprise_id not in self.organizations:
                self.organizations[enterprise_id] = name or f"Org {enterprise_id}"

    def active_tokens(self, owner: str) -> list[str]:
        """The working tokens of a team id, or of an enterprise id's organization-wide install."""
        with self._lock:
            now = self.clock()
            return [
                t.token
                for t in self.tokens.values()
                if (t.team_id or t.enterprise_id) == owner and t.refusal(now) is None
            ]

    def revoke(self, owner: str) -> int:
        """Uninstall from a team (or an organization): its tokens answer `token_revoked` from now on."""
        with self._lock:
            revoked = 0
            for record in self.tokens.values():
                if (record.team_id or record.enterprise_id) == owner and record.status == "active":
                    record.status = "revoked"
                    self._renews.pop(record.refresh_token or "", None)
                    revoked += 1
            return revoked

    def expire(self, token: str) -> None:
        """Let a token reach its expiry now (it answers `token_expired`; its refresh token still works)."""
        with self._lock:
            self.tokens[token].expires_at = self.clock()

    def configure(self, body: dict[str, Any]) -> None:
        with self._lock:
            for name in ("client_id", "client_secret", "app_id", "redirect_uri"):
                if name in body:
                    setattr(self, name, body[name])
            if "token_rotation" in body:
                self.token_rotation = bool(body["token_rotation"])
            if "token_lifetime_seconds" in body:
                self.token_lifetime_seconds = int(body["token_lifetime_seconds"])

    # -- the authorize page ---------------------------------------------------------------------------

    def authorize(self, query: dict[str, list[str]]) -> tuple[int, str | dict[str, Any]]:
        """The installer allows at once: 302 to the redirect URL with a code (or `error=access_denied`
        for `deny=1`), or 400 with the reason Slack's page would show."""

        def first(name: str) -> str:
            return (query.get(name) or [""])[0]

        with self._lock:
            if first("client_id") != self.client_id:
                return 400, {"ok": False, "error": "invalid_client_id"}
            redirect_uri = first("redirect_uri") or self.redirect_uri
            if not redirect_uri:
                return 400, {"ok": False, "error": "no_redirect_uri"}
            state = first("state")
            if first("deny"):
                return 302, _with_query(redirect_uri, error="access_denied", state=state)
            target = first("team") or TEAM_ID
            team_id: str | None
            enterprise_id: str | None
            if target.startswith("E"):  # an organization-wide install
                self.add_organization(target)
                team_id, enterprise_id = None, target
            else:
                workspace = self.workspaces.get(target) or self.add_workspace(target)
                team_id, enterprise_id = workspace.team_id, workspace.enterprise_id
            code = f"code-{next(self._serial)}-{secrets.token_hex(8)}"
            self._codes[code] = _Code(
                team_id,
                enterprise_id,
                first("user") or INSTALLER,
                first("scope"),
                first("redirect_uri") or None,
                self.clock() + CODE_LIFETIME_SECONDS,
            )
            return 302, _with_query(redirect_uri, code=code, state=state)

    # -- oauth.v2.access ------------------------------------------------------------------------------

    def access(self, params: dict[str, Any], authorization: str) -> dict[str, Any]:
        client_id, client_secret = _client_credentials(params, authorization)
        with self._lock:
            if client_id != self.client_id:
                return {"ok": False, "error": "invalid_client_id"}
            if client_secret != self.client_secret:
                return {"ok": False, "error": "bad_client_secret"}
            grant = str(params.get("grant_type") or "authorization_code")
            if grant == "refresh_token":
                return self._refresh(str(params.get("refresh_token") or ""))
            if grant != "authorization_code":
                return {"ok": False, "error": "invalid_grant_type"}
            return self._exchange(str(params.get("code") or ""), params.get("redirect_uri"))

    def _exchange(self, code: str, redirect_uri: Any) -> dict[str, Any]:
        issued = self._codes.pop(code, None)  # a code is good once, used or not
        if issued is None or self.clock() >= issued.expires_at:
            return {"ok": False, "error": "invalid_code"}
        if issued.redirect_uri is not None and redirect_uri != issued.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        record = self._issue(issued.team_id, issued.enterprise_id, issued.scope, issued.installer)
        return self._token_answer(record)

    def _refresh(self, refresh_token: str) -> dict[str, Any]:
        renewed = self.tokens.get(self._renews.pop(refresh_token, ""))
        if renewed is None or renewed.status != "active":
            return {"ok": False, "error": "invalid_refresh_token"}
        renewed.status = "replaced"
        record = self._issue(renewed.team_id, renewed.enterprise_id, renewed.scope, renewed.installer)
        return self._token_answer(record)

    def _issue(self, team_id: str | None, enterprise_id: str | None, scope: str, installer: str) -> StubToken:
        owner = team_id or enterprise_id
        serial = next(self._serial)
        record = StubToken(
            f"xoxb-{owner}-{serial}-{secrets.token_hex(8)}", team_id, enterprise_id, scope, installer
        )
        if self.token_rotation:
            record.expires_at = self.clock() + self.token_lifetime_seconds
            record.refresh_token = f"xoxe-1-{owner}-{serial}-{secrets.token_hex(8)}"
            self._renews[record.refresh_token] = record.token
        self.tokens[record.token] = record
        return record

    def _token_answer(self, record: StubToken) -> dict[str, Any]:
        """oauth.v2.access's answer, shaped like Slack's (an organization-wide install has no team)."""
        workspace = self.workspaces.get(record.team_id or "")
        answer: dict[str, Any] = {
            "ok": True,
            "app_id": self.app_id,
            "authed_user": {"id": record.installer},
            "scope": record.scope,
            "token_type": "bot",
            "access_token": record.token,
            "bot_user_id": BOT_USER_ID,
            "team": None if workspace is None else {"id": workspace.team_id, "name": workspace.name},
            "enterprise": None
            if record.enterprise_id is None
            else {"id": record.enterprise_id, "name": self.organizations.get(record.enterprise_id, "")},
            "is_enterprise_install": record.team_id is None,
        }
        if record.refresh_token is not None and record.expires_at is not None:
            answer["refresh_token"] = record.refresh_token
            answer["expires_in"] = max(0, int(record.expires_at - self.clock()))
        return answer

    # -- calls made with an issued token --------------------------------------------------------------

    def refusal(self, token: str) -> str | None:
        """The error for a call with an issued token that no longer works (tokens the stub did not issue
        are not its business: they work as the one default workspace's)."""
        with self._lock:
            record = self.tokens.get(token)
            return None if record is None else record.refusal(self.clock())

    def auth_test(self, token: str) -> dict[str, Any] | None:
        """auth.test for an issued token: its own workspace (None: not a token the stub issued)."""
        with self._lock:
            record = self.tokens.get(token)
            if record is None:
                return None
            answer: dict[str, Any] = {
                "ok": True,
                "user": "blocks",
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": record.team_id is None,
            }
            if record.team_id is not None:
                workspace = self.workspaces[record.team_id]
                answer.update(team=workspace.name, team_id=workspace.team_id)
                answer["url"] = f"https://{workspace.team_id.lower()}.sim.slack.com/"
            else:
                answer["url"] = f"https://{(record.enterprise_id or '').lower()}.enterprise.sim.slack.com/"
            if record.enterprise_id is not None:
                answer["enterprise_id"] = record.enterprise_id
            return answer

    def scopes_of(self, token: str) -> str | None:
        """What an issued token was granted (the `x-oauth-scopes` header), or None."""
        with self._lock:
            record = self.tokens.get(token)
            return None if record is None else record.scope


def _client_credentials(params: dict[str, Any], authorization: str) -> tuple[str, str]:
    """client_id and client_secret: HTTP Basic (as slack_sdk sends them) or form fields."""
    if authorization.startswith("Basic "):
        try:
            decoded = base64.b64decode(authorization[len("Basic ") :]).decode()
        except ValueError:
            return "", ""
        client_id, _, client_secret = decoded.partition(":")
        return client_id, client_secret
    return str(params.get("client_id") or ""), str(params.get("client_secret") or "")


def _with_query(url: str, **values: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(values)


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
