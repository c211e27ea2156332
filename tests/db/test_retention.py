"""Retention: the texts of turns that ended RETENTION_DAYS ago go, their rows stay, turns in flight are
never touched, and one replica at a time purges (see `bot/turns/retention.py`)."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.blocks.budget import Budget, BudgetPolicy
from bot.blocks.client import BlocksClient
from bot.config import Settings
from bot.db.models import Base, InboundMessage, JobLease, OutboxMessage, Turn
from bot.demo import demo_settings
from bot.slack.gateway import SlackGateway
from bot.slack.pacing import SlackPacer, SlackTiers
from bot.turns import intake, outbox, retention, states
from bot.turns.context import Runtime
from bot.turns.intake import InboundEvent, IntakePolicy, SlackFile
from bot.turns.worker import Worker

POLICY = IntakePolicy.of(
    Settings(slack_bot_token="", slack_signing_secret="", blocks_api_key="", busy_policy="queue")
)
DAY = retention.DAY_SECONDS
NOW = 1_000 * DAY
THIRTY_DAYS = 30 * DAY
# Every text of an old turn carries this word, so that a search of the whole database can prove it gone.
OLD = "OLDWORDS"
LIVE = "LIVEWORDS"
_channels = itertools.count()


def mention(engine: Engine, text: str, *, at: float, thread: str | None = None) -> str:
    """A person mentions the bot, in a new channel or in `thread` (a ts this returned); the message's ts."""
    ts = f"{at:.0f}.{next(_channels):06d}"
    event = InboundEvent(
        team_id="T1",
        channel_id=f"C{next(_channels)}" if thread is None else _channel_of(engine, thread),
        channel_type="channel",
        ts=ts,
        thread_ts=thread,
        user_id="U1",
        text=text,
        is_mention=True,
        files=(SlackFile(name=f"{text}.pdf", permalink=f"https://files.example/{text}.pdf"),),
    )
    intake.record(engine, event, POLICY, at)
    return ts


def _channel_of(engine: Engine, ts: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(InboundMessage.channel_id).where(InboundMessage.ts == ts)).scalar_one()
        )


def turn_of(engine: Engine, ts: str) -> int:
    with engine.connect() as conn:
        turn_id = conn.execute(select(InboundMessage.turn_id).where(InboundMessage.ts == ts)).scalar_one()
    assert turn_id is not None
    return int(turn_id)


def set_turn(engine: Engine, turn_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(Turn).where(Turn.id == turn_id).values(**values))


def texts(word: str) -> dict[str, Any]:
    """Everything a turn keeps of what was said, each containing `word`."""
    return {
        "submit_text": f"@alice: {word} please",
        "answer_text": f"the answer to {word}",
        "notice_text": f"Blocks refused: {word}",
        "placeholder_note": f"reading {word}",
        "plan_json": f'[["fix {word}", "doing"]]',
        "last_error": f"BlocksRejected: 400 message {word} is not allowed",
    }


def finished_turn(engine: Engine, *, ended: float, word: str = OLD, **values: Any) -> int:
    """A turn that was answered and delivered, and ended at `ended`."""
    turn_id = turn_of(engine, mention(engine, f"{word} question", at=ended - 60))
    finished = {
        "phase": states.FINISHED,
        "step": states.DONE,
        "outcome": states.ANSWERED,
        "next_run_at": None,
        "finished_at": ended,
        "delivered_at": ended,
        "answer_ready_at": ended - 1,
        "delivered_offset": 42,
        "parts_posted": 1,
        "polls": 3,
        "attempts": 5,
    }
    set_turn(engine, turn_id, **{**finished, **texts(word), **values})
    return turn_id


def row(engine: Engine, turn_id: int) -> Turn:
    with Session(engine) as session:
        turn = session.get_one(Turn, turn_id)
        session.expunge_all()
    return turn


def messages_of(engine: Engine, turn_id: int) -> list[InboundMessage]:
    with Session(engine) as session:
        found = list(session.scalars(select(InboundMessage).where(InboundMessage.turn_id == turn_id)))
        session.expunge_all()
    return found


def database_text(engine: Engine) -> str:
    """Every value of every row of every table, as one string."""
    with engine.connect() as conn:
        return "\n".join(
            repr(tuple(r)) for table in Base.metadata.sorted_tables for r in conn.execute(select(table))
        )


def purge(engine: Engine, now: float = NOW, seconds: float = THIRTY_DAYS, **kwargs: Any) -> int:
    return retention.purge(engine, now, seconds, pause=0.0, **kwargs)


def assert_texts_kept(engine: Engine, turn_id: int, word: str) -> None:
    turn = row(engine, turn_id)
    assert turn.texts_purged_at is None
    assert (turn.submit_text, turn.answer_text, turn.last_error) == (
        texts(word)["submit_text"],
        texts(word)["answer_text"],
        texts(word)["last_error"],
    )
    messages = messages_of(engine, turn_id)
    assert messages and all(word in m.text and word in m.files_json for m in messages)


def test_old_finished_turns_lose_every_text_and_keep_their_rows(engine: Engine) -> None:
    ended = NOW - THIRTY_DAYS - 1
    # A thread whose first turn ran while two replies queued up: the second turn carries both.
    thread = mention(engine, f"{OLD} first", at=ended - 120)
    first = turn_of(engine, thread)
    second = turn_of(engine, mention(engine, f"{OLD} reply", at=ended - 110, thread=thread))
    mention(engine, f"{OLD} another reply", at=ended - 100, thread=thread)
    done = {"phase": states.FINISHED, "step": states.DONE, "next_run_at": None, **texts(OLD)}
    set_turn(engine, first, **done, outcome=states.INTERRUPTED, finished_at=ended - 90, delivered_offset=7)
    set_turn(engine, second, **done, outcome=states.ANSWERED, finished_at=ended, delivered_offset=42)
    before = row(engine, first)
    assert OLD in database_text(engine)

    assert purge(engine) == 2 + 1 + 2  # two turns, and one message and two

    assert OLD not in database_text(engine), "no text of an old turn is left anywhere"
    after = row(engine, first)
    cleared = (
        after.submit_text,
        after.answer_text,
        after.notice_text,
        after.placeholder_note,
        after.plan_json,
    )
    assert cleared == (None,) * 5
    assert after.last_error == "BlocksRejected", "the kind of failure stays, not its message"
    assert after.texts_purged_at == pytest.approx(NOW, abs=5)
    changed = {"submit_text", "answer_text", "notice_text", "placeholder_note", "plan_json", "last_error"}
    changed.add("texts_purged_at")
    kept = [column.name for column in Turn.__table__.columns if column.name not in changed]
    assert {k: getattr(after, k) for k in kept} == {k: getattr(before, k) for k in kept}
    assert (row(engine, second).outcome, row(engine, second).delivered_offset) == (states.ANSWERED, 42)
    assert len(messages_of(engine, first)) == 1 and len(messages_of(engine, second)) == 2
    for message in messages_of(engine, first) + messages_of(engine, second):
        assert (message.text, message.files_json) == ("", "[]")
        assert message.user_id == "U1" and message.received_at > 0 and message.ts


def test_a_purged_message_is_still_recognized_as_a_duplicate(engine: Engine) -> None:
    turn_id = finished_turn(engine, ended=NOW - THIRTY_DAYS - 1)
    message = messages_of(engine, turn_id)[0]
    purge(engine)
    event = InboundEvent(
        team_id=message.team_id,
        channel_id=message.channel_id,
        channel_type="channel",
        ts=message.ts,
        thread_ts=None,
        user_id="U1",
        text="redelivered",
        is_mention=True,
    )
    assert intake.record(engine, event, POLICY, NOW) == intake.Recorded.DUPLICATE


def test_turns_in_flight_are_untouched_however_old(engine: Engine) -> None:
    long_ago = NOW - 100 * DAY
    # Active (its first steps due), with a reply waiting behind it in the same thread.
    thread = mention(engine, f"{LIVE} first", at=long_ago)
    active = turn_of(engine, thread)
    waiting = turn_of(engine, mention(engine, f"{LIVE} reply", at=long_ago, thread=thread))
    set_turn(engine, active, **texts(LIVE))
    set_turn(engine, waiting, **texts(LIVE))
    # Finished, but its thread is still owed the interrupted note.
    closing = finished_turn(engine, ended=long_ago, word=LIVE, step=states.CLOSE, next_run_at=long_ago)
    # Finished and done, yet a worker holds its lease (it is writing the turn's last values).
    leased = finished_turn(engine, ended=long_ago, word=LIVE, lease_token="t", lease_until=NOW + 60)
    old = finished_turn(engine, ended=long_ago)
    assert row(engine, waiting).phase == states.WAITING and row(engine, active).phase == states.ACTIVE

    assert purge(engine) == 2  # the one old finished turn, and its message

    for turn_id in (active, waiting, closing, leased):
        assert_texts_kept(engine, turn_id, LIVE)
    assert row(engine, old).texts_purged_at is not None


def test_recent_finished_turns_keep_their_texts(engine: Engine) -> None:
    recent = finished_turn(engine, ended=NOW - THIRTY_DAYS + 60, word=LIVE)
    old = finished_turn(engine, ended=NOW - THIRTY_DAYS - 60)
    assert purge(engine) == 2
    assert_texts_kept(engine, recent, LIVE)
    assert row(engine, old).answer_text is None


def test_an_old_message_of_no_turn_is_cleared_too(engine: Engine) -> None:
    live = finished_turn(engine, ended=NOW - DAY, word=LIVE)
    conversation_id = messages_of(engine, live)[0].conversation_id
    with engine.begin() as conn:
        for ts, received_at, word in (("1.1", NOW - 31 * DAY, OLD), ("1.2", NOW - 29 * DAY, LIVE)):
            values = {"team_id": "T1", "channel_id": "C-orphan", "ts": ts, "conversation_id": conversation_id}
            values |= {"user_id": "U1", "text": word, "files_json": f'["{word}"]', "received_at": received_at}
            conn.execute(insert(InboundMessage).values(turn_id=None, **values))
    assert purge(engine) == 1
    assert OLD not in database_text(engine)
    with engine.connect() as conn:
        texts_left = conn.execute(
            select(InboundMessage.text).where(InboundMessage.turn_id.is_(None))
        ).scalars()
        assert sorted(texts_left) == ["", LIVE]


def test_outbox_messages_older_than_the_cutoff_are_deleted(engine: Engine) -> None:
    def queued(created_at: float, text: str, *, sent: bool, attempts: int = 1) -> None:
        with engine.begin() as conn:
            outbox.queue(
                conn,
                team_id="T1",
                enterprise_id=None,
                channel_id="C1",
                thread_ts=None,
                user_id="U1",
                text=text,
                now=created_at,
            )
            conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.text == text)
                .values(sent_at=created_at if sent else None, attempts=attempts)
            )

    queued(NOW - 31 * DAY, "old and sent", sent=True)
    queued(NOW - 31 * DAY, "old and given up", sent=False, attempts=outbox.MAX_ATTEMPTS)
    queued(NOW - 31 * DAY, "old, still to try", sent=False)
    queued(NOW - 29 * DAY, "recent and sent", sent=True)
    assert purge(engine) == 3
    with engine.connect() as conn:
        left = sorted(conn.execute(select(OutboxMessage.text)).scalars())
    assert left == ["recent and sent"]


def test_a_second_purge_finds_nothing_and_zero_seconds_keeps_everything(engine: Engine) -> None:
    old = finished_turn(engine, ended=NOW - 400 * DAY)
    assert purge(engine, seconds=0) == 0
    assert_texts_kept(engine, old, OLD)
    assert purge(engine) == 2
    assert purge(engine) == 0


def test_more_turns_than_a_batch_are_purged_batch_by_batch_oldest_first(engine: Engine) -> None:
    ended = [NOW - THIRTY_DAYS - 1000 + i for i in range(25)]
    ids = [finished_turn(engine, ended=at) for at in ended]

    batches: list[int] = []

    def count_batch() -> bool:
        with engine.connect() as conn:
            batches.append(len(conn.execute(select(Turn.id).where(Turn.texts_purged_at.is_not(None))).all()))
        return True

    assert purge(engine, batch=10, keep_going=count_batch) == 2 * 25
    assert batches == [10, 20], "three batches; after the last (short) one, nothing was left to ask about"
    assert all(row(engine, turn_id).texts_purged_at is not None for turn_id in ids)

    more = [finished_turn(engine, ended=at) for at in ended]
    assert purge(engine, batch=10, keep_going=lambda: False) == 2 * 10, "one batch, then stopped"
    assert [row(engine, i).texts_purged_at is not None for i in more] == [True] * 10 + [False] * 15


def test_one_replica_at_a_time_and_an_expired_lease_is_taken_over(engine: Engine) -> None:
    old = finished_turn(engine, ended=NOW - 40 * DAY)
    with engine.begin() as conn:
        assert retention.hold(conn, "replica-a", NOW, 120.0)
    assert purge(engine, holder="replica-b") == 0, "replica-a holds the lease"
    assert_texts_kept(engine, old, OLD)

    # replica-a died holding it: once the lease expires, another replica takes over.
    assert purge(engine, now=NOW + 121, holder="replica-b") == 2
    assert row(engine, old).texts_purged_at is not None
    with engine.connect() as conn:
        lease = conn.execute(select(JobLease)).one()
    assert (lease.name, lease.holder) == (retention.LEASE_NAME, None), "released when done"
    with engine.begin() as conn:
        assert retention.hold(conn, "replica-c", NOW + 122, 120.0), "free at once for the next run"


def test_a_replica_finds_the_lease_held_while_another_is_between_batches(engine: Engine) -> None:
    for i in range(5):
        finished_turn(engine, ended=NOW - 40 * DAY + i)
    second: list[int] = []

    def meanwhile() -> bool:
        second.append(purge(engine, holder="replica-b", batch=2))
        return True

    assert purge(engine, holder="replica-a", batch=2, keep_going=meanwhile) == 2 * 5
    assert second == [0, 0], "replica-b never purged while replica-a ran"


def test_a_replica_whose_lease_was_taken_over_stops_at_its_next_batch(engine: Engine) -> None:
    for i in range(5):
        finished_turn(engine, ended=NOW - 40 * DAY + i)

    def taken_over() -> bool:
        with engine.begin() as conn:  # replica-a stalled past its lease; replica-b took it
            conn.execute(update(JobLease).values(holder="replica-b", held_until=NOW + 10_000))
        return True

    assert purge(engine, holder="replica-a", batch=2, keep_going=taken_over) == 2 * 2
    with engine.connect() as conn:
        assert conn.execute(select(JobLease.holder)).scalar_one() == "replica-b", "left to its holder"


def test_concurrent_purgers_clear_each_turn_once(engine: Engine) -> None:
    ids = [finished_turn(engine, ended=NOW - 40 * DAY + i) for i in range(30)]
    counts: list[int] = []
    lock = threading.Lock()

    def replica(name: str) -> None:
        cleared = purge(engine, holder=name, batch=3)
        with lock:
            counts.append(cleared)

    threads = [threading.Thread(target=replica, args=(f"replica-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 2 * 30
    assert all(row(engine, turn_id).texts_purged_at is not None for turn_id in ids)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (None, None),
        ("SlackUnreachable: chat.postMessage: not_in_channel", "SlackUnreachable"),
        ("BlocksRejected; RuntimeError: boom", "BlocksRejected"),
        ("Timeout", "Timeout"),
        ("gateway said: the message 'my secret' is too long", "error"),
        ("", "error"),
    ],
)
def test_only_the_class_name_of_an_error_survives(error: str | None, kind: str | None) -> None:
    assert retention.error_kind(error) == kind


# --- the worker runs it --------------------------------------------------------------------------


@pytest.fixture
def make_worker(engine: Engine, database_url: str) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def build(clock: Callable[[], float] = time.time, **overrides: Any) -> Worker:
        settings = replace(
            demo_settings(
                blocks_url="http://127.0.0.1:9", slack_url="http://127.0.0.1:9", database_url=database_url
            ),
            **overrides,
        )
        client = WebClient(token="xoxb-retention", base_url="http://127.0.0.1:9/api/")
        pacer = SlackPacer(
            engine,
            bot_token="xoxb-retention",
            tiers=SlackTiers(tier3_per_minute=6000, posts_per_minute_per_channel=6000),
        )
        rt = Runtime(
            settings=settings,
            engine=engine,
            blocks=BlocksClient(api_url="http://127.0.0.1:9", api_key="k"),
            slack=SlackGateway(client, pacer=pacer),
            budget=Budget(api_key="k", policy=BudgetPolicy.for_limit(6000, 0.1)),
            clock=clock,
        )
        worker = Worker(rt, threads=0)  # no turn workers: only the background threads
        started.append(worker)
        return worker

    yield build
    for worker in started:
        worker.stop()


def test_the_worker_purges_in_the_background_and_logs_the_count(
    engine: Engine, make_worker: Callable[..., Worker], caplog: pytest.LogCaptureFixture
) -> None:
    now = time.time()
    old = finished_turn(engine, ended=now - 31 * DAY)
    recent = finished_turn(engine, ended=now - 29 * DAY, word=LIVE)
    # Time runs 6000 times faster: the first purge comes after 10 ms, then every 50 ms.
    worker = make_worker(time_scale=6000.0)
    caplog.set_level(logging.INFO, logger="bot.turns.worker")
    worker.start()
    assert "retention" in [thread.name for thread in worker._pool]
    deadline = time.monotonic() + 10
    while row(engine, old).texts_purged_at is None:
        assert time.monotonic() < deadline, "the worker did not purge"
        time.sleep(0.02)
    worker.stop()
    assert_texts_kept(engine, recent, LIVE)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retention:")]
    assert len(lines) == 1 and "2 rows" in lines[0] and "30 days" in lines[0], lines


def test_the_worker_counts_fractional_days(engine: Engine, make_worker: Callable[..., Worker]) -> None:
    older = finished_turn(engine, ended=NOW - 13 * 3600)
    younger = finished_turn(engine, ended=NOW - 11 * 3600, word=LIVE)
    worker = make_worker(clock=lambda: NOW, retention_days=0.5)
    assert worker.purge_texts() == 2
    assert row(engine, older).texts_purged_at is not None
    assert_texts_kept(engine, younger, LIVE)


def test_zero_days_keeps_everything_and_starts_no_purge(
    engine: Engine, make_worker: Callable[..., Worker]
) -> None:
    old = finished_turn(engine, ended=NOW - 3650 * DAY)
    worker = make_worker(clock=lambda: NOW, retention_days=0.0, time_scale=6000.0)
    worker.start()
    assert "retention" not in [thread.name for thread in worker._pool]
    assert worker.purge_texts() == 0
    assert_texts_kept(engine, old, OLD)


def test_a_failed_purge_is_logged_and_the_next_run_tries_again(
    engine: Engine,
    make_worker: Callable[..., Worker],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = finished_turn(engine, ended=NOW - 40 * DAY)
    worker = make_worker(clock=lambda: NOW)
    real = retention.purge
    away = OperationalError("UPDATE job_leases", {}, Exception("database is locked"))
    failures = iter([away, KeyError("bug")])

    def failing(*args: Any, **kwargs: Any) -> int:
        raise next(failures)

    monkeypatch.setattr(retention, "purge", failing)
    assert worker.purge_texts() == 0
    assert worker.purge_texts() == 0
    messages = [r.getMessage() for r in caplog.records]
    assert "worker: cannot use the database; retrying" in messages
    assert "worker: the retention purge failed" in messages
    monkeypatch.setattr(retention, "purge", real)
    assert worker.purge_texts() == 2
    assert row(engine, old).texts_purged_at is not None
    assert any("the retention purge works again" in r.getMessage() for r in caplog.records)
