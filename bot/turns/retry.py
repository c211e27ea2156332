"""What a failed step means for its turn: one decision, as a value, for every error a step can meet.

    rate limited (Slack or Blocks)  → run again when the limit allows
    Slack cannot be written there   → the turn ends `undeliverable` (nothing more is sent there)
    Slack refused the call for good → the same, unless the step had a fallback (it would have used it)
    Slack's token refused           → retried every few minutes (an admin may fix it) …
    Slack, Blocks or network failed → retried with backoff …
    an unknown Slack error code     → retried `UNKNOWN_ERROR_TRIES` times, then as a refusal
    anything else (a bug)           → retried `MAX_UNEXPECTED_FAILURES` times, then the thread is told

… until the turn's horizon (TURN_HORIZON_HOURS after the request) and a grace of `HORIZON_GRACE` of it
more (for the notice that the horizon passed), and at least `MIN_TRIES` times: then the turn ends.
Blocks' rate limits are not failures (the key's place in line, shared by every turn), and neither are
waits for our own Slack budget; Slack's own 429s are, so that a decoration stops waiting for them after a
few. All of them end at the horizon too. So every turn reaches an end within its horizon, whatever Slack
and Blocks do, and the thread shows it whenever Slack lets the bot write there.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.blocks.errors import BlocksError, BlocksRateLimited, BlocksRetryable
from bot.slack.errors import (
    SlackAuthError,
    SlackError,
    SlackMessageGone,
    SlackRateLimited,
    SlackRefused,
    SlackTooLong,
    SlackTransient,
    SlackUnreachable,
    is_refusal,
)
from bot.turns.schedule import backoff

SLACK_AUTH_RETRY_SECONDS = 300.0
HORIZON_GRACE = 0.05
MIN_TRIES = 5
MAX_UNEXPECTED_FAILURES = 5


@dataclass(frozen=True)
class Retry:
    at: float
    failures: int  # the step's consecutive failures, counting this one (waits in line do not)
    slack_reserved: str | None = None  # a Slack method whose next token the turn holds


@dataclass(frozen=True)
class GiveUp:
    """The turn ends. `tell` says whether the thread can still be told (Slack is not the problem)."""

    reason: str
    tell: bool


Decision = Retry | GiveUp


def retries_end_at(requested_at: float, horizon_seconds: float) -> float:
    return requested_at + horizon_seconds * (1 + HORIZON_GRACE)


def decide(exc: Exception, *, failures: int, now: float, horizon_at: float) -> Decision:
    """`failures`: the step's consecutive failures before this one; `horizon_at`: when the turn's
    retries end (`retries_end_at`)."""
    if isinstance(exc, SlackRateLimited | BlocksRateLimited) and now >= horizon_at:
        return GiveUp(f"still rate limited at the turn's horizon ({exc})", tell=isinstance(exc, BlocksError))
    if isinstance(exc, SlackRateLimited):
        if exc.reserved:  # our own budget: the turn holds the next token, this is its place in line
            return Retry(at=now + exc.retry_after, failures=failures, slack_reserved=exc.method)
        # Slack's 429 counts as a failure of the step (a decoration stops waiting for it after a few).
        return Retry(at=now + exc.retry_after, failures=failures + 1)
    if isinstance(exc, BlocksRateLimited):
        # The key's place in line, shared by every turn: waiting loses nothing, and the horizon bounds it.
        return Retry(at=now + backoff(failures, exc.retry_after), failures=failures)
    failures += 1
    if isinstance(exc, SlackUnreachable):
        return GiveUp(f"Slack cannot be written there ({exc.error})", tell=False)
    # A step that had a fallback for these used it; one that reaches here has none left.
    if isinstance(exc, SlackRefused | SlackTooLong | SlackMessageGone) or (
        isinstance(exc, SlackError) and is_refusal(exc, failures)
    ):
        return GiveUp(f"Slack refused {exc.method} ({exc.error})", tell=False)
    expected = isinstance(exc, SlackError | BlocksError)
    if not expected and failures >= MAX_UNEXPECTED_FAILURES:
        return GiveUp(f"{type(exc).__name__} {failures} times", tell=True)
    if now >= horizon_at and failures >= MIN_TRIES:
        return GiveUp(f"still failing at the turn's horizon: {exc}", tell=not isinstance(exc, SlackError))
    if isinstance(exc, SlackAuthError):
        return Retry(at=now + SLACK_AUTH_RETRY_SECONDS, failures=failures)
    retry_after = exc.retry_after if isinstance(exc, BlocksRetryable) else None
    if isinstance(exc, SlackTransient) and exc.unknown:
        retry_after = None
    return Retry(at=now + backoff(failures, retry_after), failures=failures)
