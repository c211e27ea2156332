"""Text from Slack and from Blocks, made storable and sendable where it enters the process.

JSON can carry what a database cannot: `"\\ud83d"` (half of an emoji, cut by a service that split UTF-16)
decodes to a lone surrogate, which neither SQLite nor PostgreSQL can encode, and `"\\u0000"` decodes to a
NUL, which PostgreSQL refuses in text. One such character made a message unrecordable (Slack was answered
500, again and again) or an answer unstorable (the turn re-polled until its horizon). So every string
that comes in is cleaned once, at the edge: a lone surrogate and a NUL each become U+FFFD (the
replacement character), a split surrogate pair is joined back into its character, and nothing else
changes.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def storable(text: str) -> str:
    if _UNSTORABLE.search(text) is None:
        return text  # the usual case, one scan
    # UTF-16 joins a valid high+low pair back into one character and replaces a lone half.
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return joined.replace("\x00", REPLACEMENT)


def storable_tree(value: Any) -> Any:
    """A parsed JSON value with every string in it (keys too) made storable."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_tree(key): storable_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_tree(item) for item in value]
    return value
