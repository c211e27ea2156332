"""`blocks-slack workspaces`: Blocks keys per workspace from the command line, as an operator meets it.

The real CLI (`bot.__main__.main`, and once `python -m bot`) against the Blocks simulator, which accepts
only `GOOD` and `OTHER`. Every test runs on SQLite and, when configured, PostgreSQL. No output ever holds
a key: every test ends by checking everything that was printed."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import Engine, select

from bot.__main__ import main
from bot.blocks.keys import key_hash, key_label
from bot.db.models import WorkspaceKey
from bot.oauth.store import DatabaseInstallationStore
from bot.oauth.workspace_keys import WorkspaceKeys
from bot.secrets_at_rest import Vault, generate_key
from bot.sim.blocks import BlocksSimulator, SimConfig
from bot.sim.wsgi import serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
GOOD = "blk_live_good_0123456789abcdef"
OTHER = "blk_live_other_9876543210fedcba"
BAD = "blk_live_revoked_5555555555555555"
KEYS = (GOOD, OTHER, BAD)
ENCRYPTION_KEY = generate_key()


@dataclass
class Cli:
    """Runs `blocks-slack …` in this process and keeps everything it printed."""

    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    printed: list[str] = field(default_factory=list)

    def __call__(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        status = main(list(args))
        out, err = self.capsys.readouterr()
        self.printed += [out, err]
        return status, out, err


@pytest.fixture
def blocks_url() -> Iterator[str]:
    server = serve_in_thread(BlocksSimulator(SimConfig(api_keys=[GOOD, OTHER])))
    yield server.url
    server.stop()


@pytest.fixture
def cli(
    engine: Engine,
    database_url: str,
    blocks_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    for name in list(os.environ):
        if name.startswith(("SLACK_", "BLOCKS_", "DATABASE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BLOCKS_SLACK_ENCRYPTION_KEY", ENCRYPTION_KEY)
    monkeypatch.setenv("BLOCKS_API_URL", blocks_url)
    runner = Cli(monkeypatch, capsys)
    yield runner
    shown = "".join(runner.printed)
    assert not any(key in shown for key in KEYS), "a key was printed"


def stored(engine: Engine) -> list[tuple[str | None, str | None, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(WorkspaceKey.team_id, WorkspaceKey.enterprise_id, WorkspaceKey.key_hash).order_by(
                WorkspaceKey.id
            )
        ).all()
    return [(team, enterprise, hashed) for team, enterprise, hashed in rows]


def label(key: str) -> str:
    return key_label(key_hash(key))


def install(engine: Engine, team_id: str | None, enterprise_id: str | None, name: str) -> None:
    DatabaseInstallationStore(engine, Vault.from_env_value(ENCRYPTION_KEY), client_id="111.222").save(
        Installation(
            app_id="A0APP",
            enterprise_id=enterprise_id,
            enterprise_name=name if team_id is None else None,
            team_id=team_id,
            team_name=name if team_id is not None else None,
            bot_token=f"xoxb-{team_id or enterprise_id}",
            bot_id="B1",
            bot_user_id="U0BOT",
            bot_scopes="chat:write",
            user_id="U0ADMIN",
            is_enterprise_install=team_id is None,
            installed_at=1_700_000_000.0,
        )
    )


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- set-key -------------------------------------------------------------------------------------------


def test_an_accepted_key_is_stored_encrypted_and_shown_by_its_label(cli: Cli, engine: Engine) -> None:
    status, out, err = cli("workspaces", "set-key", "T0ACME", stdin=GOOD + "\n")
    assert (status, err) == (0, "")
    assert out == f"connected key {label(GOOD)} to T0ACME (1 key now)\n"
    assert stored(engine) == [("T0ACME", None, key_hash(GOOD))]
    with engine.connect() as conn:
        assert GOOD not in conn.execute(select(WorkspaceKey.key_encrypted)).scalar_one()
    assert WorkspaceKeys(engine, Vault.from_env_value(ENCRYPTION_KEY)).keys("T0ACME", None) == (GOOD,)


def test_several_keys_per_workspace_and_the_same_key_twice_changes_nothing(cli: Cli, engine: Engine) -> None:
    assert cli("workspaces", "set-key", "T0ACME", stdin=GOOD)[0] == 0
    status, out, _ = cli("workspaces", "set-key", "t0acme", stdin=f"  {OTHER}  \nignored second line\n")
    assert status == 0 and out == f"connected key {label(OTHER)} to T0ACME (2 keys now)\n"
    status, out, _ = cli("workspaces", "set-key", "T0ACME", stdin=GOOD)
    assert status == 0 and out == f"key {label(GOOD)} is connected to T0ACME already: nothing changed\n"
    assert [hashed for _, _, hashed in stored(engine)] == [key_hash(GOOD), key_hash(OTHER)]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_at_a_terminal_the_key_is_asked_for_without_echo(
    cli: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return GOOD

    monkeypatch.setattr("bot.workspaces_cli.getpass.getpass", getpass)
    monkeypatch.setattr(sys, "stdin", Terminal())
    assert main(["workspaces", "set-key", "T0TTY"]) == 0
    cli.printed += capsys.readouterr()
    assert prompts == ["Blocks API key for T0TTY (not shown): "]
    assert stored(engine) == [("T0TTY", None, key_hash(GOOD))]


def test_a_team_of_an_organization_keeps_its_enterprise_and_an_org_wide_install_its_own(
    cli: Cli, engine: Engine
) -> None:
    install(engine, "T0GRID", "E0ORG", "Grid team")
    assert cli("workspaces", "set-key", "T0GRID", stdin=GOOD)[0] == 0
    assert cli("workspaces", "set-key", "E0ORG", stdin=OTHER)[0] == 0
    assert stored(engine) == [("T0GRID", "E0ORG", key_hash(GOOD)), (None, "E0ORG", key_hash(OTHER))]


def test_a_key_blocks_refuses_is_not_saved(cli: Cli, engine: Engine) -> None:
    status, out, err = cli("workspaces", "set-key", "T0ACME", stdin=BAD)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("blocks-slack: Blocks refused this key (403)"), err
    assert "nothing saved" in err
    assert stored(engine) == []


def test_blocks_unreachable_is_told_apart_from_a_refused_key_and_saves_nothing(
    cli: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLOCKS_API_URL", closed_port_url())
    status, _, err = cli("workspaces", "set-key", "T0ACME", stdin=GOOD)
    assert status == 2 and err.count("\n") == 1
    assert "Blocks is unreachable" in err and "refused this key" not in err and "nothing saved" in err
    assert stored(engine) == []


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        (None, "BLOCKS_SLACK_ENCRYPTION_KEY is not set"),
        ("", "BLOCKS_SLACK_ENCRYPTION_KEY is not set"),
        ("not-a-fernet-key", "BLOCKS_SLACK_ENCRYPTION_KEY: key 1 is not a Fernet key"),
    ],
)
def test_without_a_usable_encryption_key_set_key_refuses_in_one_line_that_says_how_to_make_one(
    cli: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch, setting: str | None, says: str
) -> None:
    if setting is None:
        monkeypatch.delenv("BLOCKS_SLACK_ENCRYPTION_KEY")
    else:
        monkeypatch.setenv("BLOCKS_SLACK_ENCRYPTION_KEY", setting)
    status, out, err = cli("workspaces", "set-key", "T0ACME", stdin=GOOD)
    assert status == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"blocks-slack: {says}") and "blocks-slack workspaces new-encryption-key" in err
    assert "not-a-fernet-key" not in err
    assert stored(engine) == []


def test_an_encryption_key_that_cannot_read_what_is_stored_is_refused(
    cli: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("workspaces", "set-key", "T0ACME", stdin=GOOD)[0] == 0
    monkeypatch.setenv("BLOCKS_SLACK_ENCRYPTION_KEY", generate_key())
    status, _, err = cli("workspaces", "set-key", "T0OTHER", stdin=OTHER)
    assert status == 2 and "cannot read the secrets stored in this database" in err
    assert len(stored(engine)) == 1


@pytest.mark.parametrize(
    ("team", "stdin", "says"),
    [
        (GOOD, GOOD, "TEAM must be a Slack team id"),  # the key pasted as TEAM is not echoed
        ("T0ACME", "", "no key on standard input"),
        ("T0ACME", "two words\n", "not one Blocks API key"),
    ],
)
def test_a_wrong_team_or_no_key_is_one_line_and_never_echoed(
    cli: Cli, engine: Engine, team: str, stdin: str, says: str
) -> None:
    status, _, err = cli("workspaces", "set-key", team, stdin=stdin)
    assert status == 2 and err.count("\n") == 1 and says in err
    assert "words" not in err
    assert stored(engine) == []


def test_set_key_through_python_dash_m_reads_the_key_from_a_pipe(
    engine: Engine, database_url: str, blocks_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BLOCKS_", "DATABASE_"))}
    env |= {"DATABASE_URL": database_url, "BLOCKS_SLACK_ENCRYPTION_KEY": ENCRYPTION_KEY}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "workspaces", "set-key", "T0PIPE"],
        input=GOOD + "\n",
        env={**env, "BLOCKS_API_URL": blocks_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"connected key {label(GOOD)} to T0PIPE (1 key now)\n"
    assert GOOD not in result.stdout + result.stderr
    assert stored(engine) == [("T0PIPE", None, key_hash(GOOD))]


# -- list ----------------------------------------------------------------------------------------------


def test_list_shows_each_workspace_with_its_labels_and_fallback_never_a_key(
    cli: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(engine, "T0ACME", None, "Acme")
    install(engine, "T0BARE", None, "Bare Co")
    install(engine, None, "E0ORG", "Org-wide")
    assert cli("workspaces", "set-key", "T0ACME", stdin=GOOD)[0] == 0
    assert cli("workspaces", "set-key", "T0ACME", stdin=OTHER)[0] == 0
    assert cli("workspaces", "set-key", "T0KEYONLY", stdin=GOOD)[0] == 0
    monkeypatch.setenv("BLOCKS_API_KEY", BAD)
    monkeypatch.delenv("BLOCKS_SLACK_ENCRYPTION_KEY")  # listing reads no key: it needs none
    status, out, err = cli("workspaces", "list")
    assert (status, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split() == ["WORKSPACE", "ENTERPRISE", "NAME", "INSTALLED", "KEYS", "FALLBACK", "LABELS"]
    by_id = {row.split()[0]: row for row in rows}
    assert list(by_id) == ["E0ORG", "T0ACME", "T0BARE", "T0KEYONLY"]
    assert by_id["T0ACME"].split() == ["T0ACME", "Acme", "yes", "2", "-", f"{label(GOOD)},", label(OTHER)]
    assert by_id["T0BARE"].split() == ["T0BARE", "Bare", "Co", "yes", "0", "BLOCKS_API_KEY"]
    assert by_id["E0ORG"].split() == ["E0ORG", "Org-wide", "yes", "0", "BLOCKS_API_KEY"]
    assert by_id["T0KEYONLY"].split() == ["T0KEYONLY", "no", "1", "-", label(GOOD)]
    # The columns line up: every cell starts where its header does.
    assert rows[0].index("yes") == header.index("INSTALLED")

    monkeypatch.delenv("BLOCKS_API_KEY")
    _, out, _ = cli("workspaces", "list")
    assert [line.split()[-1] for line in out.splitlines() if "T0BARE" in line] == ["none"]


def test_list_of_an_empty_database_says_so(cli: Cli) -> None:
    status, out, _ = cli("workspaces", "list")
    assert status == 0 and out == "no workspace is installed, and none has a Blocks key of its own\n"


# -- remove-key ----------------------------------------------------------------------------------------


@pytest.fixture
def two_keys(cli: Cli, engine: Engine) -> None:
    assert cli("workspaces", "set-key", "T0ACME", stdin=GOOD)[0] == 0
    assert cli("workspaces", "set-key", "T0ACME", stdin=OTHER)[0] == 0
    assert cli("workspaces", "set-key", "T0ELSE", stdin=GOOD)[0] == 0


@pytest.mark.usefixtures("two_keys")
@pytest.mark.parametrize("named", ["label", "sha256:label", "whole hash"])
def test_remove_key_by_its_label_removes_that_key_only(cli: Cli, engine: Engine, named: str) -> None:
    argument = {"label": label(GOOD), "sha256:label": f"sha256:{label(GOOD)}", "whole hash": key_hash(GOOD)}
    status, out, err = cli("workspaces", "remove-key", "T0ACME", argument[named])
    assert (status, err) == (0, "")
    assert out == f"removed key {label(GOOD)} of T0ACME; 1 key left\n"
    assert stored(engine) == [("T0ACME", None, key_hash(OTHER)), ("T0ELSE", None, key_hash(GOOD))]


@pytest.mark.usefixtures("two_keys")
def test_remove_all_keys_asks_first_and_yes_skips_the_question(cli: Cli, engine: Engine) -> None:
    status, out, err = cli("workspaces", "remove-key", "T0ACME", stdin="n\n")
    assert status == 2 and out == ""
    assert "Remove all 2 of its keys from T0ACME?" in err and "not confirmed: nothing removed" in err
    status, _, err = cli("workspaces", "remove-key", "T0ACME")  # a script's empty stdin
    assert status == 2 and err.splitlines()[-1] == (
        "blocks-slack: no answer on standard input (--yes removes without asking): nothing removed"
    )
    assert len(stored(engine)) == 3

    status, out, _ = cli("workspaces", "remove-key", "T0ACME", stdin="y\n")
    assert status == 0
    assert out == (
        f"removed keys {label(GOOD)}, {label(OTHER)} of T0ACME; it has no Blocks key now: its users are "
        "told that an admin must connect one\n"
    )
    assert stored(engine) == [("T0ELSE", None, key_hash(GOOD))]

    status, out, err = cli("workspaces", "remove-key", "T0ELSE", "--yes")
    assert status == 0 and err == "" and out.startswith(f"removed key {label(GOOD)} of T0ELSE;")
    assert stored(engine) == []


@pytest.mark.usefixtures("two_keys")
@pytest.mark.parametrize(
    ("team", "which", "says"),
    [
        ("T0ACME", "000000000000", "no key of T0ACME has that label"),
        ("T0ACME", GOOD, "KEY_HASH must be a key's label"),  # the key itself, pasted: not echoed
        ("T0ACME", "abc", "KEY_HASH must be a key's label"),
        ("T0NONE", None, "T0NONE has no Blocks key of its own"),
    ],
)
def test_remove_key_that_finds_nothing_is_one_line_and_removes_nothing(
    cli: Cli, engine: Engine, team: str, which: str | None, says: str
) -> None:
    status, _, err = cli("workspaces", "remove-key", team, *([which] if which else []), "--yes")
    assert status == 2 and err.count("\n") == 1 and says in err, err
    assert len(stored(engine)) == 3


# -- the rest ------------------------------------------------------------------------------------------


def test_new_encryption_key_prints_a_key_the_vault_takes(cli: Cli) -> None:
    status, out, _ = cli("workspaces", "new-encryption-key")
    assert status == 0 and out.count("\n") == 1
    vault = Vault.from_env_value(out.strip())
    assert vault.decrypt(vault.encrypt("x")) == "x"


def test_a_database_that_is_missing_or_not_migrated_is_one_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere.db'}")
    status, _, err = cli("workspaces", "list")
    assert status == 2 and err.count("\n") == 1 and "no database at" in err
    assert not (tmp_path / "nowhere.db").exists(), "an operator command never creates a database"
    (tmp_path / "empty.db").touch()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    status, _, err = cli("workspaces", "set-key", "T0ACME", stdin=GOOD)
    assert status == 2 and err.count("\n") == 1 and "run `blocks-slack migrate`" in err


def test_help_lists_what_each_action_reads(cli: Cli) -> None:
    for action, variables in {
        "list": ("DATABASE_URL", "BLOCKS_API_KEY"),
        "set-key": ("DATABASE_URL", "BLOCKS_SLACK_ENCRYPTION_KEY", "BLOCKS_API_URL"),
        "remove-key": ("DATABASE_URL", "BLOCKS_API_KEY"),
    }.items():
        with pytest.raises(SystemExit) as exited:
            cli("workspaces", action, "--help")
        assert exited.value.code == 0
        out = cli.capsys.readouterr().out
        assert "environment variables it reads:" in out
        assert all(variable in out for variable in variables), (action, out)
