"""OAuth mode: the app installed from Slack in any number of workspaces.

`SLACK_CLIENT_ID` and `SLACK_CLIENT_SECRET` switch it on. `/slack/install` shows the Add to Slack page and
`/slack/oauth_redirect` completes the install (Bolt's OAuth flow, its state checked against our state
store); installs live in our database, tokens encrypted with `BLOCKS_SLACK_ENCRYPTION_KEY`. Each
workspace's turns then use its own bot token (refreshed before it expires, see `tenancy`) and its own
Blocks keys, the environment's `BLOCKS_API_KEY` being the fallback.

`app_uninstalled` and `tokens_revoked` remove the workspace: its installs and keys go, its running and
queued turns end without another Slack call, and its stored message texts are purged, before Slack is
answered (a failure answers 500: Slack delivers the event again). A reinstall starts clean.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.token_rotation import TokenRotator
from sqlalchemy import Engine, select, update

from bot.config import Settings
from bot.db.models import Conversation, InboundMessage, Turn
from bot.doctor import manifest_bot_scopes
from bot.oauth.state import DatabaseOAuthStateStore
from bot.oauth.store import DatabaseInstallationStore
from bot.oauth.workspace_keys import WorkspaceKeys
from bot.secrets_at_rest import Vault
from bot.tenancy import REFRESH_BEFORE_MINUTES, BlocksAccount, InstalledWorkspaces
from bot.turns import states

logger = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
UNINSTALLED = "uninstalled"  # the outcome of a turn whose workspace removed the app


def installed_workspaces(
    settings: Settings,
    engine: Engine,
    *,
    fallback: list[BlocksAccount],
    gateway_for: Any,
    account_for: Any,
) -> tuple[InstalledWorkspaces, OAuthSettings]:
    vault = Vault.from_env_value(settings.encryption_key)
    store = DatabaseInstallationStore(engine, vault, client_id=settings.slack_client_id)
    rotator = TokenRotator(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        client=WebClient(base_url=settings.slack_api_url, timeout=15),
    )
    tenancy = InstalledWorkspaces(
        engine=engine,
        store=store,
        keys=WorkspaceKeys(engine, vault),
        fallback=fallback,
        gateway_for=gateway_for,
        account_for=account_for,
        rotator=rotator,
    )
    oauth = OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=manifest_bot_scopes(),
        installation_store=store,
        state_store=DatabaseOAuthStateStore(engine),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=settings.slack_authorize_url,
        # Bolt refreshes a rotating token while it authorizes an event; the worker does the same.
        token_rotation_expiration_minutes=REFRESH_BEFORE_MINUTES,
    )
    # Bolt's own authorizer refreshes rotating tokens with a client of its own, which asks slack.com:
    # give it one that asks SLACK_API_URL (GovSlack, the stub), as every other call does.
    oauth.authorize = InstallationStoreAuthorize(
        logger=logging.getLogger("slack_bolt.authorization"),
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        token_rotation_expiration_minutes=REFRESH_BEFORE_MINUTES,
        installation_store=store,
        client=WebClient(base_url=settings.slack_api_url, timeout=15),
    )
    return tenancy, oauth


def remove_workspace(
    engine: Engine, store: DatabaseInstallationStore, body: Mapping[str, Any], now: float | None = None
) -> None:
    """The app was uninstalled from a workspace, or its bot token revoked: forget the workspace."""
    now = time.time() if now is None else now
    authorizations = [a for a in body.get("authorizations") or [] if isinstance(a, Mapping)]
    first = authorizations[0] if authorizations else {}
    team_id = first.get("team_id") or body.get("team_id")
    enterprise_id = first.get("enterprise_id") or body.get("enterprise_id")
    organization_wide = bool(first.get("is_enterprise_install"))
    store.delete_workspace(
        team_id=team_id, enterprise_id=enterprise_id, is_enterprise_install=organization_wide
    )
    with engine.begin() as conn:
        ours = select(Conversation.id).where(
            Conversation.enterprise_id == enterprise_id
            if organization_wide
            else Conversation.team_id == team_id
        )
        # Running and queued turns end here, fenced off from any worker, with no Slack call left to make.
        ended = conn.execute(
            update(Turn)
            .where(Turn.conversation_id.in_(ours), Turn.phase != states.FINISHED)
            .values(**states.ended(UNINSTALLED, now))
        ).rowcount
        # Finished turns that still owe the thread a note (interrupted) owe it nothing now.
        conn.execute(
            update(Turn).where(Turn.conversation_id.in_(ours)).values(next_run_at=None, step=states.DONE)
        )
        conn.execute(
            update(Turn)
            .where(Turn.conversation_id.in_(ours))
            .values(
                submit_text=None,
                answer_text=None,
                notice_text=None,
                placeholder_note=None,
                texts_purged_at=now,
            )
        )
        conn.execute(
            update(InboundMessage)
            .where(InboundMessage.conversation_id.in_(ours))
            .values(text="", files_json="[]")
        )
    logger.warning(
        "workspace %s removed the app: its installation and keys are deleted, %d turns ended, texts purged",
        team_id or enterprise_id,
        ended,
    )
