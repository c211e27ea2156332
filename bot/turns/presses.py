"""What a press of a turn's button records: the listener's half of Stop, Retry, Send now and the feedback
buttons, each one short transaction (see `stop`, `resend`, `send_now`, `feedback`). A press that leaves
the worker something to do wakes this process's worker; another replica's finds it at its next look."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine

from bot.failpoints import failpoint
from bot.slack.controls import FeedbackPress, Presses, StopPress, TurnPress
from bot.turns import feedback, resend, send_now, stop

logger = logging.getLogger(__name__)

TurnRequest = Callable[..., enum.Enum]


def recorder(engine: Engine, wake: Callable[[], None] | None) -> Presses:
    """The `Presses` of the Slack app: each records on `engine` (the quick one, which fails fast)."""

    def woken(what: str, press: TurnPress | StopPress, result: enum.Enum, requested: enum.Enum) -> None:
        target = press.turn_id if press.turn_id is not None else getattr(press, "thread_ts", None)
        logger.info("%s of %s in %s by %s: %s", what, target, press.channel_id, press.user_id, result.value)
        if wake is not None and result is requested:
            wake()

    def record_stop(press: StopPress) -> stop.StopRecorded:
        result = stop.request(
            engine,
            team_id=press.team_id,
            channel_id=press.channel_id,
            user_id=press.user_id,
            now=time.time(),
            turn_id=press.turn_id,
            thread_ts=press.thread_ts,
        )
        failpoint("after_stop_recorded")  # before Slack hears back: the stop must still happen
        woken("stop", press, result, stop.StopRecorded.REQUESTED)
        return result

    def on_turn(what: str, request: TurnRequest, requested: enum.Enum) -> Callable[[TurnPress], enum.Enum]:
        def record(press: TurnPress) -> enum.Enum:
            result = request(
                engine,
                team_id=press.team_id,
                channel_id=press.channel_id,
                user_id=press.user_id,
                turn_id=press.turn_id,
                now=time.time(),
            )
            failpoint("after_press_recorded")  # before Slack hears back: the press must still be acted on
            woken(what, press, result, requested)
            return result

        return record

    def record_feedback(press: FeedbackPress) -> bool:
        return feedback.record(
            engine,
            team_id=press.team_id,
            channel_id=press.channel_id,
            turn_id=press.turn_id,
            user_id=press.user_id,
            value=press.value,
            now=time.time(),
        )

    return Presses(
        stop=record_stop,
        retry=on_turn("retry", resend.request, resend.RetryRecorded.REQUESTED),
        send_now=on_turn("send now", send_now.request, send_now.SendNowRecorded.REQUESTED),
        feedback=record_feedback,
    )
