"""The HTTP edge: a WSGI app with Slack's events endpoint and the health check, and the server for it.

Served by waitress (a production WSGI server, pure Python) inside the process, so one command runs the
whole bot and `$PORT` is always bound, in Socket Mode too (for `/healthz`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine
from waitress.server import create_server

from bot import health
from bot.logs import Throttle

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


class WebApp:
    def __init__(self, *, engine: Engine, bolt: App | None) -> None:
        self.engine = engine
        self._health_errors = Throttle(logger)
        self.slack = SlackRequestHandler(bolt, path=EVENTS_PATH) if bolt is not None else None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/health"):
            return self._health(start_response)
        if path == EVENTS_PATH and self.slack is not None:
            return self.slack(environ, start_response)
        return _respond(start_response, "404 Not Found", {"error": "not found"})

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


class HttpServer:
    """A waitress server bound at construction (port 0 picks a free port), run in a background thread.

    The thread runs waitress's event loop in short slices so that `stop()` can end it from the loop's own
    thread: closing sockets from another thread while the loop polls them breaks the loop.
    """

    def __init__(self, app: WSGIApplication, *, host: str, port: int, threads: int = 16) -> None:
        server: Any = create_server(app, host=host, port=port, threads=threads, ident="blocks-slack")
        self._server = server
        self.host = host
        self.port = int(server.effective_port)
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
        server = self._server
        try:
            while not self._stopping.is_set():
                server.asyncore.loop(timeout=0.1, map=server._map, use_poll=True, count=1)
        finally:
            server.task_dispatcher.shutdown(timeout=2)
            for channel in list(server._map.values()):
                if channel is not server:
                    channel.close()
            server.close()
