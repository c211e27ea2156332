"""The outbox's optional calls, against the database with a fake Slack and a clock of our own: a DM
thread's title is queued once and set once, a crash mid-call makes it once more when the claim lapses,
failures end in `dropped` after a few tries, a refusal is remembered; a DM's suggested prompts are not
queued again while on their way or within the hour, unless they changed, and reuse one row per DM."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from bot.db.models import Conversation, OutboxMessage, SlackCapability
from bot.slack.errors import SlackTransient
from bot.slack.gateway import SlackGateway
from bot.turns import capabilities, dm_title, outbox

NOW = 1_000_000.0
TEAM = "T1"
PROMPTS = [{"title": "Fix a test", "message": "Fix the failing test."}]


class FakeSlack:
    """Records the calls; raises the queued errors first, one a call."""

    def __init__(self, *errors: BaseException) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors = list(errors)

    def set_thread_title(self, **params: Any) -> None:
        self._call("title", params)

    def set_suggested_prompts(self, **params: Any) -> None:
        self._call("prompts", params)

    def _call(self, name: str, params: dict[str, Any]) -> None:
        self.calls.append((name, params))
        if self.errors:
            raise self.errors.pop(0)


def clients(slack: FakeSlack) -> outbox.Clients:
    return lambda _team, _enterprise: cast(SlackGateway, slack)


def dm_conversation(engine: Engine, *, channel_type: str = "im") -> Conversation:
    with engine.begin() as conn:
        conn.execute(
            insert(Conversation).values(
                team_id=TEAM,
                channel_id="D1",
                thread_ts="100.000001",
                channel_type=channel_type,
                agent="claude",
                started_by="U1",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return stored(engine)


def stored(engine: Engine) -> Conversation:
    with Session(engine, expire_on_commit=False) as session:
        found = session.scalars(select(Conversation)).one()
        session.expunge_all()
    return found


def outbox_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboxMessage)).scalar_one())


def learn(engine: Engine, conversation: Conversation, title: str | None) -> bool:
    with engine.begin() as conn:
        return dm_title.learn(conn, conversation, title, NOW)


def test_a_title_is_queued_once_neutralized_and_cut(engine: Engine) -> None:
    conversation = dm_conversation(engine)
    stale = stored(engine)  # what a second step read before the first learned the title
    assert learn(engine, conversation, "<!channel> fix the parser " + "x" * 400)
    assert not learn(engine, stale, "Another title"), "the first title known is kept"
    assert outbox_rows(engine) == 1
    kept = stored(engine)
    assert kept.title_state == dm_title.SETTING
    assert kept.title is not None and len(kept.title) <= dm_title.TITLE_LIMIT
    assert "<!channel>" not in kept.title and kept.title.endswith("…")


def test_a_channel_thread_or_an_empty_title_is_not_titled(engine: Engine) -> None:
    assert not learn(engine, dm_conversation(engine, channel_type="channel"), "A title")
    assert outbox_rows(engine) == 0
    with engine.begin() as conn:
        conn.execute(delete(Conversation))
    assert not learn(engine, dm_conversation(engine), "   ")
    assert outbox_rows(engine) == 0


def test_a_crash_mid_call_sets_the_title_once_more_when_the_claim_lapses(engine: Engine) -> None:
    learn(engine, dm_conversation(engine), "Fix the parser")
    slack = FakeSlack(RuntimeError("the process died inside the call"))
    with pytest.raises(RuntimeError):
        outbox.send_next(engine, clients(slack), NOW)
    assert stored(engine).title_state == dm_title.SETTING
    assert not outbox.send_next(engine, clients(slack), NOW + 1), "its claim holds"
    assert outbox.send_next(engine, clients(slack), NOW + outbox.CLAIM_SECONDS + 1)
    assert stored(engine).title_state == dm_title.SET
    assert not outbox.send_next(engine, clients(slack), NOW + 10 * outbox.CLAIM_SECONDS)
    assert [params for _, params in slack.calls] == [
        {"channel": "D1", "thread_ts": "100.000001", "title": "Fix the parser"}
    ] * 2


def test_a_title_slack_keeps_failing_is_dropped_after_a_few_tries(engine: Engine) -> None:
    learn(engine, dm_conversation(engine), "Fix the parser")
    failure = SlackTransient("assistant.threads.setTitle", "internal_error")
    slack = FakeSlack(*[failure] * outbox.MAX_ATTEMPTS)
    now = NOW
    while outbox.send_next(engine, clients(slack), now):
        now += outbox.CLAIM_SECONDS + 1
    assert len(slack.calls) == outbox.MAX_ATTEMPTS
    assert stored(engine).title_state == dm_title.DROPPED


def test_a_refused_title_is_remembered_and_the_next_thread_not_queued(engine: Engine) -> None:
    learn(engine, dm_conversation(engine), "Fix the parser")
    slack = FakeSlack(SlackTransient("assistant.threads.setTitle", "unknown_method", unknown=True))
    assert outbox.send_next(engine, clients(slack), NOW)
    assert stored(engine).title_state == dm_title.DROPPED
    with engine.connect() as conn:
        assert conn.execute(select(SlackCapability.feature, SlackCapability.error)).all() == [
            ("thread_titles", "unknown_method")
        ]
    with engine.begin() as conn:
        conn.execute(delete(Conversation))
    conversation = dm_conversation(engine)
    assert not learn(engine, conversation, "Another thread")
    assert stored(engine).title_state == dm_title.DROPPED
    assert not outbox.send_next(engine, clients(slack), NOW + 1), "nothing queued"


def queue_prompts(engine: Engine, now: float, prompts: list[dict[str, str]] = PROMPTS) -> bool:
    with engine.begin() as conn:
        return outbox.queue_prompts(conn, TEAM, None, "D1", "U1", prompts, now)


def test_prompts_are_not_queued_again_while_on_their_way_or_within_the_hour(engine: Engine) -> None:
    slack = FakeSlack()
    assert queue_prompts(engine, NOW)
    assert not queue_prompts(engine, NOW + 1), "on their way"
    assert outbox.send_next(engine, clients(slack), NOW + 2)
    assert not queue_prompts(engine, NOW + 600), "the same prompts, within the hour"
    changed = [{"title": "Review", "message": "Review my pull request."}]
    assert queue_prompts(engine, NOW + 700, changed), "changed prompts go at once"
    assert outbox.send_next(engine, clients(slack), NOW + 701)
    assert not queue_prompts(engine, NOW + 800, changed)
    assert queue_prompts(engine, NOW + 700 + outbox.PROMPTS_REPEAT_SECONDS + 1, changed), "an hour on"
    assert outbox.send_next(engine, clients(slack), NOW + 5000)
    assert outbox_rows(engine) == 1, "one row per DM, used again"
    assert [params["prompts"] for _, params in slack.calls] == [PROMPTS, changed, changed]
    assert all(params == {"channel": "D1", "prompts": params["prompts"]} for _, params in slack.calls)


def test_prompts_dropped_after_failures_can_be_queued_again_and_a_refusal_stops_them(engine: Engine) -> None:
    failure = SlackTransient("assistant.threads.setSuggestedPrompts", "internal_error")
    slack = FakeSlack(*[failure] * outbox.MAX_ATTEMPTS)
    assert queue_prompts(engine, NOW)
    now = NOW
    while outbox.send_next(engine, clients(slack), now):
        now += outbox.CLAIM_SECONDS + 1
    assert queue_prompts(engine, now + outbox.PROMPTS_REPEAT_SECONDS), "dropped: armed again later"
    with engine.begin() as conn:
        row = conn.execute(select(OutboxMessage.kind, OutboxMessage.text, OutboxMessage.attempts)).one()
        assert (row.kind, json.loads(row.text), row.attempts) == (outbox.PROMPTS, PROMPTS, 0)
        capabilities.remember_refusal(conn, TEAM, "suggested_prompts", "missing_scope", now)
    assert outbox.send_next(engine, clients(slack), now + outbox.PROMPTS_REPEAT_SECONDS + 1)
    assert len(slack.calls) == outbox.MAX_ATTEMPTS, "refused since it was queued: not asked"
    assert not queue_prompts(engine, now + 10 * outbox.PROMPTS_REPEAT_SECONDS)
