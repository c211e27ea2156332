from __future__ import annotations

import logging

import pytest

from bot.turns.backlog import BacklogWatch
from bot.turns.lease import Backlog


def watch() -> BacklogWatch:
    return BacklogWatch(late_after=120.0, requests_per_minute=90.0, repeat_seconds=600.0)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_key_keeping_up_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    w = watch()
    for minute in range(5):
        w.observe(Backlog(waiting=12, longest_wait=30.0), minute * 60.0)
    assert caplog.records == [] and not w.saturated


def test_a_saturated_key_is_reported_once_then_every_repeat_and_its_recovery_noted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    w = watch()
    w.observe(Backlog(waiting=285, longest_wait=250.0), 0.0)
    assert w.saturated
    (message,) = warnings(caplog)
    assert "285 requests are waiting" in message and "250 s" in message and "90 requests a minute" in message
    for minute in range(1, 10):  # still saturated: no new warning before the repeat interval
        w.observe(Backlog(waiting=300, longest_wait=300.0), minute * 60.0)
    assert len(warnings(caplog)) == 1
    w.observe(Backlog(waiting=310, longest_wait=320.0), 600.0)
    assert len(warnings(caplog)) == 2 and "310 requests" in warnings(caplog)[-1]
    w.observe(Backlog(waiting=4, longest_wait=10.0), 660.0)
    assert not w.saturated
    assert "caught up" in caplog.records[-1].getMessage()
    w.observe(Backlog(waiting=200, longest_wait=200.0), 720.0)  # saturated again: reported at once
    assert len(warnings(caplog)) == 3
