"""The retry decision: every failure leads to a retry that is bounded, or to an end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.blocks.errors import BlocksRateLimited, BlocksRejected, BlocksRetryable, BlocksUnknownOutcome
from bot.slack.errors import (
    SlackAuthError,
    SlackMessageGone,
    SlackRateLimited,
    SlackRefused,
    SlackTooLong,
    SlackTransient,
    SlackUnreachable,
)
from bot.turns.retry import MAX_UNEXPECTED_FAILURES, MIN_TRIES, GiveUp, Retry, decide
from bot.turns.schedule import MAX_BACKOFF_SECONDS

HORIZON = 10_000.0
# Slack takes nothing there, refuses the call, or the error is no passing trouble (a bug, a new code).
ENDS_EARLY = (SlackUnreachable, SlackRefused, SlackTooLong, SlackMessageGone, RuntimeError, UnicodeError)


def ends_early(error: Exception) -> bool:
    return isinstance(error, ENDS_EARLY) or (isinstance(error, SlackTransient) and error.unknown)


ERRORS = st.sampled_from(
    [
        SlackRateLimited("chat.update", 5),
        SlackRateLimited("chat.update", 5, reserved=True),
        SlackTransient("chat.postMessage", "internal_error"),
        SlackTransient("chat.postMessage", "brand_new_error", unknown=True),
        SlackAuthError("chat.postMessage", "token_revoked"),
        SlackUnreachable("chat.postMessage", "not_in_channel"),
        SlackRefused("chat.update", "invalid_blocks"),
        SlackTooLong("chat.postMessage", "msg_too_long"),
        SlackMessageGone("chat.update", "message_not_found"),
        BlocksRetryable("unavailable", status=503),
        BlocksRateLimited("limited", status=429, retry_after=2),
        BlocksUnknownOutcome("boom", status=500),
        BlocksRejected("no", status=422),
        RuntimeError("a bug"),
        UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(error=ERRORS, start=st.floats(0, HORIZON * 2))
def test_retrying_any_error_ends_by_the_horizon(error: Exception, start: float) -> None:
    """Follow the decisions from any moment: each retry is in the future, and the turn ends no later
    than the horizon's first retry after MIN_TRIES failures (a reserved token alone may wait)."""
    now, failures = start, 0
    for _ in range(10_000):
        decision = decide(error, failures=failures, now=now, horizon_at=HORIZON)
        if isinstance(decision, GiveUp):
            assert now >= HORIZON or ends_early(error), "only these end before the horizon"
            assert now <= max(start, HORIZON) + (MIN_TRIES + 1) * MAX_BACKOFF_SECONDS, "soon after it"
            return
        assert isinstance(decision, Retry) and decision.at > now
        now, failures = decision.at, decision.failures
    raise AssertionError(f"{error!r} was retried without end")


def test_what_ends_at_once() -> None:
    for error in (
        SlackUnreachable("chat.postMessage", "is_archived"),
        SlackRefused("chat.update", "invalid_blocks"),
    ):
        decision = decide(error, failures=0, now=0, horizon_at=HORIZON)
        assert isinstance(decision, GiveUp) and not decision.tell, (
            "Slack takes nothing there: nothing to tell"
        )


def test_an_unknown_code_is_tried_three_times_then_a_refusal() -> None:
    error = SlackTransient("chat.postMessage", "brand_new_error", unknown=True)
    assert isinstance(decide(error, failures=0, now=0, horizon_at=HORIZON), Retry)
    assert isinstance(decide(error, failures=1, now=0, horizon_at=HORIZON), Retry)
    assert isinstance(decide(error, failures=2, now=0, horizon_at=HORIZON), GiveUp)


def test_a_bug_is_tried_a_few_times_then_the_thread_is_told() -> None:
    decision = decide(RuntimeError("x"), failures=MAX_UNEXPECTED_FAILURES - 1, now=0, horizon_at=HORIZON)
    assert isinstance(decision, GiveUp) and decision.tell


def test_our_own_budget_wait_is_not_a_failure_slacks_429_is() -> None:
    reserved = decide(
        SlackRateLimited("chat.update", 3, reserved=True), failures=2, now=0, horizon_at=HORIZON
    )
    assert reserved == Retry(at=3, failures=2, slack_reserved="chat.update")
    limited = decide(SlackRateLimited("chat.update", 3), failures=2, now=0, horizon_at=HORIZON)
    assert limited == Retry(at=3, failures=3)


def test_a_revoked_token_is_retried_slowly() -> None:
    decision = decide(
        SlackAuthError("chat.postMessage", "token_revoked"), failures=0, now=0, horizon_at=HORIZON
    )
    assert isinstance(decision, Retry) and decision.at >= 300
