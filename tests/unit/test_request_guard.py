"""The events endpoint's checks on their own: the order (size, signature, shape), what is read of a body
that is too large, and the refusal log's rate limit. The e2e tests see the same over real HTTP, where
waitress refuses oversized bodies first; here the guard's own size checks are exercised too."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
from typing import Any

import pytest

from bot.slack.request_guard import (
    MAX_BODY_BYTES,
    Refusal,
    RefusalLog,
    SlackRequestGuard,
    read_body,
    shape_problem,
)

SECRET = "unit-signing-secret"
NOW = 1_800_000_000.0


class CountingInput(io.BytesIO):
    """A request body that remembers how much of it was read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


def _environ(body: bytes, *, length: str | None = None, **extra: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)) if length is None else length,
        "wsgi.input": CountingInput(body),
        "wsgi.input_terminated": True,
    }
    environ.update(extra)
    return environ


def _signed(body: bytes, *, stamp: str = str(int(NOW)), **extra: Any) -> dict[str, Any]:
    digest = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return _environ(
        body, HTTP_X_SLACK_REQUEST_TIMESTAMP=stamp, HTTP_X_SLACK_SIGNATURE=f"v0={digest}", **extra
    )


def _guard() -> SlackRequestGuard:
    return SlackRequestGuard(SECRET, clock=lambda: NOW)


def test_a_signed_event_passes_as_the_raw_bytes() -> None:
    body = b'{"type": "event_callback", "event": {"type": "app_mention"}}'
    assert _guard().check(_signed(body)) == body


def test_an_announced_length_over_the_limit_is_refused_unread() -> None:
    environ = _environ(b"x" * 10, length=str(100 * 1024 * 1024))
    refusal = _guard().check(environ)
    assert isinstance(refusal, Refusal) and refusal.status.startswith("413")
    assert environ["wsgi.input"].taken == 0


def test_a_body_of_unknown_length_is_read_to_just_over_the_limit() -> None:
    environ = _environ(b"x" * (MAX_BODY_BYTES * 3), length="")
    refusal = _guard().check(environ)
    assert isinstance(refusal, Refusal) and refusal.status.startswith("413")
    assert environ["wsgi.input"].taken == MAX_BODY_BYTES + 1
    assert read_body(_environ(b"x" * MAX_BODY_BYTES, length=""), MAX_BODY_BYTES) == b"x" * MAX_BODY_BYTES


def test_lengths_that_cannot_be_trusted_are_refused() -> None:
    assert _status(_environ(b"{}", length="-1")) == "400 Bad Request"
    assert _status(_environ(b"{}", length="12")) == "400 Bad Request"  # the body ended early
    # No length and no promise that the input ends: reading could wait for ever.
    assert _status(_environ(b"{}", length="", **{"wsgi.input_terminated": False})) == "411 Length Required"
    assert _status(_environ(b"{}", REQUEST_METHOD="GET")) == "405 Method Not Allowed"


def _status(environ: dict[str, Any]) -> str:
    refusal = _guard().check(environ)
    assert isinstance(refusal, Refusal)
    return refusal.status


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "unsigned"),
        ({"HTTP_X_SLACK_REQUEST_TIMESTAMP": "1", "HTTP_X_SLACK_SIGNATURE": "v0=00"}, "stale timestamp"),
        ({"HTTP_X_SLACK_REQUEST_TIMESTAMP": "١٢٣", "HTTP_X_SLACK_SIGNATURE": "v0=00"}, "bad timestamp"),
        ({"HTTP_X_SLACK_REQUEST_TIMESTAMP": "9" * 5000, "HTTP_X_SLACK_SIGNATURE": "v0="}, "bad timestamp"),
        (
            {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(int(NOW)), "HTTP_X_SLACK_SIGNATURE": "v0=é"},
            "bad signature",
        ),
    ],
)
def test_bad_signatures_are_refused_with_their_reason(headers: dict[str, str], reason: str) -> None:
    refusal = _guard().check(_environ(b"{}", **headers))
    assert refusal == Refusal("401 Unauthorized", reason, "2 bytes")


def test_the_signature_is_checked_on_the_raw_bytes_before_they_are_decoded() -> None:
    body = b'{"text": "\xff"}'  # signed as sent; only then found not to be UTF-8
    refusal = _guard().check(_signed(body))
    assert isinstance(refusal, Refusal)
    assert (refusal.status, refusal.detail) == ("400 Bad Request", "not UTF-8")
    unsigned = _guard().check(_environ(body))
    assert isinstance(unsigned, Refusal) and unsigned.reason == "unsigned"


def test_an_old_timestamp_is_refused_even_when_signed() -> None:
    refusal = _guard().check(_signed(b"{}", stamp=str(int(NOW) - 301)))
    assert isinstance(refusal, Refusal) and refusal.reason == "stale timestamp"


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        (b'{"type": "event_callback"}', "application/json", None),
        (b'{"type": "url_verification", "challenge": "c"}', "application/json; charset=utf-8", None),
        (b'{"type": "event_callback"}', "text/plain", None),  # Bolt reads `{…}` as JSON whatever the type
        (b"payload=%7B%22type%22%3A%22block_actions%22%7D", FORM, None),
        (b"command=%2Fask&text=hi", FORM, None),
        (b"ssl_check=1&token=x", f"{FORM}; charset=utf-8", None),
        (b"[1]", "application/json", "body is not a JSON object"),
        (b"{oops", "application/json", "body is not JSON"),
        (b"", "application/json", "body is not JSON"),
        (b"{" * 100_000, "application/json", "body is not JSON"),
        (b"payload=%5B%5D", FORM, "payload is not a JSON object"),
        (b"payload=nope", FORM, "payload is not JSON"),
        (b"token=x&team_id=T1", FORM, "form without payload"),
        (b"hello", "text/plain", "neither JSON nor a form"),
        (b"hello", None, "neither JSON nor a form"),
    ],
)
def test_shapes_bolt_can_parse(body: bytes, content_type: str | None, problem: str | None) -> None:
    assert shape_problem(body, content_type) == problem


def test_an_empty_signing_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="signing secret"):
        SlackRequestGuard(" ")


def test_refusals_are_one_line_per_reason_per_period_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RefusalLog(logging.getLogger("test.refusals"), period=10.0, clock=lambda: now[0])
    forged = Refusal("401 Unauthorized", "bad signature", "5 bytes")
    caplog.set_level(logging.INFO, logger="test.refusals")
    for _ in range(50):
        log.refused("POST", "/slack/events", forged)
    log.refused(
        "POST", "/slack/events", Refusal("413 Content Too Large", "body too large", "announced 9 bytes")
    )
    now[0] = 10.5
    log.refused("POST", "/slack/events", forged)
    assert [r.getMessage() for r in caplog.records] == [
        "refused POST /slack/events: bad signature (5 bytes)",
        "refused POST /slack/events: body too large (announced 9 bytes)",
        "refused POST /slack/events: bad signature (5 bytes) (50 more times in the last 10 s)",
    ]


def test_a_request_line_is_logged_printable_and_short(caplog: pytest.LogCaptureFixture) -> None:
    log = RefusalLog(logging.getLogger("test.refusals"))
    caplog.set_level(logging.INFO, logger="test.refusals")
    log.refused("GET\x1b[2J", "/" + "a" * 500 + "\n", Refusal("400 Bad Request", "bad request", "0 bytes"))
    (line,) = [r.getMessage() for r in caplog.records]
    assert "\x1b" not in line and "\n" not in line and len(line) < 150
