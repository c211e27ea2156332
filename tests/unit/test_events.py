from __future__ import annotations

from typing import Any

from bot.sim.events import envelope, message_event
from bot.slack.events import classify, classify_change

BOT = "UBOT"


def run(event: dict[str, Any], *, allow_external: bool = False, body: dict[str, Any] | None = None) -> Any:
    payload = {**envelope(event), **(body or {})}
    return classify(payload, payload["event"], bot_user_id=BOT, allow_external_users=allow_external)


def test_mention_is_stripped_of_the_bot_token() -> None:
    got = run(message_event(channel="C1", user="U1", text=f"<@{BOT}> do it", ts="1.1", kind="app_mention"))
    assert got.text == "do it" and got.is_mention and got.channel_type == "unknown" and got.thread_ts is None


def test_a_message_event_carrying_the_mention_is_the_same_request() -> None:
    got = run(message_event(channel="C1", user="U1", text=f"hey <@{BOT}> do it", ts="1.1"))
    assert got.text == "hey do it" and got.is_mention and got.channel_type == "channel"


def test_top_level_chatter_is_not_for_the_agent() -> None:
    assert run(message_event(channel="C1", user="U1", text="lunch?", ts="1.1")) is None


def test_thread_replies_are_passed_on_for_intake_to_decide() -> None:
    got = run(message_event(channel="C1", user="U1", text="more", ts="1.2", thread_ts="1.1"))
    assert got is not None and got.is_thread_reply and not got.is_mention


def test_every_direct_message_is_for_the_agent() -> None:
    got = run(message_event(channel="D1", user="U1", text="hi", ts="1.1", channel_type="im"))
    assert got is not None and got.channel_type == "im"


def test_bots_edits_deletes_and_joins_are_dropped() -> None:
    for extra in (
        {"bot_id": "B1"},
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"subtype": "bot_message"},
    ):
        assert (
            run(message_event(channel="D1", user="U1", text="x", ts="1.1", channel_type="im", **extra))
            is None
        )
    assert run(message_event(channel="D1", user=BOT, text="x", ts="1.1", channel_type="im")) is None


def test_files_and_broadcast_replies_are_still_people_writing() -> None:
    files = [{"name": "a.txt", "permalink": "https://s/a"}]
    got = run(
        message_event(
            channel="D1",
            user="U1",
            text="see",
            ts="1.1",
            channel_type="im",
            subtype="file_share",
            files=files,
        )
    )
    assert got.files[0].name == "a.txt"
    assert (
        run(
            message_event(
                channel="C1", user="U1", text="x", ts="1.2", thread_ts="1.1", subtype="thread_broadcast"
            )
        )
        is not None
    )


def test_malformed_events_are_dropped_not_raised() -> None:
    assert run({"type": "message"}) is None
    assert run({"type": "app_mention", "user": 5, "channel": None, "ts": "1"}) is None
    assert (
        classify(
            {},
            {"type": "message", "user": "U1", "channel": "D1", "ts": "1"},
            bot_user_id=BOT,
            allow_external_users=False,
        )
        is None
    )


def test_users_of_other_organizations() -> None:
    event = message_event(
        channel="C1", user="UX", text=f"<@{BOT}> hi", ts="1.1", kind="app_mention", user_team="T0OTHER"
    )
    assert run(event) is None
    assert run(event, allow_external=True) is not None
    grid = {"authorizations": [{"team_id": "T0001"}, {"team_id": "T0OTHER"}]}
    assert run(event, body=grid) is not None, "another workspace of the same Enterprise Grid org is ours"


def change(event: dict[str, Any]) -> Any:
    payload = envelope(event)
    return classify_change(payload, payload["event"], bot_user_id=BOT, allow_external_users=False)


def test_an_edit_of_a_persons_reply_reads_as_it_now_is_and_a_delete_as_none() -> None:
    edited = change(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": "C1",
            "message": {
                "type": "message",
                "user": "U1",
                "text": f"<@{BOT}> now this",
                "ts": "1.2",
                "thread_ts": "1.1",
            },
        }
    )
    assert (edited.ts, edited.user_id, edited.text) == ("1.2", "U1", "now this")
    deleted = change({"type": "message", "subtype": "message_deleted", "channel": "C1", "deleted_ts": "1.2"})
    assert (deleted.ts, deleted.text) == ("1.2", None)


def test_the_bots_own_edits_and_other_subtypes_are_no_change() -> None:
    own = {
        "type": "message",
        "user": BOT,
        "bot_id": "B1",
        "text": "⏳ working",
        "ts": "1.3",
        "thread_ts": "1.1",
    }
    assert change({"type": "message", "subtype": "message_changed", "channel": "C1", "message": own}) is None
    assert change({"type": "message", "subtype": "channel_join", "channel": "C1", "ts": "1.4"}) is None
    assert change({"type": "message", "subtype": "message_deleted", "channel": "C1"}) is None
