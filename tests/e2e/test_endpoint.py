"""The public endpoint under hostile traffic: nothing unsigned costs more than a few bytes of work, a log
line or a connection slot for long, and Slack's signed deliveries keep being acknowledged meanwhile.

Everything goes over real loopback HTTP to the real bot (the `rig`), with plain sockets where an HTTP
client would be too polite (announcing 100 MB, trickling a header, holding a connection and saying
nothing).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select

from bot import service as service_module
from bot.db.models import InboundMessage
from bot.sim.events import envelope, message_event
from bot.sim.slack import BOT_USER_ID
from bot.web import HttpServer
from tests.conftest import CHANNEL, SIGNING_SECRET, Rig

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
HUNDRED_MB = 100 * 1024 * 1024
ACK_SECONDS = 3.0  # Slack gives up on a delivery after 3 s and delivers it again
READ_TIMEOUT = 1.5  # short, so the test sees idle connections closed quickly


def _signed(body: bytes, content_type: str = JSON, *, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }


def _post(rig: Rig, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """A delivery on a connection of its own, as Slack opens them, given Slack's 3 seconds."""
    url = f"http://127.0.0.1:{rig.service.port}/slack/events"
    return httpx.post(url, content=body, headers=headers, timeout=ACK_SECONDS)


def _mention(text: str, ts: str) -> bytes:
    event = message_event(channel=CHANNEL, user="UALICE", text=text, ts=ts, kind="app_mention")
    return json.dumps(envelope(event)).encode()


def _recorded(rig: Rig) -> int:
    with rig.engine.connect() as conn:
        return int(conn.execute(sql_select(func.count()).select_from(InboundMessage)).scalar_one())


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _stream_until_answered(port: int, head: bytes, chunks: Iterator[bytes]) -> tuple[bytes, float]:
    """Send `head`, then body chunks until the server answers (or they run out); return the answer's
    first bytes and how long it took. Stops sending as soon as an answer is readable, so the answer is
    read before the server's close can reset the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(head)
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(chunk)
            except OSError:
                break  # the server closed its side: its answer is waiting
        try:
            answer = sock.recv(4096)
        except (TimeoutError, OSError):
            answer = b""
        return answer, time.monotonic() - started


def test_an_unsigned_body_announced_as_100_mb_is_refused_at_once_without_memory(rig: Rig) -> None:
    head = (
        b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % HUNDRED_MB
    )
    block = b"x" * 65536
    before = _rss_mb()
    answer, seconds = _stream_until_answered(rig.service.port, head, (block for _ in range(64)))
    grown = _rss_mb() - before
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:80]
    assert seconds < 2, f"refused after {seconds:.1f}s: the body was being read"
    assert grown < 8, f"RSS grew by {grown:.1f} MB for one refused request"


def test_an_unsigned_chunked_body_over_the_limit_is_refused(rig: Rig) -> None:
    head = (
        b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    block = b"x" * 65536
    chunk = b"%x\r\n%s\r\n" % (len(block), block)
    answer, seconds = _stream_until_answered(rig.service.port, head, (chunk for _ in range(48)))
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:80]
    assert seconds < 2


def test_requests_without_a_valid_signature_are_refused_before_anything_else(rig: Rig) -> None:
    body = _mention(f"<@{BOT_USER_ID}> hi", "1.000001")
    good = _signed(body)
    stamp = good["X-Slack-Request-Timestamp"]
    cases: dict[str, dict[str, str]] = {
        "no signature headers": {"Content-Type": JSON},
        "forged": {**good, "X-Slack-Signature": "v0=" + "0" * 64},
        "stale": _signed(body, timestamp=int(time.time()) - 600),
        "future": _signed(body, timestamp=int(time.time()) + 600),
        "timestamp not a number": {**good, "X-Slack-Request-Timestamp": "soon"},
        "huge timestamp": {**good, "X-Slack-Request-Timestamp": "9" * 5000},
        "signed for another timestamp": {**good, "X-Slack-Request-Timestamp": str(int(stamp) - 1)},
    }
    for case, headers in cases.items():
        response = _post(rig, body, headers)
        assert response.status_code == 401, (case, response.status_code, response.text[:200])
        assert len(response.content) < 100, case
    # Header values are bytes on the wire: one that is not ASCII must be refused, not crash the check.
    odd = httpx.post(
        f"http://127.0.0.1:{rig.service.port}/slack/events",
        content=body,
        headers=[
            (b"Content-Type", b"application/json"),
            (b"X-Slack-Request-Timestamp", stamp.encode()),
            (b"X-Slack-Signature", b"v0=\xe9\xe9"),
        ],
        timeout=ACK_SECONDS,
    )
    assert odd.status_code == 401, odd.text[:200]
    assert httpx.get(f"http://127.0.0.1:{rig.service.port}/slack/events").status_code == 405
    assert _recorded(rig) == 0


MALFORMED: dict[str, tuple[bytes, str]] = {
    "not UTF-8": (b'{"type": "event_callback", "x": "\xff\xfe"}', JSON),
    "not JSON": (b"{this is not json", JSON),
    "JSON array": (b"[1, 2, 3]", JSON),
    "JSON string": (b'"event_callback"', JSON),
    "empty": (b"", JSON),
    "deeply nested": (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON),
    "form without payload or command": (b"token=x&team_id=T0SIM", FORM),
    "form payload not JSON": (b"payload=%7Bnope", FORM),
    "form payload not an object": (b"payload=%5B1%2C2%5D", FORM),
    "unknown content type": (b"hello", "text/plain"),
}


def test_signed_but_malformed_bodies_get_a_short_400(rig: Rig) -> None:
    for case, (body, content_type) in MALFORMED.items():
        response = _post(rig, body, _signed(body, content_type))
        assert response.status_code == 400, (case, response.status_code, response.text[:300])
        assert len(response.content) < 100 and "Traceback" not in response.text, case


def test_every_shape_slack_sends_reaches_bolt(rig: Rig) -> None:
    challenge = json.dumps({"type": "url_verification", "challenge": "c-42", "token": "x"}).encode()
    answer = _post(rig, challenge, _signed(challenge))
    assert answer.status_code == 200 and "c-42" in answer.text

    mention = _mention(f"<@{BOT_USER_ID}> hello", "3.000001")
    assert _post(rig, mention, _signed(mention, "application/json; charset=utf-8")).status_code == 200
    assert _recorded(rig) == 1

    chunked = _mention(f"<@{BOT_USER_ID}> in chunks", "3.000002")
    url = f"http://127.0.0.1:{rig.service.port}/slack/events"
    pieces = iter([chunked[:10], chunked[10:]])
    assert httpx.post(url, content=pieces, headers=_signed(chunked), timeout=ACK_SECONDS).status_code == 200
    assert _recorded(rig) == 2

    ssl_check = b"ssl_check=1&token=x"
    assert _post(rig, ssl_check, _signed(ssl_check, FORM)).status_code == 200

    # Interactivity and slash commands: form fields, interactivity's in a JSON `payload`. Bolt answers
    # them (404 while no listener handles them); what matters here is that they are not refused.
    click = {
        "type": "block_actions",
        "team": {"id": "T0SIM"},
        "user": {"id": "UALICE"},
        "actions": [{"type": "button", "action_id": "retry", "block_id": "b", "value": "1"}],
    }
    command = {
        "command": "/ask",
        "text": "hello",
        "team_id": "T0SIM",
        "user_id": "UALICE",
        "channel_id": CHANNEL,
    }
    for body in (urlencode({"payload": json.dumps(click)}).encode(), urlencode(command).encode()):
        response = _post(rig, body, _signed(body, FORM))
        assert response.status_code in (200, 404), (body[:60], response.status_code, response.text[:200])


def _bot_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the bot logged (the test's own HTTP client logs each request too)."""
    return [r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]


def test_a_forged_delivery_is_one_short_log_line_and_floods_are_summed_up(
    make_rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    # At INFO before the bot starts, as in production: Bolt's loggers take the root level when built.
    caplog.set_level(logging.INFO)
    rig = make_rig()
    marker = "BODY-MARKER-" + "z" * 2000
    payload = json.loads(_mention(f"<@{BOT_USER_ID}> {marker}", "4.000001"))
    caplog.clear()
    assert rig.sender.send(payload, forge=True).status == 401
    lines = _bot_lines(caplog)
    assert len(lines) == 1, lines
    assert "/slack/events" in lines[0] and len(lines[0]) < 200, lines[0]
    assert not any("BODY-MARKER" in line or "0" * 64 in line for line in lines), "body or signature logged"

    caplog.clear()
    unsigned = {"Content-Type": JSON}
    for _ in range(50):
        assert rig.sender.send(payload, forge=True).status == 401
        assert rig.sender.http.post(rig.sender.url, content=b"{}", headers=unsigned).status_code == 401
    flood = _bot_lines(caplog)
    assert len(flood) <= 2, flood  # one per reason (forged, unsigned) at most, inside one period
    assert not any("BODY-MARKER" in line for line in flood)


@dataclass
class _IdleClients:
    """Connections that hold a slot without ever completing a request: some say nothing, some trickle
    a header, some send headers and trickle the body. Each remembers when the server closed it."""

    port: int
    sockets: list[socket.socket] = field(default_factory=list)
    tricklers: list[socket.socket] = field(default_factory=list)
    opened: dict[int, float] = field(default_factory=dict)
    closed: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def open(self, silent: int, slow_headers: int, slow_bodies: int) -> None:
        for kind, count in (("silent", silent), ("header", slow_headers), ("body", slow_bodies)):
            for _ in range(count):
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                if kind == "header":
                    sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                elif kind == "body":
                    sock.sendall(
                        b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                        b"\r\nContent-Length: 100000\r\n\r\n{"
                    )
                sock.setblocking(False)
                self.opened[sock.fileno()] = time.monotonic()
                self.sockets.append(sock)
                if kind != "silent":
                    self.tricklers.append(sock)

    def trickle(self, every: float) -> None:
        """One byte per connection every `every` seconds: never idle long enough to time out as idle."""
        while not self._stop.wait(every):
            for sock in self.tricklers:
                if sock.fileno() not in self.closed:
                    try:
                        sock.send(b"a")
                    except OSError:
                        self._closed(sock)

    def watch(self, until: float) -> None:
        """Record each connection's close by the server (end of stream or reset), until `until`."""
        while time.monotonic() < until and len(self.closed) < len(self.sockets):
            waiting = [s for s in self.sockets if s.fileno() not in self.closed]
            for sock in select.select(waiting, [], [], 0.05)[0]:
                try:
                    if sock.recv(4096):
                        continue  # an answer (there should be none); the close comes next
                except BlockingIOError:
                    continue
                except OSError:
                    pass
                self._closed(sock)

    def _closed(self, sock: socket.socket) -> None:
        self.closed.setdefault(sock.fileno(), time.monotonic())

    def close(self) -> None:
        self._stop.set()
        for sock in self.sockets:
            sock.close()


def test_idle_and_slow_clients_neither_starve_deliveries_nor_keep_their_connections(
    make_rig: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        service_module, "HttpServer", functools.partial(HttpServer, read_timeout=READ_TIMEOUT)
    )
    rig = make_rig()
    clients = _IdleClients(rig.service.port)
    trickler = threading.Thread(target=clients.trickle, args=(0.25,), daemon=True)
    try:
        clients.open(silent=70, slow_headers=70, slow_bodies=60)
        trickler.start()
        acks: list[tuple[int, float]] = []
        while not acks or time.monotonic() - min(clients.opened.values()) < READ_TIMEOUT - 0.3:
            message = rig.slack.human_message(CHANNEL, "UALICE", f"<@{BOT_USER_ID}> still there? {len(acks)}")
            body = _mention(message.text, message.ts)
            started = time.perf_counter()
            try:
                status = _post(rig, body, _signed(body)).status_code
            except httpx.TimeoutException:
                status = 0
            acks.append((status, time.perf_counter() - started))
        assert acks and all(status == 200 and seconds < ACK_SECONDS for status, seconds in acks), acks
        assert _recorded(rig) == len(acks)

        clients.watch(until=max(clients.opened.values()) + READ_TIMEOUT + 2.5)
        assert len(clients.closed) == len(clients.sockets), (
            f"{len(clients.sockets) - len(clients.closed)} of {len(clients.sockets)} idle or slow "
            "connections still open past the read timeout"
        )
        lifetimes = [clients.closed[fd] - clients.opened[fd] for fd in clients.closed]
        assert min(lifetimes) > READ_TIMEOUT - 0.3, "closed before the read timeout: by what?"
    finally:
        clients.close()
