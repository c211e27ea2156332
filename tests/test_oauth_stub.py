"""The Slack stub's installs over real HTTP: the authorize page, oauth.v2.access (code exchange and
refresh), and issued tokens that decide their workspace and stop working when refreshed, expired or
revoked."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sim.slack import TEAM_ID, SlackStub
from bot.sim.wsgi import serve_in_thread

REDIRECT = "https://bot.example/slack/oauth_redirect"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def served(clock: Clock) -> Iterator[tuple[SlackStub, str]]:
    stub = SlackStub(clock=clock)
    server = serve_in_thread(stub)
    yield stub, server.url
    server.stop()


@pytest.fixture
def stub(served: tuple[SlackStub, str]) -> SlackStub:
    return served[0]


@pytest.fixture
def url(served: tuple[SlackStub, str]) -> str:
    return served[1]


@pytest.fixture
def web(url: str) -> WebClient:
    return WebClient(base_url=f"{url}/api/")


def authorize(url: str, **query: str) -> httpx.Response:
    query = {"client_id": "sim-client-id", "scope": "chat:write,app_mentions:read", "state": "s-1", **query}
    return httpx.get(f"{url}/oauth/v2/authorize?{urlencode(query)}", follow_redirects=False)


def code_from(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    return parse_qs(location.query)["code"][0]


def exchange(
    web: WebClient, code: str, redirect_uri: str | None = REDIRECT, **extra: str
) -> dict[str, object]:
    credentials = {"client_id": "sim-client-id", "client_secret": "sim-client-secret", **extra}
    answer = web.oauth_v2_access(code=code, redirect_uri=redirect_uri, **credentials)
    return dict(answer.data) if isinstance(answer.data, dict) else {}


def error_of(call: object) -> str:
    assert callable(call)
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


def install(web: WebClient, url: str, team: str = "T0002") -> dict[str, object]:
    return exchange(web, code_from(authorize(url, team=team, redirect_uri=REDIRECT)))


# -- the authorize page ------------------------------------------------------------------------------------


def test_the_authorize_page_redirects_back_with_a_code_and_the_state(url: str) -> None:
    response = authorize(url, team="T0002", redirect_uri=f"{REDIRECT}?from=slack")
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["s-1"] and query["from"] == ["slack"] and query["code"][0].startswith("code-")


def test_the_authorize_page_uses_the_apps_redirect_url_when_the_link_has_none(
    url: str, stub: SlackStub
) -> None:
    assert authorize(url).status_code == 400  # no redirect URL anywhere
    stub.oauth.redirect_uri = REDIRECT
    assert authorize(url).headers["location"].startswith(REDIRECT + "?")


def test_the_authorize_page_refuses_another_app_and_can_be_denied(url: str) -> None:
    refused = authorize(url, client_id="someone-else", redirect_uri=REDIRECT)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client_id"
    denied = authorize(url, redirect_uri=REDIRECT, deny="1")
    query = parse_qs(urlsplit(denied.headers["location"]).query)
    assert query == {"error": ["access_denied"], "state": ["s-1"]}


# -- oauth.v2.access: the code exchange --------------------------------------------------------------------


def test_a_code_is_exchanged_for_an_install_shaped_like_slacks(
    web: WebClient, url: str, stub: SlackStub
) -> None:
    stub.oauth.add_workspace("T0002", "Second")
    answer = exchange(web, code_from(authorize(url, team="T0002", redirect_uri=REDIRECT, user="UBOB")))
    token = answer.pop("access_token")
    assert isinstance(token, str) and token.startswith("xoxb-T0002-")
    assert answer == {
        "ok": True,
        "app_id": "ASIM",
        "authed_user": {"id": "UBOB"},
        "scope": "chat:write,app_mentions:read",
        "token_type": "bot",
        "bot_user_id": "UBOT",
        "team": {"id": "T0002", "name": "Second"},
        "enterprise": None,
        "is_enterprise_install": False,
    }


def test_a_code_is_good_once_for_ten_minutes(web: WebClient, url: str, clock: Clock) -> None:
    code = code_from(authorize(url, redirect_uri=REDIRECT))
    exchange(web, code)
    assert error_of(lambda: exchange(web, code)) == "invalid_code"
    late = code_from(authorize(url, redirect_uri=REDIRECT))
    clock.now += 600
    assert error_of(lambda: exchange(web, late)) == "invalid_code"
    assert error_of(lambda: exchange(web, "made-up")) == "invalid_code"


def test_the_exchange_checks_the_app_and_the_redirect_url(web: WebClient, url: str) -> None:
    assert error_of(lambda: exchange(web, "x", client_id="other")) == "invalid_client_id"
    assert error_of(lambda: exchange(web, "x", client_secret="wrong")) == "bad_client_secret"
    code = code_from(authorize(url, redirect_uri=REDIRECT))
    assert error_of(lambda: exchange(web, code, redirect_uri="https://elsewhere/")) == "bad_redirect_uri"


def test_an_organization_wide_install_has_an_enterprise_and_no_team(
    web: WebClient, url: str, stub: SlackStub
) -> None:
    stub.oauth.add_organization("E0001", "Grid")
    answer = install(web, url, team="E0001")
    assert answer["team"] is None and answer["is_enterprise_install"] is True
    assert answer["enterprise"] == {"id": "E0001", "name": "Grid"}
    assert str(answer["access_token"]).startswith("xoxb-E0001-")
    identity = web.auth_test(token=str(answer["access_token"]))
    assert identity["enterprise_id"] == "E0001" and identity["is_enterprise_install"] is True
    assert identity.get("team_id") is None


# -- calls made with issued tokens -------------------------------------------------------------------------


def test_the_token_decides_the_workspace(web: WebClient, url: str, stub: SlackStub) -> None:
    stub.oauth.add_workspace("T0003", "Third", enterprise_id="E0001")
    second, third = install(web, url, "T0002"), install(web, url, "T0003")
    for answer, team, enterprise in ((second, "T0002", None), (third, "T0003", "E0001")):
        identity = web.auth_test(token=str(answer["access_token"]))
        assert (identity["team_id"], identity.get("enterprise_id"), identity["bot_id"]) == (
            team,
            enterprise,
            "BBOT",
        )
        assert identity["is_enterprise_install"] is False
    assert web.auth_test(token="xoxb-not-issued-by-the-stub")["team_id"] == TEAM_ID


def test_an_issued_token_carries_the_scopes_it_was_granted(web: WebClient, url: str) -> None:
    answer = exchange(web, code_from(authorize(url, redirect_uri=REDIRECT, scope="chat:write")))
    identity = web.auth_test(token=str(answer["access_token"]))
    headers = {name.lower(): value for name, value in identity.headers.items()}
    assert headers["x-oauth-scopes"] == "chat:write"


def test_without_rotation_there_is_no_refresh_token(web: WebClient, url: str) -> None:
    answer = install(web, url)
    assert "refresh_token" not in answer and "expires_in" not in answer


def test_a_refresh_replaces_the_token_and_the_old_one_is_refused(
    web: WebClient, url: str, stub: SlackStub
) -> None:
    stub.oauth.token_rotation = True
    answer = install(web, url)
    old_token, old_refresh = str(answer["access_token"]), str(answer["refresh_token"])
    assert answer["expires_in"] == 43200 and old_refresh.startswith("xoxe-1-T0002-")
    assert web.auth_test(token=old_token)["team_id"] == "T0002"

    refreshed = web.oauth_v2_access(
        client_id="sim-client-id",
        client_secret="sim-client-secret",
        grant_type="refresh_token",
        refresh_token=old_refresh,
    )
    new_token = str(refreshed["access_token"])
    assert new_token != old_token and new_token.startswith("xoxb-T0002-")
    assert refreshed["token_type"] == "bot" and refreshed["expires_in"] == 43200
    assert refreshed["refresh_token"] != old_refresh
    assert refreshed["team"] == {"id": "T0002", "name": "Workspace T0002"}

    assert web.auth_test(token=new_token)["team_id"] == "T0002"
    assert error_of(lambda: web.auth_test(token=old_token)) == "invalid_auth"
    assert error_of(lambda: web.chat_postMessage(token=old_token, channel="C1", text="hi")) == "invalid_auth"
    again = {"client_id": "sim-client-id", "client_secret": "sim-client-secret", "refresh_token": old_refresh}
    assert (
        error_of(lambda: web.oauth_v2_access(grant_type="refresh_token", **again)) == "invalid_refresh_token"
    )


def test_an_expired_token_is_refused_until_refreshed(
    web: WebClient, url: str, stub: SlackStub, clock: Clock
) -> None:
    stub.oauth.token_rotation = True
    stub.oauth.token_lifetime_seconds = 60
    answer = install(web, url)
    token = str(answer["access_token"])
    clock.now += 59
    web.auth_test(token=token)
    clock.now += 1
    assert error_of(lambda: web.auth_test(token=token)) == "token_expired"
    refreshed = web.oauth_v2_access(
        client_id="sim-client-id",
        client_secret="sim-client-secret",
        grant_type="refresh_token",
        refresh_token=str(answer["refresh_token"]),
    )
    assert web.auth_test(token=str(refreshed["access_token"]))["ok"] is True


def test_an_uninstall_revokes_the_workspaces_tokens_only(web: WebClient, url: str, stub: SlackStub) -> None:
    second, third = install(web, url, "T0002"), install(web, url, "T0003")
    assert stub.oauth.revoke("T0002") == 1
    assert error_of(lambda: web.auth_test(token=str(second["access_token"]))) == "token_revoked"
    assert web.auth_test(token=str(third["access_token"]))["team_id"] == "T0003"
    assert stub.oauth.active_tokens("T0002") == []


def test_the_control_endpoints(web: WebClient, url: str) -> None:
    with httpx.Client(base_url=f"{url}/_stub/") as control:
        settings = {"token_rotation": True, "token_lifetime_seconds": 120, "client_secret": "rotated-secret"}
        assert control.post("oauth", json=settings).json() == {"ok": True}
        code = code_from(authorize(url, team="T0002", redirect_uri=REDIRECT))
        answer = exchange(web, code, client_secret="rotated-secret")
        token = str(answer["access_token"])
        assert answer["expires_in"] == 120
        assert control.get("oauth/tokens", params={"owner": "T0002"}).json() == {"tokens": [token]}
        assert control.post("oauth/expire", json={"token": token}).json() == {"ok": True}
        assert error_of(lambda: web.auth_test(token=token)) == "token_expired"
        assert control.post("oauth/expire", json={"token": "xoxb-unknown"}).status_code == 404
        assert control.post("oauth/revoke", json={"owner": "T0002"}).json() == {"ok": True, "revoked": 1}
        assert error_of(lambda: web.auth_test(token=token)) == "token_revoked"
        calls = control.get("calls").json()["calls"]
    assert [c["method"] for c in calls[:2]] == ["oauth.v2.authorize", "oauth.v2.access"]


def test_a_refresh_can_meet_an_injected_fault(web: WebClient, url: str, stub: SlackStub) -> None:
    stub.oauth.token_rotation = True
    answer = install(web, url)
    stub.inject("oauth.v2.access", "internal_error", http_status=500)
    refresh = {"client_id": "sim-client-id", "client_secret": "sim-client-secret"}
    refresh["refresh_token"] = str(answer["refresh_token"])
    assert error_of(lambda: web.oauth_v2_access(grant_type="refresh_token", **refresh)) == "internal_error"
    # The refresh token was not spent by the failed call.
    assert web.oauth_v2_access(grant_type="refresh_token", **refresh)["ok"] is True
