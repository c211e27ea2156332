"""What a step works with: its dependencies (`Runtime`) and a fresh read of its turn (`TurnView`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.blocks.budget import Budget
from bot.blocks.client import BlocksClient
from bot.config import Settings
from bot.db.models import Conversation, InboundMessage, Turn
from bot.preferences import apply
from bot.slack import controls
from bot.slack import messages as text
from bot.slack.gateway import SlackGateway
from bot.tenancy import NOT_CONNECTED, Tenancy
from bot.turns import states


@dataclass
class Runtime:
    """What steps work with. The worker holds the deployment's (with its `tenancy`); each step gets the
    one of its turn (`for_turn`): its workspace's Slack client, its session's Blocks key and budget."""

    settings: Settings
    engine: Engine
    blocks: BlocksClient
    slack: SlackGateway
    budget: Budget
    clock: Callable[[], float] = field(default=time.time)
    tenancy: Tenancy | None = None

    def for_turn(self, view: TurnView, key_hash: str | None = None) -> Runtime:
        """The runtime of `view`'s turn. `key_hash`: the key that paid for the step being claimed (a new
        session's); a session's own key always wins. Its settings carry the channel's choices the turn
        was opened with (`bot.preferences.apply`)."""
        settings = apply.turn_settings(self.settings, view.turn.preferences_json)
        if self.tenancy is None:
            return self if settings is self.settings else replace(self, settings=settings)
        conversation = view.conversation
        slack = self.tenancy.slack(conversation.team_id, conversation.enterprise_id) or self.slack
        wanted = conversation.blocks_key_hash or key_hash
        account = self.tenancy.account(wanted) if wanted else None
        if account is None:
            # Not known yet in this process (the workspace's keys load with `accounts`), or gone: then the
            # session continues on the workspace's keys.
            usable = self.tenancy.accounts(conversation.team_id, conversation.enterprise_id)
            account = (self.tenancy.account(wanted) if wanted else None) or (usable[0] if usable else None)
        if account is None:
            return replace(self, settings=settings, slack=slack, blocks=NOT_CONNECTED)
        return replace(self, settings=settings, slack=slack, blocks=account.client, budget=account.budget)


@dataclass
class TurnView:
    """Detached copies of the rows a step reads; steps write through their lease, never through these."""

    turn: Turn
    conversation: Conversation
    messages: list[InboundMessage]

    @property
    def channel(self) -> str:
        return self.conversation.channel_id

    @property
    def thread_ts(self) -> str:
        return self.conversation.thread_ts

    @property
    def is_private_place(self) -> bool:
        return self.conversation.channel_type in ("im", "mpim", "group")

    def notes(self, settings: Settings) -> list[str]:
        """Lines the placeholder always carries for this turn."""
        notes = []
        if any(m.files_json not in ("", "[]") for m in self.messages):
            notes.append(text.FILES_NOT_FORWARDED)
        if self.session_is_private(settings) and self.conversation.session_url:
            notes.append(text.PRIVATE_SESSION)
        return notes

    def session_is_private(self, settings: Settings) -> bool:
        return settings.private_sessions and self.is_private_place

    def placeholder(self, settings: Settings, progress: str | None = None) -> str:
        turn, conversation = self.turn, self.conversation
        if turn.stop_state == states.STOPPING:  # turns/stop.py: the agent is asked where it left things
            stopper = turn.stop_requested_by or turn.requested_by
            return text.stopping(conversation.agent, stopper, conversation.session_url)
        notes = self.notes(settings)
        if turn.deadline_notified:
            minutes = round(settings.turn_deadline_seconds / 60)
            return text.still_working(conversation.agent, minutes, conversation.session_url, notes)
        return text.working(conversation.agent, conversation.session_url, notes, progress)

    def controls(self) -> list[dict[str, Any]]:
        """The buttons under the placeholder: Stop, while the turn runs and nobody has stopped it."""
        turn = self.turn
        if turn.phase != states.ACTIVE or turn.stop_state is not None:
            return []
        return [controls.running(turn.id)]


def load(engine: Engine, turn_id: int) -> TurnView:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        turn = session.get_one(Turn, turn_id)
        conversation = session.get_one(Conversation, turn.conversation_id)
        found = session.scalars(
            select(InboundMessage).where(InboundMessage.turn_id == turn_id).order_by(InboundMessage.ts)
        ).all()
        session.expunge_all()
    return TurnView(turn=turn, conversation=conversation, messages=list(found))
