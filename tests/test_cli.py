"""The command line as an admin meets it: clear one-line errors, migrations, the simulators, the demo."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.config import ENVIRONMENT
from bot.sim.slack import SlackStub
from bot.sim.wsgi import serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
HEAD = sorted(p.name.split("_")[0] for p in (ROOT / "migrations" / "versions").glob("0*.py"))[-1]
BASE_ENV = {
    k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BLOCKS_", "DATABASE_", "DYNO"))
}


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**BASE_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def slack_url() -> Iterator[str]:
    server = serve_in_thread(SlackStub())
    yield server.url + "/api/"
    server.stop()


def test_version() -> None:
    assert run("--version").stdout.startswith("blocks-slack ")


def test_a_missing_setting_stops_start_up_with_one_clear_line() -> None:
    result = run("serve", env={"SLACK_SIGNING_SECRET": "s", "BLOCKS_API_KEY": "k"})
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "blocks-slack: configuration error: SLACK_BOT_TOKEN is required but not set"
    )


def test_a_malformed_setting_is_named() -> None:
    result = run(
        "serve",
        env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "BLOCKS_API_KEY": "k", "PORT": "web"},
    )
    assert result.returncode == 2 and "PORT must be a whole number" in result.stderr


@pytest.mark.parametrize("name", ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "BLOCKS_API_KEY"])
def test_a_secret_with_a_line_break_inside_is_one_line_that_does_not_show_it(name: str) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "BLOCKS_API_KEY": "k"}
    env[name] = env[name] + "secretpart1\nsecretpart2"
    result = run("serve", env=env)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert name in result.stderr and "secretpart" not in result.stderr + result.stdout


def test_an_unreachable_database_is_named(slack_url: str) -> None:
    result = run(
        "serve",
        env={
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s",
            "BLOCKS_API_KEY": "k",
            "SLACK_API_URL": slack_url,
            "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
        },
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("blocks-slack: cannot use the database (DATABASE_URL)")
    )


def test_an_unreachable_or_refusing_slack_is_named(tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "BLOCKS_API_KEY": "k",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
    }
    result = run("serve", env=env)
    assert result.returncode == 2 and "cannot reach Slack at SLACK_API_URL" in result.stderr.splitlines()[-1]


def test_migrate_creates_the_schema_and_checks_it(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}
    first = run("migrate", env=env)
    assert first.returncode == 0
    assert first.stdout.strip() == f"database schema upgraded from nothing to revision {HEAD}", first.stdout
    assert first.stderr == "", "one line of its own, not Alembic's log"
    again = run("migrate", env=env)
    assert again.stdout.strip() == f"database schema is up to date (revision {HEAD})" and again.stderr == ""
    assert run("migrate", "--check", env=env).returncode == 0
    assert run("migrate", env={"DATABASE_URL": "mysql://x/y"}).returncode == 2


def test_serve_on_an_ephemeral_disk_without_database_url_warns_loudly_and_never_logs_secrets(
    tmp_path: Path, slack_url: str
) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-very-secret-token",
        "SLACK_SIGNING_SECRET": "signing-secret-value",
        "BLOCKS_API_KEY": "blocks-secret-key",
        "SLACK_API_URL": slack_url,
        "PORT": "0",
        "DYNO": "web.1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env={**BASE_ENV, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if "is up on port" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=15)
    output = "".join(lines) + rest
    assert process.returncode == 0
    assert "DATABASE_URL is not set and this disk is ephemeral" in output
    for secret in ("xoxb-very-secret-token", "signing-secret-value", "blocks-secret-key"):
        assert secret not in output
    assert (tmp_path / "blocks-slack.db").exists(), "the default database is a SQLite file"


def test_the_simulators_run_on_their_own() -> None:
    for which, probe in (("blocks", "/_sim/state"), ("slack", "/_stub/calls")):
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "sim", which],
            cwd=ROOT,
            env=BASE_ENV,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            url = line.split(" on ", 1)[1].split(" ", 1)[0]
            assert url.startswith("http://127.0.0.1:")
            assert httpx.get(url + probe, timeout=5).status_code == 200
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_the_demo_shows_a_whole_conversation() -> None:
    started = time.monotonic()
    result = run("demo", "--fast", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "queued 📥" in out and "✅" in out and "[View session]" in out
    assert "[PR acme/widgets#42]" in out and "[👍] [👎]" in out, "the result card"
    assert "Interrupted: @bob sent the queued replies now" in out, "send now"
    assert "☑ Find where the arguments are parsed" in out and "[Stop]" in out, "live progress"
    assert "Stopped by @dave." in out and "nothing was pushed" in out, "stop"
    assert "```python" in out, "the long answer's code block continues across parts"
    assert time.monotonic() - started < 90


def test_a_refused_app_token_is_named(tmp_path: Path, slack_url: str) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_APP_TOKEN": "xapp-1",
        "BLOCKS_API_KEY": "k",
        "PORT": "0",
        "SLACK_API_URL": slack_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    result = run("serve", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "blocks-slack: Slack refused SLACK_APP_TOKEN (not_allowed_token_type)"
    )


def test_a_port_in_use_is_one_line_that_says_what_to_set(tmp_path: Path, slack_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "signing-secret",
            "BLOCKS_API_KEY": "k",
            "SLACK_API_URL": slack_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        }
        result = run("serve", "--host", "127.0.0.1", "--port", str(port), env=env)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "INFO" not in line]
    assert lines == [
        f"blocks-slack: cannot listen on 127.0.0.1:{port}: the port is already in use "
        "(set PORT or --port, HOST or --host)"
    ], result.stderr


@pytest.mark.parametrize("command", ["serve", "web", "worker", "migrate"])
def test_help_lists_the_environment_each_command_reads(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0 and "environment variables it reads:" in result.stdout
    assert "DATABASE_URL" in result.stdout
    if command != "migrate":
        assert all(name in result.stdout for name in ENVIRONMENT), "every setting"
        assert "--port" in result.stdout and "--host" in result.stdout


def test_sim_help_explains_each_option_and_where_the_controls_are() -> None:
    result = run("sim", "--help")
    assert result.returncode == 0
    for option in ("--host", "--port", "--answer-delay", "/_sim/", "/_stub/"):
        assert option in result.stdout, option


def test_migrate_on_a_database_of_a_newer_release_is_one_line(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}
    assert run("migrate", env=env).returncode == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "bot.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    result = run("migrate", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot migrate the database" in result.stderr, result.stderr
