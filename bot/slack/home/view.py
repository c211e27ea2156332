"""The App Home view of one person, as plain functions of what was read (`facts`): the same view whether
the listener draws it (the person opened the tab) or the worker does (one of their turns changed).

Everyone reads how to use the bot with examples, their recent sessions (state, agent, where, when, a
View session button and the pull requests the agent opened) and the workspace's defaults. An admin also
gets the button to the workspace defaults form, the Blocks key connection, the access settings (from the
environment, read only) and today's usage with what is left of each key's budget.

Slack takes at most 100 blocks in a view: the parts are bounded (SESSIONS_SHOWN sessions of two blocks
at most, SHOWN_KEYS keys of one, a fixed number of others) and add up to fewer (see MAX_BLOCKS).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.blocks.pull_requests import MAX_SHOWN
from bot.config import CORE_AGENTS
from bot.preferences.views import workspace_summary
from bot.slack import messages
from bot.slack.home.facts import Defaults, Facts, KeyBudget, Session, Usage
from bot.slack.home.keys import KeysShown, admin_blocks, status_blocks
from bot.slack.home.kit import button, context, date, divider, escape, header, section
from bot.turns.access import AccessPolicy

MAX_BLOCKS = 100  # Slack's limit for a Home tab
ACTION_DEFAULTS = "blocks_workspace_defaults"
# Link buttons (View session, a pull request): Slack still sends an action for them, which is only acked.
ACTION_LINK = "blocks_home_link"
SHOWN_NAMES = 10  # channels, people or keys listed by name; the rest are counted
UNREADABLE = "Your sessions and this workspace's settings cannot be read right now: open this tab again soon."

STATES = {
    "working": ("⏳", "working"),
    "stopping": ("⏹️", "stopping"),
    "queued": ("📥", "queued"),
    "answered": ("✅", "answered"),
    "failed": ("⚠️", "failed"),
    "expired": ("⌛", "gave up waiting"),
    "stopped": ("⏹️", "stopped"),
    "interrupted": ("↪️", "interrupted"),
    "withdrawn": ("🗑️", "withdrawn"),
    "usage": ("ℹ️", "answered with help"),
    "undeliverable": ("⚠️", "not delivered"),
    "refused": ("🚫", "not allowed"),
    "uninstalled": ("⏹️", "ended"),
}


def home_view(
    *,
    facts: Facts | None,
    keys: KeysShown,
    admin: bool,
    access: AccessPolicy,
    now: float,
    notice: str | None = None,
) -> dict[str, Any]:
    """The whole tab. `facts` None: the database could not be read (the how-to and the keys only)."""
    blocks = how_to()
    if notice:
        blocks.append(context(notice))
    if facts is None:
        blocks.append(context(UNREADABLE))
    if not admin:
        blocks += status_blocks(keys)
    if facts is not None:
        blocks += [divider(), *sessions_blocks(facts.sessions, now)]
        blocks += [divider(), *defaults_blocks(facts.defaults, admin=admin)]
    if admin:
        blocks += [divider(), *admin_blocks(keys)]
        blocks += [divider(), *access_blocks(access)]
        if facts is not None and facts.usage is not None:
            blocks += [divider(), *usage_blocks(facts.usage, facts.budgets)]
    return {"type": "home", "blocks": blocks}


# -- everyone --------------------------------------------------------------------------------------------


def how_to() -> list[dict[str, Any]]:
    agents = ", ".join(f"`/{agent}`" for agent in CORE_AGENTS)
    return [
        header("Blocks coding agents"),
        section(
            "Ask a Blocks coding agent from Slack: mention the bot in a channel it is in, or send it a "
            "direct message. Every reply in that thread continues the same session, and the answer "
            "arrives in the thread."
        ),
        section(
            "*Examples*\n"
            "• `@Blocks why does the nightly build fail?` in a channel: a session with the channel's "
            "default agent\n"
            f"• `@Blocks /codex add a test for the date parser`: the same with another agent ({agents})\n"
            "• `now open a pull request`, replied in that thread: the same session goes on\n"
            "• `/blocks` in a channel: its settings · `/blocks status`: what the agents do there"
        ),
    ]


def sessions_blocks(sessions: Sequence[Session], now: float) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [header("Your recent sessions")]
    if not sessions:
        blocks.append(section("No sessions yet: mention the bot in a channel, or send it a message."))
        return blocks
    for session in sessions:
        blocks += session_blocks(session, now)
    return blocks


def session_blocks(session: Session, now: float) -> list[dict[str, Any]]:
    """One session in one line, its View session button beside it, its pull requests under it."""
    emoji, label = STATES.get(session.state, ("•", session.state))
    where = {"im": "your DM", "mpim": "a group DM"}.get(session.channel_type, f"<#{session.channel_id}>")
    ago = messages.duration(now - session.since)
    when = date(session.since, "{ago}", f"{ago} ago" if ago else "just now")
    line = f"{emoji} *{label}* · {escape(session.agent)} · {where} · {when}"
    link = None
    if session.session_url:
        link = button(f"{ACTION_LINK}_session", "View session", url=session.session_url)
    blocks = [section(line, block_id=f"session_{session.conversation_id}", accessory=link)]
    if session.pull_requests:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"session_prs_{session.conversation_id}",
                "elements": [
                    button(f"{ACTION_LINK}_pr_{index}", pr.label, url=pr.url)
                    for index, pr in enumerate(session.pull_requests[:MAX_SHOWN])
                ],
            }
        )
    return blocks


def defaults_blocks(defaults: Defaults, *, admin: bool) -> list[dict[str, Any]]:
    who = (
        "every member of the channel (`/blocks`)"
        if defaults.members_may_configure
        else "workspace admins and the bot's admins"
    )
    blocks = [
        header("This workspace's defaults"),
        section(f"{workspace_summary(defaults.resolved)}\n• *Who may change a channel's settings*: {who}"),
        context(
            "A channel's own settings (`/blocks` in it) win over these; a running request keeps what it "
            "started with."
        ),
    ]
    if admin:
        blocks.append(
            {
                "type": "actions",
                "block_id": "blocks_defaults",
                "elements": [button(ACTION_DEFAULTS, "Change workspace defaults", style="primary")],
            }
        )
    return blocks


# -- admins ----------------------------------------------------------------------------------------------


def access_blocks(policy: AccessPolicy) -> list[dict[str, Any]]:
    people = "every member"
    if policy.users or policy.usergroups:
        named = _names([f"<@{u}>" for u in sorted(policy.users)], "person", "people")
        groups = _names([f"<!subteam^{g}>" for g in sorted(policy.usergroups)], "user group", "user groups")
        people = "only " + " and members of ".join(part for part in (named, groups) if part)
    channels = "every channel the bot is in"
    if policy.channels:
        channels = "only " + _names([f"<#{c}>" for c in sorted(policy.channels)], "channel", "channels")
    lines = [
        f"• *Guests*: {'may use the agent' if policy.allow_guests else 'may not use the agent'}",
        f"• *Direct messages*: {'answered' if policy.allow_dms else 'turned off'}",
        f"• *Channels*: {channels}",
        f"• *Who may use it*: {people}",
        f"• *Running requests per person*: {_cap(policy.running_per_user)}",
        f"• *Running requests in the workspace*: {_cap(policy.running_per_workspace)}",
        f"• *Requests per person in 24 hours*: {_cap(policy.turns_per_user_per_day)}",
    ]
    return [
        header("Who may use the agent"),
        section("\n".join(lines)),
        context(
            "Set in the deployment's environment (`ALLOW_GUESTS`, `ALLOW_DMS`, `ALLOWED_CHANNELS`, "
            "`ALLOWED_USERS`, `ALLOWED_USERGROUPS`, `MAX_RUNNING_TURNS_PER_USER`, …): whoever runs the bot "
            "changes them there."
        ),
    ]


def usage_blocks(usage: Usage, budgets: Sequence[KeyBudget]) -> list[dict[str, Any]]:
    count = f"{'at least ' if usage.partial else ''}{usage.turns} turn{'s' if usage.turns != 1 else ''}"
    parts = [f"{usage.answered} answered", f"{usage.failed} failed", f"{usage.running} working"]
    if usage.queued:
        parts.append(f"{usage.queued} queued")
    requests = f"{usage.requests} Blocks request{'s' if usage.requests != 1 else ''}"
    # The day is UTC's, for every reader: a date in their own time zone would name another day.
    day = datetime.fromtimestamp(usage.since, UTC).strftime("%b %d").replace(" 0", " ")
    blocks = [
        header("Today"),
        section(f"*Since 00:00 UTC ({day})*: {count} ({', '.join(parts)}) · {requests}"),
    ]
    if not budgets:
        blocks.append(section("*Blocks budget*: no Blocks key, nothing to spend."))
        return blocks
    lines = [
        f"• `{b.label}`: {b.free} of {b.capacity} requests free now, refills {b.per_minute} a minute"
        for b in budgets[:SHOWN_NAMES]
    ]
    if len(budgets) > SHOWN_NAMES:
        lines.append(f"…and {len(budgets) - SHOWN_NAMES} more keys")
    blocks.append(section("*Blocks budget* (each key's, shared by every replica):\n" + "\n".join(lines)))
    return blocks


def _cap(value: int) -> str:
    return str(value) if value else "no cap"


def _names(names: Sequence[str], one: str, many: str) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:SHOWN_NAMES])
    more = f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
    return f"{len(names)} {one if len(names) == 1 else many} ({shown}{more})"
