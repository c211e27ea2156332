from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from bot.blocks.client import BlocksClient
from bot.blocks.errors import (
    BlocksError,
    BlocksRateLimited,
    BlocksRejected,
    BlocksRetryable,
    BlocksUnknownOutcome,
)
from bot.blocks.links import rebase
from bot.sim.agent_tools import tool_calls
from bot.sim.blocks import BlocksSimulator, SimConfig

API = "http://127.0.0.1:9"
SESSION = "a196cec6-0000-4000-8000-000000000001"
THREAD = "71562cd0-0000-4000-8000-000000000002"


def client(handler: Callable[[httpx.Request], httpx.Response]) -> BlocksClient:
    return BlocksClient(api_url=API, api_key="secret-key", transport=httpx.MockTransport(handler))


def reply(
    status: int, body: object = None, headers: dict[str, str] | None = None
) -> Callable[..., httpx.Response]:
    return lambda request: httpx.Response(status, json=body if body is not None else {}, headers=headers)


def test_create_rebases_links_and_sends_the_key_only_to_the_configured_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "id": SESSION,
                "thread_id": THREAD,
                "session_html_url": "https://blocks.team/app/s/1",
                "_links": {
                    "final_message": {
                        "href": f"https://api.prod.blocks.team/rest/v1/sessions/{SESSION}"
                        f"/threads/{THREAD}/messages?type=final_message&role=assistant"
                    }
                },
            },
        )

    result = client(handler).create_session(message="hi", agent_name="claude", is_private=False)
    assert result.final_message_url == (
        f"{API}/rest/v1/sessions/{SESSION}/threads/{THREAD}/messages?type=final_message&role=assistant"
    )
    assert seen[0].headers["authorization"] == "ApiKey secret-key"
    assert seen[0].url.host == "127.0.0.1"


def test_a_link_outside_the_api_is_refused() -> None:
    with pytest.raises(BlocksError):
        rebase("https://evil.example/steal", API)


@pytest.mark.parametrize(
    ("status", "body", "error", "detail"),
    [
        (
            400,
            {"error": {"code": "VALIDATION", "message": "bad agent"}},
            BlocksRejected,
            "bad agent (VALIDATION)",
        ),
        (400, {"error": "no task", "code": "BAD_REQUEST"}, BlocksRejected, "no task (BAD_REQUEST)"),
        (401, {"error": "Unauthorized"}, BlocksRejected, "Unauthorized"),
        (403, {"error": "Forbidden"}, BlocksRejected, "Forbidden"),
        (404, {"error": "Session not found", "code": "NOT_FOUND"}, BlocksRejected, "Session not found"),
        (
            422,
            {"error": "Either agent_id, agent_name, or profile must be provided."},
            BlocksRejected,
            "Either",
        ),
        (429, {"error": "Rate limit exceeded"}, BlocksRateLimited, "Rate limit"),
        # A gateway's 502 or 504 may come after the service acted: the outcome of a POST is unknown.
        (502, {"error": "bad gateway"}, BlocksUnknownOutcome, "bad gateway"),
        (503, {}, BlocksRetryable, "503"),
        (504, {}, BlocksUnknownOutcome, "504"),
        (500, {"error": "boom"}, BlocksUnknownOutcome, "boom"),
    ],
)
def test_post_errors_say_whether_to_retry(status: int, body: object, error: type, detail: str) -> None:
    with pytest.raises(error) as caught:
        client(reply(status, body)).send_message(session_id=SESSION, message="x")
    assert isinstance(caught.value, BlocksError)
    assert detail in str(caught.value) and caught.value.status == status


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_on_a_read_is_simply_retryable(status: int) -> None:
    with pytest.raises(BlocksRetryable):
        client(reply(status)).read_thread(session_id=SESSION, thread_id=THREAD)


def _user_item(item_id: str, text: str, thread: str, created_at: str) -> dict[str, object]:
    return {
        "id": item_id,
        "role": "user",
        "type": "message",
        "message": text,
        "ts": None,
        "chat_thread_id": thread,
        "created_at": created_at,
    }


def test_only_a_user_message_this_attempt_could_have_written_is_found() -> None:
    earlier = _user_item("1", "continue", "thread-1", "2026-12-02T10:00:00.000Z")
    later = _user_item("2", "continue", "thread-2", "2026-12-02T10:05:00.000Z")
    api = client(reply(200, {"items": [earlier, later], "meta": {"total_pages": 1}}))
    attempt = datetime(2026, 12, 2, 10, 4, tzinfo=UTC).timestamp()

    def find(known: set[str], not_before: float | None) -> str | None:
        found = api.find_user_message(
            session_id=SESSION, text="continue", known_threads=known, not_before=not_before
        )
        return None if found is None else found.thread_id

    assert find(set(), None) == "thread-2", "the newest match"
    assert find({"thread-2"}, None) is None, "a thread an earlier turn knows is never adopted"
    assert find({"thread-1"}, attempt) == "thread-2"
    assert find(set(), attempt + 120) is None, "older than the attempt"
    unknown_after_known = _user_item("3", "continue", "thread-x", "2026-12-02T09:59:00.000Z")
    api = client(reply(200, {"items": [unknown_after_known, earlier], "meta": {"total_pages": 1}}))
    assert find({"thread-1"}, None) is None, "written before a known turn's message: not this attempt"


def test_retry_after_is_honoured_in_seconds_or_as_a_date() -> None:
    with pytest.raises(BlocksRateLimited) as caught:
        client(reply(429, {}, {"Retry-After": "7"})).read_thread(session_id=SESSION, thread_id=THREAD)
    assert caught.value.retry_after == 7
    with pytest.raises(BlocksRetryable) as unavailable:
        client(reply(503, {}, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})).read_thread(
            session_id=SESSION, thread_id=THREAD
        )
    assert unavailable.value.retry_after == 0


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def test_transport_errors_before_sending_are_retryable_after_sending_unknown() -> None:
    with pytest.raises(BlocksRetryable):
        client(_raise(httpx.ConnectError("refused"))).create_session(
            message="x", agent_name="claude", is_private=False
        )
    with pytest.raises(BlocksUnknownOutcome):
        client(_raise(httpx.ReadTimeout("slow"))).create_session(
            message="x", agent_name="claude", is_private=False
        )
    with pytest.raises(BlocksRetryable):
        client(_raise(httpx.ReadTimeout("slow"))).read_thread(session_id=SESSION, thread_id=THREAD)


def test_a_success_that_is_not_json_is_not_trusted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>proxy</html>")

    with pytest.raises(BlocksUnknownOutcome):
        client(handler).create_session(message="x", agent_name="claude", is_private=False)
    with pytest.raises(BlocksRetryable):
        client(handler).read_thread(session_id=SESSION, thread_id=THREAD)


def test_the_key_never_appears_in_errors() -> None:
    with pytest.raises(BlocksRejected) as caught:
        client(reply(403, {"error": "Forbidden"})).create_session(
            message="x", agent_name="c", is_private=False
        )
    assert "secret-key" not in str(caught.value)


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_reading_a_thread_against_the_simulator_in_both_sort_orders(direction: str) -> None:
    now = [1000.0]
    sim = BlocksSimulator(SimConfig(answer_delay=10, default_direction=direction), clock=lambda: now[0])
    api = BlocksClient(api_url="http://sim", api_key="k", transport=httpx.WSGITransport(app=sim))
    created = api.create_session(message="hi", agent_name="claude", is_private=False)
    now[0] += 7
    running = api.read_thread(session_id=created.session_id, thread_id=created.thread_id)
    calls = len(tool_calls("claude"))
    assert running.final is None and [m.type for m in running.progress] == ["message"] + ["tool_call"] * calls
    now[0] += 5
    done = api.read_thread(session_id=created.session_id, thread_id=created.thread_id)
    assert done.final is not None and "You asked" in done.final.text
    later = api.send_message(session_id=created.session_id, message="again")
    assert later.thread_id != created.thread_id
    found = api.find_user_message(session_id=created.session_id, text="again")
    assert found is not None and found.thread_id == later.thread_id


def test_a_long_thread_whose_server_ignores_direction_is_read_from_its_last_page() -> None:
    items = [
        {
            "id": str(i),
            "role": "assistant",
            "type": "tool_call",
            "message": "{}",
            "ts": float(i),
            "chat_thread_id": THREAD,
            "created_at": "",
        }
        for i in range(45)
    ]
    items.append(
        {
            "id": "f",
            "role": "assistant",
            "type": "final_message",
            "message": "done",
            "ts": 99.0,
            "chat_thread_id": THREAD,
            "created_at": "",
        }
    )

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        chunk = items[(page - 1) * 20 : page * 20]  # oldest first, whatever direction says
        return httpx.Response(200, json={"items": chunk, "meta": {"total_pages": 3, "page": page}})

    snapshot = client(handler).read_thread(session_id=SESSION, thread_id=THREAD)
    assert snapshot.final is not None and snapshot.final.text == "done"
