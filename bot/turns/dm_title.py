"""A DM thread is titled with its Blocks session's title: that is what the person sees in the history of
their DM with the bot (`assistant.threads.setTitle`), instead of the start of their first message.

The title comes with answers the worker gets anyway, never with a request of its own: the create's
response, or, if Blocks had not made one yet, the read of the session for its pull requests once the
answer is in. The first one known is kept (`conversations.title`) and set once: in the transaction that
learns it, `title_state` becomes `setting` and the call is queued in the outbox, which makes it (a crash
mid-call makes it once more, a few tries at most) and records `set`; a Slack that refuses it leaves the
thread as it was (`dropped`), and the workspace is not asked again (`capabilities`). Channel threads,
group DMs included, have no such title.

The title is Blocks' (generated from the request): untrusted text, neutralized like the agent's and cut
to TITLE_LIMIT.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, update

from bot.db.models import Conversation
from bot.slack.neutralize import neutralize_inline
from bot.turns import capabilities, outbox

SETTING, SET, DROPPED = "setting", outbox.TITLE_SET, outbox.TITLE_DROPPED
FEATURE = outbox.FEATURES[outbox.TITLE]
# Slack documents no limit for setTitle; a thread's agent session title takes 200 (agents.sessions), and
# Blocks' own client keeps session titles within 200 too.
TITLE_LIMIT = 200


def shown(title: str | None) -> str | None:
    """The title as the thread shows it: one neutralized line within TITLE_LIMIT (None: nothing left)."""
    if not title:
        return None
    return neutralize_inline(title, TITLE_LIMIT) or None


def untitled_dm(conversation: Conversation) -> bool:
    """A DM thread that has no title yet: the only kind a session's title is for."""
    return conversation.channel_type == "im" and conversation.title_state is None


def learn(conn: Connection, conversation: Conversation, title: str | None, now: float) -> bool:
    """In the caller's transaction: keep the session's title and queue the call that sets it, once per
    conversation (a conditional update: a second learner finds it taken). True when it was queued."""
    text = shown(title) if untitled_dm(conversation) else None
    if text is None:
        return False
    refused = capabilities.refused(conn, conversation.team_id, FEATURE)
    taken = conn.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id, Conversation.title_state.is_(None))
        .values(title=text, title_state=DROPPED if refused else SETTING)
    )
    if taken.rowcount != 1:
        return False
    conversation.title, conversation.title_state = text, DROPPED if refused else SETTING
    if refused:
        return False
    outbox.queue_in_thread(conn, conversation, user_id=None, text=text, now=now, kind=outbox.TITLE)
    return True


def learn_now(engine: Engine, conversation: Conversation, title: str | None, now: float) -> bool:
    """`learn` in a transaction of its own, opened only when the title may be wanted."""
    if not title or not untitled_dm(conversation):
        return False
    with engine.begin() as conn:
        return learn(conn, conversation, title, now)
