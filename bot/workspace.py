"""The Slack workspace this deployment is installed in, and which events belong to it.

A workspace may be part of an Enterprise Grid organization: then the organization's other workspaces are
ours too (their members are not external, their events are not foreign), and nothing else is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Workspace:
    team_id: str
    enterprise_id: str | None = None

    def includes(self, team_id: str | None, enterprise_id: str | None = None) -> bool:
        """Whether a team (or an organization-wide install's enterprise) is this workspace or its org."""
        if team_id and team_id == self.team_id:
            return True
        return bool(self.enterprise_id and enterprise_id == self.enterprise_id)

    def is_external(
        self, author_team: str | None, *, author_enterprise: Callable[[], str | None] | None = None
    ) -> bool:
        """Whether an author of `author_team` belongs to another organization (Slack Connect). In an
        Enterprise Grid organization another workspace may be ours: `author_enterprise` tells (it may ask
        Slack); without it, a member of another workspace counts as external (the safe answer)."""
        if not author_team or author_team == self.team_id:
            return False
        if self.enterprise_id and author_enterprise is not None:
            return author_enterprise() != self.enterprise_id
        return True

    @classmethod
    def from_auth_test(cls, response: Mapping[str, Any]) -> Workspace:
        return cls(
            team_id=str(response.get("team_id") or ""), enterprise_id=response.get("enterprise_id") or None
        )


@dataclass(frozen=True)
class Delivery:
    """The installation an Events API payload was delivered to, read as Bolt reads it: from
    `authorizations[0]` first. In a Slack Connect channel the envelope's `team_id` can be the workspace
    the event came from, not ours."""

    home: Workspace
    authorized_teams: frozenset[str]
    shared_externally: bool | None  # `is_ext_shared_channel`; None when Slack did not say

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Delivery | None:
        authorizations = [a for a in body.get("authorizations") or [] if isinstance(a, Mapping)]
        first = authorizations[0] if authorizations else {}
        team_id = first.get("team_id") or body.get("team_id")
        if not isinstance(team_id, str) or not team_id:
            event = body.get("event")
            team_id = event.get("team") if isinstance(event, Mapping) else None
        if not isinstance(team_id, str) or not team_id:
            return None
        shared = body.get("is_ext_shared_channel")
        return cls(
            home=Workspace(team_id, event_enterprise_id(body)),
            authorized_teams=frozenset(str(a["team_id"]) for a in authorizations if a.get("team_id")),
            shared_externally=shared if isinstance(shared, bool) else None,
        )

    def is_external(self, author_team: str | None) -> bool:
        """At intake (no Slack call): teams this payload was authorized for are ours, and a channel Slack
        says is not shared with another organization holds only our organization's people."""
        if author_team in self.authorized_teams or self.shared_externally is False:
            return False
        return self.home.is_external(author_team)


def event_enterprise_id(body: Mapping[str, Any]) -> str | None:
    """The organization an event was delivered for (organization-wide installs carry it only in the
    authorizations)."""
    if body.get("enterprise_id"):
        return str(body["enterprise_id"])
    for authorization in body.get("authorizations") or []:
        if isinstance(authorization, Mapping) and authorization.get("enterprise_id"):
            return str(authorization["enterprise_id"])
    return None
