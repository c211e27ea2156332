"""Crash points for the recovery tests: `BLOCKS_SLACK_FAILPOINTS=name,name` makes the process kill itself
with SIGKILL when it reaches one of them, exactly as `kill -9` would, at a precise step. Unset (always, in
production) each check is one lookup in an empty set."""

from __future__ import annotations

import os
import signal

_ACTIVE = frozenset(filter(None, os.environ.get("BLOCKS_SLACK_FAILPOINTS", "").split(",")))


def failpoint(name: str) -> None:
    if name in _ACTIVE:
        os.kill(os.getpid(), signal.SIGKILL)
