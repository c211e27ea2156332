"""Blocks has no failure state: when the agent itself fails (its provider refused the credentials, a
quota ran out), Blocks answers with a plain-text notice as the final message, such as `Claude Code:
Authentication failed. Please check that your API key or Subscription is valid.` or `Claude Code: Rate
limit or quota exceeded.`, often with a `<details>authentication_failed …</details>` block. Such an
answer is shown as it is, but the turn counts as failed (❌, Retry, no 👍/👎).

The match is deliberately narrow, so that an answer that merely talks about failures is never taken for
one: the first line names the agent, then a colon, then one of the failures agents report.
"""

from __future__ import annotations

import re

AGENT_NAMES = (
    "Claude Code",
    "Claude",
    "Codex",
    "Gemini CLI",
    "Gemini",
    "OpenCode",
    "Cursor",
    "Kimi",
    "Sisyphus",
)
FAILURES = (
    r"authentication failed",
    r"rate limit(?: or quota)? exceeded",
    r"quota exceeded",
    r"(?:invalid|missing) api key",
    r"the (?:agent|model|provider) (?:is )?(?:unavailable|overloaded)",
    r"(?:an )?(?:unexpected|internal) error",
    r"failed to start",
    r"session (?:crashed|failed)",
)
_NOTICE = re.compile(
    r"^\s*(?:"
    + "|".join(re.escape(name) for name in AGENT_NAMES)
    + r")\s*:\s*(?:"
    + "|".join(FAILURES)
    + r")\b",
    re.IGNORECASE,
)
# A notice is short: an answer of several screens that starts this way is an answer.
MAX_NOTICE_CHARACTERS = 2000


def is_failure_notice(text: str) -> bool:
    return len(text) <= MAX_NOTICE_CHARACTERS and _NOTICE.match(text) is not None
