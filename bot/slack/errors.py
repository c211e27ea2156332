"""Slack's errors, sorted by what the worker must do about them.

    SlackError
    ├── SlackRateLimited    `ratelimited` (HTTP 429), or our own budget is spent: try again after
    │                       `retry_after` seconds (not a failure)
    ├── SlackTooLong        `msg_too_long`, `msg_blocks_too_long`: split the text smaller
    ├── SlackUnreachable    the conversation cannot be written to (not_in_channel, is_archived,
    │                       thread_locked, …): the turn ends, nothing more is sent there
    ├── SlackMessageGone    the message to edit or react to is gone or cannot be edited any more
    ├── SlackRefused        Slack refuses this one call for good (invalid_blocks, too_many_emoji, …): the
    │                       caller falls back (an edit becomes a new reply, a reaction is dropped)
    ├── SlackAuthError      the token is bad, revoked, or lacks a scope: an admin must act; retried
    │                       slowly until the turn's horizon
    └── SlackTransient      Slack or the network failed (internal_error, 5xx, a reset): retried with
                            backoff until the turn's horizon; an error code Slack does not document is
                            `unknown` and retried only a few times, then the turn ends

What each step does with each kind, and every documented code of every method the bot calls, is tested
in `tests/e2e/test_slack_error_outcomes.py`.
"""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

# The conversation (or this thread of it) takes no messages from the bot.
UNREACHABLE = frozenset(
    {
        "access_denied",
        "app_access_restricted",
        "cannot_reply_to_message",
        "channel_not_found",
        "channel_type_not_supported",
        "ekm_access_denied",
        "enterprise_is_restricted",
        "is_archived",
        "is_inactive",
        "messages_tab_disabled",
        "not_in_channel",
        "posting_to_channel_denied",
        "restricted_action",
        "restricted_action_non_threadable_channel",
        "restricted_action_read_only_channel",
        "restricted_action_thread_locked",
        "restricted_action_thread_only_channel",
        "team_access_not_granted",
        "team_not_found",
        "thread_locked",
        "thread_not_found",
    }
)
MESSAGE_GONE = frozenset(
    {"cant_update_message", "edit_window_closed", "message_not_found", "msg_not_found", "not_reactable"}
)
AUTH = frozenset(
    {
        "account_inactive",
        "invalid_auth",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
        "not_authed",
        "org_login_required",
        "token_expired",
        "token_revoked",
        "two_factor_setup_required",
    }
)
TOO_LONG = frozenset({"msg_too_long", "msg_blocks_too_long"})
# Slack's trouble, or a state that passes (a channel migrating, a stream still open, a free workspace's
# message cap, "too many messages" without a 429).
TRANSIENT = frozenset(
    {
        "external_channel_migrating",
        "fatal_error",
        "internal_error",
        "message_limit_exceeded",
        "rate_limited",
        "request_timeout",
        "service_unavailable",
        "streaming_state_conflict",
        "team_added_to_org",
        "update_failed",
    }
)


class SlackError(Exception):
    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error


class SlackRateLimited(SlackError):
    """Slack answered 429, or the bot's own budget for the method is spent. In the second case a token is
    `reserved` for the caller, due in `retry_after` seconds: run the step again then, holding it."""

    def __init__(self, method: str, retry_after: float, *, reserved: bool = False) -> None:
        super().__init__(method, "ratelimited")
        self.retry_after = retry_after
        self.reserved = reserved


class SlackTooLong(SlackError):
    pass


class SlackUnreachable(SlackError):
    pass


class SlackMessageGone(SlackError):
    pass


class SlackRefused(SlackError):
    pass


class SlackAuthError(SlackError):
    pass


class SlackTransient(SlackError):
    def __init__(self, method: str, error: str, *, unknown: bool = False) -> None:
        super().__init__(method, error)
        self.unknown = unknown


# An error code Slack does not document (or a new one) is retried this many times before it is handled
# as a refusal of the call: transient ones usually pass by then, and none keeps a turn forever.
UNKNOWN_ERROR_TRIES = 3


def is_refusal(exc: SlackError, failures: int) -> bool:
    """Whether the caller should give up on this call and fall back, `failures` tries in."""
    if isinstance(exc, SlackRefused):
        return True
    return isinstance(exc, SlackTransient) and exc.unknown and failures >= UNKNOWN_ERROR_TRIES


def from_api_error(method: str, exc: SlackApiError, documented: frozenset[str]) -> SlackError:
    """The kind of a Slack API error. `documented`: the codes Slack documents for `method` (an error
    outside them, and outside the kinds above, is `unknown`)."""
    response = exc.response
    status = int(getattr(response, "status_code", 200) or 200)
    error = str(response.get("error") or f"http_{status}")
    if status == 429 or error == "ratelimited":
        return SlackRateLimited(method, _retry_after(response.headers or {}))
    if status >= 500:
        return SlackTransient(method, error)
    for kind, codes in _KINDS:
        if error in codes:
            return kind(method, error)
    if error in documented:
        return SlackRefused(method, error)  # documented, and none of the above: a refusal of this call
    return SlackTransient(method, error, unknown=True)


_KINDS: tuple[tuple[type[SlackError], frozenset[str]], ...] = (
    (SlackTooLong, TOO_LONG),
    (SlackUnreachable, UNREACHABLE),
    (SlackMessageGone, MESSAGE_GONE),
    (SlackAuthError, AUTH),
    (SlackTransient, TRANSIENT),
)


def _retry_after(headers: object) -> float:
    get = getattr(headers, "get", None)
    raw = (get("Retry-After") or get("retry-after") or "1") if get is not None else "1"
    try:
        return max(0.0, float(raw[0] if isinstance(raw, list) else raw))
    except (TypeError, ValueError):
        return 1.0
