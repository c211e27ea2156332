"""Installs from Slack in our database (bot/oauth/): the installation store against slack-sdk's own
SQLAlchemy store, secrets unreadable in the tables, encryption key rotation, OAuth states, and the Blocks
keys of workspaces. Every test runs on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import hashlib
import importlib
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from sqlalchemy import Engine, create_engine, func, select, text

from bot.blocks.keys import key_hash
from bot.db.models import SlackBot, SlackInstallation, SlackOAuthState, WorkspaceKey
from bot.oauth.reencrypt import reencrypt_secrets
from bot.oauth.state import DatabaseOAuthStateStore
from bot.oauth.store import DatabaseInstallationStore
from bot.oauth.workspace_keys import WorkspaceKeys
from bot.secrets_at_rest import UnreadableSecret, Vault, generate_key

CLIENT_ID = "111.222"
OLD_KEY = generate_key()
NEW_KEY = generate_key()


@pytest.fixture
def vault() -> Vault:
    return Vault.from_env_value(OLD_KEY)


@pytest.fixture
def store(engine: Engine, vault: Vault) -> DatabaseInstallationStore:
    return DatabaseInstallationStore(engine, vault, client_id=CLIENT_ID)


def install(
    team_id: str | None,
    user_id: str,
    installed_at: float,
    *,
    enterprise_id: str | None = None,
    bot_token: str | None = None,
    user_token: str | None = None,
    refresh: bool = False,
) -> Installation:
    owner = team_id or enterprise_id
    return Installation(
        app_id="A0APP",
        enterprise_id=enterprise_id,
        enterprise_name=None if enterprise_id is None else f"Org {enterprise_id}",
        enterprise_url=None if enterprise_id is None else f"https://{enterprise_id}.example/",
        team_id=team_id,
        team_name=None if team_id is None else f"Team {team_id}",
        bot_token=bot_token,
        bot_id=None if bot_token is None else f"B{owner}",
        bot_user_id=None if bot_token is None else f"U{owner}BOT",
        bot_scopes="chat:write,reactions:write" if bot_token else "",
        bot_refresh_token=f"xoxe-1-{bot_token}" if refresh and bot_token else None,
        bot_token_expires_at=int(installed_at) + 43200 if refresh and bot_token else None,
        user_id=user_id,
        user_token=user_token,
        user_scopes="search:read" if user_token else "",
        user_refresh_token=f"xoxe-1-{user_token}" if refresh and user_token else None,
        user_token_expires_at=int(installed_at) + 43200 if refresh and user_token else None,
        incoming_webhook_url=f"https://hooks.example/{owner}/{user_id}",
        incoming_webhook_channel="#general",
        incoming_webhook_channel_id="C0GENERAL",
        incoming_webhook_configuration_url="https://example/configure",
        is_enterprise_install=team_id is None,
        token_type="bot" if bot_token else "user",
        installed_at=installed_at,
    )


# Installs in several shapes: a workspace installed twice by different people, then authorized by a user
# alone (no bot token); an organization-wide install and a workspace install in the same organization;
# a workspace with token rotation, its token then refreshed (the same install time: an update).
HISTORY = [
    install("T1", "U1", 1_000.25, bot_token="xoxb-T1-first", user_token="xoxp-T1-U1"),
    install("T1", "U2", 2_000.5, bot_token="xoxb-T1-second"),
    install("T1", "U1", 3_000.75, user_token="xoxp-T1-U1-again"),
    install(None, "U3", 1_500.0, enterprise_id="E1", bot_token="xoxb-E1-org"),
    install("T2", "U4", 1_600.0, enterprise_id="E1", bot_token="xoxb-T2-in-E1"),
    install("T3", "U5", 1_700.0, bot_token="xoxb-T3-rotating", refresh=True),
    install("T3", "U5", 1_700.0, bot_token="xoxb-T3-refreshed", refresh=True),
]
PLAINTEXT_SECRETS = {
    secret
    for i in HISTORY
    for secret in (
        i.bot_token,
        i.bot_refresh_token,
        i.user_token,
        i.user_refresh_token,
        i.incoming_webhook_url,
    )
    if secret
}
# (enterprise_id, team_id, user_id, is_enterprise_install) as Bolt asks them.
LOOKUPS = [
    (None, "T1", None, False),
    (None, "T1", "U1", False),
    (None, "T1", "U2", False),
    (None, "T1", "U9", False),
    ("E1", None, None, True),
    ("E1", "T2", None, True),  # an event from T2 delivered to the organization-wide install
    ("E1", "T2", None, False),
    ("E1", "T9", None, True),
    ("E1", "T9", None, False),
    ("E1", None, None, False),
    (None, "T3", None, False),
    (None, "T2", None, False),  # T2 is in E1: not found without it
    (None, None, None, False),
]


BOT_FIELDS = (
    "app_id",
    "enterprise_id",
    "enterprise_name",
    "team_id",
    "team_name",
    "bot_token",
    "bot_id",
    "bot_user_id",
    "bot_scopes",
    "bot_refresh_token",
    "bot_token_expires_at",
    "is_enterprise_install",
)
INSTALLATION_FIELDS = (
    *BOT_FIELDS,
    "enterprise_url",
    "user_id",
    "user_token",
    "user_scopes",
    "user_refresh_token",
    "user_token_expires_at",
    "incoming_webhook_url",
    "incoming_webhook_channel",
    "incoming_webhook_channel_id",
    "incoming_webhook_configuration_url",
    "token_type",
)


def summary(found: Installation | Bot | None) -> tuple[Any, ...] | None:
    """Every field of a found install or bot (install times to the millisecond: slack-sdk keeps
    microseconds in a DATETIME, we keep a float)."""
    if found is None:
        return None
    fields = INSTALLATION_FIELDS if isinstance(found, Installation) else BOT_FIELDS
    return (*(getattr(found, name) for name in fields), round(found.installed_at, 3))


def all_lookups(store: InstallationStore) -> list[tuple[Any, ...]]:
    answers = []
    for enterprise_id, team_id, user_id, org_wide in LOOKUPS:
        installation = store.find_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, is_enterprise_install=org_wide
        )
        bot = store.find_bot(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=org_wide)
        answers.append((enterprise_id, team_id, user_id, org_wide, summary(installation), summary(bot)))
    return answers


@pytest.fixture
def sdk_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstallationStore]:
    """slack-sdk's own SQLAlchemy store on a SQLite file of its own: the reference for the lookups."""
    try:
        importlib.import_module("greenlet")
    except ImportError:
        # The module imports SQLAlchemy's asyncio extension (for its async store) at the top, and that
        # needs greenlet, which SQLAlchemy 2.1 no longer installs. The sync store never uses it.
        shim = types.ModuleType("sqlalchemy.ext.asyncio")
        shim.AsyncEngine = type("AsyncEngine", (), {})  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "sqlalchemy.ext.asyncio", shim)
    module = importlib.import_module("slack_sdk.oauth.installation_store.sqlalchemy")
    reference = create_engine(f"sqlite:///{tmp_path / 'sdk.db'}")
    sdk = module.SQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=reference)
    sdk.create_tables()
    yield sdk
    reference.dispose()


def test_lookups_are_those_of_slack_sdks_own_store(
    store: DatabaseInstallationStore, sdk_store: InstallationStore
) -> None:
    for installation in HISTORY:
        store.save(installation)
        sdk_store.save(installation)
    ours = all_lookups(store)
    assert ours == all_lookups(sdk_store)
    found = {(e, t, u, org): (i, b) for e, t, u, org, i, b in ours}
    # The sense of it, spelled out: the newest install wins, a user's own install borrows the newest bot
    # token, an organization-wide install answers for any of its workspaces when the event says so.
    assert found[(None, "T1", None, False)][0] is not None
    newest_t1 = store.find_installation(enterprise_id=None, team_id="T1")
    assert newest_t1 is not None
    assert (newest_t1.user_token, newest_t1.bot_token) == ("xoxp-T1-U1-again", "xoxb-T1-second")
    org_bot = store.find_bot(enterprise_id="E1", team_id="T9", is_enterprise_install=True)
    assert org_bot is not None and org_bot.bot_token == "xoxb-E1-org"
    assert store.find_bot(enterprise_id="E1", team_id="T9", is_enterprise_install=False) is None
    refreshed = store.find_bot(enterprise_id=None, team_id="T3")
    assert refreshed is not None and refreshed.bot_token == "xoxb-T3-refreshed"
    assert refreshed.bot_token_expires_at == 1_700 + 43200


def test_deletions_are_those_of_slack_sdks_own_store(
    store: DatabaseInstallationStore, sdk_store: InstallationStore
) -> None:
    for installation in HISTORY:
        store.save(installation)
        sdk_store.save(installation)
    for target in (store, sdk_store):
        target.delete_installation(enterprise_id=None, team_id="T1", user_id="U1")
        target.delete_bot(enterprise_id="E1", team_id=None)
        target.delete_all(enterprise_id=None, team_id="T3")
    assert all_lookups(store) == all_lookups(sdk_store)
    assert store.find_bot(enterprise_id="E1", team_id=None, is_enterprise_install=True) is None
    assert store.find_installation(enterprise_id=None, team_id="T3") is None


def test_a_saved_install_comes_back_whole(store: DatabaseInstallationStore) -> None:
    saved = install("T1", "U1", 1_234.5, bot_token="xoxb-T1", user_token="xoxp-T1", refresh=True)
    store.save(saved)
    found = store.find_installation(enterprise_id=None, team_id="T1", user_id="U1")
    assert found is not None
    assert found.to_dict() == {**saved.to_dict(), "installed_at": found.to_dict()["installed_at"]}
    assert found.installed_at == pytest.approx(1_234.5)
    bot = store.find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.to_dict() == saved.to_bot().to_dict()


def test_save_bot_alone_is_found(store: DatabaseInstallationStore) -> None:
    store.save_bot(
        Bot(
            team_id="T7",
            bot_token="xoxb-T7",
            bot_id="BT7",
            bot_user_id="UT7",
            bot_scopes="chat:write",
            installed_at=5.0,
        )
    )
    bot = store.find_bot(enterprise_id=None, team_id="T7")
    assert bot is not None and (bot.bot_token, bot.bot_scopes) == ("xoxb-T7", ["chat:write"])
    assert store.find_installation(enterprise_id=None, team_id="T7") is None


def test_tokens_are_not_readable_in_the_tables(engine: Engine, store: DatabaseInstallationStore) -> None:
    for installation in HISTORY:
        store.save(installation)
    with engine.connect() as conn:
        rows = [
            *conn.execute(select(SlackInstallation.__table__)).all(),
            *conn.execute(select(SlackBot.__table__)).all(),
        ]
    stored = " ".join(str(value) for row in rows for value in row)
    for secret in PLAINTEXT_SECRETS:
        assert secret not in stored
    assert "xoxb-" not in stored and "xoxp-" not in stored and "xoxe-" not in stored
    # The columns hold the secrets, encrypted: this deployment's key reads them.
    vault = Vault.from_env_value(OLD_KEY)
    with engine.connect() as conn:
        tokens = conn.execute(select(SlackBot.bot_token_encrypted).where(SlackBot.team_id == "T2")).scalars()
        assert [vault.decrypt(token or "") for token in tokens] == ["xoxb-T2-in-E1"]


def test_another_key_cannot_read_the_store(engine: Engine, store: DatabaseInstallationStore) -> None:
    store.save(install("T1", "U1", 1.0, bot_token="xoxb-T1"))
    stranger = DatabaseInstallationStore(engine, Vault.from_env_value(NEW_KEY), client_id=CLIENT_ID)
    with pytest.raises(UnreadableSecret):
        stranger.find_bot(enterprise_id=None, team_id="T1")


def test_another_client_id_is_another_app(
    engine: Engine, store: DatabaseInstallationStore, vault: Vault
) -> None:
    store.save(install("T1", "U1", 1.0, bot_token="xoxb-T1"))
    other = DatabaseInstallationStore(engine, vault, client_id="999.999")
    assert other.find_bot(enterprise_id=None, team_id="T1") is None
    other.delete_workspace(team_id="T1", enterprise_id=None)
    assert store.find_bot(enterprise_id=None, team_id="T1") is not None


def test_key_rotation_reencrypts_every_secret(engine: Engine, store: DatabaseInstallationStore) -> None:
    for installation in HISTORY:
        store.save(installation)
    WorkspaceKeys(engine, Vault.from_env_value(OLD_KEY)).add("T1", None, "blocks-key-1", "U1")
    before = all_lookups(store)
    both = Vault.from_env_value(f"{NEW_KEY},{OLD_KEY}")
    stored_secrets = _count_secrets(engine)
    assert reencrypt_secrets(engine, both, batch_size=2) == stored_secrets
    assert reencrypt_secrets(engine, both) == 0  # all under the new key now
    new_only = Vault.from_env_value(NEW_KEY)
    assert all_lookups(DatabaseInstallationStore(engine, new_only, client_id=CLIENT_ID)) == before
    assert WorkspaceKeys(engine, new_only).keys("T1", None) == ("blocks-key-1",)
    with pytest.raises(UnreadableSecret):
        store.find_bot(enterprise_id=None, team_id="T1")  # the old key alone reads nothing any more


def _count_secrets(engine: Engine) -> int:
    columns = [
        SlackInstallation.bot_token_encrypted,
        SlackInstallation.bot_refresh_token_encrypted,
        SlackInstallation.user_token_encrypted,
        SlackInstallation.user_refresh_token_encrypted,
        SlackInstallation.incoming_webhook_url_encrypted,
        SlackBot.bot_token_encrypted,
        SlackBot.bot_refresh_token_encrypted,
        WorkspaceKey.key_encrypted,
    ]
    with engine.connect() as conn:
        return sum(conn.execute(select(func.count(column))).scalar_one() for column in columns)


def test_delete_workspace_removes_every_secret_of_that_workspace_only(
    engine: Engine, store: DatabaseInstallationStore, vault: Vault
) -> None:
    for installation in HISTORY:
        store.save(installation)
    keys = WorkspaceKeys(engine, vault)
    keys.add("T1", None, "key-of-t1", "U1")
    keys.add("T2", "E1", "key-of-t2", "U4")
    keys.add(None, "E1", "key-of-e1", "U3")

    store.delete_workspace(team_id="T1", enterprise_id=None)
    assert store.find_installation(enterprise_id=None, team_id="T1") is None
    assert store.find_installation(enterprise_id=None, team_id="T1", user_id="U2") is None
    assert store.find_bot(enterprise_id=None, team_id="T1") is None
    assert keys.keys("T1", None) == ()
    assert keys.keys("T2", "E1") == ("key-of-t2",)

    # An organization-wide uninstall, as an event of one of its workspaces reports it.
    store.delete_workspace(team_id="T2", enterprise_id="E1", is_enterprise_install=True)
    assert store.find_bot(enterprise_id="E1", team_id=None, is_enterprise_install=True) is None
    assert keys.keys(None, "E1") == ()
    workspace_in_org = store.find_bot(enterprise_id="E1", team_id="T2")
    assert workspace_in_org is not None and workspace_in_org.bot_token == "xoxb-T2-in-E1"
    assert keys.keys("T2", "E1") == ("key-of-t2",)
    # A reinstall starts clean.
    store.save(install("T1", "U1", 9_000.0, bot_token="xoxb-T1-again"))
    again = store.find_installation(enterprise_id=None, team_id="T1", user_id="U2")
    assert again is None
    bot = store.find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.bot_token == "xoxb-T1-again"


# -- OAuth states ------------------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_state_is_good_once(engine: Engine) -> None:
    states = DatabaseOAuthStateStore(engine)
    state = states.issue()
    other = states.issue()
    assert state != other and len(state) >= 32
    assert states.consume(state) is True
    assert states.consume(state) is False
    assert states.consume(other) is True
    assert states.consume("never-issued") is False
    assert states.consume("") is False
    assert states.consume(None) is False


def test_a_state_expires(engine: Engine) -> None:
    clock = Clock()
    states = DatabaseOAuthStateStore(engine, expiration_seconds=600, clock=clock)
    late, in_time = states.issue(), states.issue()
    clock.now += 599
    assert states.consume(in_time) is True
    clock.now += 1
    assert states.consume(late) is False


def test_issuing_clears_expired_states(engine: Engine) -> None:
    clock = Clock()
    states = DatabaseOAuthStateStore(engine, expiration_seconds=60, clock=clock)
    for _ in range(3):
        states.issue()
    clock.now += 61
    fresh = states.issue()
    with engine.connect() as conn:
        assert conn.execute(select(SlackOAuthState.state)).scalars().all() == [fresh]


def test_of_two_redirects_with_one_state_exactly_one_succeeds(engine: Engine) -> None:
    states = DatabaseOAuthStateStore(engine)
    for _ in range(5):
        assert sorted(_consumed_at_once(states, states.issue(), 4)) == [False, False, False, True]


def _consumed_at_once(states: DatabaseOAuthStateStore, state: str, redirects: int) -> list[bool]:
    barrier = threading.Barrier(redirects)
    results: list[bool] = []

    def redirect() -> None:
        barrier.wait()
        results.append(states.consume(state))

    threads = [threading.Thread(target=redirect) for _ in range(redirects)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# -- Blocks keys of workspaces -----------------------------------------------------------------------------


def test_a_workspace_key_is_named_by_its_hash_and_stored_encrypted(engine: Engine, vault: Vault) -> None:
    clock = Clock()
    keys = WorkspaceKeys(engine, vault, clock=clock)
    first = keys.add("T1", "E1", "blk_first_key\n", "UADMIN", label="team plan")
    clock.now += 5
    second = keys.add("T1", "E1", "blk_second_key", "cli")
    assert first == hashlib.sha256(b"blk_first_key").hexdigest() == key_hash("blk_first_key")
    listed = keys.list("T1", "E1")
    assert [(k.key_hash, k.label, k.added_by, k.added_at) for k in listed] == [
        (first, "team plan", "UADMIN", 1_000_000.0),
        (second, None, "cli", 1_000_005.0),
    ]
    assert keys.keys("T1", "E1") == ("blk_first_key", "blk_second_key")
    with engine.connect() as conn:
        raw = " ".join(str(v) for row in conn.execute(select(WorkspaceKey.__table__)) for v in row)
    assert "blk_" not in raw


def test_a_key_added_twice_is_held_once(engine: Engine, vault: Vault) -> None:
    keys = WorkspaceKeys(engine, vault)
    assert keys.add("T1", None, "blk_key", "U1") == keys.add("T1", None, " blk_key ", "U2", label="again")
    assert [(k.added_by, k.label) for k in keys.list("T1", None)] == [("U1", None)]
    assert keys.add(None, "E1", "blk_key", "U1") == keys.add(None, "E1", "blk_key", "U2")
    assert len(keys.list(None, "E1")) == 1


def test_workspaces_and_organizations_hold_their_own_keys(engine: Engine, vault: Vault) -> None:
    keys = WorkspaceKeys(engine, vault)
    keys.add("T1", None, "blk_t1", "U1")
    keys.add("T2", "E1", "blk_t2", "U2")
    keys.add(None, "E1", "blk_org", "U3")
    keys.add(None, "E2", "blk_t1", "U4")  # the same key may serve two workspaces
    assert keys.keys("T1", None) == ("blk_t1",)
    assert keys.keys("T2", "E1") == ("blk_t2",)
    assert keys.keys(None, "E1") == ("blk_org",)
    assert keys.keys(None, "E2") == ("blk_t1",)
    assert keys.keys("T3", "E1") == ()
    assert keys.list(None, None) == ()


def test_a_key_is_removed_by_its_hash_from_its_workspace_only(engine: Engine, vault: Vault) -> None:
    keys = WorkspaceKeys(engine, vault)
    hashed = keys.add("T1", None, "blk_shared", "U1")
    keys.add("T2", None, "blk_shared", "U2")
    keys.add("T1", None, "blk_kept", "U1")
    assert keys.remove("T1", None, hashed) is True
    assert keys.remove("T1", None, hashed) is False
    assert keys.keys("T1", None) == ("blk_kept",)
    assert keys.keys("T2", None) == ("blk_shared",)


def test_a_key_needs_a_workspace_and_a_value(engine: Engine, vault: Vault) -> None:
    keys = WorkspaceKeys(engine, vault)
    with pytest.raises(ValueError, match="team id"):
        keys.add(None, None, "blk_key", "U1")
    with pytest.raises(ValueError, match="empty"):
        keys.add("T1", None, " \n", "U1")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM workspace_keys")).scalar_one() == 0
