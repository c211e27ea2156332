"""Pull requests the agent opened, found where the bot already has text: in its answer and in the tool
calls the polls return (a `gh pr view URL`, a GitHub tool's arguments). Shown as buttons on the answer.

Only addresses that are plainly a pull request (GitHub's `/pull/N`, GitLab's `/-/merge_requests/N`,
over https) count, each once, in the order first seen: a button's link is the agent's text, so it must
be nothing but what it says it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_SHOWN = 5  # buttons on one answer

_GITHUB = re.compile(r"https://github\.com/([A-Za-z0-9][\w.-]*/[\w.-]+)/pull/(\d{1,9})\b")
_GITLAB = re.compile(r"https://gitlab\.com/((?:[\w.-]+/)+[\w.-]+)/-/merge_requests/(\d{1,9})\b")


@dataclass(frozen=True)
class PullRequest:
    repo: str  # owner/name
    number: int
    url: str

    @property
    def label(self) -> str:
        """What its button says: `PR owner/name#42` (at most 75 characters, Slack's limit)."""
        shown = f"PR {self.repo}#{self.number}"
        return shown if len(shown) <= 75 else f"PR #{self.number}"


def find(text: str) -> list[PullRequest]:
    found = []
    for pattern, path in ((_GITHUB, "pull"), (_GITLAB, "-/merge_requests")):
        for match in pattern.finditer(text):
            repo, number = match.group(1).rstrip("."), int(match.group(2))
            host = "github.com" if path == "pull" else "gitlab.com"
            found.append(PullRequest(repo, number, f"https://{host}/{repo}/{path}/{number}"))
    return found


def merge(*groups: Iterable[PullRequest]) -> list[PullRequest]:
    """Each pull request once, in the order first seen."""
    seen: dict[str, PullRequest] = {}
    for group in groups:
        for pr in group:
            seen.setdefault(pr.url, pr)
    return list(seen.values())


def dumps(prs: list[PullRequest]) -> str | None:
    return json.dumps([[pr.repo, pr.number, pr.url] for pr in prs]) if prs else None


def loads(stored: str | None) -> list[PullRequest]:
    try:
        data = json.loads(stored or "[]")
    except ValueError:
        return []
    found = []
    for entry in data if isinstance(data, list) else []:
        if isinstance(entry, list) and len(entry) == 3 and isinstance(entry[2], str):
            found += find(entry[2])  # the stored link is checked again, as if read anew
    return merge(found)
