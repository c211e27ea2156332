from __future__ import annotations

from bot.workspace import Workspace, event_enterprise_id


def test_a_workspace_includes_itself_and_its_organization_only() -> None:
    alone = Workspace("T1")
    assert alone.includes("T1") and not alone.includes("T2") and not alone.includes(None, "E1")
    grid = Workspace("T1", "E1")
    assert grid.includes("T2", "E1") and not grid.includes("T2", "E2") and not grid.includes("T2")


def test_the_enterprise_of_an_event_comes_from_the_envelope_or_its_authorizations() -> None:
    assert event_enterprise_id({"enterprise_id": "E1"}) == "E1"
    assert event_enterprise_id({"authorizations": [{"enterprise_id": "E2", "team_id": None}]}) == "E2"
    assert event_enterprise_id({"team_id": "T1", "authorizations": [{"enterprise_id": None}]}) is None


def test_auth_test_names_the_workspace() -> None:
    assert Workspace.from_auth_test({"team_id": "T1", "enterprise_id": "E1"}) == Workspace("T1", "E1")
    assert Workspace.from_auth_test({"team_id": "T1"}) == Workspace("T1")
