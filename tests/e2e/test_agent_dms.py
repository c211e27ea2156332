"""The bot's DM in Slack's agent messaging experience, end to end over real HTTP against the Slack stub and
the Blocks simulator, on SQLite and PostgreSQL: a DM opened (Messages tab) is offered suggested prompts,
the workspace's or the defaults, once and not on every visit, without the `thread_ts` an agent-view app
must not send; a Slack that refuses the call is remembered; the Home tab is still App Home's. A DM thread
is titled with its Blocks session's title once (from the create, or from the session read after the
answer when the create had none), with no extra Blocks request; a channel thread gets no title."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Conversation, SlackCapability
from bot.preferences import store
from bot.sim.events import envelope
from bot.sim.slack import BOT_USER_ID, StubMessage
from bot.slack.agent_dm import DEFAULT_PROMPTS
from tests.conftest import Rig

DM = "D0ALICE"
PROMPTS = "assistant.threads.setSuggestedPrompts"
TITLE = "assistant.threads.setTitle"
OWN_PROMPTS = [
    {"title": "Triage the backlog", "message": "List the five oldest open issues and what each needs."},
    {"title": "Bump dependencies", "message": "Update our dependencies and fix what breaks."},
]


def open_dm(rig: Rig, user: str = "UALICE", channel: str = DM, tab: str = "messages") -> None:
    """The person opens the bot's DM (or, `tab="home"`, its Home tab); Slack is answered in time."""
    event = {"type": "app_home_opened", "user": user, "channel": channel, "tab": tab}
    event["event_ts"] = f"{time.time():.6f}"
    started = time.monotonic()
    delivery = rig.sender.send(envelope(event))
    assert delivery.status == 200, delivery.body
    assert time.monotonic() - started < 3.0, "answered within Slack's 3 seconds"


def quiet(rig: Rig, seconds: float = 1.5) -> None:
    """Give the worker's outbox (it looks every half second) time to make any call it has queued."""
    time.sleep(seconds)


def set_workspace_prompts(rig: Rig, prompts: list[dict[str, str]]) -> None:
    with rig.engine.begin() as conn:
        store.save_workspace(
            conn, team_id="T0001", user_id="UADMIN", values={}, prompts=prompts, now=time.time()
        )


def conversation(rig: Rig, top: StubMessage) -> Conversation:
    with Session(rig.engine, expire_on_commit=False) as session:
        found = session.scalars(
            select(Conversation).where(
                Conversation.channel_id == top.channel, Conversation.thread_ts == top.ts
            )
        ).one()
        session.expunge_all()
    return found


# -- suggested prompts --------------------------------------------------------------------------------


def test_a_dm_opened_is_offered_the_default_prompts_without_a_thread_ts(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    open_dm(rig)
    rig.wait(lambda: rig.slack.suggested_prompts.get(DM), what="the DM's prompts")
    assert rig.slack.suggested_prompts[DM] == list(DEFAULT_PROMPTS)
    (call,) = rig.slack.calls_to(PROMPTS)
    assert call["ok"] and call["params"]["channel_id"] == DM
    assert "thread_ts" not in call["params"], "an agent-view app's call with a thread_ts fails silently"


def test_a_workspace_offers_its_own_prompts(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    set_workspace_prompts(rig, OWN_PROMPTS)
    open_dm(rig)
    rig.wait(lambda: rig.slack.suggested_prompts.get(DM), what="the DM's prompts")
    assert rig.slack.suggested_prompts[DM] == OWN_PROMPTS


def test_opening_the_dm_again_makes_no_new_call_until_the_prompts_change(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    open_dm(rig)
    rig.wait(lambda: rig.slack.calls_to(PROMPTS), what="the first prompts")
    for _ in range(3):
        open_dm(rig)
    quiet(rig)
    assert len(rig.slack.calls_to(PROMPTS)) == 1, "the same prompts, within the hour: not sent again"

    open_dm(rig, user="UBOB", channel="D0BOB")  # someone else's DM has its own
    rig.wait(lambda: rig.slack.suggested_prompts.get("D0BOB"), what="bob's prompts")

    set_workspace_prompts(rig, OWN_PROMPTS)
    open_dm(rig)
    rig.wait(lambda: rig.slack.suggested_prompts[DM] == OWN_PROMPTS, what="the new prompts")
    assert len([c for c in rig.slack.calls_to(PROMPTS) if c["params"]["channel_id"] == DM]) == 2


@pytest.mark.parametrize("refusal", ["unknown_method", "missing_scope"])
def test_a_slack_that_refuses_prompts_is_remembered_and_not_asked_again(
    make_rig: Callable[..., Rig], refusal: str
) -> None:
    rig = make_rig()
    if refusal == "missing_scope":  # installed before the manifest asked for assistant:write
        assert rig.slack.granted_scopes is not None
        rig.slack.granted_scopes = [s for s in rig.slack.granted_scopes if s != "assistant:write"]
    else:
        rig.slack.inject(PROMPTS, refusal, count=100)
    open_dm(rig)
    rig.wait(lambda: rig.slack.calls_to(PROMPTS), what="the first prompts")

    def remembered() -> list[str]:
        with rig.engine.connect() as conn:
            return list(
                conn.execute(
                    select(SlackCapability.error).where(SlackCapability.feature == "suggested_prompts")
                ).scalars()
            )

    rig.wait(lambda: remembered() == [refusal], what="the refusal remembered")
    open_dm(rig, user="UBOB", channel="D0BOB")
    set_workspace_prompts(rig, OWN_PROMPTS)
    open_dm(rig)
    quiet(rig)
    assert len(rig.slack.calls_to(PROMPTS)) == 1, "asked once, then remembered for the workspace"
    assert rig.slack.suggested_prompts == {}, "its people see the manifest's prompts instead"
    # The DM works as before.
    question = rig.say("UALICE", "hello from a DM", channel=DM, channel_type="im")
    rig.wait_reaction(question)


def test_the_home_tab_is_still_app_home_and_the_messages_tab_draws_nothing(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    open_dm(rig, tab="home")
    assert rig.slack.home_views.get("UALICE"), "App Home was drawn"
    open_dm(rig)
    rig.wait(lambda: rig.slack.calls_to(PROMPTS), what="the prompts")
    quiet(rig, 0.5)
    assert len(rig.slack.calls_to("views.publish")) == 1, "opening the DM draws no App Home"
    assert len(rig.slack.calls_to(PROMPTS)) == 1, "opening App Home sets no prompts"


# -- thread titles ---------------------------------------------------------------------------------------


def titles(rig: Rig, top: StubMessage) -> list[str]:
    return list(rig.slack.thread_titles.get((top.channel, top.ts), []))


def session_title(rig: Rig) -> str:
    (session,) = rig.blocks.sessions.values()
    assert session.title
    return session.title


def test_a_dm_thread_is_titled_with_its_session_title_once(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", "fix the flaky parser test, please", channel=DM, channel_type="im")
    rig.wait_reaction(question)
    rig.wait(lambda: titles(rig, question), what="the thread's title")
    expected = session_title(rig)
    assert expected == "Fix the flaky parser test, please"
    assert titles(rig, question) == [expected]
    stored = conversation(rig, question)
    assert (stored.title, stored.title_state) == (expected, "set")
    # The thread's agent session is back to idle (its settle step) before the follow-up marks it again:
    # a follow-up that starts while it still shows processing leaves it as it is.
    rig.settle()

    follow_up = rig.say("UALICE", "and add a regression test", channel=DM, channel_type="im", thread=question)
    rig.wait_reaction(follow_up)
    rig.settle()
    quiet(rig)
    assert titles(rig, question) == [expected], "set once"
    # Slack's agent session of the thread keeps that title when the follow-up starts it again.
    assert rig.slack.agent_sessions[(DM, question.ts)]["title"] == expected


def test_a_title_blocks_had_not_made_at_create_comes_with_the_session_read(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    question = rig.say("UALICE", "tidy up the logging #untitled", channel=DM, channel_type="im")
    rig.wait_reaction(question)
    rig.wait(lambda: titles(rig, question), what="the thread's title")
    assert titles(rig, question) == ["Tidy up the logging"]
    (session,) = rig.blocks.sessions.values()
    reads = [
        e for e in rig.blocks.log if e["method"] == "GET" and e["path"] == f"/rest/v1/sessions/{session.id}"
    ]
    assert len(reads) == 1, "the one read made for the pull requests anyway: no request of its own"


def test_a_channel_thread_gets_no_title(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"<@{BOT_USER_ID}> fix the flaky parser test")
    rig.wait_reaction(question)
    rig.settle()
    quiet(rig)
    assert rig.slack.calls_to(TITLE) == []
    assert conversation(rig, question).title is None


def test_a_slack_that_refuses_titles_keeps_the_thread_as_it_was_and_is_not_asked_again(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.slack.inject(TITLE, "not_allowed", count=100)
    first = rig.say("UALICE", "one", channel=DM, channel_type="im")
    rig.wait_reaction(first)
    rig.wait(lambda: conversation(rig, first).title_state == "dropped", what="the title dropped")
    second = rig.say("UALICE", "two", channel=DM, channel_type="im")
    rig.wait_reaction(second)
    rig.settle()
    quiet(rig)
    assert len(rig.slack.calls_to(TITLE)) == 1, "asked once, then remembered for the workspace"
    assert rig.slack.thread_titles == {}
    assert conversation(rig, second).title_state == "dropped"
