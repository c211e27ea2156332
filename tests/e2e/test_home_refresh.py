"""App Home kept current by the worker, end to end over real HTTP against the Slack stub: a person's tab
is published when they open it and again when one of their turns changes state (without their opening
it again), never twice within Slack's 5 seconds, with the same view the listener draws; an admin's tab
also counts the day's turns and Blocks requests and shows the key's budget. A publish Slack refuses is
tried again. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bot.db.models import Conversation, HomeRefresh
from bot.sim.blocks import OPENED_PR, SESSION_PR, VIEWED_PR
from bot.sim.slack import BOT_USER_ID, SlackStub
from bot.turns.home_refresh import PUBLISH_EVERY_SECONDS
from tests.conftest import CHANNEL, Rig
from tests.e2e.test_app_home import links, open_tab, texts

MENTION = f"<@{BOT_USER_ID}>"
ALICE, ADMIN = "UALICE", "UADMIN"


def publishes(slack: SlackStub, user: str) -> list[dict[str, Any]]:
    return [c for c in slack.calls_to("views.publish") if c["params"].get("user_id") == user and c["ok"]]


def assert_paced(slack: SlackStub, user: str) -> None:
    """Slack's limit: one person's tab at most once every 5 seconds."""
    times = [c["at"] for c in slack.calls_to("views.publish") if c["params"].get("user_id") == user]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert all(gap >= PUBLISH_EVERY_SECONDS - 0.01 for gap in gaps), gaps


def test_app_home_is_published_and_refreshed_after_a_turn_ends(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    tab = open_tab(rig.sender, rig.slack, ALICE)
    assert "No sessions yet" in texts(tab)

    question = rig.say(ALICE, f"{MENTION} fix the widget and open a PR #pr #delay=1")
    rig.wait_reaction(question)
    rig.wait(
        lambda: "✅ *answered*" in texts(rig.slack.home_views[ALICE]), 20, "the tab redrawn after the turn"
    )

    tab = rig.slack.home_views[ALICE]
    (line,) = [t for t in texts(tab).splitlines() if "answered" in t]
    assert f"claude · <#{CHANNEL}> · <!date^" in line, line
    (session_url,) = {c.session_url for c in _conversations(rig)}
    assert links(tab) == [
        ("View session", session_url),
        ("PR acme/widgets#17", VIEWED_PR),  # as the answer's own buttons show them
        ("PR acme/widgets#42", OPENED_PR),
        ("PR acme/widgets#43", SESSION_PR),
    ]
    assert len(publishes(rig.slack, ALICE)) >= 2, "opened, then redrawn by the worker"
    assert_paced(rig.slack, ALICE)
    with rig.engine.connect() as conn:
        row = conn.execute(select(HomeRefresh.__table__).where(HomeRefresh.user_id == ALICE)).one()
    assert row.due_at is None and row.published_at is not None, "nothing left to draw"


def test_many_changes_make_few_publishes_and_the_last_shows_them_all(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    questions = [rig.say(ALICE, f"{MENTION} question {n}", channel=f"C0MANY{n}") for n in range(4)]
    for question in questions:
        rig.wait_reaction(question)
    rig.wait(
        lambda: texts(rig.slack.home_views.get(ALICE, {})).count("✅ *answered*") == 4, 20, "all four shown"
    )
    assert len(publishes(rig.slack, ALICE)) <= 3, "four turns opened and four finished: a few publishes"
    assert_paced(rig.slack, ALICE)
    listener = texts(open_tab(rig.sender, rig.slack, ALICE))
    assert listener.count("✅ *answered*") == 4, "the listener draws the same sessions"


def test_an_admins_tab_counts_the_days_turns_and_requests_and_shows_the_keys_budget(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.slack.admins.add(ADMIN)
    question = rig.say(ADMIN, f"{MENTION} how are we doing?")
    rig.wait_reaction(question)
    rig.wait(lambda: "✅ *answered*" in texts(rig.slack.home_views.get(ADMIN, {})), 20, "the admin's tab")
    shown = texts(rig.slack.home_views[ADMIN])
    turn = rig.turns()[0]
    requests = turn.polls + 1
    assert f"1 turn (1 answered, 0 failed, 0 working) · {requests} Blocks request" in shown, shown
    assert "requests free now, refills" in shown, "the key's budget"
    assert "*Guests*: may not use the agent" in shown and "*Running requests per person*: no cap" in shown
    member = texts(open_tab(rig.sender, rig.slack, ALICE))
    assert "Blocks request" not in member and "Guests" not in member, "usage and access are for admins"


def test_a_refresh_slack_refuses_is_tried_again(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.slack.inject("views.publish", "internal_error", count=1)
    question = rig.say(ALICE, f"{MENTION} hello")
    rig.wait_reaction(question)
    rig.wait(
        lambda: "✅ *answered*" in texts(rig.slack.home_views.get(ALICE, {})), 30, "the tab after a retry"
    )
    calls = [c["ok"] for c in rig.slack.calls_to("views.publish")]
    assert calls[0] is False and calls[-1] is True, calls


def test_nothing_is_published_for_a_person_who_never_asked(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say(ALICE, f"{MENTION} hello")
    rig.wait_reaction(question)
    rig.wait(lambda: ALICE in rig.slack.home_views, 20, "the requester's tab")
    assert set(rig.slack.home_views) == {ALICE}


def _conversations(rig: Rig) -> list[Any]:
    with rig.engine.connect() as conn:
        return list(conn.execute(select(Conversation)).all())
