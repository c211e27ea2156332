"""`blocks-slack doctor` against the simulators, with each failure injected: every failure is one line
with a fix, nothing secret is printed, and the exit code says whether anything failed."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot.__main__ import main
from bot.blocks.client import BlocksClient
from bot.db import migrate
from bot.db.engine import make_engine
from bot.doctor import (
    MANIFEST_PATH,
    Check,
    CheckResult,
    manifest_bot_scopes,
    run_checks,
    run_doctor,
    secret_scrubber,
    shown_key,
)
from bot.sim.blocks import BlocksSimulator, SimConfig
from bot.sim.slack import SlackStub
from bot.sim.socket_mode import SocketModeServer
from bot.sim.wsgi import serve_in_thread

BOT_TOKEN = "xoxb-doctor-bot-token-1234"
APP_TOKEN = "xapp-doctor-app-token-5678"
SIGNING_SECRET = "doctor-signing-secret-9012"
BLOCKS_KEY = "doctor-blocks-key-3456"
OTHER_KEY = "doctor-other-key-7890"
SECRETS = (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, BLOCKS_KEY, OTHER_KEY, "hunter2secret")
HEAD = ", ".join(sorted(ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_heads()))


@pytest.fixture
def migrated_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'doctor.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def sims(
    blocks_sim: tuple[BlocksSimulator, str], slack_stub: tuple[SlackStub, str], migrated_url: str
) -> Environment:
    return Environment(blocks_sim[0], slack_stub[0], blocks_sim[1], slack_stub[1], migrated_url)


class Environment:
    """The simulators and a migrated database, and the environment variables that point at them."""

    def __init__(
        self, blocks: BlocksSimulator, slack: SlackStub, blocks_url: str, slack_url: str, database_url: str
    ) -> None:
        self.blocks, self.slack = blocks, slack
        self.vars: dict[str, str] = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_url + "/api/",
            "BLOCKS_API_KEY": BLOCKS_KEY,
            "BLOCKS_API_URL": blocks_url,
            "DATABASE_URL": database_url,
        }

    def with_(self, **changes: str | None) -> dict[str, str]:
        merged = {**self.vars, **changes}
        return {name: value for name, value in merged.items() if value is not None}


def doctor(env: dict[str, str]) -> tuple[int, list[str]]:
    """Runs doctor on `env` and checks that no secret reached its output."""
    lines: list[str] = []
    code = run_doctor(env, out=lines.append)
    assert_no_secret(lines)
    return code, lines


def assert_no_secret(lines: Iterable[str]) -> None:
    output = "\n".join(lines)
    for secret in SECRETS:
        assert secret not in output


def line(lines: list[str], name: str) -> str:
    found = [entry for entry in lines if entry[2:].startswith(f"{name}:")]
    assert len(found) == 1, (name, lines)
    return found[0]


def names(lines: list[str]) -> list[str]:
    return [entry[2:].split(":", 1)[0] for entry in lines[:-1]]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    servers = []

    def start(app: Any) -> str:
        server = serve_in_thread(app)
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Sets the process environment to exactly these settings for `main(["doctor"])`."""

    def apply(env: dict[str, str]) -> None:
        for name in list(os.environ):
            if name.startswith(("SLACK_", "BLOCKS_", "DATABASE_", "DYNO")):
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return apply


# -- the command line -------------------------------------------------------------------------------


def test_every_check_passes_through_the_command_line(
    sims: Environment, cli_env: Callable[[dict[str, str]], None], capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(sims.vars)
    assert main(["doctor"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert_no_secret(lines)
    assert names(lines) == ["configuration", "database", "slack token", "slack scopes", "blocks key"]
    assert all(entry.startswith("✓ ") for entry in lines[:-1]), lines
    assert line(lines, "database") == f"✓ database: reachable, migrated to head ({HEAD})"
    assert "workspace Sim (T0001)" in line(lines, "slack token")
    assert line(lines, "slack scopes") == (
        f"✓ slack scopes: all {len(manifest_bot_scopes())} scopes manifest.yml asks for are granted"
    )
    assert shown_key(BLOCKS_KEY) in line(lines, "blocks key")
    assert lines[-1] == "all 5 checks passed"


def test_a_refused_slack_token_fails_the_command_line_with_its_fix(
    sims: Environment, cli_env: Callable[[dict[str, str]], None], capsys: pytest.CaptureFixture[str]
) -> None:
    sims.slack.inject("auth.test", "invalid_auth")
    cli_env(sims.vars)
    assert main(["doctor"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert_no_secret(lines)
    assert line(lines, "slack token").startswith(
        "✗ slack token: Slack says invalid_auth — fix: check SLACK_BOT_TOKEN: Slack says invalid_auth"
    )
    # The scopes come with auth.test's answer: without a valid token there are none to compare.
    assert "slack scopes" not in names(lines)
    assert line(lines, "database").startswith("✓") and line(lines, "blocks key").startswith("✓")
    assert lines[-1] == "1 of 4 checks failed"


def test_a_missing_setting_is_the_only_line_and_nothing_is_asked(
    sims: Environment, cli_env: Callable[[dict[str, str]], None], capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(sims.with_(SLACK_BOT_TOKEN=None))
    assert main(["doctor"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "✗ configuration: SLACK_BOT_TOKEN is required but not set — fix: set SLACK_BOT_TOKEN in the "
        "environment",
        "the configuration is invalid: the other checks need it, so they did not run",
    ]
    assert sims.slack.calls == [] and sims.blocks.log == []


def test_the_help_lists_the_environment_it_reads(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["doctor", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for variable in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_API_URL", "BLOCKS_API_KEY", "DATABASE_URL"):
        assert variable in help_text


# -- configuration ----------------------------------------------------------------------------------


def test_a_malformed_setting_names_the_variable(sims: Environment) -> None:
    code, lines = doctor(sims.with_(PORT="web"))
    assert code == 1
    assert lines[0] == (
        "✗ configuration: PORT must be a whole number (got 'web') — fix: correct PORT in the environment, "
        "as the message says"
    )
    assert len(lines) == 2


def test_a_secret_with_a_line_break_is_not_shown(sims: Environment) -> None:
    code, lines = doctor(sims.with_(BLOCKS_API_KEY=BLOCKS_KEY + "\nhunter2secret"))
    assert code == 1 and "BLOCKS_API_KEY contains a line break" in lines[0]


def test_a_password_in_an_unreadable_database_url_is_scrubbed() -> None:
    url = "postgres//bob:hunter2secret@db/blocks"
    scrub = secret_scrubber({"DATABASE_URL": url})
    assert "hunter2secret" not in scrub(f"cannot parse {url}")
    assert scrub("postgresql://bob:hunter2secret@db/blocks") == "postgresql://bob:***@db/blocks"


# -- database ---------------------------------------------------------------------------------------


def test_an_unreachable_database_says_where_without_the_password(sims: Environment) -> None:
    port = closed_port()
    code, lines = doctor(sims.with_(DATABASE_URL=f"postgresql://bob:hunter2secret@127.0.0.1:{port}/blocks"))
    assert code == 1
    database = line(lines, "database")
    assert database.startswith(f"✗ database: cannot use PostgreSQL blocks on 127.0.0.1:{port}: ")
    assert "fix: check DATABASE_URL (host, port, database, user and password)" in database
    assert line(lines, "slack token").startswith("✓")  # the other checks still ran


def test_a_sqlite_database_that_cannot_be_opened(sims: Environment, tmp_path: Path) -> None:
    code, lines = doctor(sims.with_(DATABASE_URL=f"sqlite:///{tmp_path}"))  # a folder, not a file
    assert code == 1
    assert line(lines, "database").startswith(f"✗ database: cannot use SQLite file {tmp_path}: ")
    assert "fix: check DATABASE_URL: it must name a SQLite file" in line(lines, "database")


def test_a_missing_sqlite_file_is_reported_not_created(sims: Environment, tmp_path: Path) -> None:
    path = tmp_path / "never.db"
    code, lines = doctor(sims.with_(DATABASE_URL=f"sqlite:///{path}"))
    assert code == 1
    assert line(lines, "database") == (
        f"✗ database: no SQLite file at {path} yet — fix: run `blocks-slack migrate` (it creates it), "
        "or set DATABASE_URL to where the database is"
    )
    assert not path.exists()


@pytest.mark.parametrize("revision", [None, "0002"])
def test_a_database_behind_head_says_to_migrate(
    sims: Environment, database_url: str, revision: str | None
) -> None:
    engine = make_engine(database_url)
    if revision is None:
        with engine.begin() as connection:  # an existing database without the app's schema
            connection.execute(text("SELECT 1"))
    else:
        migrate.upgrade(engine, revision)
    engine.dispose()
    code, lines = doctor(sims.with_(DATABASE_URL=database_url))
    assert code == 1
    state = "no schema yet (head is" if revision is None else f"at revision {revision}; head is {HEAD}"
    assert state in line(lines, "database")
    assert line(lines, "database").endswith("— fix: run `blocks-slack migrate`")


def test_a_database_migrated_by_a_newer_version(sims: Environment, migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    code, lines = doctor(sims.vars)
    assert code == 1
    assert "at revision 9999, which this version does not know" in line(lines, "database")


def test_sqlite_on_an_ephemeral_disk_fails(sims: Environment) -> None:
    code, lines = doctor(sims.with_(DATABASE_URL=None, DYNO="web.1"))
    assert code == 1
    assert "ephemeral disk" in line(lines, "database")
    assert line(lines, "database").endswith("fix: attach PostgreSQL and set DATABASE_URL")


# -- Slack ------------------------------------------------------------------------------------------


def test_missing_scopes_are_listed_in_the_fix(sims: Environment) -> None:
    wanted = manifest_bot_scopes()
    sims.slack.granted_scopes = [scope for scope in wanted if scope not in ("chat:write", "reactions:write")]
    code, lines = doctor(sims.vars)
    assert code == 1
    assert line(lines, "slack scopes") == (
        f"✗ slack scopes: missing 2 of the {len(wanted)} scopes manifest.yml asks for — fix: add these "
        "scopes to the app and reinstall it: chat:write, reactions:write"
    )
    assert line(lines, "slack token").startswith("✓")


def test_scopes_beyond_the_manifest_are_fine(sims: Environment) -> None:
    sims.slack.granted_scopes = [*manifest_bot_scopes(), "files:write"]
    code, lines = doctor(sims.vars)
    assert code == 0, lines


def test_an_answer_without_scopes_cannot_pass(sims: Environment) -> None:
    sims.slack.granted_scopes = None
    code, lines = doctor(sims.vars)
    assert code == 1
    assert "no x-oauth-scopes header" in line(lines, "slack scopes")


def test_unreachable_slack_is_not_a_bad_token(sims: Environment) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/"
    code, lines = doctor(sims.with_(SLACK_API_URL=url))
    assert code == 1
    assert line(lines, "slack token").startswith(f"✗ slack token: cannot reach Slack at {url}: ")
    assert "fix: check SLACK_API_URL" in line(lines, "slack token")


def test_slack_rate_limiting_says_to_wait(sims: Environment) -> None:
    sims.slack.inject("auth.test", "ratelimited", count=5)
    code, lines = doctor(sims.vars)
    assert code == 1
    assert "run doctor again in a minute" in line(lines, "slack token")


@pytest.fixture
def socket_mode(sims: Environment) -> Iterator[SocketModeServer]:
    server = SocketModeServer()
    sims.slack.socket_mode = server
    yield server
    server.stop()


def test_a_socket_mode_token_is_checked_when_set(sims: Environment, socket_mode: SocketModeServer) -> None:
    code, lines = doctor(sims.with_(SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=None))
    assert code == 0, lines
    assert line(lines, "socket mode token").startswith("✓ socket mode token: valid")
    assert "Socket Mode" in line(lines, "configuration")
    assert len(sims.slack.calls_to("apps.connections.open")) == 1


def test_a_refused_socket_mode_token(sims: Environment, socket_mode: SocketModeServer) -> None:
    sims.slack.inject("apps.connections.open", "invalid_auth")
    code, lines = doctor(sims.with_(SLACK_APP_TOKEN=APP_TOKEN))
    assert code == 1
    assert line(lines, "socket mode token").startswith(
        "✗ socket mode token: Slack says invalid_auth — fix: check SLACK_APP_TOKEN: Slack says "
        "invalid_auth; it must be the app-level token with the connections:write scope"
    )


def test_without_socket_mode_its_token_is_not_checked(sims: Environment) -> None:
    code, lines = doctor(sims.vars)
    assert code == 0 and "socket mode token" not in names(lines)
    assert sims.slack.calls_to("apps.connections.open") == []


# -- Blocks -----------------------------------------------------------------------------------------


def test_a_refused_blocks_key(sims: Environment, serve: Callable[[Any], str]) -> None:
    url = serve(BlocksSimulator(SimConfig(api_keys=[OTHER_KEY])))
    code, lines = doctor(sims.with_(BLOCKS_API_URL=url))
    assert code == 1
    assert line(lines, "blocks key") == (
        f"✗ blocks key: Blocks refused the key (403: Forbidden) (key {shown_key(BLOCKS_KEY)}) — fix: check "
        "BLOCKS_API_KEY: Blocks refused this key; replace it with a valid Blocks API key"
    )


def test_each_of_several_keys_is_checked_with_one_request(
    sims: Environment, serve: Callable[[Any], str]
) -> None:
    blocks = BlocksSimulator(SimConfig(api_keys=[OTHER_KEY]))
    url = serve(blocks)
    code, lines = doctor(sims.with_(BLOCKS_API_URL=url, BLOCKS_API_KEY=f"{BLOCKS_KEY},{OTHER_KEY}"))
    assert code == 1
    assert line(lines, "blocks key 1 of 2").startswith("✗") and shown_key(BLOCKS_KEY) in lines[-3]
    assert line(lines, "blocks key 2 of 2").startswith("✓") and shown_key(OTHER_KEY) in lines[-2]
    assert [entry["key"] for entry in blocks.log] == [BLOCKS_KEY, OTHER_KEY]
    assert "2 Blocks keys" in line(lines, "configuration")


def test_unreachable_blocks_is_not_a_bad_key(sims: Environment) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    code, lines = doctor(sims.with_(BLOCKS_API_URL=url))
    assert code == 1
    entry = line(lines, "blocks key")
    assert entry.startswith(f"✗ blocks key: cannot connect to {url} (")
    assert entry.endswith(
        f"fix: check BLOCKS_API_URL ({url}) and that this host can reach it (proxy, firewall, DNS)"
    )


def test_failing_blocks_is_not_a_bad_key(sims: Environment) -> None:
    sims.blocks.inject(method="GET", path="^/rest/v1/sessions/", status=503, body={"error": "Unavailable"})
    code, lines = doctor(sims.vars)
    assert code == 1
    entry = line(lines, "blocks key")
    assert f"{sims.vars['BLOCKS_API_URL']} answered 503 (Unavailable)" in entry
    assert entry.endswith("fix: Blocks is failing right now: run doctor again later")


def test_blocks_that_does_not_answer_in_time(sims: Environment) -> None:
    sims.blocks.inject(method="GET", path="^/rest/v1/sessions/", hang=1.5)
    code, lines = doctor(sims.with_(BLOCKS_TIMEOUT_SECONDS="0.3"))
    assert code == 1
    assert "no answer from" in line(lines, "blocks key") and "ReadTimeout" in line(lines, "blocks key")


def test_check_key_tells_the_blocks_api_from_another_server(serve: Callable[[Any], str]) -> None:
    def web_page(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("404 Not Found", [("Content-Type", "text/html")])
        return [b"<html>Not Found</html>"]

    client = BlocksClient(api_url=serve(web_page), api_key=BLOCKS_KEY, timeout=5)
    outcome = client.check_key()
    client.close()
    assert (outcome.verdict, outcome.status, outcome.ok) == ("unexpected", 404, False)


def test_check_key_at_the_rate_limit(serve: Callable[[Any], str]) -> None:
    blocks = BlocksSimulator(SimConfig(rate_limit=1))
    client = BlocksClient(api_url=serve(blocks), api_key=BLOCKS_KEY, timeout=5)
    first, second = client.check_key(), client.check_key()
    client.close()
    assert first.ok and first.status == 404
    assert (second.verdict, second.status) == ("rate_limited", 429)


# -- the checklist ----------------------------------------------------------------------------------


def test_a_check_that_breaks_is_one_failing_line(sims: Environment) -> None:
    def broken(_settings: object) -> list[CheckResult]:
        raise RuntimeError("surprise")

    def fine(_settings: object) -> list[CheckResult]:
        return [CheckResult("later", True, "ran")]

    results = run_checks(sims.vars, checks=[Check("broken", broken), Check("later", fine)])
    assert [(r.name, r.ok) for r in results] == [("configuration", True), ("broken", False), ("later", True)]
    assert results[1].detail == "the check itself failed: RuntimeError: surprise"


# -- manifest.yml -----------------------------------------------------------------------------------


def test_the_manifest_scopes_are_read_as_yaml_reads_them() -> None:
    loaded = yaml.safe_load(MANIFEST_PATH.read_text())
    assert manifest_bot_scopes() == loaded["oauth_config"]["scopes"]["bot"]


@pytest.mark.parametrize(
    "manifest",
    [
        "oauth_config:\n  scopes:\n    bot:\n    - chat:write  # comment\n    - 'users:read'\nsettings: {}\n",
        "oauth_config:\n  redirect_urls:\n    - https://x\n  scopes:\n    user:\n      - a:b\n"
        "    bot: [chat:write, users:read]\n",
        "# bot:\nfeatures:\n  bot:\n    - nope\noauth_config:\n  scopes:\n    bot:\n      - chat:write\n",
    ],
)
def test_manifest_layouts_are_read_as_yaml_reads_them(tmp_path: Path, manifest: str) -> None:
    path = tmp_path / "manifest.yml"
    path.write_text(manifest)
    assert manifest_bot_scopes(path) == yaml.safe_load(manifest)["oauth_config"]["scopes"]["bot"]


def test_a_manifest_without_bot_scopes_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yml"
    path.write_text("oauth_config:\n  scopes:\n    user:\n      - a:b\nbot:\n  - c:d\n")
    with pytest.raises(ValueError, match="no oauth_config.scopes.bot"):
        manifest_bot_scopes(path)


def _install(env: Environment, team: str) -> str:
    """`team` installs the app through the stub's pages; the install is saved as the bot would."""
    import httpx
    from cryptography.fernet import Fernet
    from slack_sdk import WebClient
    from slack_sdk.oauth.installation_store import Installation

    from bot.oauth.store import DatabaseInstallationStore
    from bot.secrets_at_rest import Vault

    env.slack.oauth.add_workspace(team)
    env.slack.oauth.redirect_uri = "https://bot.example/slack/oauth_redirect"
    slack_root = env.vars["SLACK_API_URL"].removesuffix("/api/")
    scopes = ",".join(manifest_bot_scopes())
    allowed = httpx.get(
        f"{slack_root}/oauth/v2/authorize?client_id=sim-client-id&state=s&team={team}&scope={scopes}"
    )
    code = parse_qs(urlsplit(allowed.headers["location"]).query)["code"][0]
    granted = WebClient(base_url=env.vars["SLACK_API_URL"]).oauth_v2_access(
        client_id="sim-client-id", client_secret="sim-client-secret", code=code
    )
    key = env.vars.get("BLOCKS_SLACK_ENCRYPTION_KEY") or Fernet.generate_key().decode()
    env.vars.update(
        SLACK_CLIENT_ID="sim-client-id",
        SLACK_CLIENT_SECRET="sim-client-secret",
        BLOCKS_SLACK_ENCRYPTION_KEY=key,
    )
    engine = make_engine(env.vars["DATABASE_URL"])
    DatabaseInstallationStore(engine, Vault.from_env_value(key), client_id="sim-client-id").save(
        Installation(
            app_id="ASIM",
            team_id=team,
            team_name=f"Workspace {team}",
            bot_token=granted["access_token"],
            bot_id="BSIM",
            bot_user_id="UBOT",
            bot_scopes=granted["scope"],
            user_id="UADMIN",
        )
    )
    engine.dispose()
    return str(granted["access_token"])


def test_installed_from_slack_every_installation_is_checked(sims: Environment) -> None:
    _install(sims, "TGOOD")
    revoked = _install(sims, "TGONE")
    sims.slack.oauth.revoke("TGONE")
    code, lines = doctor(sims.with_(SLACK_BOT_TOKEN=None, BLOCKS_API_KEY=None))
    assert code == 1
    assert line(lines, "installation TGOOD").startswith("✓")
    gone = line(lines, "installation TGONE")
    assert gone.startswith("✗") and "reinstall the app there from /slack/install" in gone
    assert line(lines, "blocks key").startswith("✓"), "no fallback key is fine: workspaces connect theirs"
    assert revoked not in "\n".join(lines)
