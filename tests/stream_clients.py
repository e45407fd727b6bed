"""Websocket clients for the stream tests: the real ``websockets`` client, and a raw-socket client
that can stop reading (a stuck consumer), speaking through websockets' sans-I/O ClientProtocol."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.sync.client import connect
from websockets.uri import parse_uri


def open_stream(url: str, token: str, query: str | None) -> Any:
    """A ``websockets`` sync connection that has sent ``query`` as its first message (None: ?q= in url)."""
    ws = connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10)
    if query is not None:
        ws.send(query)
    return ws


def read_frames(ws: Any, n: int, timeout_s: float) -> list[tuple[float, dict[str, Any]]]:
    """Up to ``n`` frames (arrival time, JSON) within ``timeout_s``."""
    out: list[tuple[float, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        try:
            msg = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        except (TimeoutError, ConnectionClosed):
            break
        out.append((time.time(), json.loads(msg)))
    return out


class Collector(threading.Thread):
    """Reads frames in the background from the start, so arrival times are when they arrived."""

    def __init__(self, ws: Any, n: int, timeout_s: float) -> None:
        super().__init__(daemon=True)
        self.ws, self.n, self.timeout_s = ws, n, timeout_s
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.start()

    def run(self) -> None:
        self.frames = read_frames(self.ws, self.n, self.timeout_s)

    def result(self) -> list[tuple[float, dict[str, Any]]]:
        self.join(self.timeout_s + 5)
        return self.frames


class StuckClient:
    """Handshakes, sends its query, then reads nothing until ``drain`` (a small receive buffer, so the
    server's writes back up after a few frames)."""

    def __init__(self, url: str, token: str, query: str) -> None:
        uri = parse_uri(url)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((uri.host, uri.port))
        self.proto = ClientProtocol(uri, max_size=None)
        req = self.proto.connect()
        req.headers["Authorization"] = f"Bearer {token}"
        self.proto.send_request(req)
        self._flush()
        while self.proto.state is State.CONNECTING:
            self.proto.receive_data(self.sock.recv(65536))
            self.proto.events_received()
        assert self.proto.state is State.OPEN, self.proto.handshake_exc
        self.proto.send_text(query.encode())
        self._flush()

    def _flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                self.sock.sendall(data)

    def drain(self, quiet_s: float = 1.0, max_s: float = 30.0) -> list[dict[str, Any]]:
        """Read everything until nothing came for ``quiet_s``; the frames as JSON."""
        out: list[dict[str, Any]] = []
        self.sock.settimeout(quiet_s)
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                break
            if not data:
                break
            self.proto.receive_data(data)
            for ev in self.proto.events_received():
                if ev.opcode is Opcode.TEXT:
                    out.append(json.loads(ev.data))
            self._flush()
        return out

    def close(self) -> None:
        self.sock.close()
