"""Socket Mode: the same app over a WebSocket from the Slack stub, acknowledged only once recorded."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text

from bot.sim.events import envelope, message_event
from bot.sim.slack import BOT_USER_ID, SlackStub
from bot.sim.socket_mode import SocketModeServer
from tests.conftest import CHANNEL, Rig


# The transport is what is tested; intake's SQL runs on both databases in test_intake.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_socket_mode_records_before_acknowledging_and_answers(
    make_rig: Callable[..., Rig], slack_stub: tuple[SlackStub, str]
) -> None:
    stub = slack_stub[0]
    server = SocketModeServer()
    stub.socket_mode = server
    rig = make_rig(slack_app_token="xapp-test-token", slack_signing_secret="")
    try:
        server.wait_connected()
        message = stub.human_message(CHANNEL, "UALICE", f"<@{BOT_USER_ID}> over the socket")
        payload = envelope(
            message_event(
                channel=CHANNEL, user="UALICE", text=message.text, ts=message.ts, kind="app_mention"
            )
        )
        with rig.engine.begin() as conn:
            conn.execute(text("ALTER TABLE inbound_messages RENAME TO inbound_messages_away"))
        with pytest.raises(TimeoutError):
            server.send_event(payload, timeout=2)  # not recorded, so not acknowledged: Slack retries
        with rig.engine.begin() as conn:
            conn.execute(text("ALTER TABLE inbound_messages_away RENAME TO inbound_messages"))
        assert "envelope_id" in server.send_event(payload, retry_attempt=1)
        rig.wait_reaction(message)
        server.send_event(payload, retry_attempt=2)
        rig.settle()
        assert len(rig.blocks.snapshot()["sessions"]) == 1 and len(rig.bot_replies(message)) == 1

        base = f"http://127.0.0.1:{rig.service.port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.post(f"{base}/slack/events", json=payload).status_code == 404, "unsigned HTTP refused"
    finally:
        rig.service.stop()
        server.stop()
