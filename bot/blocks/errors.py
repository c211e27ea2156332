"""Errors raised by the Blocks client.

BlocksError
├── BlocksRetryable         the request surely did not take effect: retry later (429, 503, no connection;
│   │                       for a GET also 500, 502, 504 and read timeouts, since reading twice is harmless)
│   └── BlocksRateLimited   429: the key's budget is exhausted
├── BlocksUnknownOutcome    a POST may or may not have taken effect (500, 502, 504: a gateway may answer
│                           after the service acted; a read timeout; a dropped connection)
└── BlocksRejected          the request is wrong and retrying will not help (400, 401, 403, 404, 422, ...)
"""

from __future__ import annotations

__all__ = [
    "BlocksError",
    "BlocksRateLimited",
    "BlocksRejected",
    "BlocksRetryable",
    "BlocksUnknownOutcome",
]


class BlocksError(Exception):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class BlocksRetryable(BlocksError):
    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class BlocksRateLimited(BlocksRetryable):
    pass


class BlocksUnknownOutcome(BlocksError):
    pass


class BlocksRejected(BlocksError):
    @property
    def is_auth(self) -> bool:
        return self.status in (401, 403)

    @property
    def is_not_found(self) -> bool:
        return self.status == 404


class BlocksNotConnected(BlocksError):
    """The workspace has no Blocks key: none of its own and none in the environment."""

    def __init__(self) -> None:
        super().__init__("no Blocks key is connected for this workspace")
