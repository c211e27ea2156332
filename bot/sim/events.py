"""Signed Slack event deliveries, shaped like Slack's own, for tests, the demo and the benchmark.

A person's message in a channel where the bot is a member reaches the app twice when it mentions the
bot (`app_mention` and `message`, with different event ids), and Slack retries a delivery that failed or
took over 3 seconds, with `X-Slack-Retry-Num`: `deliver_message` can do all of that. A slash command
(`command`) and an interaction such as a view submission (`interaction`) arrive as Slack sends them: a
signed form, the command's fields or one `payload` field of JSON.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.sim.slack import BOT_USER_ID, TEAM_ID

_event_ids = itertools.count(1)


def envelope(event: dict[str, Any], *, team_id: str = TEAM_ID, event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "verification-token-unused",
        "team_id": team_id,
        "api_app_id": "A0SIM",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_ids):08d}{uuid.uuid4().hex[:6].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        # A member of another workspace can only write where a channel is shared with it (Slack Connect).
        "is_ext_shared_channel": event.get("user_team", team_id) != team_id,
    }


def message_event(
    *,
    channel: str,
    user: str,
    text: str,
    ts: str,
    thread_ts: str | None = None,
    kind: str = "message",
    channel_type: str = "channel",
    team_id: str = TEAM_ID,
    user_team: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel": channel,
        "team": team_id,
        "client_msg_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{channel}/{ts}")),
    }
    if user_team:
        event["user_team"] = user_team
    if kind == "message":
        event["channel_type"] = channel_type
    if thread_ts:
        event["thread_ts"] = thread_ts
    event.update(extra)
    return event


@dataclass
class Delivery:
    status: int
    seconds: float
    body: str


class EventSender:
    def __init__(self, url: str, signing_secret: str) -> None:
        self.url = url.rstrip("/") + "/slack/events"
        self.verifier = SignatureVerifier(signing_secret)
        self.http = httpx.Client(timeout=30)

    def close(self) -> None:
        self.http.close()

    def send(
        self,
        payload: dict[str, Any],
        *,
        retry_num: int | None = None,
        timestamp: int | None = None,
        forge: bool = False,
    ) -> Delivery:
        body = json.dumps(payload)
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        signature = str(self.verifier.generate_signature(timestamp=stamp, body=body))
        if forge:
            signature = "v0=" + "0" * 64
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        started = time.perf_counter()
        response = self.http.post(self.url, content=body, headers=headers)
        return Delivery(response.status_code, time.perf_counter() - started, response.text)

    def command(
        self,
        command: str,
        text: str,
        *,
        user: str,
        channel: str,
        trigger_id: str,
        team_id: str = TEAM_ID,
        enterprise_id: str = "",
    ) -> Delivery:
        """Someone types `command text` in `channel`: Slack's form, as its docs list the fields."""
        fields = {
            "token": "verification-token-unused",
            "team_id": team_id,
            "team_domain": team_id.lower(),
            "enterprise_id": enterprise_id,
            "channel_id": channel,
            "channel_name": channel.lower(),
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0SIM",
            "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.com/commands/T0SIM/1/unused",
            "trigger_id": trigger_id,
        }
        return self._delivered(lambda: self.post_form(urlencode(fields)))

    def interaction(self, payload: dict[str, Any]) -> Delivery:
        """A button press or a view submission: one `payload` field of JSON."""
        return self._delivered(lambda: self.post_interaction(payload))

    def post_interaction(self, payload: Mapping[str, Any]) -> httpx.Response:
        return self.post_form(urlencode({"payload": json.dumps(payload)}))

    def post_form(self, body: str) -> httpx.Response:
        """Post a form to the bot as Slack does, signed like an event."""
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": str(self.verifier.generate_signature(timestamp=stamp, body=body)),
        }
        return self.http.post(self.url, content=body, headers=headers)

    @staticmethod
    def _delivered(post: Callable[[], httpx.Response]) -> Delivery:
        started = time.perf_counter()
        response = post()
        return Delivery(response.status_code, time.perf_counter() - started, response.text)

    def deliver_message(
        self,
        *,
        channel: str,
        user: str,
        text: str,
        ts: str,
        thread_ts: str | None = None,
        channel_type: str = "channel",
        mention: bool = True,
        **extra: Any,
    ) -> list[Delivery]:
        """Deliver a person's message the way Slack does: as `message` (always, for a channel the bot is
        in, or a DM) and as `app_mention` too when it mentions the bot."""
        deliveries = []
        if mention and channel_type != "im":
            mention_event = message_event(
                channel=channel, user=user, text=text, ts=ts, thread_ts=thread_ts, kind="app_mention", **extra
            )
            deliveries.append(self.send(envelope(mention_event)))
        plain = message_event(
            channel=channel,
            user=user,
            text=text,
            ts=ts,
            thread_ts=thread_ts,
            channel_type=channel_type,
            **extra,
        )
        deliveries.append(self.send(envelope(plain)))
        return deliveries
