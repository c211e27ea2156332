"""Fair shares of a short Blocks budget: workspaces first, then the people of one workspace (turns/shares.py
and the claim in turns/lease.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, insert, select, update

from bot.blocks.budget import Budget, BudgetPolicy
from bot.db.models import Conversation, FairShare, RateBudget, Turn
from bot.turns import shares, states
from bot.turns.intake import new_turn_values
from bot.turns.lease import Candidate, claim_next

PLENTY = BudgetPolicy(capacity=10_000, refill_per_second=10_000, poll_reserve=0)
ONE_A_SECOND = BudgetPolicy(capacity=1, refill_per_second=1.0, poll_reserve=0)
NOW = 10_000.0


@dataclass(frozen=True)
class Ask:
    """`count` turns of one person in one workspace, all due: `step` each, due `late` seconds ago, submitted
    `age` seconds before that (a poll's cadence grows with its age), of the session key `key`."""

    team: str
    user: str
    count: int
    step: str = states.POLL
    late: float = 0.0
    age: float = 1_000.0
    key: str | None = None


_ids = itertools.count(1)


def seed(engine: Engine, *asks: Ask) -> dict[int, tuple[str, str]]:
    """The turns asked for; each turn's (team, user) by its id."""
    owners: dict[int, tuple[str, str]] = {}
    with engine.begin() as conn:
        for ask in asks:
            for _ in range(ask.count):
                number = next(_ids)
                conn.execute(
                    insert(Conversation).values(
                        id=number,
                        team_id=ask.team,
                        channel_id="C1",
                        thread_ts=f"{number}.0001",
                        channel_type="channel",
                        agent="claude",
                        started_by=ask.user,
                        joins_existing_thread=False,
                        blocks_key_hash=ask.key,
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
                due = NOW - ask.late
                values = new_turn_values(number, ask.user, due, phase=states.ACTIVE, step=ask.step)
                if ask.step == states.POLL:
                    values.update(submit_state="sent", submitted_at=due - ask.age, deadline_at=NOW + 1e6)
                conn.execute(insert(Turn).values(id=number, **values))
                owners[number] = (ask.team, ask.user)
    return owners


def budget(engine: Engine, policy: BudgetPolicy = PLENTY, *, api_key: str = "k") -> Budget:
    b = Budget(api_key=api_key, policy=policy)
    with engine.begin() as conn:
        b.ensure(conn, NOW)
    return b


def claims(engine: Engine, payer: Budget, count: int, *, every: float = 0.001) -> list[int]:
    """The turns of `count` claims, one every `every` seconds (each claimed turn stays leased)."""
    claimed = []
    for index in range(count):
        result = claim_next(engine, payer, now=NOW + index * every, lease_seconds=1e6)
        if result is not None:
            claimed.append(result.lease.turn_id)
    return claimed


def test_one_persons_hundred_turns_do_not_queue_another_persons_poll(engine: Engine) -> None:
    """Alice's hundred old turns are further behind their cadence than Bob's one (which is just due):
    Bob's poll still gets the second token, not the hundred-and-first."""
    owners = seed(
        engine,
        Ask("T1", "UALICE", 100, late=600.0),
        Ask("T1", "UBOB", 1, late=1.0),
    )
    order = claims(engine, budget(engine, ONE_A_SECOND), 4, every=1.0)
    assert [owners[turn][1] for turn in order] == ["UALICE", "UBOB", "UALICE", "UALICE"]


def test_a_flood_of_creates_does_not_hold_back_another_persons_polls(engine: Engine) -> None:
    """Creates go before polls within one person's turns; across people, shares decide: Alice's fifty new
    turns take every other token while Bob's polls wait, not all fifty first."""
    owners = seed(
        engine,
        Ask("T1", "UALICE", 50, step=states.SUBMIT, late=5.0),
        Ask("T1", "UBOB", 3, late=1.0),
    )
    order = [owners[turn][1] for turn in claims(engine, budget(engine, ONE_A_SECOND), 8, every=1.0)]
    assert order == ["UALICE", "UBOB"] * 3 + ["UALICE"] * 2


def test_workspaces_share_first_then_their_people(engine: Engine) -> None:
    """T1 has two busy people, T2 one: T2 gets half of the tokens, and each person of T1 a quarter."""
    owners = seed(
        engine,
        Ask("T1", "U1", 30),
        Ask("T1", "U2", 30),
        Ask("T2", "U3", 30),
    )
    got = Counter(owners[turn] for turn in claims(engine, budget(engine), 40))
    assert got == {("T2", "U3"): 20, ("T1", "U1"): 10, ("T1", "U2"): 10}


def test_a_persons_own_turns_keep_their_order(engine: Engine) -> None:
    """Within one lane, a create goes first, then the poll furthest behind its own cadence."""
    slow, fast, new = seed(
        engine,
        Ask("T1", "UALICE", 1, late=200.0, age=100_000.0),  # polled every 120 s: < 2 intervals late
        Ask("T1", "UALICE", 1, late=20.0, age=10.0),  # polled every 3 s: over 6 intervals late
        Ask("T1", "UALICE", 1, step=states.SUBMIT),
    )
    assert claims(engine, budget(engine), 3) == [new, fast, slow]


def test_a_spent_key_gives_its_share_to_the_people_on_another_key(engine: Engine) -> None:
    """Alice's sessions are on a key with no token left, Bob's on one with room: Bob is served, and Alice
    is left waiting, not skipped for good: she goes first once her key has a token again."""
    spent_key = budget(engine, BudgetPolicy(capacity=1, refill_per_second=1.0, poll_reserve=0), api_key="k1")
    roomy_key = budget(engine, api_key="k2")
    with engine.begin() as conn:
        assert spent_key.take(conn, NOW, for_poll=False)
    owners = seed(
        engine,
        Ask("T1", "UALICE", 3, late=100.0, key=spent_key.key_hash),
        Ask("T1", "UBOB", 5, late=1.0, key=roomy_key.key_hash),
    )
    pay = _payer(spent_key, roomy_key)

    def serve(count: int, now: float) -> list[str]:
        served = []
        for _ in range(count):
            claimed = claim_next(engine, pay, now=now, lease_seconds=1e6)
            if claimed is not None:
                served.append(owners[claimed.lease.turn_id][1])
        return served

    assert serve(4, NOW) == ["UBOB"] * 4, "Alice's key is spent: Bob's turns take the roomy key"
    assert serve(2, NOW + 1.0) == ["UALICE", "UBOB"], "a token of Alice's key again: hers, first"


def test_the_order_is_kept_by_the_claim_that_pays_and_only_by_it(engine: Engine) -> None:
    """A claim that finds no token records nothing: the person whose turn it was stays first."""
    owners = seed(engine, Ask("T1", "UALICE", 2, late=50.0), Ask("T1", "UBOB", 2, late=1.0))
    b = budget(engine, BudgetPolicy(capacity=1, refill_per_second=0.5, poll_reserve=0))
    first = claim_next(engine, b, now=NOW, lease_seconds=1e6)
    assert first is not None and owners[first.lease.turn_id][1] == "UALICE"
    assert claim_next(engine, b, now=NOW + 1.0, lease_seconds=1e6) is None  # half a token: nothing
    with engine.connect() as conn:
        served = dict(conn.execute(select(FairShare.user_id, FairShare.served_at)).all())
    assert served == {"": NOW, "UALICE": NOW}
    later = claim_next(engine, b, now=NOW + 2.0, lease_seconds=1e6)
    assert later is not None and owners[later.lease.turn_id][1] == "UBOB"


# Generated: any number of workspaces and people with any numbers of due creates and polls, any
# lateness. Every claim serves a workspace with the fewest tokens so far among those with a step still
# due, and within it a person with the fewest so far among theirs; no token is left unused while a step
# is due.
_lanes = st.lists(
    st.builds(
        Ask,
        team=st.sampled_from(["T1", "T2", "T3"]),
        user=st.sampled_from(["U1", "U2", "U3", "U4"]),
        count=st.integers(min_value=1, max_value=6),
        step=st.sampled_from([states.SUBMIT, states.POLL]),
        late=st.floats(min_value=0.0, max_value=5_000.0),
        age=st.floats(min_value=0.0, max_value=100_000.0),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(asks=_lanes, extra=st.integers(min_value=0, max_value=3))
def test_every_claim_serves_the_least_served_workspace_then_person(
    engine: Engine, asks: list[Ask], extra: int
) -> None:
    with engine.begin() as conn:
        for table in (Turn, Conversation, FairShare, RateBudget):
            conn.execute(delete(table))
    owners = seed(engine, *asks)
    b = budget(engine)
    left = Counter(owners.values())
    by_team: Counter[str] = Counter()
    by_person: Counter[tuple[str, str]] = Counter()
    order = claims(engine, b, len(owners) + extra)
    assert len(order) == len(owners), "every due step claimed, none twice, nothing more"
    assert len(set(order)) == len(order)
    for turn in order:
        team, user = owners[turn]
        waiting_teams = {t for (t, _u), n in left.items() if n > 0}
        assert by_team[team] == min(by_team[t] for t in waiting_teams), (team, by_team)
        waiting_people = {p for p, n in left.items() if n > 0 and p[0] == team}
        assert by_person[(team, user)] == min(by_person[p] for p in waiting_people), (user, by_person)
        left[(team, user)] -= 1
        by_team[team] += 1
        by_person[(team, user)] += 1


def test_a_late_comer_is_served_next(engine: Engine) -> None:
    """Someone who asks while another person's backlog is being worked through goes next, however long the
    backlog: it is the person served least recently (never)."""
    seed(engine, Ask("T1", "UALICE", 20, late=100.0))
    b = budget(engine)
    assert len(claims(engine, b, 3)) == 3
    (bob_turn,) = seed(engine, Ask("T1", "UBOB", 1, late=0.0))
    claimed = claim_next(engine, b, now=NOW + 10, lease_seconds=1e6)
    assert claimed is not None and claimed.lease.turn_id == bob_turn


def _payer(*budgets: Budget) -> Callable[[Connection, Candidate, float], tuple[str, Budget]]:
    """Each session's own key pays (the tests seed no creates)."""
    by_hash = {b.key_hash: b for b in budgets}

    def pay(_conn: Connection, candidate: Candidate, _now: float) -> tuple[str, Budget]:
        assert candidate.key_hash is not None
        return candidate.key_hash, by_hash[candidate.key_hash]

    return pay


def test_shares_are_per_key_so_a_workspace_served_by_one_key_keeps_its_turn_at_another(
    engine: Engine,
) -> None:
    """T1 has Alice on a roomy key and Dave on a short one, that T2's Carol uses too. Alice's tokens from
    her key do not count against Dave's turn at the short key: Dave and Carol share it half and half."""
    short = budget(engine, BudgetPolicy(capacity=1, refill_per_second=1.0, poll_reserve=0), api_key="short")
    roomy = budget(engine, BudgetPolicy(capacity=1, refill_per_second=3.0, poll_reserve=0), api_key="roomy")
    owners = seed(
        engine,
        Ask("T1", "UALICE", 200, late=1.0, key=roomy.key_hash),
        Ask("T1", "UDAVE", 100, late=1.0, key=short.key_hash),
        Ask("T2", "UCAROL", 100, late=1.0, key=short.key_hash),
    )
    pay = _payer(short, roomy)
    got: Counter[str] = Counter()
    for tick in range(1, 161):  # 40 s, a claim every quarter of a second
        claimed = claim_next(engine, pay, now=NOW + tick / 4, lease_seconds=1e6)
        if claimed is not None:
            got[owners[claimed.lease.turn_id][1]] += 1
    assert got["UALICE"] >= 60, got  # her key's tokens, as claims find them
    assert 18 <= got["UDAVE"] <= 22 and 18 <= got["UCAROL"] <= 22, got  # the short key's 40, halved


def test_a_poll_refused_for_the_reserve_leaves_it_to_another_persons_create(engine: Engine) -> None:
    """The key keeps one token back from polls for new requests: Alice's poll (whose turn it is) cannot
    have it, and Bob's create, next in turn, takes it in the same claim."""
    reserved = BudgetPolicy(capacity=2, refill_per_second=1e-9, poll_reserve=1)
    b = budget(engine, reserved)
    with engine.begin() as conn:
        assert b.take(conn, NOW, for_poll=False)  # one token left: the reserve
    owners = seed(
        engine,
        Ask("T1", "UALICE", 3, late=100.0, key=b.key_hash),
        Ask("T1", "UBOB", 1, step=states.SUBMIT, late=1.0, key=b.key_hash),
    )
    with engine.begin() as conn:  # Bob was served more recently: Alice's turn comes first
        conn.execute(
            insert(FairShare).values(team_id="T1", user_id="UBOB", key_hash=b.key_hash, served_at=NOW)
        )
    claimed = claim_next(engine, b, now=NOW, lease_seconds=1e6)
    assert claimed is not None and owners[claimed.lease.turn_id][1] == "UBOB"
    assert claimed.step == states.SUBMIT
    assert claim_next(engine, b, now=NOW, lease_seconds=1e6) is None, "no token left for anyone"


def test_when_a_lane_was_served_never_goes_back(engine: Engine) -> None:
    """Replicas' clocks differ a little: a claim stamped earlier than the last one leaves the later time."""
    with engine.begin() as conn:
        shares.record_served(conn, "T1", "UALICE", "k", NOW)
        shares.record_served(conn, "T1", "UALICE", "k", NOW - 5)
        shares.record_served(conn, "T1", "UALICE", "k", NOW + 1)
        shares.record_served(conn, "T1", "UALICE", "k", NOW - 2)
    with engine.connect() as conn:
        served = set(conn.execute(select(FairShare.user_id, FairShare.served_at)).all())
    assert served == {("", NOW + 1), ("UALICE", NOW + 1)}


def test_a_step_that_no_key_pays_for_is_claimed_without_a_share(engine: Engine) -> None:
    """A workspace with no key: its create is claimed to tell the thread, and costs nobody a turn."""
    (turn,) = seed(engine, Ask("T1", "UALICE", 1, step=states.SUBMIT))
    claimed = claim_next(engine, lambda _c, _cand, _now: None, now=NOW, lease_seconds=1e6)
    assert claimed is not None and claimed.lease.turn_id == turn and claimed.key_hash is None
    with engine.connect() as conn:
        assert conn.execute(select(FairShare)).all() == []


def test_a_session_whose_key_is_gone_goes_on_with_the_key_that_pays_and_takes_its_share_there(
    engine: Engine,
) -> None:
    """Alice's sessions were made with a key since removed; the workspace's other key pays for them. The
    sessions move to that key, so her share is read where it is written: she and Bob take turns."""
    roomy = budget(engine, BudgetPolicy(capacity=1, refill_per_second=1.0, poll_reserve=0), api_key="roomy")
    owners = seed(
        engine,
        Ask("T1", "UALICE", 4, late=10.0, key="hash-of-a-removed-key"),
        Ask("T1", "UBOB", 4, late=1.0, key=roomy.key_hash),
    )

    def pay(_conn: Connection, _candidate: Candidate, _now: float) -> tuple[str, Budget]:
        return roomy.key_hash, roomy  # the removed key's sessions fall back to the workspace's key

    order = []
    for tick in range(6):
        claimed = claim_next(engine, pay, now=NOW + tick, lease_seconds=1e6)
        assert claimed is not None
        order.append(owners[claimed.lease.turn_id][1])
    assert order == ["UALICE", "UBOB"] * 3, order
    with engine.connect() as conn:
        keys = set(
            conn.execute(
                select(Conversation.blocks_key_hash).where(Conversation.started_by == "UALICE")
            ).scalars()
        )
    assert keys == {roomy.key_hash, "hash-of-a-removed-key"}, (
        "the claimed ones moved; the rest move when claimed"
    )


def test_a_stop_is_claimed_without_waiting_for_a_token(engine: Engine) -> None:
    """The key has no token left and others' polls wait: a turn someone asked to stop is claimed at once
    (its stop takes no token; the follow-up it sends goes back to the claim)."""
    spent = budget(engine, BudgetPolicy(capacity=1, refill_per_second=1e-9, poll_reserve=0))
    with engine.begin() as conn:
        assert spent.take(conn, NOW, for_poll=False)
    seed(engine, Ask("T1", "UALICE", 5, late=100.0))
    (stopped,) = seed(engine, Ask("T1", "UBOB", 1, late=1.0))
    assert claim_next(engine, spent, now=NOW, lease_seconds=1e6) is None, "no token: nothing else"
    with engine.begin() as conn:
        conn.execute(update(Turn).where(Turn.id == stopped).values(stop_state=states.STOP_REQUESTED))
    claimed = claim_next(engine, spent, now=NOW, lease_seconds=1e6)
    assert claimed is not None and claimed.lease.turn_id == stopped and not claimed.paid
