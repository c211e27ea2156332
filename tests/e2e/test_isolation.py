"""What belongs to another organization stays out: its people's words in a shared thread, its events."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from bot.sim.events import envelope, message_event
from bot.sim.slack import BOT_USER_ID, TEAM_ID
from tests.conftest import CHANNEL, Rig

MENTION = f"<@{BOT_USER_ID}>"
PARTNER = "TPARTNER"  # another company, sharing the channel over Slack Connect


def _shared_thread(rig: Rig) -> tuple[str, str]:
    top = rig.slack.human_message(CHANNEL, "UBOB", "the deploy is stuck again")
    rig.slack.human_message(CHANNEL, "UEXT", "our secret roadmap says Friday", top.ts, team=PARTNER)
    mention = rig.say("UALICE", f"{MENTION} can you check?", thread=top)
    rig.wait_reaction(mention)
    return top.ts, rig.blocks.snapshot()["user_messages"][0]["message"]


def test_external_people_in_a_shared_thread_are_left_out_and_the_agent_is_told(rig: Rig) -> None:
    _, sent = _shared_thread(rig)
    assert "@bob: the deploy is stuck again" in sent
    assert "secret roadmap" not in sent
    assert "1 earlier message in this thread, by people outside this organization, left out" in sent


def test_external_people_are_included_when_allowed(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(allow_external_users=True)
    _, sent = _shared_thread(rig)
    assert "our secret roadmap says Friday" in sent and "left out" not in sent


def test_an_event_of_another_workspace_is_acknowledged_ignored_and_logged_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for ts in ("5.000001", "5.000002"):
        event = message_event(
            channel=CHANNEL,
            user="UMALLORY",
            text=f"{MENTION} hi",
            ts=ts,
            kind="app_mention",
            team_id="TOTHER",
        )
        assert rig.sender.send(envelope(event, team_id="TOTHER")).status == 200
    question = rig.say("UALICE", f"{MENTION} hello")  # ours, for comparison
    rig.wait_reaction(question)
    rig.settle()
    assert len(rig.turns()) == 1, "nothing recorded for the other workspace"
    assert [
        c for c in rig.slack.calls if c["params"].get("channel") == CHANNEL and c["method"] != "users.info"
    ]
    ignored = [r for r in caplog.records if "TOTHER" in r.getMessage()]
    assert len(ignored) == 1 and "not installed there" in ignored[0].getMessage()


def _connect_envelope(event: dict[str, object]) -> dict[str, object]:
    """An event in a Slack Connect channel as Slack delivers it to us: the envelope's `team_id` is the
    partner's workspace (where the event happened), `authorizations[0]` is our installation."""
    payload = envelope(event, team_id=PARTNER)
    payload["authorizations"] = [
        {"enterprise_id": None, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}
    ]
    payload["is_ext_shared_channel"] = True
    return payload


def test_in_a_slack_connect_channel_our_people_are_served_and_the_partners_are_not(rig: Rig) -> None:
    ours = rig.slack.human_message(CHANNEL, "UALICE", f"{MENTION} from our side")
    theirs = rig.slack.human_message(CHANNEL, "UEXT", f"{MENTION} from theirs", team=PARTNER)
    for message, team in ((ours, TEAM_ID), (theirs, PARTNER)):
        event = message_event(
            channel=CHANNEL, user=message.user, text=message.text, ts=message.ts, kind="app_mention",
            team_id=team, user_team=team,
        )  # fmt: skip
        assert rig.sender.send(_connect_envelope(event)).status == 200
    rig.wait_reaction(ours)
    rig.settle()
    assert [t.requested_by for t in rig.turns()] == ["UALICE"], "our member's mention, not the partner's"
    assert not theirs.reactions, "the partner's message is not touched"
