"""`/blocks` and a channel's settings, end to end over real HTTP against the Slack stub: the modal opened
(with where each value comes from), submitted, saved with a record, announced in the channel, applied to
the next turn in that channel and not to another channel's; a non-admin refused; `status` and `help`.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bot.db.models import ChannelPreferences, PreferenceChange
from bot.preferences import views
from bot.preferences.store import save_workspace
from bot.sim.slack import BOT_USER_ID, TEAM_ID
from bot.slack import messages
from bot.slack.blocks_command import HELP, ONLY_ADMINS
from tests import settings_forms as forms
from tests.conftest import CHANNEL, Rig

MENTION = f"<@{BOT_USER_ID}>"
ADMIN = "UADMIN"
OTHER_CHANNEL = "C0OTHER"


def slash(rig: Rig, user: str, text: str = "", *, channel: str = CHANNEL, trigger: str | None = None) -> str:
    return forms.slash(rig.sender, rig.slack, user, text, channel=channel, trigger=trigger)


def submit(rig: Rig, user: str, choices: dict[str, str], *, custom_agent: str = "") -> dict[str, Any] | None:
    return forms.submit(rig.sender, rig.slack, user, choices, custom_agent=custom_agent)


def announcements(rig: Rig, channel: str = CHANNEL) -> list[str]:
    return forms.announcements(rig.slack, channel)


def test_an_admin_sets_a_channels_agent_and_it_applies_to_new_threads_there_only(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.slack.admins.add(ADMIN)

    assert slash(rig, ADMIN) == "", "the modal opens; nothing to say"
    modal = rig.slack.opened_views[-1]
    assert modal["callback_id"] == views.VIEW_CHANNEL
    agent = next(b for b in modal["blocks"] if b.get("block_id") == "agent")
    assert agent["element"]["initial_option"]["value"] == views.INHERIT
    assert agent["element"]["initial_option"]["text"]["text"] == "Default: claude"
    assert "the deployment default" in agent["hint"]["text"], "where the value comes from"

    assert submit(rig, ADMIN, {"agent": "codex", "busy_policy": "interrupt"}) is None, "saved: it closes"

    with rig.engine.connect() as conn:
        (row,) = conn.execute(select(ChannelPreferences.__table__)).all()
        changes = conn.execute(select(PreferenceChange.name, PreferenceChange.new_value)).all()
    assert (row.team_id, row.channel_id) == (TEAM_ID, CHANNEL)
    assert (row.agent, row.busy_policy) == ("codex", "interrupt")
    assert row.updated_by == ADMIN
    assert sorted(changes) == [("agent", "codex"), ("busy_policy", "interrupt")]
    rig.wait(lambda: announcements(rig), what="the change told in the channel")
    (told,) = announcements(rig)
    assert f"<@{ADMIN}>" in told and "codex" in told and "A reply interrupts it" in told

    here = rig.say("UALICE", f"{MENTION} why is the build red?")
    there = rig.say("UALICE", f"{MENTION} why is the build red?", channel=OTHER_CHANNEL)
    rig.wait_reaction(here)
    rig.wait_reaction(there)
    assert rig.agent_of(here) == "codex" and rig.agent_of(there) == "claude"

    # Opened again, the modal shows the channel's own values.
    slash(rig, ADMIN)
    agent = next(b for b in rig.slack.opened_views[-1]["blocks"] if b.get("block_id") == "agent")
    assert agent["element"]["initial_option"]["value"] == "codex"
    assert "this channel" in agent["hint"]["text"]


def test_someone_who_is_not_an_admin_sees_the_settings_and_cannot_change_them(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    answer = slash(rig, "UBOB")
    assert answer.startswith(ONLY_ADMINS)
    assert "*Default agent*: claude (the deployment default)" in answer
    assert not rig.slack.calls_to("views.open")

    # A submission of a modal opened when they were an admin is checked again.
    rig.slack.admins.add("UBOB")
    slash(rig, "UBOB")
    rig.slack.admins.discard("UBOB")
    refused = submit(rig, "UBOB", {"agent": "gemini"})
    assert refused is not None and refused["response_action"] == "errors"
    assert ONLY_ADMINS in json.dumps(refused["errors"])
    with rig.engine.connect() as conn:
        assert conn.execute(select(ChannelPreferences.__table__)).first() is None


def test_admin_users_and_members_when_the_workspace_allows_it_may_change_settings(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(admin_users=("UOPS",))
    slash(rig, "UOPS")
    assert submit(rig, "UOPS", {"answers": "summary"}) is None

    assert slash(rig, "UCAROL").startswith(ONLY_ADMINS)
    with rig.engine.begin() as conn:  # a workspace admin allowed it (from App Home)
        save_workspace(
            conn, team_id=TEAM_ID, user_id=ADMIN, values={}, members_may_configure=True, now=time.time()
        )
    assert slash(rig, "UCAROL") == ""
    assert submit(rig, "UCAROL", {"answers": "full"}) is None


def test_a_custom_agent_id_is_checked_and_used(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.slack.admins.add(ADMIN)
    slash(rig, ADMIN)
    refused = submit(rig, ADMIN, {}, custom_agent="not an agent!")
    assert refused is not None and views.CUSTOM_AGENT_BLOCK in refused["errors"]
    assert submit(rig, ADMIN, {}, custom_agent="my-agent_2") is None
    question = rig.say("UALICE", f"{MENTION} hello")
    rig.wait(lambda: rig.turns() and rig.turns()[0].phase == "finished", what="the turn")
    assert rig.agent_of(question) == "my-agent_2"


def test_reply_mode_mentions_only_continues_a_thread_when_the_bot_is_mentioned(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.slack.admins.add(ADMIN)
    slash(rig, ADMIN)
    submit(rig, ADMIN, {"reply_mode": "mentions"})
    question = rig.say("UALICE", f"{MENTION} look at the flaky test")
    rig.wait_reaction(question)

    chatter = rig.say("UBOB", "I think it is the clock", thread=question)
    asked = rig.say("UBOB", f"{MENTION} is it the clock?", thread=question)
    rig.wait_reaction(asked)
    rig.settle()
    assert not chatter.reactions, "a reply without a mention is people talking"
    sent = [m["message"] for m in rig.blocks.snapshot()["user_messages"]]
    assert not any("I think it is the clock" in m for m in sent)
    assert any("is it the clock?" in m for m in sent)


def test_summary_answers_show_the_start_and_the_link_and_a_running_turn_keeps_what_it_started_with(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.slack.admins.add(ADMIN)
    long_ask = f"{MENTION} explain everything #long=5000 #delay=2"
    before = rig.say("UALICE", long_ask)
    rig.wait(lambda: rig.turns() and rig.turns()[0].submitted_at, what="the first turn submitted")
    slash(rig, ADMIN)
    submit(rig, ADMIN, {"answers": "summary"})
    rig.wait_reaction(before, timeout=30)
    assert messages.SUMMARY_NOTE not in rig.answer_text(before), "started before the change: full"

    after = rig.say("UALICE", f"{MENTION} explain everything #long=5000")
    rig.wait_reaction(after, timeout=30)
    shown = rig.answer_text(after)
    assert messages.SUMMARY_NOTE in shown and "View session" in shown
    assert len(shown) < 1500, "a summary, not the answer"
    assert not rig.slack.calls_to("files.completeUploadExternal"), "no file of a summary"


def test_status_lists_running_and_queued_turns_of_the_channel(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    assert "Nothing is running" in slash(rig, "UBOB", "status")
    question = rig.say("UALICE", f"{MENTION} a long job #delay=30")
    rig.wait(lambda: any(t.submitted_at for t in rig.turns()), what="the turn submitted")
    rig.say("UCAROL", "and also this", thread=question)
    rig.say("UDAVE", f"{MENTION} elsewhere #delay=30", channel=OTHER_CHANNEL)
    rig.wait(lambda: len(rig.turns()) == 3, what="three turns")

    status = slash(rig, "UBOB", "status")
    assert "1 running, 1 queued" in status
    assert "<@UALICE> · claude · working" in status and "View session" in status
    assert "<@UCAROL> · claude · 1 reply queued" in status
    assert "UDAVE" not in status, "another channel's turns are not listed"


def test_help_and_unknown_words(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    assert slash(rig, "UBOB", "help") == HELP
    unknown = slash(rig, "UBOB", "frobnicate now")
    assert unknown.startswith("`/blocks frobnicate` is not something I know.") and HELP in unknown
    assert not rig.slack.calls_to("views.open")


def test_a_modal_that_cannot_open_in_time_is_told(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.slack.admins.add(ADMIN)
    trigger = rig.slack.new_trigger()
    rig.slack.expire_trigger(trigger)
    assert "did not open in time" in slash(rig, ADMIN, trigger=trigger)
