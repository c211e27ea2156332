"""Several Blocks keys (`BLOCKS_API_KEY=a,b`): new sessions go to the key with the most room, every request
of a session carries the key that created it, and each key has its own budget."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import func, select

from bot.db.models import Conversation, RateBudget
from bot.sim.slack import BOT_USER_ID
from bot.slack import messages
from tests.conftest import Rig

MENTION = f"<@{BOT_USER_ID}>"
SESSION = re.compile(r"^/rest/v1/sessions/([^/]+)")


def test_sessions_spread_over_the_keys_and_each_keeps_its_own(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(blocks_api_key="key-one,key-two")
    tops = [rig.say("UALICE", f"{MENTION} task {i}", channel=f"C{i:07d}") for i in range(6)]
    for top in tops:
        rig.wait_reaction(top)
    follow_ups = [rig.say("UBOB", "and then?", thread=top, channel=top.channel) for top in tops[:3]]
    for message in follow_ups:
        rig.wait_reaction(message)

    keys_by_session: dict[str, set[str]] = defaultdict(set)
    created_by: dict[str, int] = defaultdict(int)
    for entry in rig.blocks.log:
        found = SESSION.match(entry["path"])
        if found:
            keys_by_session[found.group(1)].add(entry["key"])
    for session in rig.blocks.sessions.values():
        created_by[next(iter(keys_by_session[session.id]))] += 1
    assert all(len(keys) == 1 for keys in keys_by_session.values()), "a session keeps the key that made it"
    assert created_by == {"key-one": 3, "key-two": 3}, "new sessions go to the key with the most room"

    with rig.engine.connect() as conn:
        recorded = conn.execute(select(Conversation.blocks_key_hash)).scalars().all()
        buckets = conn.execute(select(func.count()).select_from(RateBudget)).scalar_one()
    assert len(set(recorded)) == 2 and all(recorded), "each conversation names its session's key"
    assert buckets >= 2, "a budget per key"
    assert all(messages.DONE in m.reactions for m in follow_ups)


def test_a_key_never_appears_in_the_database_or_the_metrics(make_rig: Callable[..., Rig]) -> None:
    import httpx

    rig = make_rig(blocks_api_key="key-one,key-two")
    top = rig.say("UALICE", f"{MENTION} hello")
    rig.wait_reaction(top)
    with rig.engine.connect() as conn:
        rows = [str(r) for r in conn.execute(select(Conversation)).all()]
        rows += [str(r) for r in conn.execute(select(RateBudget)).all()]
    metrics = httpx.get(f"http://127.0.0.1:{rig.service.port}/metrics", timeout=10).text
    for text in [*rows, metrics]:
        assert "key-one" not in text and "key-two" not in text
    assert metrics.count('blocks_slack_blocks_budget_tokens{key="') == 2
