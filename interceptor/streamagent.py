"""The node agent's live stream: ``ws://NODE:18954/ws`` on the metrics port (see docs/stream.md).

Two halves that never make capture wait:

- ``StreamStage`` is a post-pair stage with the sink protocol. ``publish`` on the capture thread
  costs a length check when nobody is connected, else one append to a bounded deque (full: the pair
  is not streamed, ``dropped.stream_backlog``). A dispatcher thread turns pairs into records, masks
  them (no detection runs on the node, so every captured value is masked unless the caller holds
  the raw token) and offers them to the clients' bounded queues (``interceptor.stream``).
- ``serve_ws`` runs one websocket connection in the metrics server's handler thread, speaking the
  protocol through ``websockets``' sans-I/O ``ServerProtocol`` on the handler's socket; a client
  that stops reading blocks only its own thread, and loses records (told by a notice frame).
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.kfl import KflError
from interceptor.pairs import Pair
from interceptor.stream import POLICY_VIOLATION, Fanout, Subscriber, error_frame, parse_query
from interceptor.webauth import UNAUTHORIZED_HEADERS, StreamAuth, StreamGrant

log = logging.getLogger("interceptor.stream")
MAX_MESSAGE = 64 * 1024  # a query is small; anything bigger from a client is refused by the protocol
SEND_BUFFER = 64 * 1024  # kernel bytes per client: beyond, records wait in its counted queue instead


def _masker() -> Any:
    from processor.streammask import mask_all  # the processor's notion of a value and its shape

    return mask_all


class StreamStage:
    """Sink protocol: pairs in on the capture thread, records to the fan-out on its own thread."""

    def __init__(self, cfg: Config, counters: Counters, node: str) -> None:
        self.cfg = cfg.stream
        self.counters = counters
        self.node = node
        self.fanout = Fanout(counters, _masker())
        self._backlog: deque[Pair] = deque()
        self._rate = float(max(1, self.cfg.max_records_per_s))
        self._tokens, self._last = self._rate, time.monotonic()
        self._skipped = 0  # written on the capture thread only; the dispatcher reads the difference
        self._skipped_told = 0
        self._ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="stream-dispatch", daemon=True)
        self._thread.start()

    def publish(self, pair: Pair) -> None:
        if not len(self.fanout):  # nobody listening: free
            return
        now = time.monotonic()
        # Token bucket of stream.max_records_per_s: the dispatcher's work competes with capture for
        # the interpreter, so its share is bounded; what is over is skipped, counted and announced.
        self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1.0:
            self.counters.drop("stream_budget")
            self._skipped += 1
            return
        if len(self._backlog) >= self.cfg.backlog:
            self.counters.drop("stream_backlog")
            self._skipped += 1
            return
        self._tokens -= 1.0
        self._backlog.append(pair)
        self._ready.set()

    def poll(self) -> None:
        self.counters.set_gauge("stream.backlog", len(self._backlog))

    def close(self, timeout_s: float) -> dict[str, Any]:
        self._stop = True
        self._ready.set()
        self._thread.join(min(timeout_s, 2.0))
        return {"sink": "stream", "clients": len(self.fanout), "sent": self.counters.get("stream.records_sent")}

    def _run(self) -> None:
        backlog = self._backlog
        while not self._stop:
            self._ready.wait(0.5)
            self._ready.clear()
            skipped = self._skipped
            if skipped != self._skipped_told:
                self.fanout.skipped(skipped - self._skipped_told)
                self._skipped_told = skipped
            while backlog:
                pair = backlog.popleft()
                try:
                    self.fanout.offer(pair.to_record())
                except Exception:  # noqa: BLE001 - a bad record must not stop the stream
                    self.counters.drop("stream_error")
                    log.exception("stream: record failed")


def _request_bytes(handler: BaseHTTPRequestHandler) -> bytes:
    head = handler.requestline + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in handler.headers.items()) + "\r\n"
    return head.encode("latin-1")


class _Conn:
    """A websocket over the handler's socket: sans-I/O protocol + blocking writes with a deadline."""

    def __init__(self, sock: socket.socket, proto: ServerProtocol, write_timeout_s: float) -> None:
        self.sock = sock
        self.proto = proto
        self.write_timeout_s = write_timeout_s

    def flush(self) -> None:
        data = b"".join(self.proto.data_to_send())
        if data:
            self.sock.settimeout(self.write_timeout_s)
            self.sock.sendall(data)

    def read_texts(self, timeout: float) -> list[str] | None:
        """Text messages that arrived within ``timeout`` (pings are answered); None: the peer closed."""
        # TLS may hold decrypted bytes the socket no longer shows as readable.
        buffered = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0
        if not buffered and not select.select([self.sock], [], [], timeout)[0]:
            return []
        try:
            self.sock.settimeout(0)
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return []
        except OSError:
            return None
        if not data:
            self.proto.receive_eof()
            return None
        self.proto.receive_data(data)
        out = [f.data.decode("utf-8", "replace") for f in self.proto.events_received() if f.opcode is Opcode.TEXT]
        self.flush()  # pongs and the close reply
        return None if self.proto.state is not State.OPEN else out

    def close(self, code: int, reason: str) -> None:
        if self.proto.state is State.OPEN:
            self.proto.send_close(code, reason)
            try:
                self.flush()
            except OSError:
                pass


def serve_ws(handler: BaseHTTPRequestHandler, stage: StreamStage, auth: StreamAuth) -> None:
    """Serve ``GET /ws`` (a websocket upgrade) in the metrics server's handler thread."""
    cfg = stage.cfg
    peer = f"{handler.client_address[0]}:{handler.client_address[1]}"
    proto = ServerProtocol(max_size=MAX_MESSAGE)
    proto.receive_data(_request_bytes(handler))
    events = proto.events_received()
    request = events[0] if events and isinstance(events[0], Request) else None
    grant = auth.check(handler.headers.get("Authorization")) if request is not None else None
    if request is None:
        response = proto.reject(400, "expected a websocket upgrade\n")
    elif not isinstance(grant, StreamGrant):
        response = proto.reject(401, "a bearer token is required\n")
        for k, v in UNAUTHORIZED_HEADERS.items():
            response.headers[k] = v
    elif len(stage.fanout) >= cfg.max_clients:
        stage.counters.inc("stream.refused.max_clients")
        response = proto.reject(503, f"at most {cfg.max_clients} stream clients\n")
    else:
        response = proto.accept(request)
    proto.send_response(response)
    handler.close_connection = True
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    conn = _Conn(handler.connection, proto, cfg.write_timeout_s)
    try:
        conn.flush()
        if proto.state is not State.OPEN or not isinstance(grant, StreamGrant):
            return
        _stream(conn, handler, stage, grant, peer)
    except OSError as e:  # the client went away or stopped taking bytes for write_timeout_s
        stage.counters.inc("stream.disconnected")
        log.info("stream %s: connection ended: %s", peer, e.__class__.__name__)


def _stream(conn: _Conn, handler: BaseHTTPRequestHandler, stage: StreamStage, grant: StreamGrant, peer: str) -> None:
    cfg = stage.cfg
    text = _first_query(conn, handler, cfg.query_timeout_s)
    if text is None:
        return
    query = parse_query(text)
    # The query is logged (it is the operator's filter, not captured data); records never are.
    if isinstance(query, KflError):
        stage.counters.inc("stream.queries_rejected")
        log.info("stream %s (%s): query rejected: %s", peer, grant.name, query)
        conn.proto.send_text(error_frame(query).encode())
        conn.close(POLICY_VIOLATION, "invalid query")
        return
    wake = threading.Event()
    sub = Subscriber(query, grant.raw, f"{peer}/{grant.name}", cfg.client_queue, wake.set)
    stage.fanout.add(sub)
    log.info("stream %s (%s, raw=%s): query %r", peer, grant.name, grant.raw, text)
    started = time.monotonic()
    try:
        while True:
            for frame in sub.take():
                conn.proto.send_text(frame.encode())
            conn.flush()
            if sub.done:
                conn.close(1000, "limit reached")
                return
            if not sub.pending:
                wake.wait(0.2)
                wake.clear()
            if conn.read_texts(0) is None:
                return
    finally:
        stage.fanout.remove(sub)
        log.info("stream %s: closed after %.1fs, %d records matched, %d lost", peer, time.monotonic() - started,
                 sub.matched, sub.lost_total)


def _first_query(conn: _Conn, handler: BaseHTTPRequestHandler, timeout_s: float) -> str | None:
    q = parse_qs(urlparse(handler.path).query).get("q")
    if q:
        return q[0]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        texts = conn.read_texts(0.2)
        if texts is None:
            return None
        if texts:
            return texts[0]
    conn.close(POLICY_VIOLATION, f"no query within {timeout_s:.0f}s")
    return None
