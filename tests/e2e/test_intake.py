"""Slack's side of intake over real HTTP: signatures, retries, duplicates, ignored events, durability."""

from __future__ import annotations

import time

from sqlalchemy import func, select, text

from bot.db.models import InboundMessage
from bot.sim.events import envelope, message_event
from bot.sim.slack import BOT_USER_ID
from tests.conftest import CHANNEL, Rig

MENTION = f"<@{BOT_USER_ID}>"


def _recorded(rig: Rig) -> int:
    with rig.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(InboundMessage)).scalar_one())


def test_the_same_message_via_mention_message_and_retries_is_answered_once(rig: Rig) -> None:
    message = rig.slack.human_message(CHANNEL, "UALICE", f"{MENTION} deploy it")
    mention = envelope(
        message_event(channel=CHANNEL, user="UALICE", text=message.text, ts=message.ts, kind="app_mention")
    )
    plain = envelope(message_event(channel=CHANNEL, user="UALICE", text=message.text, ts=message.ts))
    for payload, retry in ((mention, None), (plain, None), (mention, 1), (plain, 2), (mention, 3)):
        delivery = rig.sender.send(payload, retry_num=retry)
        assert delivery.status == 200, "retries are processed like any delivery, and acknowledged"
    rig.wait_reaction(message)
    rig.settle()
    assert _recorded(rig) == 1
    assert len(rig.blocks.snapshot()["sessions"]) == 1
    assert len(rig.bot_replies(message)) == 1
    assert len(rig.slack.calls_to("chat.postMessage")) == 1


def test_forged_and_stale_signatures_are_refused(rig: Rig) -> None:
    payload = envelope(
        message_event(channel=CHANNEL, user="UALICE", text=f"{MENTION} hi", ts="1.000001", kind="app_mention")
    )
    assert rig.sender.send(payload, forge=True).status == 401
    assert rig.sender.send(payload, timestamp=int(time.time()) - 600).status == 401
    assert _recorded(rig) == 0


def test_events_not_for_the_agent_are_acknowledged_and_dropped(rig: Rig) -> None:
    question = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(question)
    ignored = [
        message_event(
            channel=CHANNEL,
            user="UALICE",
            text="edited",
            ts="2.000001",
            subtype="message_changed",
            message={"type": "message", "user": "UALICE", "text": "edited", "ts": question.ts},
        ),
        message_event(
            channel=CHANNEL,
            user="UALICE",
            text="",
            ts="2.000002",
            subtype="message_deleted",
            thread_ts=question.ts,
        ),
        message_event(
            channel=CHANNEL, user="UBOB", text="<@UBOB> has joined", ts="2.000003", subtype="channel_join"
        ),
        message_event(
            channel=CHANNEL,
            user="UOTHERBOT",
            text="beep",
            ts="2.000004",
            thread_ts=question.ts,
            bot_id="B0OTHER",
        ),
        message_event(
            channel=CHANNEL, user=BOT_USER_ID, text="my own words", ts="2.000005", thread_ts=question.ts
        ),
        {
            "type": "reaction_added",
            "user": "UALICE",
            "reaction": "tada",
            "item": {"type": "message", "channel": CHANNEL, "ts": question.ts},
            "event_ts": "2.000006",
        },
        {"type": "app_home_opened", "user": "UALICE", "channel": "D0ALICE", "tab": "messages"},
        {"type": "some_future_event", "event_ts": "2.000007"},
    ]
    for event in ignored:
        delivery = rig.sender.send(envelope(event))
        assert delivery.status == 200, (event["type"], delivery.body)
    rig.settle()
    assert _recorded(rig) == 1
    assert len(rig.blocks.snapshot()["user_messages"]) == 1


def test_url_verification_and_health(rig: Rig) -> None:
    challenge = rig.sender.send({"type": "url_verification", "challenge": "abc123", "token": "x"})
    assert challenge.status == 200 and "abc123" in challenge.body
    import httpx

    health = httpx.get(f"http://127.0.0.1:{rig.service.port}/healthz")
    assert health.status_code == 200
    assert health.json() == {"ok": True, "blocks_backlog": {"waiting": 0, "longest_wait_seconds": 0.0}}
    assert httpx.get(f"http://127.0.0.1:{rig.service.port}/nope").status_code == 404


def test_a_database_failure_answers_500_so_slack_retries(rig: Rig) -> None:
    with rig.engine.begin() as conn:
        conn.execute(text("ALTER TABLE inbound_messages RENAME TO inbound_messages_away"))
    message = rig.slack.human_message(CHANNEL, "UALICE", f"{MENTION} are you there?")
    payload = envelope(
        message_event(channel=CHANNEL, user="UALICE", text=message.text, ts=message.ts, kind="app_mention")
    )
    assert rig.sender.send(payload).status == 500
    with rig.engine.begin() as conn:
        conn.execute(text("ALTER TABLE inbound_messages_away RENAME TO inbound_messages"))
    assert rig.sender.send(payload, retry_num=1).status == 200, "Slack's retry succeeds: nothing was lost"
    rig.wait_reaction(message)


def test_two_replies_arriving_together_while_busy_make_one_follow_up(rig: Rig) -> None:
    question = rig.say("UALICE", f"{MENTION} start #delay=2")
    rig.wait_reaction(question, "eyes")
    import threading

    replies = [
        rig.slack.human_message(CHANNEL, user, f"reply from {user}", question.ts)
        for user in ("UBOB", "UCAROL")
    ]
    threads = [
        threading.Thread(
            target=rig.sender.deliver_message,
            kwargs={
                "channel": CHANNEL,
                "user": r.user,
                "text": r.text,
                "ts": r.ts,
                "thread_ts": question.ts,
                "mention": False,
            },
        )
        for r in replies
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for reply in replies:
        rig.wait_reaction(reply)
    rig.settle()
    sent = [m["message"] for m in rig.blocks.snapshot()["user_messages"]]
    assert len(sent) == 2, "both replies went out as one follow-up"
    assert "reply from UBOB" in sent[1] and "reply from UCAROL" in sent[1]
