"""Bolt's own OAuth flow and authorization over our stores, against the Slack stub over real HTTP: the
Add to Slack page, the stub's authorize page, the redirect back, the install saved (encrypted) in our
database, and Bolt refreshing a rotating token from it. No app wiring: `OAuthFlow` and
`InstallationStoreAuthorize` as Bolt builds them from `OAuthSettings`."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from slack_bolt import BoltContext, BoltRequest
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.token_rotation import TokenRotator
from sqlalchemy import Engine, func, select

from bot.db.models import SlackBot, SlackInstallation
from bot.oauth.state import DatabaseOAuthStateStore
from bot.oauth.store import DatabaseInstallationStore
from bot.secrets_at_rest import Vault, generate_key
from bot.sim.slack import SlackStub
from bot.sim.wsgi import serve_in_thread

CLIENT_ID = "sim-client-id"
CLIENT_SECRET = "sim-client-secret"
SCOPES = ["app_mentions:read", "chat:write", "reactions:write"]
REDIRECT = "https://bot.example/slack/oauth_redirect"


@pytest.fixture
def slack(engine: Engine) -> Iterator[tuple[SlackStub, str]]:
    stub = SlackStub()
    server = serve_in_thread(stub)
    yield stub, server.url
    server.stop()


@pytest.fixture
def store(engine: Engine) -> DatabaseInstallationStore:
    return DatabaseInstallationStore(engine, Vault.from_env_value(generate_key()), client_id=CLIENT_ID)


@pytest.fixture
def flow(engine: Engine, store: DatabaseInstallationStore, slack: tuple[SlackStub, str]) -> OAuthFlow:
    settings = OAuthSettings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scopes=SCOPES,
        user_scopes=[],
        redirect_uri=REDIRECT,
        authorization_url=f"{slack[1]}/oauth/v2/authorize",
        installation_store=store,
        state_store=DatabaseOAuthStateStore(engine),
    )
    return OAuthFlow(client=WebClient(base_url=f"{slack[1]}/api/"), settings=settings)


def add_to_slack(flow: OAuthFlow, query: str = "") -> tuple[str, str]:
    """Open /slack/install: the Add to Slack link, and the state cookie Bolt sets for it."""
    page = flow.handle_installation(BoltRequest(body="", query=query, headers={}))
    assert page.status == 200
    link = unescape(re.search(r'<a href="([^"]+)"', page.body).group(1))  # type: ignore[union-attr]
    cookie = page.headers["set-cookie"][0].split(";")[0]
    return link, cookie


def allow(link: str) -> dict[str, str]:
    """The installer clicks Allow on the stub's authorize page: where Slack sends the browser back."""
    response = httpx.get(link, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {name: values[0] for name, values in parse_qs(location.query, keep_blank_values=True).items()}


def redirect_back(flow: OAuthFlow, back: dict[str, str], cookie: str) -> int:
    query = "&".join(f"{name}={value}" for name, value in back.items())
    return flow.handle_callback(BoltRequest(body="", query=query, headers={"cookie": [cookie]})).status


def test_an_install_through_bolts_flow_lands_in_our_store(
    flow: OAuthFlow, store: DatabaseInstallationStore, slack: tuple[SlackStub, str], engine: Engine
) -> None:
    stub, url = slack
    stub.oauth.add_workspace("T0002", "Second")
    link, cookie = add_to_slack(flow, "team=T0002")
    assert parse_qs(urlsplit(link).query)["scope"] == [",".join(SCOPES)]
    assert redirect_back(flow, allow(link), cookie) == 200

    installation = store.find_installation(enterprise_id=None, team_id="T0002")
    assert installation is not None
    assert (installation.team_name, installation.user_id, installation.bot_id) == ("Second", "UALICE", "BBOT")
    assert installation.bot_scopes == SCOPES
    assert installation.bot_token in stub.oauth.active_tokens("T0002")
    identity = WebClient(base_url=f"{url}/api/").auth_test(token=installation.bot_token)
    assert identity["team_id"] == "T0002"
    with engine.connect() as conn:
        stored = conn.execute(select(SlackBot.bot_token_encrypted)).scalars().all()
    assert len(stored) == 1 and installation.bot_token not in str(stored[0])


def test_a_state_is_good_for_one_redirect(flow: OAuthFlow, store: DatabaseInstallationStore) -> None:
    link, cookie = add_to_slack(flow)
    back = allow(link)
    assert redirect_back(flow, back, cookie) == 200
    assert redirect_back(flow, back, cookie) == 401  # replayed: invalid_state
    forged = allow(link.replace(f"state={back['state']}", "state=forged"))
    assert redirect_back(flow, forged, "slack-app-oauth-state=forged") == 401
    with_another_cookie = allow(add_to_slack(flow)[0])
    assert redirect_back(flow, with_another_cookie, "slack-app-oauth-state=other") == 400  # invalid_browser


def test_an_organization_wide_install_serves_every_workspace_of_the_org(
    flow: OAuthFlow, store: DatabaseInstallationStore, slack: tuple[SlackStub, str]
) -> None:
    slack[0].oauth.add_organization("E0001", "Grid")
    link, cookie = add_to_slack(flow, "team=E0001")
    assert redirect_back(flow, allow(link), cookie) == 200
    installation = store.find_installation(enterprise_id="E0001", team_id=None, is_enterprise_install=True)
    assert installation is not None and installation.is_enterprise_install
    assert (installation.team_id, installation.enterprise_name) == (None, "Grid")
    assert installation.enterprise_url == "https://e0001.enterprise.sim.slack.com/"  # Bolt asks auth.test
    # An event from any workspace of the organization, delivered to the organization-wide install.
    bot = store.find_bot(enterprise_id="E0001", team_id="T0777", is_enterprise_install=True)
    assert bot is not None and bot.bot_token == installation.bot_token


def test_bolt_refreshes_a_rotating_token_from_our_store(
    flow: OAuthFlow, store: DatabaseInstallationStore, slack: tuple[SlackStub, str], engine: Engine
) -> None:
    stub, url = slack
    stub.oauth.token_rotation = True
    stub.oauth.token_lifetime_seconds = 3600  # within Bolt's 120 minutes: due for a refresh at once
    link, cookie = add_to_slack(flow, "team=T0002")
    assert redirect_back(flow, allow(link), cookie) == 200
    installed = store.find_installation(enterprise_id=None, team_id="T0002")
    assert installed is not None and installed.bot_refresh_token is not None
    old_token = installed.bot_token

    web = WebClient(base_url=f"{url}/api/")
    authorize = InstallationStoreAuthorize(
        logger=logging.getLogger(__name__),
        installation_store=store,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        client=web,
    )
    context = BoltContext(client=web, is_enterprise_install=False)
    result = authorize(context=context, enterprise_id=None, team_id="T0002", user_id="UALICE")
    assert result is not None and result.bot_token not in (None, old_token)
    assert result.team_id == "T0002"

    refreshed = store.find_installation(enterprise_id=None, team_id="T0002")
    assert refreshed is not None and refreshed.bot_token == result.bot_token
    assert refreshed.installed_at == installed.installed_at  # the same install, updated in place
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SlackInstallation)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(SlackBot)).scalar_one() == 1
    with pytest.raises(SlackApiError) as refused:
        web.auth_test(token=old_token)
    assert refused.value.response["error"] == "invalid_auth"


def test_a_worker_can_refresh_as_bolt_does(
    flow: OAuthFlow, store: DatabaseInstallationStore, slack: tuple[SlackStub, str]
) -> None:
    """Outside any request (the worker): slack-sdk's TokenRotator, then save."""
    stub, url = slack
    stub.oauth.token_rotation = True
    link, cookie = add_to_slack(flow, "team=T0002")
    assert redirect_back(flow, allow(link), cookie) == 200
    installed = store.find_installation(enterprise_id=None, team_id="T0002")
    assert installed is not None

    rotator = TokenRotator(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, client=WebClient(base_url=f"{url}/api/")
    )
    assert (
        rotator.perform_token_rotation(installation=installed, minutes_before_expiration=1) is None
    )  # not due
    due = rotator.perform_token_rotation(installation=installed, minutes_before_expiration=12 * 60 + 1)
    assert due is not None
    store.save(due)
    bot = store.find_bot(enterprise_id=None, team_id="T0002")
    assert bot is not None and bot.bot_token == due.bot_token != installed.bot_token
    assert stub.oauth.active_tokens("T0002") == [due.bot_token]
