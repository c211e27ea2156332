"""👍/👎 under every answer, end to end over real HTTP: each press is recorded before Slack is answered
(who, which turn, when), pressing the other changes it, the worker checks the presser may use the
thread's buttons, the audit shows what was allowed; a notice carries none, and a value sent from another
channel records nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from bot.audit import audit_rows
from bot.db.models import Feedback
from bot.sim.slack import BOT_USER_ID, StubMessage
from bot.slack import controls, messages
from tests.conftest import Rig
from tests.presses import button, press

MENTION = f"<@{BOT_USER_ID}>"


def rate(rig: Rig, user: str, answer: StubMessage, which: str, *, channel: str | None = None) -> None:
    press(
        rig.sender, answer, controls.FEEDBACK, user, label="👍" if which == "good" else "👎", channel=channel
    )


def recorded(rig: Rig) -> dict[str, str]:
    with rig.engine.connect() as conn:
        return {row.user_id: row.value for row in conn.execute(select(Feedback.user_id, Feedback.value))}


def all_checked(rig: Rig) -> None:
    def checked() -> bool:
        with rig.engine.connect() as conn:
            return conn.execute(select(Feedback.turn_id).where(Feedback.checked_at.is_(None))).first() is None

    rig.wait(checked, what="the presses checked by the worker")


def test_feedback_is_recorded_changed_and_audited(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    question = rig.say("UALICE", f"{MENTION} explain the retry policy")
    rig.wait_reaction(question)
    (answer,) = rig.bot_replies(question)
    assert button(answer, controls.FEEDBACK, "👍") and button(answer, controls.FEEDBACK, "👎"), answer.blocks

    rate(rig, "UBOB", answer, "good")
    assert recorded(rig) == {"UBOB": "good"}, "recorded before Slack was answered"
    rate(rig, "UBOB", answer, "bad")
    rate(rig, "UCAROL", answer, "good")
    assert recorded(rig) == {"UBOB": "bad", "UCAROL": "good"}, "pressing the other one changes it"

    all_checked(rig)
    assert recorded(rig) == {"UBOB": "bad", "UCAROL": "good"}, "anyone the bot answers here may press"
    (row,) = list(audit_rows(rig.engine))
    assert row[-3:] == ("answered", "1", "1")


def test_a_notice_has_no_feedback_and_a_value_from_another_channel_records_nothing(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.blocks.inject(method="POST", path=r"/sessions$", status=400, body={"error": "bad agent"})
    failed = rig.say("UALICE", f"{MENTION} this fails")
    rig.wait_reaction(failed, messages.FAILED)
    assert all(button(m, controls.FEEDBACK) is None for m in rig.bot_replies(failed))

    question = rig.say("UALICE", f"{MENTION} and this works")
    rig.wait_reaction(question)
    (answer,) = rig.bot_replies(question)
    rate(rig, "UBOB", answer, "good", channel="COTHER")
    assert recorded(rig) == {}


def test_someone_who_may_not_continue_the_thread_gets_an_ephemeral_no_and_their_press_is_not_counted(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(continue_threads="starter")
    question = rig.say("UALICE", f"{MENTION} explain the retry policy")
    rig.wait_reaction(question)
    (answer,) = rig.bot_replies(question)

    rate(rig, "UALICE", answer, "good")
    rate(rig, "UBOB", answer, "bad")
    rig.wait(lambda: rig.slack.calls_to("chat.postEphemeral"), what="the ephemeral no")
    all_checked(rig)

    (no,) = rig.slack.calls_to("chat.postEphemeral")
    assert (
        no["params"]["user"] == "UBOB" and "only the person who started this thread" in no["params"]["text"]
    )
    assert no["params"]["thread_ts"] == question.ts
    assert recorded(rig) == {"UALICE": "good"}, "the refused press is gone"
    (row,) = list(audit_rows(rig.engine))
    assert row[-3:] == ("answered", "1", "0")
