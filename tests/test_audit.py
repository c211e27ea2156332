"""`blocks-slack audit`: every turn with who asked, where, which agent and key, when and the outcome, as
CSV or a table, filtered by workspace and age, and never a message text or a key. Turns are recorded by
intake as Slack's messages would be; every test runs on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from bot.__main__ import main
from bot.audit import CSV_HEADER, TABLE_WIDTH, parse_since
from bot.blocks.keys import key_hash, key_label
from bot.config import Settings
from bot.db.models import Conversation, Turn
from bot.preferences.store import save_channel, save_workspace
from bot.turns import intake, states
from bot.turns.intake import InboundEvent, IntakePolicy, Recorded
from bot.workspaces_cli import OperatorError

ROOT = Path(__file__).resolve().parents[1]
KEY = "blk_live_audit_0123456789abcdef"
SECRETS = ("SECRET-QUESTION", "SECRET-FOLLOW-UP", "SECRET-QUEUED", "SECRET-GRID", "SECRET-ANSWER", KEY)
POLICY = IntakePolicy.of(
    Settings(slack_bot_token="", slack_signing_secret="", blocks_api_key="", busy_policy="queue")
)
NOW = time.time()
HOUR = 3600.0


def message(
    team: str,
    channel: str,
    user: str,
    ts: float,
    text: str,
    *,
    thread: float | None = None,
    enterprise_id: str | None = None,
) -> InboundEvent:
    return InboundEvent(
        team_id=team,
        channel_id=channel,
        channel_type="channel",
        ts=f"{ts:.6f}",
        thread_ts=None if thread is None else f"{thread:.6f}",
        user_id=user,
        text=text,
        is_mention=thread is None,
        enterprise_id=enterprise_id,
    )


def finish(engine: Engine, requested_at: float, outcome: str, finished_at: float) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(Turn)
            .where(Turn.requested_at == requested_at)
            .values(
                phase=states.FINISHED,
                step=states.DONE,
                outcome=outcome,
                finished_at=finished_at,
                answer_text="SECRET-ANSWER",
                next_run_at=None,
            )
        )


@pytest.fixture
def history(engine: Engine) -> Engine:
    """Four turns: answered three days ago, running (2 h), waiting behind it (1 h), failed (30 min)."""
    first = NOW - 72 * HOUR
    event = message("T0ACME", "C0ONE", "U0ALICE", first, "/codex SECRET-QUESTION")
    assert intake.record(engine, event, POLICY, first) is Recorded.NEW_TURN
    finish(engine, first, states.ANSWERED, first + 95)
    with engine.begin() as conn:
        conn.execute(update(Conversation).values(blocks_key_hash=key_hash(KEY)))
    follow_up = NOW - 2 * HOUR
    event = message("T0ACME", "C0ONE", "U0BOB", follow_up, "SECRET-FOLLOW-UP", thread=first)
    assert intake.record(engine, event, POLICY, follow_up) is Recorded.NEW_TURN
    queued = NOW - 1 * HOUR
    event = message("T0ACME", "C0ONE", "U0CAROL", queued, "SECRET-QUEUED", thread=first)
    assert intake.record(engine, event, POLICY, queued) is Recorded.QUEUED
    grid = NOW - 0.5 * HOUR
    event = message("T0GRID", "C0TWO", "U0DAVE", grid, "SECRET-GRID", enterprise_id="E0ORG")
    assert intake.record(engine, event, POLICY, grid) is Recorded.NEW_TURN
    finish(engine, grid, states.FAILED, grid + 12)
    return engine


@pytest.fixture
def audit(
    history: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[list[str]]:
    """Runs `blocks-slack audit …` in this process; yields what each run printed (checked at the end)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    printed: list[str] = []
    yield printed
    shown = "".join(printed) + "".join(capsys.readouterr())
    assert not any(secret in shown for secret in SECRETS), "a message text, an answer or a key was printed"


def run(printed: list[str], capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["audit", *args])
    out, err = capsys.readouterr()
    printed += [out, err]
    return status, out, err


def requesters(csv_text: str) -> list[str]:
    return [row["requested_by"] for row in csv.DictReader(io.StringIO(csv_text))]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_csv_has_a_header_and_every_turn_in_request_order(
    audit: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(audit, capsys, "--format", "csv")
    assert (status, err) == (0, "")
    reader = csv.reader(io.StringIO(out))
    assert tuple(next(reader)) == CSV_HEADER
    rows = [dict(zip(CSV_HEADER, row, strict=True)) for row in reader]
    assert [(r["requested_by"], r["outcome"]) for r in rows] == [
        ("U0ALICE", "answered"),
        ("U0BOB", "active"),  # in flight: its phase
        ("U0CAROL", "waiting"),
        ("U0DAVE", "failed"),
    ]
    alice, bob, _, dave = rows
    assert alice["requested_at"] == iso(NOW - 72 * HOUR) and alice["finished_at"] == iso(NOW - 72 * HOUR + 95)
    assert alice["requested_at"].endswith("Z") and bob["finished_at"] == ""
    assert (alice["team_id"], alice["enterprise_id"], alice["channel_id"]) == ("T0ACME", "", "C0ONE")
    assert (dave["team_id"], dave["enterprise_id"], dave["channel_id"]) == ("T0GRID", "E0ORG", "C0TWO")
    assert [r["agent"] for r in rows] == ["codex", "codex", "codex", "claude"]
    # The key by its label, the same for every turn of the session; none before a session exists.
    assert [r["key"] for r in rows] == [key_label(key_hash(KEY))] * 3 + [""]
    assert alice["thread_ts"] == bob["thread_ts"] == f"{NOW - 72 * HOUR:.6f}"


def test_the_table_fits_120_columns_sorted_by_request_time(
    audit: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(audit, capsys)
    assert status == 0
    header, *rows = out.splitlines()
    assert header.split() == ["REQUESTED", "FINISHED", "TEAM", "CHANNEL", "USER", "AGENT", "KEY", "OUTCOME"]
    assert all(len(line) <= TABLE_WIDTH for line in out.splitlines())
    assert [row.split()[0] for row in rows] == sorted(row.split()[0] for row in rows)
    assert rows[0].split() == [
        iso(NOW - 72 * HOUR),
        iso(NOW - 72 * HOUR + 95),
        "T0ACME",
        "C0ONE",
        "U0ALICE",
        "codex",
        key_label(key_hash(KEY)),
        "answered",
    ]
    assert rows[1].split()[1:] == ["T0ACME", "C0ONE", "U0BOB", "codex", key_label(key_hash(KEY)), "active"]
    # Cells sit under their headers, the missing finish time included.
    assert rows[1].index("T0ACME") == header.index("TEAM")
    assert rows[3].split()[-1] == "failed"


def test_long_ids_are_cut_so_that_the_table_still_fits(
    history: Engine, audit: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    when = time.time() - 60  # not NOW: that is when the module was collected, perhaps minutes ago
    long_team, long_channel, long_user = "T" + "9" * 31, "C" + "8" * 31, "U" + "7" * 31
    event = message(long_team, long_channel, long_user, when, "/opencode SECRET-QUESTION")
    assert intake.record(history, event, POLICY, when) is Recorded.NEW_TURN
    finish(history, when, states.UNDELIVERABLE, when + 1)
    _, out, _ = run(audit, capsys, "--since", "5m")
    row = out.splitlines()[1]
    assert len(row) <= TABLE_WIDTH and "undeliverable" in row and "opencode" in row
    assert "T9999999999" not in row and "T999999999…" in row
    _, out, _ = run(audit, capsys, "--since", "5m", "--format", "csv")
    assert long_team in out and long_channel in out and long_user in out  # whole in the CSV


@pytest.mark.parametrize(
    ("team", "users"),
    [("T0ACME", ["U0ALICE", "U0BOB", "U0CAROL"]), ("t0grid", ["U0DAVE"]), ("E0ORG", ["U0DAVE"])],
)
def test_team_keeps_one_workspace_or_a_whole_organization(
    audit: list[str], capsys: pytest.CaptureFixture[str], team: str, users: list[str]
) -> None:
    _, out, _ = run(audit, capsys, "--team", team, "--format", "csv")
    assert requesters(out) == users


@pytest.mark.parametrize(
    ("since", "users"),
    [
        ("90m", ["U0CAROL", "U0DAVE"]),
        ("36h", ["U0BOB", "U0CAROL", "U0DAVE"]),
        ("7d", ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"]),
    ],
)
def test_since_keeps_the_turns_requested_that_recently(
    audit: list[str], capsys: pytest.CaptureFixture[str], since: str, users: list[str]
) -> None:
    _, out, _ = run(audit, capsys, "--since", since, "--format", "csv")
    assert requesters(out) == users


def test_nothing_matching_is_a_header_and_a_note(
    audit: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(audit, capsys, "--team", "T0NOBODY")
    assert out.splitlines()[1:] == ["(no turns)"]
    _, out, _ = run(audit, capsys, "--team", "T0NOBODY", "--format", "csv")
    assert out == ",".join(CSV_HEADER) + "\n"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "7 days"], "--since must be a duration such as 90m, 36h or 7d"),
        (["--since", "0h"], "--since must be a duration"),
        (["--team", "C0CHANNEL"], "--team must be a Slack team id"),
    ],
)
def test_a_bad_filter_is_one_line(
    audit: list[str], capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    status, out, err = run(audit, capsys, *args)
    assert status == 2 and out == "" and err.count("\n") == 1 and says in err, err


def test_an_unmigrated_database_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty.db").touch()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["audit"]) == 2


@pytest.mark.parametrize(
    ("value", "seconds"), [("90m", 5400), ("36h", 129600), ("7d", 604800), ("2w", 1209600)]
)
def test_durations(value: str, seconds: float) -> None:
    assert parse_since(value) == seconds
    with pytest.raises(OperatorError):
        parse_since(value + "x")


def test_audit_through_python_dash_m(history: Engine, database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BLOCKS_", "DATABASE_"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "--format", "csv", "--since", "7d"],
        env={**env, "DATABASE_URL": database_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(CSV_HEADER) and len(lines) == 5
    assert not any(secret in result.stdout for secret in SECRETS)


def test_settings_shows_who_changed_which_setting_oldest_first(
    audit: list[str], history: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with history.begin() as conn:
        save_channel(
            conn,
            team_id="T0ACME",
            channel_id="C0ONE",
            user_id="U0DANA",
            values={"agent": "codex"},
            now=NOW - HOUR,
        )
        save_channel(
            conn, team_id="T0ACME", channel_id="C0ONE", user_id="U0ERIN", values={"agent": None}, now=NOW
        )
        save_workspace(conn, team_id="T0OTHER", user_id="U0FRED", values={"answers": "summary"}, now=NOW)
    status, out, _ = run(audit, capsys, "--settings", "--team", "T0ACME")
    lines = out.splitlines()
    assert status == 0 and lines[0].split() == ["CHANGED", "TEAM", "WHERE", "USER", "SETTING", "FROM", "TO"]
    assert [line.split()[1:] for line in lines[1:]] == [
        ["T0ACME", "C0ONE", "U0DANA", "agent", "default", "codex"],
        ["T0ACME", "C0ONE", "U0ERIN", "agent", "codex", "default"],
    ]
    assert all(len(line) <= TABLE_WIDTH for line in lines)
    _, out, _ = run(audit, capsys, "--settings", "--format", "csv", "--since", "30m")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["team_id"], r["channel_id"], r["setting"], r["new_value"]) for r in rows] == [
        ("T0ACME", "C0ONE", "agent", ""),
        ("T0OTHER", "", "answers", "summary"),
    ]
