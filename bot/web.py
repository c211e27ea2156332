"""The HTTP edge: a WSGI app with Slack's events endpoint and the health check, and the server for it.

Served by waitress (a production WSGI server, pure Python) inside the process, so one command runs the
whole bot and `$PORT` is always bound, in Socket Mode too (for `/healthz`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine, text
from waitress.server import create_server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from waitress.server import BaseWSGIServer, MultiSocketServer

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


class WebApp:
    def __init__(self, *, engine: Engine, bolt: App | None) -> None:
        self.engine = engine
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
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            logger.warning("health check: database unavailable: %s", type(exc).__name__)
            return _respond(start_response, "503 Service Unavailable", {"ok": False, "database": "down"})
        return _respond(start_response, "200 OK", {"ok": True})


def _respond(start_response: StartResponse, status: str, body: dict[str, object]) -> Iterable[bytes]:
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def make_server(
    app: WSGIApplication, *, host: str, port: int, threads: int = 16
) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server, bound now (port 0 picks a free one: see `.effective_port`), run by `.run()`."""
    return create_server(app, host=host, port=port, threads=threads, ident="blocks-slack")
