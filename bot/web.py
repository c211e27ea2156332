"""The HTTP edge: a WSGI app with Slack's events endpoint, health, readiness and metrics, and its server.

Served by waitress (a production WSGI server, pure Python) inside the process, so one command runs the
whole bot and `$PORT` is always bound, in Socket Mode too (for `/healthz`).

The endpoint is public, so nothing a stranger sends may cost much: a request reaches Bolt only once
`SlackRequestGuard` has seen it is small and signed by Slack and parses, and the server neither buffers
bodies over that size nor lets an idle or slow connection hold a slot past a short read timeout (Slack
sends its small requests at once, and must find a free slot and thread within its 3 seconds).
"""

from __future__ import annotations

import io
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask

from bot import health
from bot.logs import Throttle
from bot.metrics import ACK_SECONDS, CONTENT_TYPE, Metrics
from bot.slack.request_guard import MAX_BODY_BYTES, Refusal, RefusalLog, SlackRequestGuard

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
READ_TIMEOUT_SECONDS = 10.0
CONNECTION_LIMIT = 1000  # waitress's default of 100 is used up by a hundred idle clients


class WebApp:
    """Slack's events (where this process takes them), `/healthz` (liveness), `/readyz` (readiness) and
    `/metrics` (Prometheus)."""

    def __init__(
        self,
        *,
        engine: Engine,
        bolt: App | None,
        events: bool = True,
        signing_secret: str = "",
        metrics: Metrics | None = None,
        workers_alive: Callable[[], bool] | None = None,
    ) -> None:
        self.engine = engine
        # `events`: Slack's events come here (not over Socket Mode). The install pages are served either way.
        self.slack = SlackRequestHandler(bolt, path=EVENTS_PATH) if bolt is not None else None
        self.events = events and bolt is not None
        self.guard = SlackRequestGuard(signing_secret) if self.events else None
        flow = bolt.oauth_flow if bolt is not None else None
        self.install_paths = {flow.install_path, flow.redirect_uri_path} if flow is not None else set()
        self.metrics = metrics or Metrics(engine)
        self.workers_alive = workers_alive
        self.schema = health.expected_schema(engine)
        self.refusals = RefusalLog(logger)
        self._health_errors = Throttle(logger)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/health"):
            return self._health(start_response)
        if path == "/readyz":
            return self._ready(start_response)
        if path == "/metrics":
            payload = self.metrics.render()
            headers = [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(payload)))]
            start_response("200 OK", headers)
            return [payload]
        if path == EVENTS_PATH and self.events:
            return self._events(environ, start_response)
        if path in self.install_paths and environ.get("REQUEST_METHOD") == "GET" and self.slack is not None:
            # A person's browser, not Slack: nothing to sign; Bolt checks the OAuth state.
            return self.slack(environ, start_response)
        return _respond(start_response, "404 Not Found", {"error": "not found"})

    def _events(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        assert self.slack is not None and self.guard is not None
        arrived = time.monotonic()
        outcome = self.guard.check(environ)
        if isinstance(outcome, Refusal):
            self.refusals.refused(environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), outcome)
            return _refuse(start_response, outcome)
        # Bolt reads the body again from the input: give it the bytes already read and checked.
        checked = {**environ, "wsgi.input": io.BytesIO(outcome), "CONTENT_LENGTH": str(len(outcome))}
        answer = self.slack(checked, start_response)
        # Bolt has recorded the event (or failed to) and built its answer: that is the ack's latency.
        ACK_SECONDS.observe(time.monotonic() - arrived)
        return answer

    def _ready(self, start_response: StartResponse) -> Iterable[bytes]:
        found = health.readiness(self.engine, self.schema, self.workers_alive)
        if found.ready:
            return _respond(start_response, "200 OK", {"ready": True})
        return _respond(
            start_response, "503 Service Unavailable", {"ready": False, "reasons": list(found.reasons)}
        )

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        try:
            found = health.check(self.engine, time.time())
        except Exception as exc:
            self._health_errors.failed("health", "health check: the database cannot take a write", exc)
            return _respond(start_response, "503 Service Unavailable", {"ok": False, "database": "down"})
        self._health_errors.recovered("health", "health check: the database takes writes again")
        # A saturated Blocks key is not a fault (nothing is lost), but whoever watches the bot should see it.
        backlog = found.backlog
        waiting = {"waiting": backlog.waiting, "longest_wait_seconds": round(backlog.longest_wait, 1)}
        return _respond(start_response, "200 OK", {"ok": True, "blocks_backlog": waiting})


def _respond(start_response: StartResponse, status: str, body: dict[str, object]) -> Iterable[bytes]:
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def _refuse(start_response: StartResponse, refusal: Refusal) -> Iterable[bytes]:
    """A short answer naming the reason: enough for whoever set the app up, nothing echoed back."""
    payload = json.dumps({"error": refusal.reason}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    if refusal.status.startswith("405"):
        headers.append(("Allow", "POST"))
    start_response(refusal.status, headers)
    return [payload]


class HttpServer:
    """A waitress server bound at construction (port 0 picks a free port), run in a background thread.

    The thread runs waitress's event loop in short slices so that `stop()` can end it from the loop's own
    thread: closing sockets from another thread while the loop polls them breaks the loop.

    A connection is closed when it has sent or received nothing for `read_timeout` seconds, or when the
    request it is sending has not fully arrived `read_timeout` seconds after its first byte (a client
    trickling a byte at a time is never idle, but is that slow). Bodies over `max_body_bytes` are refused
    (413) by waitress before it buffers them.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        host: str,
        port: int,
        threads: int = 16,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        connection_limit: int = CONNECTION_LIMIT,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self._server = _GuardedServer(
            app,
            read_timeout=read_timeout,
            host=host,
            port=port,
            threads=threads,
            connection_limit=connection_limit,
            max_body_bytes=max_body_bytes,
        )
        self.host = host
        # The bound address; the type stubs leave it out.
        self.port = int(cast(Any, self._server).effective_port)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name=f"http-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, drop open connections, and wait briefly for the serving thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _serve(self) -> None:
        server: Any = self._server
        try:
            while not self._stopping.is_set():
                server.asyncore.loop(timeout=0.1, map=server._map, use_poll=True, count=1)
        finally:
            server.task_dispatcher.shutdown(timeout=2)
            for channel in list(server._map.values()):
                if channel is not server:
                    channel.close()
            server.close()


class _RefusalTask(ErrorTask):
    """Waitress's own refusals (a body over the limit, a malformed request), logged as the app's are."""

    def execute(self) -> None:
        request: Any = self.request  # the parsed request (the type stubs call it an Error)
        error = request.error
        announced = int(request.content_length or 0)
        size = f"announced {announced} bytes" if announced else f"{request.body_bytes_received} bytes"
        refusal = Refusal(f"{error.code} {error.reason}", str(error.reason).lower(), size)
        server = cast(_GuardedServer, self.channel.server)
        server.refusals.refused(getattr(request, "command", "-"), getattr(request, "path", "-"), refusal)
        super().execute()


class _Channel(HTTPChannel):
    """A waitress connection that remembers when the request now arriving began to arrive."""

    error_task_class = _RefusalTask
    request_began = 0.0

    def received(self, data: bytes) -> bool:
        arriving = self.request
        result = super().received(data)
        if self.request is not None and self.request is not arriving:
            self.request_began = time.time()  # waitress's clock for `last_activity` too
        return result

    def overdue(self, now: float, timeout: float) -> str | None:
        """Why this connection should be closed now ("slow", "idle"), or None."""
        if self.requests or self.will_close:
            return None  # the app is answering it (not the client's delay), or it is closing already
        if self.request is not None and now - self.request_began > timeout:
            return "slow"
        return "idle" if now - self.last_activity > timeout else None


class _GuardedServer(TcpWSGIServer):
    """Waitress with the read timeouts of `HttpServer` and its refusals logged."""

    channel_class = _Channel

    def __init__(
        self,
        app: WSGIApplication,
        *,
        read_timeout: float,
        host: str,
        port: int,
        threads: int,
        connection_limit: int,
        max_body_bytes: int,
    ) -> None:
        self.read_timeout = read_timeout
        self.refusals = RefusalLog(logger)
        super().__init__(
            app,
            map={},
            host=host,
            port=port,
            threads=threads,
            ident="blocks-slack",
            connection_limit=connection_limit,
            # Waitress refuses a body of this size or more: one byte over the limit is refused.
            max_request_body_size=max_body_bytes + 1,
            # Whole seconds in waitress; `maintenance` below applies `read_timeout` as given, once a
            # second (waitress's default sweep is every 30 s, so a timeout would be met up to 30 s late).
            channel_timeout=max(1, math.ceil(read_timeout)),
            cleanup_interval=1,
        )

    def maintenance(self, now: float) -> None:
        """Close idle and slow connections (waitress calls this every `cleanup_interval` seconds)."""
        channels = cast("dict[int, _Channel]", self.active_channels)
        for channel in list(channels.values()):
            why = channel.overdue(now, self.read_timeout)
            if why is None:
                continue
            channel.will_close = True  # the event loop closes it on its next pass
            if why == "slow":
                line = f"closed a connection: its request took over {self.read_timeout:g} s to arrive"
                self.refusals.note("slow request", line)
