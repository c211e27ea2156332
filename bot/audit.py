"""`blocks-slack audit [--team T] [--since 7d] [--format csv|table] [--settings]`: who asked the agent,
never what; with `--settings`, who changed which setting of a channel or workspace (`/blocks`, App Home).

One line per turn, oldest request first: who asked, in which workspace and channel, which agent, which
Blocks key (by its label), when it was requested and finished (ISO-8601 UTC), its outcome (a turn in
flight shows its phase), and how many people found its answer good and bad (👍/👎; the table shows them
after the outcome, as `+2-1`). The key is the one its conversation's session was created with: every
request of a session uses it. Message texts and answers are never read, so none can be printed.
"""

from __future__ import annotations

import csv
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from bot.blocks.keys import key_label
from bot.db.models import Conversation, Feedback, PreferenceChange, Turn
from bot.workspaces_cli import OperatorError, fail, open_database, parse_workspace, table_row

CSV_HEADER = (
    "turn",
    "requested_at",
    "finished_at",
    "team_id",
    "enterprise_id",
    "channel_id",
    "thread_ts",
    "requested_by",
    "agent",
    "key",
    "outcome",
    "feedback_good",
    "feedback_bad",
)
# Fixed widths, so that rows stream and a line is at most 120 characters: 106 of cells, 14 of gaps. An id
# longer than its column (Slack's are 9 to 11 characters) is cut with an ellipsis; the CSV has it whole.
TABLE_COLUMNS = (
    ("REQUESTED", 20),
    ("FINISHED", 20),
    ("TEAM", 11),
    ("CHANNEL", 11),
    ("USER", 11),
    ("AGENT", 8),
    ("KEY", 12),
    ("OUTCOME", 13),
)
TABLE_WIDTH = 120
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_since(value: str) -> float:
    """Seconds in a duration such as 90m, 36h or 7d."""
    found = _DURATION.fullmatch(value.strip().lower())
    if not found or float(found.group(1)) <= 0:
        raise OperatorError(f"--since must be a duration such as 90m, 36h or 7d (got {value.strip()!r})")
    return float(found.group(1)) * _UNITS[found.group(2)]


def iso(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def audit_rows(
    engine: Engine, *, team: str | None = None, since_seconds: float | None = None, now: float | None = None
) -> Iterator[tuple[str, ...]]:
    """The CSV rows (without the header), oldest request first."""
    query = (
        select(
            Turn.id,
            Turn.requested_at,
            Turn.finished_at,
            Conversation.team_id,
            Conversation.enterprise_id,
            Conversation.channel_id,
            Conversation.thread_ts,
            Turn.requested_by,
            Conversation.agent,
            Conversation.blocks_key_hash,
            Turn.outcome,
            Turn.phase,
            _feedback_count("good"),
            _feedback_count("bad"),
        )
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .order_by(Turn.requested_at, Turn.id)
    )
    if team is not None:
        workspace = parse_workspace(team, "--team")
        # An enterprise id names its whole organization: every workspace of it.
        if workspace.team_id is not None:
            query = query.where(Conversation.team_id == workspace.team_id)
        else:
            query = query.where(Conversation.enterprise_id == workspace.enterprise_id)
    if since_seconds is not None:
        query = query.where(Turn.requested_at >= (time.time() if now is None else now) - since_seconds)
    with engine.connect() as conn:
        # Streamed: a long history is printed as it is read, not held in memory first.
        for row in conn.execution_options(yield_per=500).execute(query):
            yield _fields(row)


def _feedback_count(value: str) -> Any:
    return (
        select(func.count())
        .where(Feedback.turn_id == Turn.id, Feedback.value == value, Feedback.checked_at.is_not(None))
        .correlate(Turn)
        .scalar_subquery()
    )


def _fields(row: Sequence[Any]) -> tuple[str, ...]:
    (turn_id, requested, finished, team_id, enterprise_id, channel, thread_ts, user, agent, hashed) = row[:10]
    outcome, phase, good, bad = row[10], row[11], row[12], row[13]
    return (
        str(turn_id),
        iso(requested),
        iso(finished),
        team_id,
        enterprise_id or "",
        channel,
        thread_ts,
        user,
        agent,
        key_label(hashed) if hashed else "",
        outcome or phase,
        str(good or 0),
        str(bad or 0),
    )


def write_csv(rows: Iterable[tuple[str, ...]], out: Any, header: Sequence[str] = CSV_HEADER) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


SETTINGS_HEADER = ("changed_at", "team_id", "channel_id", "changed_by", "setting", "old_value", "new_value")
SETTINGS_COLUMNS = (
    ("CHANGED", 20),
    ("TEAM", 11),
    ("WHERE", 11),
    ("USER", 11),
    ("SETTING", 21),
    ("FROM", 14),
    ("TO", 20),
)


def settings_rows(
    engine: Engine, *, team: str | None = None, since_seconds: float | None = None, now: float | None = None
) -> Iterator[tuple[str, ...]]:
    """Every change of a channel's or a workspace's settings, oldest first (an empty channel: the
    workspace's defaults; an empty value: back to the default)."""
    query = select(
        PreferenceChange.changed_at,
        PreferenceChange.team_id,
        PreferenceChange.channel_id,
        PreferenceChange.user_id,
        PreferenceChange.name,
        PreferenceChange.old_value,
        PreferenceChange.new_value,
    ).order_by(PreferenceChange.changed_at, PreferenceChange.id)
    if team is not None:
        workspace = parse_workspace(team, "--team")
        if workspace.team_id is None:
            teams = select(Conversation.team_id).where(Conversation.enterprise_id == workspace.enterprise_id)
            query = query.where(PreferenceChange.team_id.in_(teams))
        else:
            query = query.where(PreferenceChange.team_id == workspace.team_id)
    if since_seconds is not None:
        query = query.where(
            PreferenceChange.changed_at >= (time.time() if now is None else now) - since_seconds
        )
    with engine.connect() as conn:
        for changed_at, team_id, channel, user, name, old, new in conn.execute(query):
            yield (iso(changed_at), team_id, channel or "", user, name, old or "", new or "")


def settings_lines(rows: Iterable[tuple[str, ...]]) -> Iterator[str]:
    widths = [width for _, width in SETTINGS_COLUMNS]
    yield table_row([name for name, _ in SETTINGS_COLUMNS], widths)
    empty = True
    for changed, team_id, channel, user, name, old, new in rows:
        empty = False
        yield table_row(
            (changed, team_id, channel or "workspace", user, name, old or "default", new or "default"), widths
        )
    if empty:
        yield "(no changes)"


def table_lines(rows: Iterable[tuple[str, ...]]) -> Iterator[str]:
    widths = [width for _, width in TABLE_COLUMNS]
    yield table_row([name for name, _ in TABLE_COLUMNS], widths)
    empty = True
    for _turn, requested, finished, team_id, _, channel, _, user, agent, key, outcome, good, bad in rows:
        empty = False
        rated = (f" +{good}" if good != "0" else "") + (f"-{bad}" if bad != "0" else "")
        yield table_row((requested, finished, team_id, channel, user, agent, key, outcome + rated), widths)
    if empty:
        yield "(no turns)"


def run_audit(
    *,
    team: str | None = None,
    since: str | None = None,
    output_format: str = "table",
    settings: bool = False,
    environ: Mapping[str, str] | None = None,
) -> int:
    env = os.environ if environ is None else environ
    try:
        since_seconds = None if since is None else parse_since(since)
        if team is not None:
            parse_workspace(team, "--team")  # refused before the database is opened
        engine = open_database(env)
        try:
            if settings:
                changes = settings_rows(engine, team=team, since_seconds=since_seconds)
                if output_format == "csv":
                    write_csv(changes, sys.stdout, SETTINGS_HEADER)
                else:
                    for line in settings_lines(changes):
                        print(line)
            else:
                rows = audit_rows(engine, team=team, since_seconds=since_seconds)
                if output_format == "csv":
                    write_csv(rows, sys.stdout)
                else:
                    for line in table_lines(rows):
                        print(line)
            sys.stdout.flush()
        finally:
            engine.dispose()
    except OperatorError as exc:
        return fail(str(exc))
    except BrokenPipeError:
        # `audit | head`: the reader has what it wanted. Later writes to stdout (at exit) must not fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        return fail(f"audit failed: {type(exc).__name__}: {' '.join(str(exc).split())}")
    return 0
