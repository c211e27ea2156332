"""Messages that are not requests: an empty mention or `help` gets a short usage reply, and a leading
`/word` that looks like a misspelt agent name (`/codx`, `/gemnii`) gets the list of agents. Nothing of
either is sent to Blocks. Other `/words` stay Blocks skills, as they always were.

Only before the thread has a session: the first word picks the agent only then (see `intake.parse_agent`),
and later in a thread `help` may well be a question for the agent.
"""

from __future__ import annotations

from bot.config import CORE_AGENTS
from bot.slack import messages as text
from bot.turns.context import TurnView

HELP_WORDS = frozenset({"help", "?", "usage"})
# How far a `/word` may be from an agent's name to read as a misspelling of it: typos (a letter missing,
# added, changed, or two swapped) one away, two for the long names. `/review` is far from every agent.
LONG_NAME = 7


def usage_reply(view: TurnView, default_agent: str) -> str | None:
    """The usage reply this turn gets instead of going to the agent, or None for a real request."""
    if view.conversation.session_id is not None or not view.messages:
        return None
    words = [m.text.strip() for m in view.messages]
    has_files = any(m.files_json not in ("", "[]") for m in view.messages)
    if not has_files and all(not w or w.lower() in HELP_WORDS for w in words):
        return text.usage(CORE_AGENTS, default_agent)
    first = words[0].split(maxsplit=1)[0] if words[0] else ""
    misspelt = misspelt_agent(first)
    if misspelt is not None:
        return text.unknown_agent(first, misspelt, CORE_AGENTS)
    return None


def misspelt_agent(word: str) -> str | None:
    """The agent `word` (a leading `/word`) most likely meant, or None when it names an agent or is no
    misspelling of one (then it is a Blocks skill)."""
    if not word.startswith("/") or len(word) < 4:
        return None
    name = word[1:].lower()
    if name in CORE_AGENTS:
        return None
    for agent in CORE_AGENTS:
        if typos(name, agent) <= (2 if len(agent) >= LONG_NAME else 1):
            return agent
    return None


def typos(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from `a` to `b` (optimal string alignment)."""
    rows = [list(range(len(b) + 1))]
    for i, char_a in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (char_a != char_b))
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]
