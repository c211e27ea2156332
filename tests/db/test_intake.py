from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, select, update

from bot.config import Settings
from bot.db.models import Conversation, InboundMessage, Turn
from bot.turns import intake, states
from bot.turns.intake import InboundEvent, IntakePolicy, Recorded, parse_agent

QUEUE = IntakePolicy.of(
    Settings(slack_bot_token="", slack_signing_secret="", blocks_api_key="", busy_policy="queue")
)
INTERRUPT = IntakePolicy.of(
    Settings(slack_bot_token="", slack_signing_secret="", blocks_api_key="", busy_policy="interrupt")
)


def event(
    ts: str,
    *,
    thread_ts: str | None = None,
    text: str = "hi",
    mention: bool = True,
    channel: str = "C1",
    channel_type: str = "channel",
    user: str = "U1",
) -> InboundEvent:
    return InboundEvent(
        team_id="T1",
        channel_id=channel,
        channel_type=channel_type,
        ts=ts,
        thread_ts=thread_ts,
        user_id=user,
        text=text,
        is_mention=mention,
    )


def count(engine: Engine, model: type, **where: object) -> int:
    query = select(func.count()).select_from(model)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@pytest.mark.parametrize(
    ("text", "agent", "rest"),
    [
        ("/codex fix it", "codex", "fix it"),
        ("/GEMINI  go", "gemini", "go"),
        ("/review-pr 42", "claude", "/review-pr 42"),
        ("plain", "claude", "plain"),
    ],
)
def test_parse_agent(text: str, agent: str, rest: str) -> None:
    assert parse_agent(text, "claude") == (agent, rest)


def test_a_mention_opens_a_conversation_and_a_turn(engine: Engine) -> None:
    assert intake.record(engine, event("1.1", text="/codex go"), QUEUE, 100.0) is Recorded.NEW_TURN
    with engine.connect() as conn:
        conversation = conn.execute(select(Conversation)).one()
        turn = conn.execute(select(Turn)).one()
        message = conn.execute(select(InboundMessage)).one()
    assert conversation.agent == "codex" and conversation.thread_ts == "1.1"
    assert turn.phase == states.ACTIVE and turn.step == states.START and turn.next_run_at == 100.0
    assert message.text == "go" and message.turn_id == turn.id


def test_the_same_message_twice_is_a_duplicate(engine: Engine) -> None:
    intake.record(engine, event("1.1"), QUEUE, 100.0)
    assert intake.record(engine, event("1.1"), QUEUE, 101.0) is Recorded.DUPLICATE
    assert count(engine, InboundMessage) == 1 and count(engine, Turn) == 1


def test_replies_while_busy_wait_in_one_waiting_turn(engine: Engine) -> None:
    intake.record(engine, event("1.1"), QUEUE, 100.0)
    assert (
        intake.record(engine, event("1.2", thread_ts="1.1", mention=False), QUEUE, 101.0) is Recorded.QUEUED
    )
    assert (
        intake.record(engine, event("1.3", thread_ts="1.1", mention=False), QUEUE, 102.0) is Recorded.QUEUED
    )
    assert count(engine, Turn, phase=states.WAITING) == 1
    assert count(engine, InboundMessage, queued=True) == 2


def test_finishing_the_active_turn_promotes_the_waiting_one(engine: Engine) -> None:
    intake.record(engine, event("1.1"), QUEUE, 100.0)
    intake.record(engine, event("1.2", thread_ts="1.1", mention=False), QUEUE, 101.0)
    with engine.begin() as conn:
        conn.execute(update(Turn).where(Turn.phase == states.ACTIVE).values(phase=states.FINISHED))
        assert intake.promote_waiting(conn, 1, 105.0)
    with engine.connect() as conn:
        turn = conn.execute(select(Turn).where(Turn.phase == states.ACTIVE)).one()
    assert turn.step == states.START and turn.next_run_at == 105.0


def test_interrupt_policy_replaces_a_polled_turn(engine: Engine) -> None:
    intake.record(engine, event("1.1"), INTERRUPT, 100.0)
    with engine.begin() as conn:
        conn.execute(update(Turn).values(step=states.POLL, lease_token="held"))
    assert intake.record(engine, event("1.2", thread_ts="1.1", mention=False), INTERRUPT, 101.0) is (
        Recorded.INTERRUPTING
    )
    with engine.connect() as conn:
        old, new = conn.execute(select(Turn).order_by(Turn.id)).all()
    assert old.outcome == states.INTERRUPTED and old.step == states.CLOSE and old.lease_token is None
    assert new.phase == states.ACTIVE


def test_an_interrupt_leaves_a_turn_whose_answer_has_just_been_stored(engine: Engine) -> None:
    """The poll that stores the answer moves the turn to deliver without the conversation lock: an
    interrupt decided a moment before must not end it (its answer is delivered; the reply goes next)."""
    intake.record(engine, event("1.1"), INTERRUPT, 100.0)
    with engine.begin() as conn:
        conn.execute(update(Turn).values(step=states.DELIVER, outcome=states.ANSWERED))
        (turn_id,) = conn.execute(select(Turn.id)).one()
        assert intake.interrupt(conn, turn_id, 101.0) is False
    with engine.connect() as conn:
        assert conn.execute(select(Turn.phase, Turn.step)).one() == (states.ACTIVE, states.DELIVER)


def test_interrupt_policy_still_queues_before_blocks_has_the_turn(engine: Engine) -> None:
    intake.record(engine, event("1.1"), INTERRUPT, 100.0)
    assert intake.record(engine, event("1.2", thread_ts="1.1", mention=False), INTERRUPT, 101.0) is (
        Recorded.QUEUED
    )


def test_replies_in_threads_without_the_bot_are_not_recorded(engine: Engine) -> None:
    assert intake.record(engine, event("1.2", thread_ts="1.1", mention=False), QUEUE, 100.0) is (
        Recorded.NOT_FOR_US
    )
    assert count(engine, InboundMessage) == 0


def test_a_mention_mid_thread_starts_a_conversation_that_joins_it(engine: Engine) -> None:
    intake.record(engine, event("1.5", thread_ts="1.1"), QUEUE, 100.0)
    with engine.connect() as conn:
        conversation = conn.execute(select(Conversation)).one()
    assert conversation.thread_ts == "1.1" and conversation.joins_existing_thread


def test_concurrent_deliveries_open_exactly_one_turn(engine: Engine) -> None:
    """Many threads (as many Slack deliveries at once) record into one new thread."""
    results: list[Recorded] = []
    barrier = threading.Barrier(8)

    def deliver(i: int) -> None:
        barrier.wait()
        # i == 0: the top-level mention; the others are its retries and the first replies.
        e = event("1.1") if i % 2 == 0 else event(f"1.{i + 1}", thread_ts="1.1", mention=True)
        results.append(intake.record(engine, e, QUEUE, 100.0 + i))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert count(engine, Conversation) == 1
    assert count(engine, Turn, phase=states.ACTIVE) == 1
    assert count(engine, Turn, phase=states.WAITING) <= 1
    assert count(engine, InboundMessage) == 5
    assert results.count(Recorded.NEW_TURN) == 1
