"""Minimal WSGI plumbing shared by the simulators, and a server that runs one in a background thread."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from bot.web import HttpServer


class Request:
    def __init__(self, environ: dict[str, Any]) -> None:
        self.method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        self.path = str(environ.get("PATH_INFO", ""))
        self.query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
        self._environ = environ
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.body = environ["wsgi.input"].read(length) if length else b""

    def header(self, name: str) -> str | None:
        key = "HTTP_" + name.upper().replace("-", "_")
        if name.lower() == "content-type":
            key = "CONTENT_TYPE"
        value = self._environ.get(key)
        return None if value is None else str(value)

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def params(self) -> dict[str, Any]:
        """Slack Web API style: a JSON body, or form fields (plus the query string)."""
        merged: dict[str, Any] = {key: values[-1] for key, values in self.query.items()}
        content_type = self.header("content-type") or ""
        if "json" in content_type:
            body = self.json()
            if isinstance(body, dict):
                merged.update(body)
        elif self.body:
            for key, values in parse_qs(self.body.decode(), keep_blank_values=True).items():
                merged[key] = values[-1]
        return merged


def json_response(
    start_response: Callable[..., Any], status: int, body: Any, headers: dict[str, str] | None = None
) -> Iterable[bytes]:
    payload = json.dumps(body).encode()
    pairs = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    pairs += list((headers or {}).items())
    start_response(f"{status} {_REASONS.get(status, 'Status')}", pairs)
    return [payload]


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def serve_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> HttpServer:
    server = HttpServer(app, host=host, port=port, threads=threads)
    server.start()
    return server
