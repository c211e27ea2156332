"""The Slack workspace this deployment is installed in, and which events belong to it.

A workspace may be part of an Enterprise Grid organization: then the organization's other workspaces are
ours too (their members are not external, their events are not foreign), and nothing else is.
"""

from __future__ import annotations

from collections.abc import Mapping
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

    @classmethod
    def from_auth_test(cls, response: Mapping[str, Any]) -> Workspace:
        return cls(
            team_id=str(response.get("team_id") or ""), enterprise_id=response.get("enterprise_id") or None
        )


def event_enterprise_id(body: Mapping[str, Any]) -> str | None:
    """The organization an event was delivered for (organization-wide installs carry it only in the
    authorizations)."""
    if body.get("enterprise_id"):
        return str(body["enterprise_id"])
    for authorization in body.get("authorizations") or []:
        if isinstance(authorization, Mapping) and authorization.get("enterprise_id"):
            return str(authorization["enterprise_id"])
    return None
