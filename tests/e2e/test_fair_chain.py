"""A new turn's create goes through the fair-share claim like any other Blocks step: the start that posts
its placeholder does not also take the next Blocks token on its own (it would let every new turn jump the
queue of people waiting for the key's budget, and leave no record of its share).

Time is driven (see `tests/driven`). SQLite only: what is tested is the worker's chaining, not a dialect.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.blocks.budget import Budget, BudgetPolicy
from bot.db import migrate
from bot.db.engine import make_engine
from bot.db.models import Conversation, FairShare, Turn
from bot.sim.blocks import BlocksSimulator, SimConfig
from bot.sim.slack import TEAM_ID, SlackStub
from bot.sim.wsgi import serve_in_thread
from bot.turns import states
from bot.turns.intake import new_turn_values
from bot.turns.lease import claim_next
from tests.conftest import rig_settings
from tests.driven import DrivenBot, driven_settings

ONE_TOKEN = BudgetPolicy(capacity=1, refill_per_second=1e-9, poll_reserve=0)


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[DrivenBot]:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    slack = SlackStub()
    server = serve_in_thread(slack)
    blocks = BlocksSimulator(SimConfig(answer_delay=4, rate_limit=10**6))
    driven = DrivenBot.build(
        engine, slack, server.url, blocks, driven_settings(rig_settings("", server.url, url))
    )
    # One token left, that nothing refills while the test runs.
    driven.worker.rt.budget = Budget(api_key="k-short", policy=ONE_TOKEN)
    with engine.begin() as conn:
        driven.worker.rt.budget.ensure(conn, driven.clock())
    yield driven
    server.stop()
    engine.dispose()


def _carols_due_poll(bot: DrivenBot) -> int:
    """Carol, never served, has a poll due (her session runs)."""
    now = bot.clock()
    with bot.engine.begin() as conn:
        conn.execute(
            insert(Conversation).values(
                id=1000,
                team_id=TEAM_ID,
                channel_id="CCAROL",
                thread_ts="1.0001",
                channel_type="channel",
                agent="claude",
                started_by="UCAROL",
                joins_existing_thread=False,
                session_id="s-carol",
                blocks_key_hash=bot.worker.rt.budget.key_hash,
                created_at=now,
                updated_at=now,
            )
        )
        values = new_turn_values(1000, "UCAROL", now - 5, phase=states.ACTIVE, step=states.POLL)
        values.update(submit_state="sent", submitted_at=now - 60, deadline_at=now + 1e6)
        conn.execute(insert(Turn).values(id=1000, **values))
    return 1000


def test_a_new_turns_create_waits_for_its_share_instead_of_taking_the_token_after_its_start(
    bot: DrivenBot,
) -> None:
    carol = _carols_due_poll(bot)
    with bot.engine.begin() as conn:  # Bob (and so the workspace) was served a moment ago: Carol is next
        for user in ("", "UBOB"):
            conn.execute(
                insert(FairShare).values(
                    team_id=TEAM_ID,
                    user_id=user,
                    key_hash=bot.worker.rt.budget.key_hash,
                    served_at=bot.clock() - 1,
                )
            )
    bot.mention("CBOB", "UBOB", "<@UBOT> please")

    assert bot.worker.run_once()  # Bob's start: 👀 and the placeholder (Slack steps cost no Blocks token)
    assert bot.blocks.snapshot()["sessions"] == [], "Bob's create did not take the token behind the claim"
    with bot.engine.connect() as conn:
        bobs = conn.execute(select(Turn.step, Turn.lease_token).where(Turn.requested_by == "UBOB")).one()
    assert bobs == (states.SUBMIT, None), "released, due, for the claim to decide"

    claimed = claim_next(bot.engine, bot.worker._pay, now=bot.clock(), lease_seconds=60)
    assert claimed is not None and claimed.lease.turn_id == carol, (
        "the token went to Carol, whose turn it was"
    )
    assert claim_next(bot.engine, bot.worker._pay, now=bot.clock(), lease_seconds=60) is None


def test_a_chained_create_is_claimed_and_recorded_as_its_persons_share(bot: DrivenBot) -> None:
    bot.mention("CBOB", "UBOB", "<@UBOT> please")
    assert bot.worker.run_once()  # the start
    assert bot.worker.run_once()  # the create, through the claim: the one token
    assert len(bot.blocks.snapshot()["sessions"]) == 1
    with bot.engine.connect() as conn:
        shares = dict(conn.execute(select(FairShare.user_id, FairShare.key_hash)).all())
    assert shares == {"": bot.worker.rt.budget.key_hash, "UBOB": bot.worker.rt.budget.key_hash}
