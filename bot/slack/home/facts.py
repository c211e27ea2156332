"""What App Home shows, read from the database: a person's recent sessions, the workspace's defaults,
and for admins today's usage and what is left of the budget of each of the workspace's Blocks keys.

The tab is drawn on every visit and again whenever one of the person's turns changes state, so its
reads stay small whatever the history holds: sessions and usage are read from the deployment's newest
RECENT_TURNS turns only (a primary-key range, then the person's or workspace's rows in it). A session
older than that is not recent; a day busier than that is counted as "at least".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, func, select

from bot.blocks import pull_requests
from bot.blocks.budget import Budget
from bot.blocks.keys import key_label
from bot.blocks.pull_requests import PullRequest
from bot.db.models import Conversation, Turn
from bot.preferences import store
from bot.preferences.store import Row
from bot.preferences.values import Resolved, resolve
from bot.turns import states

RECENT_TURNS = 20_000
SESSIONS_SHOWN = 10
TURNS_READ = 200  # of the person's own turns in that range, newest first: enough for SESSIONS_SHOWN threads
DAY_SECONDS = 86400.0


class Account(Protocol):
    """A Blocks key as the tab needs it (`tenancy.BlocksAccount`): its name and its budget."""

    @property
    def key_hash(self) -> str: ...

    @property
    def budget(self) -> Budget: ...


@dataclass(frozen=True)
class Session:
    """One of the person's threads with the agent, as its newest turn of theirs left it."""

    conversation_id: int
    channel_id: str
    channel_type: str
    agent: str
    state: str  # working | stopping | queued | the outcome of a finished turn
    since: float  # when the person last asked in it
    session_url: str | None
    pull_requests: tuple[PullRequest, ...] = ()


@dataclass(frozen=True)
class Defaults:
    """The workspace's own choices (`own`, with whether members may change channels), and what is in
    force for a channel without its own (`resolved`)."""

    own: Row
    resolved: Resolved
    members_may_configure: bool
    prompts: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True)
class Usage:
    """Today's turns of the workspace (since midnight UTC) by what became of them, and the Blocks
    requests they made (each request or follow-up, and each poll)."""

    since: float
    turns: int
    answered: int
    failed: int
    running: int
    queued: int
    requests: int
    partial: bool  # the day began before the newest RECENT_TURNS turns: at least these


@dataclass(frozen=True)
class KeyBudget:
    label: str
    free: int  # requests that could go now
    capacity: int
    per_minute: int  # its refill


@dataclass(frozen=True)
class Facts:
    sessions: tuple[Session, ...]
    defaults: Defaults
    usage: Usage | None = None  # admins only
    budgets: tuple[KeyBudget, ...] = field(default=())


def read_facts(
    conn: Connection,
    team_id: str,
    user_id: str,
    *,
    deployment: Mapping[str, str],
    admin: bool,
    accounts: Sequence[Account],
    now: float,
) -> Facts:
    sessions = recent_sessions(conn, team_id, user_id)
    defaults = workspace_defaults(conn, team_id, deployment)
    if not admin:
        return Facts(tuple(sessions), defaults)
    return Facts(
        tuple(sessions), defaults, usage_today(conn, team_id, now), tuple(budgets(conn, accounts, now))
    )


def state_of(phase: str, outcome: str | None, stop_state: str | None) -> str:
    if phase == states.ACTIVE:
        return "stopping" if stop_state else "working"
    if phase == states.WAITING:
        return "queued"
    return outcome or states.FAILED


def recent_sessions(conn: Connection, team_id: str, user_id: str) -> list[Session]:
    """The person's newest threads with the agent, newest first: each with the state of their open turn
    there (else their newest), and the pull requests the agent opened in it."""
    floor = _window_floor(conn)
    rows = conn.execute(
        select(
            Turn.id,
            Turn.conversation_id,
            Turn.phase,
            Turn.outcome,
            Turn.stop_state,
            Turn.requested_at,
            Turn.pull_requests_json,
            Conversation.channel_id,
            Conversation.channel_type,
            Conversation.agent,
            Conversation.session_url,
        )
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .where(Turn.id > floor, Turn.requested_by == user_id, Conversation.team_id == team_id)
        .order_by(Turn.id.desc())
        .limit(TURNS_READ)
    ).all()
    threads: dict[int, list[Session]] = {}
    newest_turn: dict[int, int] = {}
    for row in rows:
        if row.conversation_id not in threads and len(threads) >= SESSIONS_SHOWN:
            continue
        found = pull_requests.loads(row.pull_requests_json)
        threads.setdefault(row.conversation_id, []).append(
            Session(
                row.conversation_id,
                row.channel_id,
                row.channel_type,
                row.agent,
                state_of(row.phase, row.outcome, row.stop_state),
                row.requested_at,
                row.session_url,
                tuple(found),
            )
        )
        newest_turn.setdefault(row.conversation_id, row.id)
    answers = _answer_pull_requests(conn, list(newest_turn.values()))
    shown = []
    for conversation_id, turns in threads.items():  # newest first: dicts keep the order rows came in
        open_turn = next((t for t in turns if t.state in ("working", "stopping", "queued")), None)
        head = turns[0]
        # In the order the answer's own buttons show them: what the polls stored, then the answer's.
        found = pull_requests.merge(
            *(t.pull_requests for t in turns), answers.get(newest_turn[conversation_id], ())
        )
        shown.append(
            Session(
                conversation_id,
                head.channel_id,
                head.channel_type,
                head.agent,
                (open_turn or head).state,
                head.since,
                head.session_url,
                tuple(found),
            )
        )
    return shown


def _answer_pull_requests(conn: Connection, turn_ids: list[int]) -> dict[int, list[PullRequest]]:
    """The pull requests named in these turns' answers (as the answer's own buttons find them)."""
    if not turn_ids:
        return {}
    rows = conn.execute(
        select(Turn.id, Turn.answer_text).where(Turn.id.in_(turn_ids), Turn.answer_text.is_not(None))
    ).all()
    return {row.id: pull_requests.find(row.answer_text or "") for row in rows}


def workspace_defaults(conn: Connection, team_id: str, deployment: Mapping[str, str]) -> Defaults:
    own = store.workspace_row(conn, team_id)
    members = store.members_may_configure(conn, team_id)
    prompts = store.suggested_prompts(conn, team_id) or []
    return Defaults(
        {**own, store.MEMBERS_MAY_CONFIGURE: "on" if members else "off"},
        resolve({}, own, deployment),
        members,
        tuple(prompts),
    )


def usage_today(conn: Connection, team_id: str, now: float) -> Usage:
    since = now - now % DAY_SECONDS
    floor = _window_floor(conn)
    rows = conn.execute(
        select(
            Turn.phase,
            Turn.outcome,
            func.count(),
            func.coalesce(func.sum(Turn.polls), 0),
            func.count(Turn.submitted_at),
        )
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .where(Turn.id > floor, Conversation.team_id == team_id, Turn.requested_at >= since)
        .group_by(Turn.phase, Turn.outcome)
    ).all()
    turns = answered = failed = running = queued = requests = 0
    for phase, outcome, count, polls, submitted in rows:
        turns += count
        requests += int(polls) + int(submitted)
        if phase == states.ACTIVE:
            running += count
        elif phase == states.WAITING:
            queued += count
        elif outcome == states.ANSWERED:
            answered += count
        elif outcome in (states.FAILED, states.EXPIRED, states.UNDELIVERABLE):
            failed += count
    partial = False
    if floor > 0:
        oldest = conn.execute(
            select(Turn.requested_at).where(Turn.id > floor).order_by(Turn.id).limit(1)
        ).scalar()
        partial = oldest is not None and oldest >= since
    return Usage(since, turns, answered, failed, running, queued, requests, partial)


def budgets(conn: Connection, accounts: Sequence[Account], now: float) -> list[KeyBudget]:
    """What each key's bucket holds now: the requests that could go at once (a bucket not made yet is
    full), of how many, and how fast it refills."""
    found = []
    for account in accounts:
        policy = account.budget.policy
        tokens = account.budget.bucket.tokens(conn, now)
        free = policy.capacity if tokens is None else max(0.0, tokens)
        found.append(
            KeyBudget(
                key_label(account.key_hash),
                int(free),
                int(policy.capacity),
                round(policy.refill_per_second * 60),
            )
        )
    return found


def _window_floor(conn: Connection) -> int:
    newest = conn.execute(select(func.max(Turn.id))).scalar()
    return int(newest or 0) - RECENT_TURNS
