"""OAuth `state` values in our database: each one issued with an Add to Slack link, good once, for a while.

The state ties Slack's redirect back to an install this deployment started (Bolt also checks it against
the browser's cookie). Unlike slack-sdk's SQLAlchemy state store, which reads the row and then deletes it,
`consume` is one DELETE that must remove the row: of two redirects carrying the same state, even at
the same moment on two replicas, exactly one succeeds. A database error is raised, not answered with
"invalid state": the installer should retry, not be told the link was forged.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.oauth.state_store import OAuthStateStore
from sqlalchemy import Engine, delete, insert

from bot.db.models import SlackOAuthState

_log = logging.getLogger(__name__)

# Bolt's default (OAuthStateUtils.default_expiration_seconds): the cookie it sets lives as long.
DEFAULT_EXPIRATION_SECONDS = 600


class DatabaseOAuthStateStore(OAuthStateStore):
    def __init__(
        self,
        engine: Engine,
        *,
        expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.expiration_seconds = expiration_seconds
        self.clock = clock

    @property
    def logger(self) -> logging.Logger:
        return _log

    def issue(self, *args: Any, **kwargs: Any) -> str:
        """A new state, good for `expiration_seconds`. States nobody came back with are cleared here."""
        state = secrets.token_urlsafe(32)
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(delete(SlackOAuthState).where(SlackOAuthState.expire_at <= now))
            conn.execute(insert(SlackOAuthState).values(state=state, expire_at=now + self.expiration_seconds))
        return state

    def consume(self, state: str | None) -> bool:
        """Whether `state` was issued here and had not expired nor been consumed; it is good no more."""
        if not state:
            return False
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(SlackOAuthState).where(
                    SlackOAuthState.state == state, SlackOAuthState.expire_at > self.clock()
                )
            )
        return result.rowcount == 1
