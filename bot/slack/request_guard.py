"""What a request to the events endpoint must prove before Bolt sees it, checked cheapest first.

The endpoint is public: anyone can send it anything. Bolt reads, decodes and parses a body before it
checks the signature, and logs a badly signed body in full, so an unsigned request could cost as much
memory and log as its sender liked. Here the order is: the size (from the headers, then reading at most
the limit), the signature over the raw bytes, and only then the shape (UTF-8, a JSON object or one of
Slack's form shapes), so that what reaches Bolt is small, Slack's, and parses. A refused request costs one
short log line at most, and a flood of them one line per reason per period.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING
from urllib.parse import parse_qsl

from bot.logs import Throttle

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

# Slack's events and interactions are a few kilobytes; 1 MiB leaves ample room and bounds the work.
MAX_BODY_BYTES = 1024 * 1024
# Slack's rule is 5 minutes. Bolt checks it again a moment later with its own clock: refusing a little
# earlier means Bolt never disagrees (and, disagreeing, logs the body).
MAX_AGE_SECONDS = 300 - 5
_READ_SIZE = 64 * 1024
_TIMESTAMP_DIGITS = 12  # seconds since 1970 have 10 digits until the year 2286

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Refusal:
    status: str  # the HTTP status line, e.g. "401 Unauthorized"
    reason: str  # short and fixed: the response body, and the key under which refusals are counted
    size: str  # what the log says of the body's size: bytes read or announced
    detail: str = ""  # a fixed phrase saying what is malformed, never the request's own text


def too_large(size: str) -> Refusal:
    return Refusal("413 Content Too Large", "body too large", size)


class SlackRequestGuard:
    """Checks a request to the events endpoint; returns its raw body if Bolt may have it."""

    def __init__(
        self,
        signing_secret: str,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not signing_secret.strip():
            # An empty key is a key anyone can sign with: refuse to start rather than accept everything.
            raise ValueError("the events endpoint needs the Slack signing secret to verify requests")
        self._secret = signing_secret.encode()
        self.max_body_bytes = max_body_bytes
        self._clock = clock

    def check(self, environ: WSGIEnvironment) -> bytes | Refusal:
        if environ.get("REQUEST_METHOD") != "POST":
            return Refusal("405 Method Not Allowed", "method not allowed", "0 bytes")
        body = read_body(environ, self.max_body_bytes)
        if isinstance(body, Refusal):
            return body
        size = f"{len(body)} bytes"
        problem = self._signature_problem(environ, body)
        if problem is not None:
            return Refusal("401 Unauthorized", problem, size)
        malformed = shape_problem(body, environ.get("CONTENT_TYPE"))
        if malformed is not None:
            return Refusal("400 Bad Request", "malformed body", size, malformed)
        return body

    def _signature_problem(self, environ: WSGIEnvironment, body: bytes) -> str | None:
        """Slack's signature, `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`, on the bytes as received."""
        stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE")
        if not isinstance(stamp, str) or not isinstance(signature, str):
            return "unsigned"
        # Checked as text before `int()`: a header of thousands of digits would make int() raise.
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= _TIMESTAMP_DIGITS):
            return "bad timestamp"
        if abs(self._clock() - int(stamp)) > MAX_AGE_SECONDS:
            return "stale timestamp"
        expected = hmac.new(self._secret, b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
        # WSGI gives header values as latin-1 text; compared as bytes so any byte is just a mismatch.
        given = signature.encode("latin-1", errors="replace")
        if not hmac.compare_digest(b"v0=" + expected.hexdigest().encode(), given):
            return "bad signature"
        return None


def read_body(environ: WSGIEnvironment, limit: int) -> bytes | Refusal:
    """The body, read only if it fits: an announced length over `limit` is refused unread, and a body
    of unknown length is read to at most `limit + 1` bytes."""
    announced = str(environ.get("CONTENT_LENGTH") or "").strip()
    stream: IO[bytes] = environ["wsgi.input"]
    if announced:
        if not (announced.isascii() and announced.isdigit()):
            return Refusal("400 Bad Request", "bad content length", "unknown size")
        length = int(announced)
        if length > limit:
            return too_large(f"announced {length} bytes")
        body = _read_at_most(stream, length)
        if len(body) < length:
            return Refusal("400 Bad Request", "truncated body", f"{len(body)} of {length} bytes")
        return body
    if not environ.get("wsgi.input_terminated"):
        # Without a length or a server's promise of end-of-input, reading could wait forever.
        return Refusal("411 Length Required", "no content length", "unknown size")
    body = _read_at_most(stream, limit + 1)
    return too_large(f"over {limit} bytes") if len(body) > limit else body


def _read_at_most(stream: IO[bytes], count: int) -> bytes:
    chunks: list[bytes] = []
    remaining = count
    while remaining > 0:
        chunk = stream.read(min(_READ_SIZE, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def shape_problem(body: bytes, content_type: object) -> str | None:
    """Why Bolt could not parse this body into a dict (it would answer 500 with a traceback), or None.

    Mirrors Bolt's own choice (`slack_bolt.request.internals.parse_body`): JSON when the media type is
    exactly `application/json` or the body starts with `{`, form fields otherwise; a form's `payload`
    field, when there is one, is JSON.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    media = str(content_type or "").split(";")[0]
    if media == JSON_TYPE or text.startswith("{"):
        return _json_object_problem(text, "body")
    if media.strip().lower() != FORM_TYPE:
        return "neither JSON nor a form"
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in fields:
        return _json_object_problem(fields["payload"], "payload")  # interactivity: buttons, views
    if "command" in fields or fields.get("ssl_check") == "1":
        return None  # a slash command, or Slack checking the certificate of a command's URL
    return "form without payload"


def _json_object_problem(text: str, what: str) -> str | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return f"{what} is not JSON"
    return None if isinstance(value, dict) else f"{what} is not a JSON object"


class RefusalLog:
    """Refusals as one short line each, and at most one line per reason per `period`.

    A line names the method, path, reason and size, never the body or a header's value (a signature is
    a credential's output, a body may be anything). Refusals come in floods when someone is probing, so
    repeats within the period are counted and the count is given on the next line of that reason.
    """

    def __init__(
        self, log: logging.Logger, *, period: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._throttle = Throttle(log, period=period, clock=clock, level=logging.WARNING)

    def refused(self, method: object, path: object, refusal: Refusal) -> None:
        what = f"{refusal.reason}: {refusal.detail}" if refusal.detail else refusal.reason
        self.note(refusal.reason, f"refused {_short(method)} {_short(path)}: {what} ({refusal.size})")

    def note(self, key: str, line: str) -> None:
        self._throttle.failed(key, line)


def _short(value: object, limit: int = 64) -> str:
    """A request's own word (method, path) made safe for one log line: printable and short."""
    text = "".join(c if c.isprintable() and not c.isspace() else "?" for c in str(value or "-"))
    return text if len(text) <= limit else text[: limit - 1] + "…"
