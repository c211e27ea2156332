from __future__ import annotations

from bot.workspace import Delivery, Workspace, event_enterprise_id


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


def test_a_delivery_belongs_to_the_installation_it_was_authorized_for() -> None:
    connect = {
        "team_id": "TPARTNER",
        "authorizations": [{"team_id": "T1", "enterprise_id": None}],
        "is_ext_shared_channel": True,
    }
    delivery = Delivery.of(connect)
    assert delivery is not None and delivery.home == Workspace("T1")
    assert delivery.is_external("TPARTNER") and not delivery.is_external("T1")
    assert Delivery.of({"team_id": "T1"}) == Delivery(Workspace("T1"), frozenset(), None)
    assert Delivery.of({"event": {"team": "T1"}}) is not None and Delivery.of({}) is None


def test_a_channel_not_shared_outside_holds_only_our_organization() -> None:
    org_shared = Delivery.of({"team_id": "T1", "enterprise_id": "E1", "is_ext_shared_channel": False})
    assert org_shared is not None and not org_shared.is_external("T2")
    unknown = Delivery.of({"team_id": "T1", "enterprise_id": "E1"})
    assert unknown is not None and unknown.is_external("T2"), "unknown: the safe answer"


def test_in_a_grid_organization_the_authors_enterprise_decides() -> None:
    grid = Workspace("T1", "E1")
    assert not grid.is_external("T2", author_enterprise=lambda: "E1")
    assert grid.is_external("T2", author_enterprise=lambda: "E2")
    assert grid.is_external("T2") and not grid.is_external(None) and not grid.is_external("T1")
