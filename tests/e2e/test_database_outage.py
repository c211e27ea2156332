"""A bad database day is quiet and honest: Slack gets its answer within 3 seconds (a 500, so it delivers
again), health says the database cannot take writes, the log says so once a minute instead of thousands
of times, and when the database is back every delivery Slack repeats is answered once."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from bot.service import build
from bot.sim.blocks import BlocksSimulator
from bot.sim.events import EventSender, envelope, message_event
from bot.sim.slack import BOT_USER_ID, SlackStub, StubMessage
from tests.conftest import CHANNEL, SIGNING_SECRET, Rig, rig_settings

MENTION = f"<@{BOT_USER_ID}>"
SLACK_PATIENCE = 3.0  # seconds Slack waits for an answer


class Outage:
    """Makes the database unavailable, then brings it back."""

    def __init__(self, start: Callable[[], None], end: Callable[[], None]) -> None:
        self.start, self.end = start, end


class TcpProxy:
    """Loopback TCP proxy in front of PostgreSQL that can be cut: open connections are dropped and new
    ones refused, as when the database server goes away."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.cut()
        _close(self.listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class SqliteLockedElsewhere:
    """Another process holds SQLite's write lock (an admin's `sqlite3` shell, a stuck backup)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        script = (
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({self.path!r}, isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.readline()\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "locked"

    def end(self) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        self.process.wait(timeout=10)


@pytest.fixture
def outage_rig(
    database_url: str,
    blocks_sim: tuple[BlocksSimulator, str],
    slack_stub: tuple[SlackStub, str],
) -> Iterator[tuple[Rig, Outage]]:
    url = make_url(database_url)
    proxy = None
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        locker = SqliteLockedElsewhere(str(Path(url.database)))
        outage = Outage(locker.start, locker.end)
        bot_url = database_url
    else:
        proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
        outage = Outage(proxy.cut, proxy.restore)
        bot_url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = replace(rig_settings(blocks_sim[1], slack_stub[1], bot_url), idle_poll_seconds=0.2)
    service = build(settings, "serve", host="127.0.0.1")
    service.start()
    sender = EventSender(f"http://127.0.0.1:{service.port}", SIGNING_SECRET)
    yield Rig(blocks_sim[0], slack_stub[0], service, sender, settings), outage
    sender.close()
    service.stop()
    if proxy is not None:
        proxy.close()


def _mention(rig: Rig, text: str) -> tuple[StubMessage, dict[str, object]]:
    message = rig.slack.human_message(CHANNEL, "UALICE", f"{MENTION} {text}")
    event = message_event(
        channel=CHANNEL, user="UALICE", text=message.text, ts=message.ts, kind="app_mention"
    )
    return message, envelope(event)


def test_while_the_database_is_away_slack_is_answered_in_time_health_fails_and_the_log_stays_short(
    outage_rig: tuple[Rig, Outage], caplog: pytest.LogCaptureFixture
) -> None:
    rig, outage = outage_rig
    first, first_payload = _mention(rig, "before the outage")
    assert rig.sender.send(first_payload).status == 200
    rig.wait_reaction(first)

    caplog.set_level(logging.WARNING)
    outage.start()
    pending: list[tuple[StubMessage, dict[str, object]]] = []
    try:
        for _ in range(3):
            message, payload = _mention(rig, f"during the outage {len(pending)}")
            delivery = rig.sender.send(payload)
            assert delivery.status == 500, "not recorded: Slack must deliver it again"
            assert delivery.seconds < SLACK_PATIENCE, f"answered after {delivery.seconds:.1f}s"
            pending.append((message, payload))
            health = httpx.get(f"http://127.0.0.1:{rig.service.port}/healthz", timeout=10)
            assert health.status_code == 503 and health.json()["database"] == "down"
    finally:
        outage.end()
    during = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(during) <= 6, [r.getMessage()[:120] for r in during]
    assert sum(1 for r in during if r.exc_info) <= 3, "a traceback once per kind of failure, not per event"
    assert "during the outage" not in caplog.text, "no message text in any line or traceback"

    rig.wait(lambda: httpx.get(f"http://127.0.0.1:{rig.service.port}/healthz").status_code == 200)
    for _, payload in pending:  # Slack's retries
        assert rig.sender.send(payload, retry_num=1).status == 200
    for message, _ in pending:
        rig.wait_reaction(message, timeout=30)
    rig.settle(timeout=30)
    assert len(rig.blocks.snapshot()["sessions"]) == len(pending) + 1, "each answered once"
    assert any("is back" in r.getMessage() or "again" in r.getMessage() for r in caplog.records)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB file system of its own (tmpfs), to fill up."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here to fill up ({mounted.stderr.strip()})")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_health_fails_while_sqlite_cannot_take_a_write_though_it_still_reads(
    small_disk: Path, blocks_sim: tuple[BlocksSimulator, str], slack_stub: tuple[SlackStub, str]
) -> None:
    settings = rig_settings(blocks_sim[1], slack_stub[1], f"sqlite:///{small_disk / 'bot.db'}")
    service = build(settings, "serve", host="127.0.0.1")
    service.start()
    health_url = f"http://127.0.0.1:{service.port}/healthz"
    try:
        assert httpx.get(health_url, timeout=10).status_code == 200
        filler = small_disk / "filler"
        with filler.open("wb") as out, contextlib.suppress(OSError):
            while True:  # until the disk is full
                out.write(b"\0" * 65536)
                out.flush()
        with contextlib.suppress(OSError), filler.open("ab") as out:  # and the last few bytes too
            while True:
                out.write(b"\0" * 512)
                out.flush()
        answer = httpx.get(health_url, timeout=10)
        assert answer.status_code == 503 and answer.json() == {"ok": False, "database": "down"}
        filler.unlink()
        assert httpx.get(health_url, timeout=10).status_code == 200, "healthy again once there is room"
    finally:
        service.stop()
