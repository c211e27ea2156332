from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, select, update

from bot.blocks.budget import Budget, BudgetPolicy
from bot.config import Settings
from bot.db.models import RateBudget, Turn
from bot.turns import intake, states
from bot.turns.intake import InboundEvent, IntakePolicy
from bot.turns.lease import Backlog, LeaseLost, blocks_backlog, claim_next

POLICY = IntakePolicy.of(
    Settings(slack_bot_token="", slack_signing_secret="", blocks_api_key="", busy_policy="queue")
)
PLENTY = BudgetPolicy(capacity=10_000, refill_per_second=10_000, poll_reserve=0)


def open_turns(engine: Engine, n: int, *, step: str = states.START, now: float = 100.0) -> None:
    for i in range(n):
        e = InboundEvent(
            team_id="T1",
            channel_id=f"C{i}",
            channel_type="channel",
            ts=f"1.{i}",
            thread_ts=None,
            user_id="U1",
            text="x",
            is_mention=True,
        )
        intake.record(engine, e, POLICY, now)
    with engine.begin() as conn:
        conn.execute(update(Turn).values(step=step))


def budget(engine: Engine, policy: BudgetPolicy = PLENTY, now: float = 100.0) -> Budget:
    b = Budget(api_key="k", policy=policy)
    with engine.begin() as conn:
        b.ensure(conn, now)
    return b


@pytest.mark.parametrize("step", [states.START, states.POLL])
def test_concurrent_workers_never_claim_the_same_turn(engine: Engine, step: str) -> None:
    open_turns(engine, 60, step=step)
    b = budget(engine)
    claimed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            got = claim_next(engine, b, now=200.0, lease_seconds=60)
            if got is None:
                return
            with lock:
                claimed.append(got.lease.turn_id)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 60


def test_an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_off(engine: Engine) -> None:
    open_turns(engine, 1)
    b = budget(engine)
    first = claim_next(engine, b, now=200.0, lease_seconds=10)
    assert first is not None
    assert claim_next(engine, b, now=205.0, lease_seconds=10) is None, "still leased"
    second = claim_next(engine, b, now=211.0, lease_seconds=10)
    assert second is not None and second.lease.token != first.lease.token
    with pytest.raises(LeaseLost):
        first.lease.save(212.0, step=states.DONE)
    second.lease.save(212.0, step=states.SUBMIT)


def test_future_work_is_not_claimed(engine: Engine) -> None:
    open_turns(engine, 1, now=500.0)
    assert claim_next(engine, budget(engine), now=499.0, lease_seconds=10) is None


def test_blocks_steps_wait_for_the_budget_and_creates_go_before_polls(engine: Engine) -> None:
    open_turns(engine, 3, step=states.POLL)
    with engine.begin() as conn:
        conn.execute(update(Turn).where(Turn.id == 3).values(step=states.SUBMIT))
    tight = BudgetPolicy(capacity=2, refill_per_second=0.001, poll_reserve=1)
    b = budget(engine, tight)
    first = claim_next(engine, b, now=100.0, lease_seconds=60)
    assert first is not None and first.step == states.SUBMIT, "the create goes first"
    assert claim_next(engine, b, now=100.0, lease_seconds=60) is None, "one token left: kept for creates"
    with engine.connect() as conn:
        assert conn.execute(select(RateBudget.tokens)).scalar_one() == pytest.approx(1.0)


def test_the_token_bucket_never_overspends_under_concurrency(engine: Engine) -> None:
    policy = BudgetPolicy(capacity=25, refill_per_second=0.0, poll_reserve=0)
    b = budget(engine, policy)
    taken: list[bool] = []

    def spend() -> None:
        for _ in range(10):
            with engine.begin() as conn:
                taken.append(b.take(conn, 100.0, for_poll=False))

    threads = [threading.Thread(target=spend) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken.count(True) == 25


def test_refill_and_the_pause_after_a_429(engine: Engine) -> None:
    policy = BudgetPolicy(capacity=2, refill_per_second=1.0, poll_reserve=0)
    b = budget(engine, policy)
    with engine.begin() as conn:
        assert b.take(conn, 100.0, for_poll=False) and b.take(conn, 100.0, for_poll=False)
        assert not b.take(conn, 100.0, for_poll=False)
        assert b.take(conn, 101.0, for_poll=False)
        b.rate_limited(conn, 101.0, retry_after=5.0)
        assert not b.take(conn, 105.0, for_poll=False), "paused for every replica"
        assert not b.take(conn, 106.5, for_poll=False), "refilling at half rate after the pause"
        assert b.take(conn, 108.1, for_poll=False)


def test_a_short_budget_polls_the_most_overdue_turn_first(engine: Engine) -> None:
    """Round robin under load: every turn waits its turn, none starves."""
    open_turns(engine, 5, step=states.POLL)
    with engine.begin() as conn:
        for turn_id, due in ((1, 150.0), (2, 110.0), (3, 190.0), (4, 130.0), (5, 170.0)):
            conn.execute(update(Turn).where(Turn.id == turn_id).values(next_run_at=due))
    b = budget(engine, BudgetPolicy(capacity=1, refill_per_second=1.0, poll_reserve=0))
    order = []
    for second in range(200, 210):
        claimed = claim_next(engine, b, now=float(second), lease_seconds=600)
        if claimed is not None:
            order.append(claimed.lease.turn_id)
    assert order == [2, 4, 1, 5, 3]


def test_a_short_budget_polls_the_turn_most_behind_its_own_cadence_first(engine: Engine) -> None:
    """A young turn polled every 3 s that is 2 s late is further behind than an old one polled every
    70 s that is 5 s late: every turn slows by the same factor, and the old one is next."""
    open_turns(engine, 2, step=states.POLL)
    with engine.begin() as conn:
        # turn 1: submitted 1,000 s before its due time (interval 70 s); turn 2: 10 s before (3 s)
        conn.execute(update(Turn).where(Turn.id == 1).values(next_run_at=195.0, submitted_at=-805.0))
        conn.execute(update(Turn).where(Turn.id == 2).values(next_run_at=198.0, submitted_at=188.0))
    b = budget(engine, BudgetPolicy(capacity=1, refill_per_second=1.0, poll_reserve=0))
    first = claim_next(engine, b, now=200.0, lease_seconds=600)
    second = claim_next(engine, b, now=201.0, lease_seconds=600)
    assert first is not None and second is not None
    assert (first.lease.turn_id, second.lease.turn_id) == (2, 1)


def test_the_next_due_step_ignores_turns_someone_holds(engine: Engine) -> None:
    from bot.turns.lease import next_due_at

    with engine.begin() as conn:
        assert next_due_at(conn, 100.0) is None
    open_turns(engine, 2, now=150.0)
    with engine.begin() as conn:
        conn.execute(update(Turn).where(Turn.id == 2).values(next_run_at=120.0, lease_until=500.0))
        assert next_due_at(conn, 100.0) == 150.0


def test_the_blocks_backlog_counts_due_creates_and_polls_that_nobody_holds(engine: Engine) -> None:
    open_turns(engine, 6, step=states.POLL)
    with engine.begin() as conn:
        ids = list(conn.execute(select(Turn.id).order_by(Turn.id)).scalars())
        plan = [
            (states.POLL, 100.0, None),  # due, waiting 100 s
            (states.POLL, 150.0, None),  # due, waiting 50 s
            (states.SUBMIT, 80.0, None),  # a create, waiting 120 s: the longest
            (states.POLL, 300.0, None),  # not due yet
            (states.POLL, 50.0, 500.0),  # due, but a worker holds it
            (states.DELIVER, 10.0, None),  # a Slack step: not waiting for the Blocks budget
        ]
        for turn_id, (step, due, lease_until) in zip(ids, plan, strict=True):
            conn.execute(
                update(Turn)
                .where(Turn.id == turn_id)
                .values(step=step, next_run_at=due, lease_until=lease_until)
            )
        assert blocks_backlog(conn, 200.0) == Backlog(waiting=3, longest_wait=120.0)
        assert blocks_backlog(conn, 60.0) == Backlog(waiting=0, longest_wait=0.0)


def test_a_new_turns_first_poll_is_not_queued_behind_a_hundred_old_ones(engine: Engine) -> None:
    """A hundred old turns are overdue by five minutes (2.5 of their 2-minute intervals); a new turn is 10 s
    late for a poll due every 3 s: it goes first, as the furthest behind its own cadence, although it is
    not among the most overdue by the clock (where it used to wait for all hundred)."""
    open_turns(engine, 101, step=states.POLL, now=100.0)
    now = 10_000.0
    with engine.begin() as conn:
        ids = list(conn.execute(select(Turn.id).order_by(Turn.id)).scalars())
        conn.execute(
            update(Turn).where(Turn.id.in_(ids[:-1])).values(submitted_at=1_000.0, next_run_at=now - 300)
        )
        conn.execute(
            update(Turn).where(Turn.id == ids[-1]).values(submitted_at=now - 13, next_run_at=now - 10)
        )
    claimed = claim_next(engine, budget(engine), now=now, lease_seconds=60)
    assert claimed is not None and claimed.lease.turn_id == ids[-1]
