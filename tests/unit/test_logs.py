"""No secret reaches a log line, in any form a line can carry it (tracebacks included)."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import logs

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
