"""The App Home refresh rows against the database (SQLite and PostgreSQL), with a clock of our own: a
change marks a person's tab due, one claim at a time publishes it, never within 5 seconds of the last
publish (the listener's included), a mark made while it was drawn publishes again, a refused publish is
tried again a few times and then dropped until the next change, and a finished turn marks its requester
and whoever's turn it let go."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, insert, select

from bot.db.models import Conversation, HomeRefresh, Turn
from bot.turns import home_refresh, states
from bot.turns.home_refresh import MAX_ATTEMPTS, PUBLISH_EVERY_SECONDS, Due, Outcome
from bot.turns.intake import new_turn_values

NOW = 1_000_000.0
TEAM = "T1"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def mark(engine: Engine, user: str, now: float) -> None:
    with engine.begin() as conn:
        home_refresh.mark_due(conn, team_id=TEAM, enterprise_id=None, user_id=user, now=now)


def row(engine: Engine, user: str) -> dict[str, object]:
    with engine.connect() as conn:
        found = conn.execute(select(HomeRefresh.__table__).where(HomeRefresh.user_id == user)).one()
    return dict(found._mapping)


def publisher(results: list[Outcome], seen: list[Due]) -> Callable[[Due], Outcome]:
    def publish(due: Due) -> Outcome:
        seen.append(due)
        return results.pop(0) if results else Outcome.PUBLISHED

    return publish


def test_a_mark_is_published_once_and_the_next_waits_slacks_interval(engine: Engine) -> None:
    clock, seen = Clock(), list[Due]()
    mark(engine, "U1", NOW)
    assert home_refresh.refresh_next(engine, publisher([], seen), clock)
    assert [d.user_id for d in seen] == ["U1"]
    assert not home_refresh.refresh_next(engine, publisher([], seen), clock), "nothing due any more"

    clock.now += 1
    mark(engine, "U1", clock.now)
    assert not home_refresh.refresh_next(engine, publisher([], seen), clock), "published a second ago"
    clock.now = NOW + PUBLISH_EVERY_SECONDS
    assert home_refresh.refresh_next(engine, publisher([], seen), clock)
    assert len(seen) == 2
    assert row(engine, "U1")["due_at"] is None and row(engine, "U1")["published_at"] == clock.now


def test_the_listeners_publish_counts_and_shows_what_was_marked_before_it(engine: Engine) -> None:
    clock, seen = Clock(), list[Due]()
    mark(engine, "U1", NOW)
    home_refresh.record_published(
        engine, team_id=TEAM, enterprise_id=None, user_id="U1", read_at=NOW + 0.1, now=NOW + 0.2
    )
    assert row(engine, "U1")["due_at"] is None, "the listener's view showed that change"
    mark(engine, "U1", NOW + 1)
    clock.now = NOW + 2
    assert not home_refresh.refresh_next(engine, publisher([], seen), clock), "within 5 s of the listener's"
    clock.now = NOW + 0.2 + PUBLISH_EVERY_SECONDS
    assert home_refresh.refresh_next(engine, publisher([], seen), clock)
    # A person whose tab was never marked gets a row, so their next change waits too.
    home_refresh.record_published(
        engine, team_id=TEAM, enterprise_id="E1", user_id="U2", read_at=NOW, now=NOW
    )
    assert row(engine, "U2")["published_at"] == NOW and row(engine, "U2")["due_at"] is None


def test_a_change_made_while_the_tab_was_drawn_publishes_again(engine: Engine) -> None:
    clock, seen = Clock(), list[Due]()
    mark(engine, "U1", NOW)

    def publish(due: Due) -> Outcome:
        seen.append(due)
        if len(seen) == 1:
            mark(engine, "U1", NOW + 0.5)  # a turn finished meanwhile
        return Outcome.PUBLISHED

    assert home_refresh.refresh_next(engine, publish, clock)
    assert row(engine, "U1")["due_at"] == NOW + 0.5, "still due: the view may not show it"
    clock.now = NOW + PUBLISH_EVERY_SECONDS
    assert home_refresh.refresh_next(engine, publish, clock)
    assert row(engine, "U1")["due_at"] is None and len(seen) == 2


def test_one_claim_at_a_time(engine: Engine) -> None:
    mark(engine, "U1", NOW)
    first = home_refresh.claim(engine, NOW)
    assert first is not None and first.user_id == "U1"
    assert home_refresh.claim(engine, NOW + 1) is None, "claimed: another replica does not take it"
    again = home_refresh.claim(engine, NOW + home_refresh.CLAIM_SECONDS + 1)
    assert again is not None and again.attempts == 2, "the claim of a worker that died lapses"


def test_a_refused_publish_is_tried_again_then_dropped_until_the_next_change(engine: Engine) -> None:
    clock, seen = Clock(), list[Due]()
    mark(engine, "U1", NOW)
    publish = publisher([Outcome.REFUSED] * MAX_ATTEMPTS, seen)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert home_refresh.refresh_next(engine, publish, clock), attempt
        assert not home_refresh.refresh_next(engine, publish, clock), "it waits before the next try"
        clock.now += home_refresh.RETRY_SECONDS * attempt + 0.1
    assert len(seen) == MAX_ATTEMPTS
    assert row(engine, "U1")["due_at"] is None, "given up on"
    mark(engine, "U1", clock.now)
    assert row(engine, "U1")["attempts"] == 0
    assert home_refresh.refresh_next(engine, publish, clock), "a new change tries afresh"


def test_a_publish_that_raises_releases_its_claim(engine: Engine) -> None:
    clock = Clock()
    mark(engine, "U1", NOW)

    def broken(due: Due) -> Outcome:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        home_refresh.refresh_next(engine, broken, clock)
    assert row(engine, "U1")["due_at"] == NOW, "still due"
    clock.now += home_refresh.RETRY_SECONDS + 0.1
    assert home_refresh.refresh_next(engine, lambda due: Outcome.PUBLISHED, clock)


def test_a_workspace_no_longer_served_is_not_tried_again(engine: Engine) -> None:
    clock, seen = Clock(), list[Due]()
    mark(engine, "U1", NOW)
    assert home_refresh.refresh_next(engine, publisher([Outcome.NOWHERE], seen), clock)
    assert row(engine, "U1")["due_at"] is None and row(engine, "U1")["published_at"] is None


def test_a_finished_turn_marks_its_requester_and_the_person_whose_turn_it_let_go(engine: Engine) -> None:
    with engine.begin() as conn:
        conversation = conn.execute(
            insert(Conversation)
            .values(
                team_id=TEAM,
                enterprise_id="E1",
                channel_id="C1",
                thread_ts="1.0",
                channel_type="channel",
                agent="claude",
                started_by="U1",
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(Conversation.id)
        ).scalar_one()
        turns = {}
        people = (
            ("U1", states.FINISHED),
            ("U2", states.ACTIVE),
            ("U3", states.FINISHED),
            ("U4", states.WAITING),
        )
        for user, phase in people:
            values = new_turn_values(conversation, user, NOW, phase=phase, step=states.DONE)
            turns[user] = conn.execute(insert(Turn).values(**values).returning(Turn.id)).scalar_one()
        home_refresh.mark_turn(conn, turns["U1"], conversation, NOW + 1)
    with engine.connect() as conn:
        marked = conn.execute(
            select(HomeRefresh.user_id, HomeRefresh.enterprise_id, HomeRefresh.due_at)
        ).all()
    assert sorted(marked) == [("U1", "E1", NOW + 1), ("U2", "E1", NOW + 1)], (
        "not an old turn, nor a queued one"
    )
