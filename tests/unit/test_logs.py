"""No secret reaches a log line, in any form a line can carry it (tracebacks included)."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import logs
from bot.logs import JsonFormatter, Scrubber, ScrubbingFormatter, _ContextFilter, log_context

TOKEN = "xoxb-1111-2222-abcdefghijkl"
KEY = "blocks-key-0123456789"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("INFO", secrets=[TOKEN, KEY, "short"])
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    root.handlers[:], level = saved
    root.setLevel(level)


def test_a_secret_in_a_traceback_is_scrubbed_in_every_form(output: io.StringIO) -> None:
    try:
        # What http.client says of a token with a line break inside: the bytes, escaped.
        raise ValueError(f"Invalid header value {('Bearer ' + TOKEN + chr(10) + 'x').encode()!r}")
    except ValueError:
        logging.getLogger("bot").exception("request failed for %s", KEY)
    written = output.getvalue()
    assert "request failed for ***" in written and "Traceback" in written
    assert TOKEN not in written and KEY not in written and "abcdefghijkl" not in written


def test_token_shaped_strings_are_scrubbed_even_when_unknown(output: io.StringIO) -> None:
    logging.getLogger("bot").warning("another workspace's token xoxp-999-888-zzzz and xapp-1-A0-99-ff")
    written = output.getvalue()
    assert "xoxp-***" in written and "xapp-***" in written and "zzzz" not in written


def test_an_uncaught_exception_in_a_thread_is_logged_scrubbed(output: io.StringIO) -> None:
    def boom() -> None:
        raise RuntimeError(f"token was {TOKEN!r}")

    thread = threading.Thread(target=boom, name="boom")
    thread.start()
    thread.join()
    written = output.getvalue()
    assert "uncaught exception in thread boom" in written and TOKEN not in written


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(alphabet=st.characters(codec="utf-8"), min_size=6),
    before=st.text(),
    after=st.text(),
)
def test_a_known_secret_never_survives_scrubbing(secret: str, before: str, after: str) -> None:
    scrub = logs.Scrubber([secret])
    for shown in (secret, repr(secret)[1:-1], repr(secret.encode())[2:-1]):
        assert shown not in scrub(before + shown + after) or shown in before + after


def test_a_run_of_the_same_failure_is_logged_once_a_period_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    throttle = logs.Throttle(logging.getLogger("bot.test"), period=60, clock=lambda: now[0])
    caplog.set_level(logging.INFO)
    for second in range(200):  # four threads failing every second for 50 s, then 10 s more
        now[0] = second * 0.3
        throttle.failed("db", "cannot use the database", ValueError("down"))
    assert throttle.failing("db") == 200
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["cannot use the database"], "nothing more within the first minute"
    now[0] = 61
    throttle.failed("db", "cannot use the database", ValueError("down"))
    assert caplog.records[-1].getMessage() == (
        "cannot use the database (200 more times in the last 60 s): ValueError: down"
    )
    throttle.recovered("db", "the database is back")
    assert caplog.records[-1].getMessage() == "the database is back (after 201 failures in 61 s)"
    throttle.recovered("db", "the database is back")
    assert len(caplog.records) == 3, "recovery is logged once"


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    record = logging.LogRecord("bot.test", logging.ERROR, __file__, 1, message, args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    return record


def test_json_lines_carry_the_context_and_no_secret_even_in_a_traceback() -> None:
    secret = "xoxb-1234-secret-token"
    formatter = JsonFormatter(Scrubber([secret, "blocks-key-123456"]))
    handler_filter = _ContextFilter()
    with log_context(turn_id=7, session_id="s-1", team="T1", channel=None):
        record = _record("sending with %s", "blocks-key-123456", exc=ValueError(f"bad header {secret!r}"))
        handler_filter.filter(record)
    line = formatter.format(record)
    entry = json.loads(line)
    assert entry["turn_id"] == "7" and entry["session_id"] == "s-1" and entry["team"] == "T1"
    assert "channel" not in entry, "None values are left out"
    assert entry["level"] == "ERROR" and entry["logger"] == "bot.test"
    assert "ValueError" in entry["exception"]
    assert secret not in line and "blocks-key-123456" not in line and "secret-token" not in line


def test_text_lines_end_their_first_line_with_the_ids() -> None:
    formatter = ScrubbingFormatter(Scrubber())
    with log_context(turn_id=3, team="T1"):
        record = _record("failed", exc=RuntimeError("boom"))
        _ContextFilter().filter(record)
    first, *rest = formatter.format(record).splitlines()
    assert first.endswith("bot.test: failed [turn=3 team=T1]") and any("RuntimeError" in r for r in rest)
    outside = _record("plain")
    _ContextFilter().filter(outside)
    assert formatter.format(outside).endswith("bot.test: plain"), "no context, no brackets"
