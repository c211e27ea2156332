"""A Socket Mode endpoint for the Slack stub: a minimal WebSocket server (RFC 6455, text frames, ping and
close) that greets a client with `hello`, sends it event envelopes and records the acknowledgements, as
Slack does. `apps.connections.open` on the stub hands out its URL."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import socketserver
import struct
import threading
import time
import uuid
from typing import Any

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class SocketModeServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.acks: dict[str, dict[str, Any]] = {}
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._acked = threading.Condition(self._lock)
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._serve_client(self.request)

        self._server = socketserver.ThreadingTCPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"ws://{host}:{self._server.server_address[1]}/link"
        threading.Thread(target=self._server.serve_forever, name="socket-mode", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
        self._server.shutdown()
        self._server.server_close()

    def wait_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._clients:
            if time.monotonic() > deadline:
                raise TimeoutError("no Socket Mode client connected")
            time.sleep(0.05)

    def send_event(
        self, body: dict[str, Any], *, retry_attempt: int = 0, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Deliver one Events API envelope and wait for the client's acknowledgement."""
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
            "payload": body,
        }
        with self._lock:
            client = self._clients[-1]
            _send_text(client, json.dumps(envelope))
            if not self._acked.wait_for(lambda: envelope_id in self.acks, timeout):
                raise TimeoutError("the event was not acknowledged")
            return self.acks[envelope_id]

    def _serve_client(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        headers = dict(line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if ": " in line)
        key = {k.lower(): v for k, v in headers.items()}["sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        conn.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        with self._lock:
            self._clients.append(conn)
            _send_text(
                conn,
                json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0SIM"}}),
            )
        try:
            while True:
                opcode, payload = _read_frame(conn)
                if opcode == 0x8:  # close
                    return
                if opcode == 0x9:  # ping → pong
                    with self._lock:
                        _send_frame(conn, 0xA, payload)
                elif opcode == 0x1:
                    message = json.loads(payload.decode())
                    if "envelope_id" in message:
                        with self._lock:
                            self.acks[message["envelope_id"]] = message
                            self._acked.notify_all()
        except (OSError, ConnectionError, ValueError):
            return
        finally:
            with self._lock:
                if conn in self._clients:
                    self._clients.remove(conn)


def _send_text(conn: socket.socket, text: str) -> None:
    _send_frame(conn, 0x1, text.encode())


def _send_frame(conn: socket.socket, opcode: int, payload: bytes) -> None:
    header = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        header += bytes([length])
    elif length < 1 << 16:
        header += bytes([126]) + struct.pack("!H", length)
    else:
        header += bytes([127]) + struct.pack("!Q", length)
    conn.sendall(header + payload)


def _read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _read_frame(conn: socket.socket) -> tuple[int, bytes]:
    first, second = _read_exact(conn, 2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", _read_exact(conn, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", _read_exact(conn, 8))[0]
    mask = _read_exact(conn, 4) if second & 0x80 else b"\0\0\0\0"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(_read_exact(conn, length)))
    return first & 0x0F, payload
