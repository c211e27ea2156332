"""A small synchronous client for the Blocks sessions API.

It makes exactly one HTTP request per call and never retries by itself: retries cost a request from the
key's shared budget, so the worker decides when to try again (and reschedules rather than sleeping). What
each failure means is encoded in the exception type (see `errors.py`).
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

import httpx

from bot.blocks.errors import (
    BlocksError,
    BlocksRateLimited,
    BlocksRejected,
    BlocksRetryable,
    BlocksUnknownOutcome,
)
from bot.blocks.links import final_message_url, rebase, thread_messages_url
from bot.storable import storable, storable_tree

__all__ = ["BlocksClient", "KeyCheck", "Message", "SessionRead", "SubmittedTurn", "ThreadSnapshot"]

logger = logging.getLogger(__name__)

_Params = list[tuple[str, str | int | float | bool | None]]
# 429 and 503 say the service refused the request. A gateway's 502 or 504 does not: the service behind it
# may have acted before the gateway gave up, so for a POST they mean "outcome unknown", like a 500.
_REFUSED_STATUSES = (429, 503)
_GATEWAY_STATUSES = (502, 504)
# Requests that surely never reached the server: safe to repeat even for a POST.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# No session has the nil UUID: reading it is answered 404 once the key is accepted, and changes nothing.
_NO_SUCH_SESSION = "/rest/v1/sessions/00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class SubmittedTurn:
    """What a create or follow-up returns: where to look for this turn's answer."""

    session_id: str
    thread_id: str
    final_message_url: str
    session_url: str | None = None
    title: str | None = None  # a create's: the session's title, when Blocks has made one yet


@dataclass(frozen=True)
class SessionRead:
    """What one read of a session says that a turn uses: its pull requests' addresses and its title."""

    pull_requests: list[str]
    title: str | None = None


KeyVerdict = Literal["accepted", "rejected", "rate_limited", "unreachable", "unexpected"]


@dataclass(frozen=True)
class KeyCheck:
    """What one authenticated request said about the API key (see `BlocksClient.check_key`). `detail`
    is one line and never contains the key; `status` is Blocks' HTTP status when it answered at all."""

    verdict: KeyVerdict
    detail: str
    status: int | None = None

    @property
    def ok(self) -> bool:
        return self.verdict == "accepted"


@dataclass(frozen=True)
class Message:
    id: str
    role: str
    type: str
    text: str
    thread_id: str | None
    ts: float | None
    created_at: str

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Message:
        ts, text = item.get("ts"), item.get("message")
        return cls(
            id=str(item.get("id", "")),
            role=str(item.get("role", "")),
            type=str(item.get("type", "")),
            text=text if isinstance(text, str) else "",
            thread_id=item.get("chat_thread_id"),
            ts=float(ts) if isinstance(ts, int | float) else None,
            created_at=str(item.get("created_at") or ""),
        )

    @property
    def created_epoch(self) -> float | None:
        """`created_at` (Blocks' clock) as epoch seconds, or None when it is missing or unreadable."""
        try:
            return datetime.fromisoformat(self.created_at).timestamp() if self.created_at else None
        except ValueError:
            return None


THREAD_READ_LIMIT = 20  # the newest items a poll reads


@dataclass(frozen=True)
class ThreadSnapshot:
    """The newest items of one turn's thread, newest first."""

    final: Message | None
    items: list[Message]

    @property
    def progress(self) -> list[Message]:
        """Assistant messages and tool calls written so far (never the final text)."""
        return [m for m in self.items if m.type in ("message", "tool_call")]


class BlocksClient:
    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.api_url,
            headers={
                "Authorization": f"ApiKey {api_key}",
                "Accept": "application/json",
                "User-Agent": "blocks-slack",
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    # -- sessions -----------------------------------------------------------------------------------

    def create_session(self, *, message: str, agent_name: str, is_private: bool) -> SubmittedTurn:
        body = {"message": message, "agent_name": agent_name, "is_private": is_private}
        data = self._request("POST", "/rest/v1/sessions", json=body)
        session_id = _required(data, "id")
        thread_id = _required(data, "thread_id")
        return SubmittedTurn(
            session_id=session_id,
            thread_id=thread_id,
            final_message_url=self._final_link(data, session_id, thread_id),
            session_url=data.get("session_html_url")
            if isinstance(data.get("session_html_url"), str)
            else None,
            title=_optional_text(data, "title"),
        )

    def send_message(self, *, session_id: str, message: str) -> SubmittedTurn:
        data = self._request("POST", f"/rest/v1/sessions/{session_id}/messages", json={"message": message})
        thread_id = _required(data, "chat_thread_id")
        return SubmittedTurn(
            session_id=session_id,
            thread_id=thread_id,
            final_message_url=self._final_link(data, session_id, thread_id),
        )

    def read_thread(
        self, *, session_id: str, thread_id: str, limit: int = THREAD_READ_LIMIT
    ) -> ThreadSnapshot:
        """One request: the newest assistant items of a turn (messages, tool calls, final message)."""
        url = thread_messages_url(self.api_url, session_id, thread_id)
        params: _Params = [
            ("type", "message"),
            ("type", "final_message"),
            ("type", "tool_call"),
            ("role", "assistant"),
            ("direction", "desc"),
            ("limit", limit),
        ]
        items = self._newest_items(url, params)
        final = next((m for m in items if m.type == "final_message"), None)
        return ThreadSnapshot(final=final, items=items)

    def find_user_message(
        self,
        *,
        session_id: str,
        text: str,
        known_threads: Collection[str] = (),
        not_before: float | None = None,
    ) -> Message | None:
        """After an unconfirmed follow-up: did Blocks record it? (It has no idempotency keys.)

        Only a message that this attempt could have created counts: one with the same text, in a thread
        that no other turn of the conversation knows (`known_threads`), written after every message of
        those threads (Blocks' own order, so no clock is compared), and not before `not_before` (our
        clock, when the attempt began, less the caller's allowance for skew). A second "continue" that
        never reached Blocks must not adopt the first one's answer."""
        url = f"{self.api_url}/rest/v1/sessions/{session_id}/messages"
        params: _Params = [("type", "message"), ("role", "user"), ("direction", "desc"), ("limit", 20)]
        items = self._newest_items(url, params)
        known = [m for m in items if m.thread_id in known_threads]
        newest_known = max((m.created_epoch for m in known if m.created_epoch is not None), default=None)
        for item in items:
            if item.role != "user" or item.text != text or not item.thread_id:
                continue
            if item.thread_id in known_threads:
                continue
            stamp = item.created_epoch
            if stamp is not None and newest_known is not None and stamp <= newest_known:
                continue
            if stamp is not None and not_before is not None and stamp < not_before:
                continue
            return item
        return None

    # -- the key ------------------------------------------------------------------------------------

    def read_session(self, *, session_id: str) -> SessionRead:
        """The session's pull requests (Blocks lists strings, ids or `{url, status}` objects; an id alone
        links nowhere and is left out) and its title. One request."""
        data = self._request("GET", f"/rest/v1/sessions/{session_id}")
        listed = data.get("pull_requests") if isinstance(data, dict) else None
        found = []
        for item in listed if isinstance(listed, list) else []:
            url = item.get("url") if isinstance(item, dict) else item
            if isinstance(url, str):
                found.append(url)
        return SessionRead(found, _optional_text(data, "title") if isinstance(data, dict) else None)

    def check_key(self) -> KeyCheck:
        """Whether Blocks accepts this client's key, at the cost of one request (one GET, never retried).

        It reads a session that cannot exist: 404 means the key was accepted, 401 or 403 that it was
        refused. A 404 only counts when it is a JSON error, as Blocks answers: a web server's HTML 404
        means BLOCKS_API_URL is not the API. No answer, a timeout or a 5xx is Blocks being unreachable,
        which says nothing about the key."""
        try:
            response = self._http.get(_NO_SUCH_SESSION)
        except httpx.TimeoutException as exc:
            return KeyCheck("unreachable", f"no answer from {self.api_url} in time ({type(exc).__name__})")
        except httpx.TransportError as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            return KeyCheck("unreachable", f"cannot connect to {self.api_url} ({reason})")
        status = response.status_code
        detail = storable(_error_detail(response))
        if 200 <= status < 300 or (status == 404 and _is_json_object(response)):
            return KeyCheck("accepted", "key accepted", status)
        if status in (401, 403):
            return KeyCheck("rejected", f"Blocks refused the key ({status}: {detail})", status)
        if status == 429:
            return KeyCheck("rate_limited", f"the key's rate limit is used up ({detail})", status)
        if status >= 500:
            return KeyCheck("unreachable", f"{self.api_url} answered {status} ({detail})", status)
        return KeyCheck("unexpected", f"{self.api_url} answered {status} ({detail})", status)

    # -- plumbing -----------------------------------------------------------------------------------

    def _final_link(self, data: dict[str, Any], session_id: str, thread_id: str) -> str:
        links = data.get("_links") if isinstance(data.get("_links"), dict) else {}
        link = links.get("final_message") if isinstance(links, dict) else None
        href = link.get("href") if isinstance(link, dict) else None
        if isinstance(href, str) and href:
            return rebase(href, self.api_url)
        return final_message_url(self.api_url, session_id, thread_id)

    def _newest_items(self, url: str, params: _Params) -> list[Message]:
        """The items of a list request that asks for `direction=desc`, newest first, whatever the
        server's order: older deployments ignore `direction` and sort oldest first, so the newest items
        are then on the last page."""
        data = self._request("GET", url, params=params)
        items = _items(data)
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
        total_pages = meta.get("total_pages") if isinstance(meta, dict) else None
        if isinstance(total_pages, int) and total_pages > 1 and _ascending(items):
            items = _items(self._request("GET", url, params=[*params, ("page", total_pages)]))
        return _sort_newest_first(items)

    def _request(
        self,
        method: str,
        url: str,
        *,
        json: dict[str, Any] | None = None,
        params: _Params | None = None,
    ) -> dict[str, Any]:
        is_post = method == "POST"
        try:
            response = self._http.request(method, url, json=json, params=params)
        except _NOT_SENT_ERRORS as exc:
            raise BlocksRetryable(f"cannot reach Blocks: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            # The request may have reached Blocks: a POST is then of unknown outcome.
            detail = f"no answer from Blocks: {type(exc).__name__}"
            if is_post:
                raise BlocksUnknownOutcome(detail) from None
            raise BlocksRetryable(detail) from None
        status = response.status_code
        if 200 <= status < 300:
            try:
                data = response.json()
            except ValueError:
                raise _unreadable(is_post, status) from None
            if not isinstance(data, dict):
                raise _unreadable(is_post, status)
            # Answers and progress go into the database: cleaned where they come in.
            return cast(dict[str, Any], storable_tree(data))
        detail = storable(_error_detail(response))
        if status == 429:
            raise BlocksRateLimited(
                f"Blocks rate limit: {detail}", status=status, retry_after=_retry_after(response)
            )
        if status in _REFUSED_STATUSES or (status in _GATEWAY_STATUSES and not is_post):
            raise BlocksRetryable(
                f"Blocks unavailable ({status}): {detail}", status=status, retry_after=_retry_after(response)
            )
        if status >= 500:
            if is_post:
                raise BlocksUnknownOutcome(f"Blocks failed ({status}): {detail}", status=status)
            raise BlocksRetryable(f"Blocks failed ({status}): {detail}", status=status)
        raise BlocksRejected(detail, status=status)


def _unreadable(is_post: bool, status: int) -> BlocksError:
    detail = f"Blocks answered {status} with a body that is not a JSON object"
    return BlocksUnknownOutcome(detail, status=status) if is_post else BlocksRetryable(detail, status=status)


def _is_json_object(response: httpx.Response) -> bool:
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


def _required(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise BlocksError(f"Blocks response lacks {key!r}")
    return value


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _items(data: dict[str, Any]) -> list[Message]:
    items = data.get("items")
    if not isinstance(items, list):
        raise BlocksRetryable("Blocks message list lacks 'items'")
    return [Message.from_json(item) for item in items if isinstance(item, dict)]


def _sort_newest_first(messages: list[Message]) -> list[Message]:
    # Never trust the server's order (docs and deployments disagree): sort by (ts, created_at) ourselves.
    return sorted(messages, key=lambda m: (m.ts or 0.0, m.created_at), reverse=True)


def _ascending(items: list[Message]) -> bool:
    # User messages carry no `ts`: their order is `created_at`'s.
    stamps = [stamp for m in items if (stamp := m.ts if m.ts is not None else m.created_epoch) is not None]
    return len(stamps) > 1 and stamps[0] < stamps[-1]


def _error_detail(response: httpx.Response) -> str:
    """Understand both error shapes seen: {"error": "text"} and {"error": {"code", "message"}}."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        error = body.get("error", body.get("message"))
        if isinstance(error, dict):
            code = error.get("code")
            message = error.get("message") or code
            return f"{message} ({code})" if code and message != code else str(message)
        if isinstance(error, str) and error:
            code = body.get("code")
            return f"{error} ({code})" if isinstance(code, str) and code else error
    return response.reason_phrase or f"HTTP {response.status_code}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
