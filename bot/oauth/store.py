"""Slack installations in our database: slack-sdk's `InstallationStore`, with the tokens encrypted.

Bolt's OAuth flow saves an install here and its authorization finds the token of each event's
workspace here. The lookups are those of slack-sdk's own SQLAlchemy store (rows keyed by client id,
enterprise id and team id; an organization-wide install has no team id; the newest row wins), so Bolt
behaves as it does with that store. What differs is how rows are kept: times are epoch seconds (as in
every table here) and secrets are Fernet tokens, readable only with `BLOCKS_SLACK_ENCRYPTION_KEY`.
A row this deployment cannot decrypt raises `UnreadableSecret`: a wrong key is the operator's to fix,
not a workspace to treat as uninstalled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from sqlalchemy import ColumnElement, Connection, Engine, RowMapping, and_, delete, insert, select, update

from bot.db.engine import reading
from bot.db.models import SlackBot, SlackInstallation, WorkspaceKey
from bot.oauth.workspace_keys import keys_of_workspace
from bot.secrets_at_rest import Vault

_log = logging.getLogger(__name__)

# Which column of ours holds each secret of slack-sdk's models, encrypted.
INSTALLATION_SECRETS = {
    "bot_token": "bot_token_encrypted",
    "bot_refresh_token": "bot_refresh_token_encrypted",
    "user_token": "user_token_encrypted",
    "user_refresh_token": "user_refresh_token_encrypted",
    "incoming_webhook_url": "incoming_webhook_url_encrypted",
}
BOT_SECRETS = {"bot_token": "bot_token_encrypted", "bot_refresh_token": "bot_refresh_token_encrypted"}
_INSTALLATION_PLAIN = (
    "app_id",
    "enterprise_id",
    "enterprise_name",
    "enterprise_url",
    "team_id",
    "team_name",
    "bot_id",
    "bot_user_id",
    "user_id",
    "incoming_webhook_channel",
    "incoming_webhook_channel_id",
    "incoming_webhook_configuration_url",
    "is_enterprise_install",
    "token_type",
    "installed_at",
)
_BOT_PLAIN = (
    "app_id",
    "enterprise_id",
    "enterprise_name",
    "team_id",
    "team_name",
    "bot_id",
    "bot_user_id",
    "is_enterprise_install",
    "installed_at",
)


class DatabaseInstallationStore(InstallationStore):
    def __init__(self, engine: Engine, vault: Vault, *, client_id: str) -> None:
        self.engine = engine
        self.vault = vault
        self.client_id = client_id

    @property
    def logger(self) -> logging.Logger:
        return _log

    # -- saving ---------------------------------------------------------------------------------------

    def save(self, installation: Installation) -> None:
        """Add an install (or, for the same install time, update it: a token refresh) and its bot."""
        with self.engine.begin() as conn:
            values = self._installation_row(installation)
            self._insert_or_update(
                conn, SlackInstallation, values, self._same_install(SlackInstallation, values)
            )
            self._save_bot(conn, installation.to_bot())

    def save_bot(self, bot: Bot) -> None:
        with self.engine.begin() as conn:
            self._save_bot(conn, bot)

    def _save_bot(self, conn: Connection, bot: Bot) -> None:
        values = self._bot_row(bot)
        self._insert_or_update(conn, SlackBot, values, self._same_install(SlackBot, values))

    def _same_install(self, model: Any, values: Mapping[str, Any]) -> ColumnElement[bool]:
        """The row of the same install (one workspace, one install time): a refresh updates it."""
        return and_(
            model.client_id == self.client_id,
            model.enterprise_id == values["enterprise_id"],
            model.team_id == values["team_id"],
            model.installed_at == values["installed_at"],
        )

    @staticmethod
    def _insert_or_update(
        conn: Connection,
        model: type[SlackInstallation] | type[SlackBot],
        values: dict[str, Any],
        same_install: ColumnElement[bool],
    ) -> None:
        # As slack-sdk's store: a row per install time. No unique key can say so (NULL ids compare unequal).
        existing = conn.execute(select(model.id).where(same_install).limit(1)).scalar()
        if existing is None:
            conn.execute(insert(model).values(**values))
        else:
            conn.execute(update(model).where(model.id == existing).values(**values))

    # -- finding --------------------------------------------------------------------------------------

    def find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        """The newest bot of the workspace (of the organization, for an organization-wide install) that
        has a token."""
        if is_enterprise_install or team_id is None:
            team_id = None
        c = SlackBot
        query = (
            select(SlackBot.__table__)
            .where(
                c.client_id == self.client_id,
                c.enterprise_id == enterprise_id,
                c.team_id == team_id,
                c.bot_token_encrypted.is_not(None),
            )
            .order_by(c.installed_at.desc(), c.id.desc())
            .limit(1)
        )
        with reading(self.engine) as conn:  # a read: no writer lock (SQLite)
            row = conn.execute(query).mappings().first()
        return None if row is None else self._bot(row)

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """The newest install of the workspace (by `user_id`, when given). Its bot fields are the newest
        bot's when that differs (a later install by someone else, or a refresh): as slack-sdk does."""
        if is_enterprise_install or team_id is None:
            team_id = None
        c = SlackInstallation
        conditions = [c.client_id == self.client_id, c.enterprise_id == enterprise_id, c.team_id == team_id]
        if user_id is not None:
            conditions.append(c.user_id == user_id)
        query = (
            select(SlackInstallation.__table__)
            .where(*conditions)
            .order_by(c.installed_at.desc(), c.id.desc())
            .limit(1)
        )
        with reading(self.engine) as conn:  # a read: no writer lock (SQLite)
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        installation = self._installation(row)
        if user_id is not None or installation.bot_token is None:
            # See bolt-python#664: a user's own install may be older than the workspace's newest bot token.
            latest = self.find_bot(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
            )
            if latest is not None and latest.bot_token != installation.bot_token:
                installation.bot_id = latest.bot_id
                installation.bot_user_id = latest.bot_user_id
                installation.bot_token = latest.bot_token
                installation.bot_scopes = latest.bot_scopes
                installation.bot_refresh_token = latest.bot_refresh_token
                installation.bot_token_expires_at = latest.bot_token_expires_at
        return installation

    # -- deleting -------------------------------------------------------------------------------------

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(SlackBot).where(*self._owned_by(SlackBot, enterprise_id, team_id)))

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        conditions = self._owned_by(SlackInstallation, enterprise_id, team_id)
        if user_id is not None:
            conditions.append(SlackInstallation.user_id == user_id)
        with self.engine.begin() as conn:
            conn.execute(delete(SlackInstallation).where(*conditions))

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Every install and bot of the workspace, in one transaction."""
        with self.engine.begin() as conn:
            self._delete_installs(conn, enterprise_id, team_id)

    def delete_workspace(
        self, *, team_id: str | None, enterprise_id: str | None, is_enterprise_install: bool = False
    ) -> None:
        """On uninstall (or revoked tokens): every secret we hold for the workspace goes, in one
        transaction: its installs, its bots and the Blocks keys it connected. A reinstall starts clean.
        For an organization-wide install, pass `is_enterprise_install` (or no team)."""
        if is_enterprise_install:
            team_id = None
        with self.engine.begin() as conn:
            self._delete_installs(conn, enterprise_id, team_id)
            conn.execute(delete(WorkspaceKey).where(keys_of_workspace(team_id, enterprise_id)))

    def _delete_installs(self, conn: Connection, enterprise_id: str | None, team_id: str | None) -> None:
        conn.execute(delete(SlackBot).where(*self._owned_by(SlackBot, enterprise_id, team_id)))
        conn.execute(
            delete(SlackInstallation).where(*self._owned_by(SlackInstallation, enterprise_id, team_id))
        )

    def _owned_by(
        self, model: type[SlackInstallation] | type[SlackBot], enterprise_id: str | None, team_id: str | None
    ) -> list[ColumnElement[bool]]:
        return [
            model.client_id == self.client_id,
            model.enterprise_id == enterprise_id,
            model.team_id == team_id,
        ]

    # -- rows and models ------------------------------------------------------------------------------

    def _installation_row(self, installation: Installation) -> dict[str, Any]:
        values: dict[str, Any] = {name: getattr(installation, name) for name in _INSTALLATION_PLAIN}
        values.update(self._encrypted(installation, INSTALLATION_SECRETS))
        values.update(
            client_id=self.client_id,
            bot_scopes=_joined(installation.bot_scopes),
            user_scopes=_joined(installation.user_scopes),
            bot_token_expires_at=installation.bot_token_expires_at,
            user_token_expires_at=installation.user_token_expires_at,
            is_enterprise_install=bool(installation.is_enterprise_install),
            installed_at=float(installation.installed_at),
        )
        return values

    def _bot_row(self, bot: Bot) -> dict[str, Any]:
        values: dict[str, Any] = {name: getattr(bot, name) for name in _BOT_PLAIN}
        values.update(self._encrypted(bot, BOT_SECRETS))
        values.update(
            client_id=self.client_id,
            bot_scopes=_joined(bot.bot_scopes),
            bot_token_expires_at=bot.bot_token_expires_at,
            is_enterprise_install=bool(bot.is_enterprise_install),
            installed_at=float(bot.installed_at),
        )
        return values

    def _encrypted(self, model: Installation | Bot, secrets: Mapping[str, str]) -> dict[str, str | None]:
        values: dict[str, str | None] = {}
        for attribute, column in secrets.items():
            secret = getattr(model, attribute)
            values[column] = None if secret is None else self.vault.encrypt(secret)
        return values

    def _decrypted(self, row: RowMapping, secrets: Mapping[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for attribute, column in secrets.items():
            stored = row[column]
            values[attribute] = None if stored is None else self.vault.decrypt(stored)
        return values

    # Scopes go back as stored (comma-separated, or None), as slack-sdk's store gives them.
    def _installation(self, row: RowMapping) -> Installation:
        return Installation(
            **{name: row[name] for name in _INSTALLATION_PLAIN},
            **self._decrypted(row, INSTALLATION_SECRETS),
            bot_scopes=row["bot_scopes"],
            user_scopes=row["user_scopes"],
            bot_token_expires_at=_whole_seconds(row["bot_token_expires_at"]),
            user_token_expires_at=_whole_seconds(row["user_token_expires_at"]),
        )

    def _bot(self, row: RowMapping) -> Bot:
        return Bot(
            **{name: row[name] for name in _BOT_PLAIN},
            **self._decrypted(row, BOT_SECRETS),
            bot_scopes=row["bot_scopes"],
            bot_token_expires_at=_whole_seconds(row["bot_token_expires_at"]),
        )


def _joined(scopes: Any) -> str | None:
    """slack-sdk's models hold scopes as a list; the row holds them comma-separated, as Slack sends them."""
    if not scopes:
        return None
    return scopes if isinstance(scopes, str) else ",".join(scopes)


def _whole_seconds(stored: float | None) -> int | None:
    # slack-sdk's models take an expiry as an int (or a datetime or string), not a float.
    return None if stored is None else int(stored)
