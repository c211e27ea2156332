"""Who may drive the agent: a coding agent with the team's repositories behind it.

Safe by default, opened by settings: guests (Slack's `is_restricted`) are refused unless allowed; people of
other organizations stay out (intake); optional allowlists of channels, users and user groups; DMs can be
turned off; a thread may be continued by anyone allowed in it, or by its starter only; caps on running
turns per user and per workspace, and on turns per user per day.

The check runs in the worker, first thing in a turn's start step, from facts it may have to ask Slack for
(users.info, cached briefly), so that intake stays one short transaction. A refused request is neither lost
nor silently dropped: the person gets a short ephemeral explanation (who can allow them, or when the cap
frees) and nothing of theirs reaches Blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import Connection, func, select

from bot.config import Settings
from bot.db.engine import reading
from bot.db.models import Conversation, Turn
from bot.slack.errors import SlackTransient
from bot.slack.gateway import SlackUser
from bot.turns import states
from bot.turns.best_effort import BEST_EFFORT_TRIES
from bot.turns.context import Runtime, TurnView

DAY_SECONDS = 86400.0
REFUSED = "refused"  # the outcome of a turn whose requester may not drive the agent


@dataclass(frozen=True)
class AccessPolicy:
    allow_guests: bool = False
    allow_dms: bool = True
    channels: frozenset[str] = frozenset()  # empty: every channel the bot is in
    users: frozenset[str] = frozenset()  # empty (and no groups): every member
    usergroups: frozenset[str] = frozenset()
    starter_only: bool = False  # only the person who started a thread may continue it
    running_per_user: int = 5  # 0: no cap
    running_per_workspace: int = 0
    turns_per_user_per_day: int = 0


@dataclass(frozen=True)
class Request:
    """What the check needs to know about one turn."""

    turn_id: int
    user_id: str
    team_id: str
    channel_id: str
    is_dm: bool
    continues_thread_of: str | None  # the thread's starter when this turn continues a thread


def refusal(
    policy: AccessPolicy,
    request: Request,
    user: SlackUser,
    conn: Connection,
    now: float,
    *,
    members_of: Callable[[str], frozenset[str]],
) -> str | None:
    """Why `request` may not go to the agent (a sentence for its author), or None when it may."""
    if user.is_guest and not policy.allow_guests:
        return "guests of this workspace cannot use the agent; a workspace admin can allow it"
    if request.is_dm and not policy.allow_dms:
        return "direct messages to the bot are turned off here; mention it in a channel instead"
    if policy.channels and not request.is_dm and request.channel_id not in policy.channels:
        return "the agent is not enabled in this channel; an admin can add it to the allowed channels"
    if (policy.users or policy.usergroups) and not _listed(policy, request.user_id, members_of):
        return "you are not on the list of people who may use the agent; an admin can add you"
    if policy.starter_only and request.continues_thread_of not in (None, request.user_id):
        return "only the person who started this thread can continue it; start your own thread instead"
    return _capped(policy, request, conn, now)


def _listed(policy: AccessPolicy, user_id: str, members_of: Callable[[str], frozenset[str]]) -> bool:
    if user_id in policy.users:
        return True
    return any(user_id in members_of(group) for group in policy.usergroups)


def _capped(policy: AccessPolicy, request: Request, conn: Connection, now: float) -> str | None:
    others = Turn.id != request.turn_id
    running = (Turn.phase == states.ACTIVE, others)
    if policy.running_per_user:
        count = _count(conn, Turn.requested_by == request.user_id, *running)
        if count >= policy.running_per_user:
            return (
                f"you already have {count} requests running (the limit is {policy.running_per_user}); "
                "send this again when one of them has answered"
            )
    if policy.running_per_workspace:
        count = _count(conn, Conversation.team_id == request.team_id, *running)
        if count >= policy.running_per_workspace:
            return (
                f"this workspace already has {count} requests running (the limit is "
                f"{policy.running_per_workspace}); send this again when one has answered"
            )
    if policy.turns_per_user_per_day:
        since = now - DAY_SECONDS
        count = _count(conn, Turn.requested_by == request.user_id, Turn.requested_at >= since, others)
        if count >= policy.turns_per_user_per_day:
            return (
                f"you have sent {count} requests in the last 24 hours (the limit is "
                f"{policy.turns_per_user_per_day}); the oldest of them stops counting a day after it was sent"
            )
    return None


def _count(conn: Connection, *conditions: object) -> int:
    query = (
        select(func.count())
        .select_from(Turn)
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .where(Turn.outcome.is_distinct_from(REFUSED), *conditions)  # type: ignore[arg-type]
    )
    return int(conn.execute(query).scalar_one())


def policy_of(settings: Settings) -> AccessPolicy:
    return AccessPolicy(
        allow_guests=settings.allow_guests,
        allow_dms=settings.allow_dms,
        channels=frozenset(settings.allowed_channels),
        users=frozenset(settings.allowed_users),
        usergroups=frozenset(settings.allowed_usergroups),
        starter_only=settings.continue_threads == "starter",
        running_per_user=settings.max_running_per_user,
        running_per_workspace=settings.max_running_per_workspace,
        turns_per_user_per_day=settings.max_turns_per_user_per_day,
    )


def check_author(rt: Runtime, view: TurnView, user_id: str, *, caps: bool) -> str | None:
    """Why `user_id` may not drive the agent in this turn's thread, or None. `caps`: count their running
    and daily turns too (for the turn's requester; not for the other authors of a merged batch)."""
    policy = policy_of(rt.settings)
    if not caps:
        policy = _uncapped(policy)
    continues = view.conversation.started_by if view.turn.id != _first_turn(rt, view) else None
    return _check(rt, view, user_id, policy, continues)


def check_control(rt: Runtime, view: TurnView, user_id: str) -> str | None:
    """Why `user_id` may not use this thread's buttons (stop, and the like), or None: whoever may
    continue the thread may (a button acts on the thread as a reply would), caps aside."""
    return _check(rt, view, user_id, _uncapped(policy_of(rt.settings)), view.conversation.started_by)


def _uncapped(policy: AccessPolicy) -> AccessPolicy:
    return replace(policy, running_per_user=0, running_per_workspace=0, turns_per_user_per_day=0)


def _check(
    rt: Runtime, view: TurnView, user_id: str, policy: AccessPolicy, continues_thread_of: str | None
) -> str | None:
    user = rt.slack.user(user_id)
    if not user.known and not policy.allow_guests:
        # Whether they are a guest is unknown: never let a guest through for want of asking. A failure
        # that may pass is tried again with the step, a few times; then, or at once when Slack refuses
        # to say, the person is told.
        if user.may_pass and view.turn.failures + 1 < BEST_EFFORT_TRIES:
            raise SlackTransient("users.info", user.error or "user facts unknown")
        return f"Slack would not tell me who you are ({user.error}); try again in a while"
    conversation = view.conversation
    request = Request(
        turn_id=view.turn.id,
        user_id=user_id,
        team_id=conversation.team_id,
        channel_id=conversation.channel_id,
        is_dm=conversation.channel_type == "im",
        continues_thread_of=continues_thread_of,
    )
    with reading(rt.engine) as conn:
        return refusal(policy, request, user, conn, rt.clock(), members_of=rt.slack.usergroup_members)


def _first_turn(rt: Runtime, view: TurnView) -> int:
    with reading(rt.engine) as conn:
        first = conn.execute(
            select(func.min(Turn.id)).where(Turn.conversation_id == view.conversation.id)
        ).scalar_one()
    return int(first)
