"""Edits and deletes of queued replies, end to end over real HTTP: a reply edited before it is sent goes
as it now reads, a deleted one is withdrawn, and once the agent has a message an edit changes nothing
there. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.sim.events import envelope
from bot.sim.slack import BOT_USER_ID, StubMessage
from bot.slack import messages
from bot.turns import states
from bot.turns.changes import WITHDRAWN
from tests.conftest import Rig

MENTION = f"<@{BOT_USER_ID}>"


def edit(rig: Rig, message: StubMessage, text: str, *, by_author: bool = True) -> None:
    """The author edits the message: Slack sends `message_changed` with the message as it now reads
    (`by_author` False: Slack changed it, adding a link preview, and says nothing of an edit)."""
    message.text = text
    now = f"{time.time():.6f}"
    event = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": message.channel,
        "channel_type": "channel",
        "ts": now,
        "event_ts": now,
        "message": {
            "type": "message",
            "user": message.user,
            "text": text,
            "ts": message.ts,
            "thread_ts": message.thread_ts,
            **({"edited": {"user": message.user, "ts": now}} if by_author else {}),
        },
        "previous_message": {"type": "message", "user": message.user, "ts": message.ts, "text": "…"},
    }
    assert rig.sender.send(envelope(event)).status == 200


def delete(rig: Rig, message: StubMessage) -> None:
    now = f"{time.time():.6f}"
    event = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": message.channel,
        "channel_type": "channel",
        "ts": now,
        "event_ts": now,
        "deleted_ts": message.ts,
        "previous_message": {"type": "message", "user": message.user, "ts": message.ts, "text": message.text},
    }
    assert rig.sender.send(envelope(event)).status == 200


def sent(rig: Rig) -> list[str]:
    return [m["message"] for m in rig.blocks.snapshot()["user_messages"]]


def test_a_queued_reply_edited_goes_as_it_now_reads_and_a_deleted_one_is_withdrawn(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} refactor the client #delay=3")
    rig.wait_reaction(question, messages.EYES)
    renamed = rig.say("UBOB", "rename it to foo", thread=question)
    dropped = rig.say("UCAROL", "and delete the old module", thread=question)
    rig.wait_reaction(dropped, messages.INBOX)

    edit(rig, renamed, f"rename it to bar {MENTION}")
    delete(rig, dropped)

    rig.wait_reaction(renamed, messages.DONE)
    rig.settle()
    follow_up = sent(rig)[-1]
    assert "rename it to bar" in follow_up and "foo" not in follow_up and MENTION not in follow_up
    assert "old module" not in follow_up


def test_deleting_every_queued_reply_withdraws_them(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} refactor the client #delay=3")
    rig.wait_reaction(question, messages.EYES)
    only = rig.say("UBOB", "also this", thread=question)
    rig.wait_reaction(only, messages.INBOX)
    rig.wait(lambda: any(m.markdown == messages.QUEUED for m in rig.bot_replies(question)), what="notice")
    delete(rig, only)
    rig.wait_reaction(question)
    rig.settle()
    assert len(sent(rig)) == 1, "nothing more went to Blocks"
    assert [t.outcome for t in rig.turns()] == [states.ANSWERED, WITHDRAWN]
    notice = next(m for m in rig.bot_replies(question) if m.markdown.startswith("📥"))
    assert notice.markdown == messages.QUEUED_WITHDRAWN, "the queued notice says they were deleted"
    assert not [b for b in notice.blocks if b.get("type") == "actions"], "and offers no Send now"


def test_an_edit_after_the_message_went_to_the_agent_changes_nothing_there_and_gets_a_hint(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} explain the retry policy")
    rig.wait_reaction(question)
    edit(rig, question, f"{MENTION} explain the retry policy", by_author=False)  # Slack added a link preview
    edit(rig, question, f"{MENTION} explain the rate limits")
    rig.wait(lambda: rig.slack.calls_to("chat.postEphemeral"), what="the hint")
    rig.settle()
    (hint,) = rig.slack.calls_to("chat.postEphemeral")
    assert hint["params"]["user"] == "UALICE" and hint["params"]["text"] == messages.EDIT_TOO_LATE
    assert hint["params"]["thread_ts"] == question.ts
    assert len(sent(rig)) == 1 and "retry policy" in sent(rig)[0]
    assert "retry policy" in rig.answer_text(question)


def test_a_deleted_queued_reply_delivered_again_late_stays_withdrawn(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} refactor the client #delay=3")
    rig.wait_reaction(question, messages.EYES)
    late = rig.say("UBOB", "also this", thread=question)
    rig.wait_reaction(late, messages.INBOX)
    delete(rig, late)
    # Slack redelivers the message's event (a retry, or the second copy of a pair) after the delete.
    rig.sender.deliver_message(
        channel=late.channel,
        user=late.user,
        text=late.text,
        ts=late.ts,
        thread_ts=late.thread_ts,
        mention=False,
    )
    rig.wait_reaction(question)
    rig.settle()
    assert not any("also this" in m for m in sent(rig)), "withdrawn for good"
