"""A Blocks REST API simulator, faithful to the observed behaviour by default (see the API reference).

Observed by default, with a switch for each documented variant:
- validation errors are 422 `{"error": "…"}` (`validation_status=400`: `{"error", "code": "VALIDATION"}`);
- message lists are sorted by `ts` ascending when `direction` is omitted (`default_direction="desc"`);
- `_links` point at another origin (`links_origin`), and `new_messages` keeps only `gts`;
- in a finished thread the last assistant message duplicates the final message;
- 429 carries no `Retry-After` (`retry_after=1` adds one); a sliding 60-second window of
  `rate_limit` requests per key;
- a follow-up interrupts the running turn of its session, which then never finishes
  (`interrupted_finish=True` lets it finish anyway);
- missing `Authorization` → 401, a malformed or unknown key → 403; unknown session or thread → 404.

A turn's timeline: the user message, then (spread over the turn) the agent's tool calls, named and shaped
like the real agents' (`agent_tools`: a plan, a search, reads, an edit, the tests run) and an assistant
message, then the answer as an assistant message plus the identical final message after `answer_delay`
seconds. Directives in the user's text change one turn: `#delay=SECONDS`, `#long=CHARACTERS` (a long markdown
answer with a code block), `#never` (never finishes), `#empty` (an empty answer), `#fail=auth` (the
agent's authentication failure notice instead of an answer), `#pr` (the agent views a pull request in a
tool call and opens another, named in its answer). A session's title is made from its first request (a
few of its words, as Blocks generates a short one), and is in the create's answer; with `#untitled` in the
request it is not yet, only in a later read of the session (whether Blocks has it at once is not known).

Control endpoints (not rate limited, no auth) under `/_sim/`: `GET state`, `GET log`, `POST faults`,
`POST config`, `POST reset`. A fault answers matching requests with a status, either before doing the work
or after it (`"when": "after"`: the effect happened, the client cannot know), or hangs (`"hang": seconds`).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.sim.agent_tools import tool_calls
from bot.sim.wsgi import Request, json_response

CORE_AGENTS = {"claude", "codex", "gemini", "opencode", "cursor", "kimi", "sisyphus"}
_SESSION_PATH = re.compile(r"^/rest/v1/sessions/([^/]+)$")
_MESSAGES_PATH = re.compile(r"^/rest/v1/sessions/([^/]+)/messages$")
_THREAD_PATH = re.compile(r"^/rest/v1/sessions/([^/]+)/threads/([^/]+)/messages$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class SimConfig:
    answer_delay: float = 2.0
    rate_limit: int = 100
    rate_window: float = 60.0
    retry_after: float | None = None
    validation_status: int = 422
    default_direction: str = "asc"
    links_origin: str = "https://api.prod.blocks.team"
    interrupted_finish: bool = False
    api_keys: list[str] | None = None  # None: any key is valid
    # Which Blocks workspace each key belongs to (unlisted keys: the default one). A session is seen only
    # with keys of the workspace that created it (another workspace's answers 404, as Blocks does).
    key_workspaces: dict[str, str] = field(default_factory=dict)
    workspace_url: str = "https://blocks.team/app/sim-workspace/sessions"
    progress_message: str = "Looking at the code…"  # the agent's intermediate message, before its answer


@dataclass
class Fault:
    method: str
    path: str  # regular expression on the path
    status: int = 500
    count: int = 1
    when: str = "before"  # before | after
    hang: float = 0.0
    retry_after: float | None = None  # sent as a Retry-After header
    body: dict[str, Any] = field(default_factory=lambda: {"error": "Injected failure"})


@dataclass
class _Item:
    id: str
    session_id: str
    thread_id: str | None
    role: str
    type: str
    message: str
    visible_at: float
    ts: float | None

    def to_json(self) -> dict[str, Any]:
        stamp = _iso(self.visible_at)
        return {
            "id": self.id,
            "chat_id": self.session_id,
            "chat_thread_id": self.thread_id,
            "task_id": f"task-{self.thread_id}",
            "role": self.role,
            "type": self.type,
            "message": self.message,
            "ts": self.ts,
            "created_at": stamp,
            "updated_at": stamp,
        }


@dataclass
class _Thread:
    id: str
    session_id: str
    user_text: str
    created_at: float
    final_at: float | None  # None: never finishes
    answer: str
    interrupted_at: float | None = None


@dataclass
class _Session:
    id: str
    agent: str
    is_private: bool
    created_at: float
    threads: list[str] = field(default_factory=list)
    workspace: str = "default"  # the Blocks workspace of the key that created it
    pull_requests: list[Any] = field(default_factory=list)  # strings, ids or {url, status}, as Blocks has
    title: str | None = None
    later_title: str | None = None  # `#untitled`: the title a later read of the session has


# What Blocks answers when the agent's provider refuses its credentials (see blocks/failure_notice.py).
AUTH_FAILED = (
    "Claude Code: Authentication failed. Please check that your API key or Subscription is valid.\n\n"
    "<details>authentication_failed</details>"
)
# `#pr`: the agent opens a pull request (named in its answer) and looks at another one (in a tool call).
OPENED_PR = "https://github.com/acme/widgets/pull/42"
VIEWED_PR = "https://github.com/acme/widgets/pull/17"
SESSION_PR = "https://github.com/acme/widgets/pull/43"  # only in the session's pull_requests
STOPPED_LINE = "Stopped. The fix in src/cli.py is edited but not committed; nothing was pushed."


# The lines the bot puts around what people wrote (bot/turns/compose.py): not what a title is made of.
_FRAMING = re.compile(
    r"^(Slack message from @.*:|From @.*:|\d+ Slack messages, sent while you were busy.*"
    r"|Earlier messages in this Slack thread.*|@\S+: .*|\(\d+ earlier messages? in this thread.*)$"
)
TITLE_WORDS = 6


def session_title(request: str) -> str:
    """A short title made from a request, as Blocks generates one ("Octopus fun fact"): its first words,
    without the bot's framing, the simulator's directives or a leading `/agent`."""
    lines = [line for line in request.splitlines() if line.strip() and not _FRAMING.match(line.strip())]
    words = [word for word in " ".join(lines).split() if not word.startswith("#")]
    if words and words[0].startswith("/"):
        words = words[1:]
    title = " ".join(words[:TITLE_WORDS]).rstrip(".,;:!?")
    return title[:1].upper() + title[1:] if title else "New session"


def default_answer(agent: str, text: str) -> str:
    if "pressed Stop in Slack" in text:  # the bot's stop (bot/slack/messages.stop_prompt): one line
        return STOPPED_LINE
    # Skip the "Slack message from @x:" style headings: quote what the person asked.
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().endswith(":")]
    first = lines[0] if lines else ""
    return f"**{agent}** here. You asked:\n\n> {first[:300]}\n\nDone: the change is ready for review."


def long_answer(agent: str, characters: int) -> str:
    lines = [f"# Report from {agent}", "", "Here is everything, in detail.", ""]
    paragraph = (
        "The retry policy backs off exponentially with full jitter, and honours Retry-After when the "
        "server sends it. Each attempt is recorded before it is sent, so a crash never repeats it blindly."
    )
    index = 0
    while sum(len(line) + 1 for line in lines) < characters * 0.6:
        index += 1
        lines += [f"## Section {index}", paragraph, ""]
    lines += ["```python"]
    while sum(len(line) + 1 for line in lines) < characters:
        index += 1
        lines.append(f"def step_{index}(attempt: int) -> float:  # backoff for attempt {index}")
        lines.append(f"    return min(300.0, 2.0 ** attempt) * {index % 7 + 1} / 7")
    lines += ["```", "", "That is the whole report."]
    return "\n".join(lines)


class BlocksSimulator:
    def __init__(self, config: SimConfig | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config or SimConfig()
        self.clock = clock
        self.answer: Callable[[str, str], str] = default_answer
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget every session (as if they were deleted), fault and logged request."""
        with self._lock:
            self._reset()

    def seed_running_turn(self, *, session_id: str, thread_id: str, agent: str = "claude") -> None:
        """A session whose turn never finishes, as if created earlier (benchmarks with many turns)."""
        with self._lock:
            now = self.clock()
            session = _Session(session_id, agent, False, now, [thread_id])
            self.sessions[session_id] = session
            self.threads[thread_id] = _Thread(thread_id, session_id, "seeded", now, None, "")

    def inject(self, **fault: Any) -> None:
        """Add a fault (see `Fault`), as `POST /_sim/faults` does."""
        with self._lock:
            self.faults.append(Fault(**fault))

    def _reset(self) -> None:
        self.sessions: dict[str, _Session] = {}
        self.threads: dict[str, _Thread] = {}
        self.items: list[_Item] = []
        self.faults: list[Fault] = []
        self.log: list[dict[str, Any]] = []
        self._windows: dict[str, deque[float]] = {}

    # -- WSGI ---------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_sim/"):
            status, body = self._control(request)
            return json_response(start_response, status, body)
        status, body, headers = self._api(request)
        return json_response(start_response, status, body, headers)

    # -- the API ------------------------------------------------------------------------------------

    def _api(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        now = self.clock()
        key = _api_key(request.header("authorization"))
        with self._lock:
            status, body, headers, fault = self._gate(request, key, now)
            if status == 0:
                status, body = self._route(request, now, self._workspace_of(key))
                headers = {}
                if fault is not None:  # the work is done, but the client is told otherwise
                    status, body = fault.status, fault.body
            self.log.append(
                {"at": now, "method": request.method, "path": request.path, "status": status, "key": key}
            )
        if fault is not None and fault.hang:
            time.sleep(fault.hang)
        return status, body, headers

    def _gate(
        self, request: Request, key: str | None, now: float
    ) -> tuple[int, Any, dict[str, str], Fault | None]:
        """Auth, rate limit and injected faults, in the order the real API would meet them."""
        raw = request.header("authorization")
        if not raw:
            return 401, {"error": "Unauthorized"}, {}, None
        if key is None or (self.config.api_keys is not None and key not in self.config.api_keys):
            return 403, {"error": "Forbidden"}, {}, None
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - self.config.rate_window:
            window.popleft()
        if len(window) >= self.config.rate_limit:
            headers = {}
            if self.config.retry_after is not None:
                headers["Retry-After"] = str(int(self.config.retry_after))
            return 429, {"error": "Rate limit exceeded"}, headers, None
        window.append(now)
        for fault in self.faults:
            if fault.count > 0 and fault.method == request.method and re.search(fault.path, request.path):
                fault.count -= 1
                if fault.when == "after" or fault.hang:
                    return 0, None, {}, fault
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return fault.status, fault.body, headers, None
        return 0, None, {}, None

    def _workspace_of(self, key: str | None) -> str:
        return self.config.key_workspaces.get(key or "", "default")

    def _route(self, request: Request, now: float, workspace: str) -> tuple[int, Any]:
        path, method = request.path, request.method
        if path == "/rest/v1/sessions" and method == "POST":
            return self._create(request.json(), now, workspace)
        session_path = _SESSION_PATH.match(path) or _MESSAGES_PATH.match(path) or _THREAD_PATH.match(path)
        if session_path:
            found = self.sessions.get(session_path.group(1))
            if found is not None and found.workspace != workspace:
                return 404, {"error": "Not found", "code": "NOT_FOUND"}  # another workspace's session
        if (match := _SESSION_PATH.match(path)) and method == "GET":
            return self._get_session(match.group(1))
        if (match := _MESSAGES_PATH.match(path)) and method == "POST":
            return self._follow_up(match.group(1), request.json(), now)
        if (match := _MESSAGES_PATH.match(path)) and method == "GET":
            return self._list(match.group(1), None, request.query, now)
        if (match := _THREAD_PATH.match(path)) and method == "GET":
            return self._list(match.group(1), match.group(2), request.query, now)
        return 404, {"error": "Not found", "code": "NOT_FOUND"}

    def _create(self, body: Any, now: float, workspace: str = "default") -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body["message"]:
            return self._invalid("message is required")
        chosen = [k for k in ("agent_id", "agent_name", "profile") if body.get(k)]
        if not chosen:
            return self._invalid("Either agent_id, agent_name, or profile must be provided.")
        agent = str(body.get("agent_name") or "custom")
        if body.get("agent_name") and agent not in CORE_AGENTS:
            return self._invalid(f"Unknown agent_name: {agent}")
        session = _Session(str(uuid.uuid4()), agent, bool(body.get("is_private")), now, workspace=workspace)
        if "#untitled" in body["message"]:
            session.later_title = session_title(body["message"])
        else:
            session.title = session_title(body["message"])
        self.sessions[session.id] = session
        thread = self._start_thread(session, body["message"], now)
        return 200, self._session_json(session, thread)

    def _follow_up(self, session_id: str, body: Any, now: float) -> tuple[int, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            return 404, {"error": "Session not found", "code": "NOT_FOUND"}
        if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body["message"]:
            return self._invalid("message is required")
        for thread_id in session.threads:  # a follow-up interrupts the running turn
            thread = self.threads[thread_id]
            if thread.final_at is None or thread.final_at > now:
                thread.interrupted_at = now
                if not self.config.interrupted_finish:
                    thread.final_at = None
        thread = self._start_thread(session, body["message"], now)
        user = next(i for i in self.items if i.thread_id == thread.id and i.role == "user")
        data = user.to_json()
        data["_links"] = self._thread_links(session.id, thread.id)
        return 200, data

    def _get_session(self, session_id: str) -> tuple[int, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            return 404, {"error": "Session not found", "code": "NOT_FOUND"}
        session.title = session.title or session.later_title
        return 200, self._session_json(session, None)

    def _list(
        self, session_id: str, thread_id: str | None, query: dict[str, list[str]], now: float
    ) -> tuple[int, Any]:
        if not _UUID.match(session_id) or (thread_id is not None and not _UUID.match(thread_id)):
            return self._invalid("id must be a UUID")
        if session_id not in self.sessions:
            return 404, {"error": "Session not found", "code": "NOT_FOUND"}
        if thread_id is not None and self.threads.get(thread_id, None) is None:
            return 404, {"error": "Thread not found", "code": "NOT_FOUND"}
        types = query.get("type") or ["message", "final_message"]
        roles = query.get("role") or ["assistant"]
        if any("," in t or t not in ("message", "final_message", "tool_call") for t in types):
            return self._invalid("type must be one of message, final_message, tool_call")
        if any(r not in ("user", "assistant") for r in roles):
            return self._invalid("role must be user or assistant")
        direction = (query.get("direction") or [self.config.default_direction])[0]
        try:
            page = int((query.get("page") or ["1"])[0])
            limit = int((query.get("limit") or ["50"])[0])
            gts = float(query["gts"][0]) if query.get("gts") else None
        except ValueError:
            return self._invalid("page, limit and gts must be numbers")
        if page < 1 or not 1 <= limit <= 100 or direction not in ("asc", "desc"):
            return self._invalid("page ≥ 1, limit 1–100, direction asc|desc")
        wanted_thread = thread_id or next(iter(query.get("thread_id") or []), None)
        visible = [
            item
            for item in self._visible(session_id, now)
            if item.type in types
            and item.role in roles
            and (wanted_thread is None or item.thread_id == wanted_thread)
            and (gts is None or (item.ts is not None and item.ts > gts))
        ]
        visible.sort(key=lambda i: (i.ts if i.ts is not None else i.visible_at, i.visible_at))
        if direction == "desc":
            visible.reverse()
        total = len(visible)
        chunk = visible[(page - 1) * limit : page * limit]
        cursor = max((i.ts for i in chunk if i.ts is not None), default=float(int(now)))
        base = f"{self.config.links_origin}/rest/v1/sessions/{session_id}"
        base += f"/threads/{thread_id}/messages" if thread_id else "/messages"
        return 200, {
            "items": [item.to_json() for item in chunk],
            "meta": {"total": total, "page": page, "limit": limit, "total_pages": max(1, -(-total // limit))},
            "_links": {"self": {"href": base}, "new_messages": {"href": f"{base}?gts={cursor}"}},
        }

    # -- turns --------------------------------------------------------------------------------------

    def _start_thread(self, session: _Session, text: str, now: float) -> _Thread:
        delay = self.config.answer_delay
        if match := re.search(r"#delay=([0-9.]+)", text):
            delay = float(match.group(1))
        if match := re.search(r"#long=([0-9]+)", text):
            answer = long_answer(session.agent, int(match.group(1)))
        elif "#empty" in text:
            answer = ""
        elif "#fail=auth" in text:
            answer = AUTH_FAILED
        elif re.search(r"#pr\b", text):
            answer = self.answer(session.agent, text) + f"\n\nI opened {OPENED_PR} with the fix."
            # The session knows it too, and one more, in the shapes Blocks lists them.
            session.pull_requests += [{"url": OPENED_PR, "status": "open"}, SESSION_PR, 4242]
        else:
            answer = self.answer(session.agent, text)
        final_at = None if "#never" in text else now + delay
        thread = _Thread(str(uuid.uuid4()), session.id, text, now, final_at, answer)
        self.threads[thread.id] = thread
        session.threads.append(thread.id)
        self.items.append(_Item(str(uuid.uuid4()), session.id, thread.id, "user", "message", text, now, None))
        return thread

    def _visible(self, session_id: str, now: float) -> list[_Item]:
        """Materialize each thread's timeline up to `now` (assistant items appear as time passes)."""
        items = [i for i in self.items if i.session_id == session_id]
        for thread_id in self.sessions[session_id].threads:
            thread = self.threads[thread_id]
            items.extend(self._timeline(thread, now))
        return [i for i in items if i.visible_at <= now]

    def _timeline(self, thread: _Thread, now: float) -> list[_Item]:
        finish = (
            thread.final_at if thread.final_at is not None else thread.created_at + self.config.answer_delay
        )
        span = finish - thread.created_at
        # The agent's tool calls over the first half of its work (agent_tools), then a word to the user.
        calls = tool_calls(
            self.sessions[thread.session_id].agent,
            viewed_pr=VIEWED_PR if re.search(r"#pr\b", thread.user_text) else None,
        )
        progress = [
            self._item(thread, "tool_call", call, thread.created_at + span * 0.5 * (index + 1) / len(calls))
            for index, call in enumerate(calls)
        ]
        progress.append(
            self._item(thread, "message", self.config.progress_message, thread.created_at + span * 0.6)
        )
        if thread.interrupted_at is not None and thread.final_at is None:
            progress = [i for i in progress if i.visible_at <= thread.interrupted_at]
        if thread.final_at is None:
            return progress
        return progress + [
            self._item(thread, "message", thread.answer, thread.final_at, suffix="answer"),
            self._item(thread, "final_message", thread.answer, thread.final_at, suffix="final"),
        ]

    def _item(self, thread: _Thread, kind: str, text: str, at: float, suffix: str = "") -> _Item:
        # Stable ids: the same item reads the same way on every poll.
        item_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{thread.id}/{kind}/{at}/{suffix}"))
        return _Item(item_id, thread.session_id, thread.id, "assistant", kind, text, at, round(at, 3))

    # -- JSON shapes --------------------------------------------------------------------------------

    def _session_json(self, session: _Session, thread: _Thread | None) -> dict[str, Any]:
        base = f"{self.config.links_origin}/rest/v1/sessions/{session.id}"
        links: dict[str, Any] = {"self": {"href": base}, "messages": {"href": f"{base}/messages"}}
        links.update(
            self._thread_links(session.id, thread.id) if thread else {"thread": None, "final_message": None}
        )
        return {
            "id": session.id,
            "title": session.title,
            "pull_requests": list(session.pull_requests),
            "source_url": None,
            "is_archived": False,
            "is_private": session.is_private,
            "session_group_id": None,
            "created_at": _iso(session.created_at),
            "updated_at": _iso(session.created_at),
            "thread_id": thread.id if thread else None,
            "session_html_url": f"{self.config.workspace_url}/{session.id}",
            "_links": links,
        }

    def _thread_links(self, session_id: str, thread_id: str) -> dict[str, Any]:
        thread_url = f"{self.config.links_origin}/rest/v1/sessions/{session_id}/threads/{thread_id}/messages"
        return {
            "thread": {"href": thread_url},
            "final_message": {"href": f"{thread_url}?type=final_message&role=assistant"},
        }

    def _invalid(self, message: str) -> tuple[int, Any]:
        if self.config.validation_status == 400:
            return 400, {"error": message, "code": "VALIDATION"}
        return 422, {"error": message}

    # -- control ------------------------------------------------------------------------------------

    def _control(self, request: Request) -> tuple[int, Any]:
        name = request.path[len("/_sim/") :]
        with self._lock:
            if name == "state":
                return 200, self.snapshot()
            if name == "log":
                return 200, {"requests": self.log}
            if name == "faults" and request.method == "POST":
                self.inject(**request.json())
                return 200, {"ok": True}
            if name == "config" and request.method == "POST":
                for key, value in request.json().items():
                    setattr(self.config, key, value)
                return 200, asdict(self.config)
            if name == "reset" and request.method == "POST":
                self.reset()
                return 200, {"ok": True}
        return 404, {"error": "unknown control endpoint"}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "sessions": [
                    {"id": s.id, "agent": s.agent, "is_private": s.is_private, "threads": list(s.threads)}
                    for s in self.sessions.values()
                ],
                "user_messages": [
                    {"session_id": i.session_id, "thread_id": i.thread_id, "message": i.message}
                    for i in self.items
                    if i.role == "user"
                ],
            }

    def max_requests_in_window(self, window: float = 60.0) -> int:
        """The most requests any `window`-second span saw (a sliding window over the log)."""
        with self._lock:
            stamps = sorted(entry["at"] for entry in self.log)
        best, start = 0, 0
        for end, stamp in enumerate(stamps):
            while stamps[start] <= stamp - window:
                start += 1
            best = max(best, end - start + 1)
        return best


def _api_key(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    return key.strip() or None if scheme == "ApiKey" else None


def _iso(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp)) + f".{int(stamp * 1000) % 1000:03d}Z"
