"""`/blocks status`: the running and queued turns of one channel, for the person who asked."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from bot.db.models import Conversation, InboundMessage, Turn
from bot.slack import messages as text
from bot.turns import states

SHOWN = 15  # a channel with more shows the oldest and a count of the rest


@dataclass(frozen=True)
class OpenTurn:
    requested_by: str
    agent: str
    phase: str  # active | waiting
    since: float
    session_url: str | None
    queued: int  # replies waiting behind it (waiting turns)
    stopping: bool


def open_turns(conn: Connection, team_id: str, channel_id: str) -> list[OpenTurn]:
    queued = (
        select(func.count())
        .where(InboundMessage.turn_id == Turn.id)  # a withdrawn reply no longer belongs to the turn
        .correlate(Turn)
        .scalar_subquery()
    )
    rows = conn.execute(
        select(
            Turn.requested_by,
            Conversation.agent,
            Turn.phase,
            Turn.requested_at,
            Conversation.session_url,
            queued,
            Turn.stop_state,
        )
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .where(
            Conversation.team_id == team_id,
            Conversation.channel_id == channel_id,
            Turn.phase.in_((states.ACTIVE, states.WAITING)),
        )
        .order_by(Turn.requested_at)
    ).all()
    return [
        OpenTurn(row[0], row[1], row[2], row[3], row[4], int(row[5] or 0), row[6] is not None) for row in rows
    ]


def status_text(channel_id: str, turns: list[OpenTurn], now: float) -> str:
    running = [t for t in turns if t.phase == states.ACTIVE]
    waiting = [t for t in turns if t.phase == states.WAITING]
    if not turns:
        return f"Nothing is running in <#{channel_id}>: mention the bot to start."
    lines = [f"*In <#{channel_id}>:* {len(running)} running, {len(waiting)} queued"]
    for turn in turns[:SHOWN]:
        age = text.duration(now - turn.since) or "under a minute"
        what = (
            ("stopping" if turn.stopping else "working")
            if turn.phase == states.ACTIVE
            else f"{turn.queued} repl{'y' if turn.queued == 1 else 'ies'} queued"
        )
        link = f" · <{turn.session_url}|View session>" if turn.session_url else ""
        lines.append(f"• <@{turn.requested_by}> · {turn.agent} · {what} · {age}{link}")
    if len(turns) > SHOWN:
        lines.append(f"…and {len(turns) - SHOWN} more.")
    return "\n".join(lines)
