"""``processor hub``: the cluster's live stream, ``ws://HUB:8899/api/wsFull`` (Kubeshark's hub API).

One Kafka reader thread follows the ``pairs`` and ``detections`` topics from their latest offsets:
partitions are *assigned* (no consumer group, nothing committed), so a hub never disturbs the
processor's groups and starts where the cluster is now; a client sees what arrives after it
connected. A pair waits up to ``stream.join_wait_s`` for its detections (``Joiner``), then goes to
the clients with the processor's ``types``, ``sensitivity`` and ``detections`` — or, if none came
in time, without them and fully masked. The reader hands records to the asyncio loop and never
waits for a socket: each client has a bounded queue (``interceptor.stream``); a slow client loses
records, counted, and is told how many.

HTTP on the same port: ``/healthz`` and ``/metrics`` (the hub's counters) for probes and Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson
from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.kfl import KflError
from interceptor.stream import POLICY_VIOLATION, Fanout, Subscriber, error_frame, parse_query
from interceptor.webauth import UNAUTHORIZED_HEADERS, StreamAuth, StreamGrant, load_raw_token, load_token
from processor.kafkaio import consumer_config
from processor.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from processor.metrics import render as render_metrics
from processor.streammask import mask_all, mask_record

log = logging.getLogger("processor.hub")
PATHS = ("/api/wsFull", "/ws")
SEND_BUFFER = 64 * 1024  # kernel bytes per client
MAX_INFLIGHT_BATCHES = 64  # reader -> loop hand-offs not yet dispatched; beyond, batches are dropped


def hub_masker(rec: dict[str, Any]) -> dict[str, Any]:
    """Joined records are masked where the processor found personal data; the others entirely."""
    dets = rec.get("detections")
    return mask_record(rec, dets) if isinstance(dets, list) else mask_all(rec)


# -- the join (sans-I/O) --------------------------------------------------------------------------
@dataclass
class _Waiting:
    rec: dict[str, Any]
    since: float


class Joiner:
    """Pairs and detections in (either order), joined records out; bounded, every loss counted."""

    def __init__(self, wait_s: float, max_pending: int, counters: Counters) -> None:
        self.wait_s = wait_s
        self.max_pending = max_pending
        self.counters = counters
        self.pairs: OrderedDict[str, _Waiting] = OrderedDict()
        self.early: OrderedDict[str, dict[str, Any]] = OrderedDict()  # detections before their pair

    def add_pair(self, rec: dict[str, Any], now: float) -> list[dict[str, Any]]:
        pid = rec.get("id")
        if not isinstance(pid, str):
            self.counters.drop("stream_bad_pair")
            return []
        det = self.early.pop(pid, None)
        if det is not None:
            return [_joined(rec, det)]
        out: list[dict[str, Any]] = []
        if len(self.pairs) >= self.max_pending:  # the oldest goes out now, unjoined (fully masked)
            _, oldest = self.pairs.popitem(last=False)
            self.counters.inc("stream.join_evicted")
            out.append(oldest.rec)
        self.pairs[pid] = _Waiting(rec, now)
        return out

    def add_detection(self, det: dict[str, Any]) -> list[dict[str, Any]]:
        pid = det.get("pair_id")
        waiting = self.pairs.pop(pid, None) if isinstance(pid, str) else None
        if waiting is not None:
            self.counters.inc("stream.joined")
            return [_joined(waiting.rec, det)]
        if isinstance(pid, str):
            self.early[pid] = det
            while len(self.early) > self.max_pending:
                self.early.popitem(last=False)
                self.counters.inc("stream.detections_unmatched")
        return []

    def expire(self, now: float) -> list[dict[str, Any]]:
        out = []
        while self.pairs:
            pid, w = next(iter(self.pairs.items()))
            if now - w.since < self.wait_s:
                break
            del self.pairs[pid]
            self.counters.inc("stream.join_timeout")
            out.append(w.rec)
        return out


def _joined(rec: dict[str, Any], det: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "types": det.get("types", []), "sensitivity": det.get("sensitivity", "none"),
            "detections": det.get("detections", [])}


# -- the Kafka reader (thread) --------------------------------------------------------------------
class Reader:
    """Follows both topics from their ends; hands joined records to ``deliver`` (never blocks on it)."""

    def __init__(self, cfg: Config, counters: Counters, deliver: Callable[[list[dict[str, Any]]], None],
                 active: Callable[[], bool]) -> None:
        p = cfg.processor
        conf = consumer_config(cfg.kafka, f"privacy-hub-{secrets.token_hex(4)}", p.session_timeout_ms,
                               {"enable.auto.offset.store": False, "fetch.wait.max.ms": 20})
        self.consumer = Consumer(conf)  # group id is never joined: partitions are assigned, nothing committed
        self.topics = (p.pairs_topic, p.detections_topic)
        self.joiner = Joiner(cfg.stream.join_wait_s, cfg.stream.max_pending, counters)
        self.counters = counters
        self.deliver = deliver
        self.active = active
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="hub-kafka", daemon=True)

    def assign(self, timeout_s: float = 10.0) -> bool:
        """Both topics' partitions from their ends; False while a topic does not exist yet (the hub
        may start before the agents and the processor have created them)."""
        md = self.consumer.list_topics(timeout=timeout_s)
        missing = [t for t in self.topics if t not in md.topics or md.topics[t].error is not None]
        if missing:
            return False
        parts = [TopicPartition(t, pid, OFFSET_END) for t in self.topics for pid in md.topics[t].partitions]
        self.consumer.assign(parts)
        log.info("hub: following %s from their latest offsets (%d partitions)", list(self.topics), len(parts))
        return True

    def _wait_for_topics(self) -> None:
        told = False
        while not self.stop.is_set():
            try:
                if self.assign():
                    return
            except KafkaException as e:
                self.counters.inc("hub.kafka_errors")
                log.warning("hub: Kafka metadata: %s", e)
            if not told:
                log.warning("hub: waiting for the topics %s to exist", list(self.topics))
                told = True
            self.stop.wait(2.0)

    def run(self) -> None:
        pairs_topic = self.topics[0]
        self._wait_for_topics()
        try:
            while not self.stop.is_set():
                msgs = self.consumer.consume(500, timeout=0.05)
                now = time.monotonic()
                out: list[dict[str, Any]] = []
                if self.active():  # nobody connected: read on (stay at the end), parse nothing
                    for m in msgs:
                        if m.error() is not None:
                            if m.error().code() != KafkaError._PARTITION_EOF:
                                self.counters.inc("hub.consume_errors")
                            continue
                        try:
                            doc = orjson.loads(m.value())
                        except orjson.JSONDecodeError:
                            self.counters.drop("stream_bad_message")
                            continue
                        if m.topic() == pairs_topic:
                            out += self.joiner.add_pair(doc, now)
                        else:
                            out += self.joiner.add_detection(doc)
                    self.counters.inc("hub.messages", len(msgs))
                out += self.joiner.expire(now)
                if out:
                    self.deliver(out)
        finally:
            self.consumer.close()


# -- the websocket server (asyncio) ---------------------------------------------------------------
class Hub:
    def __init__(self, cfg: Config, counters: Counters | None = None) -> None:
        self.cfg = cfg
        self.counters = counters or Counters()
        token = load_token(cfg.auth, service="processor hub")
        cfg.auth.token = token.value  # one token for every API of this hub: a generated one is shown once
        self.auth = StreamAuth(token, load_raw_token(cfg.auth), self.counters)
        self.fanout = Fanout(self.counters, hub_masker)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.inflight = 0
        self.reader = Reader(cfg, self.counters, self._from_reader, lambda: len(self.fanout) > 0)
        self.server: Server | None = None

    # reader thread -> loop
    def _from_reader(self, records: list[dict[str, Any]]) -> None:
        if self.loop is None or self.inflight >= MAX_INFLIGHT_BATCHES:
            self.counters.drop("stream_hub_overload", len(records))
            return
        self.inflight += 1
        self.loop.call_soon_threadsafe(self._dispatch, records)

    def _dispatch(self, records: list[dict[str, Any]]) -> None:
        self.inflight -= 1
        for rec in records:
            self.fanout.offer(rec)

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlparse(request.path).path
        if path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if path == "/metrics":
            body = render_metrics(self.counters.snapshot())
            return Response(200, "OK", Headers([("Content-Type", METRICS_CONTENT_TYPE),
                                                ("Content-Length", str(len(body)))]), body)
        if path not in PATHS:
            return connection.respond(HTTPStatus.NOT_FOUND, f"not found: the stream is at {PATHS[0]}\n")
        grant = self.auth.check(request.headers.get("Authorization"))
        if not isinstance(grant, StreamGrant):
            resp = connection.respond(HTTPStatus.UNAUTHORIZED, "a bearer token is required\n")
            for k, v in UNAUTHORIZED_HEADERS.items():
                resp.headers[k] = v
            return resp
        if len(self.fanout) >= self.cfg.stream.max_clients:
            self.counters.inc("stream.refused.max_clients")
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many stream clients\n")
        connection.grant = grant  # type: ignore[attr-defined]
        sock = connection.transport.get_extra_info("socket")
        if sock is not None:  # bounded kernel buffering: beyond it, records wait in the counted queue
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        return None

    async def _client(self, ws: ServerConnection) -> None:
        grant: StreamGrant = ws.grant  # type: ignore[attr-defined]
        peer = f"{ws.remote_address[0]}:{ws.remote_address[1]}"
        scfg = self.cfg.stream
        q = parse_qs(urlparse(ws.request.path if ws.request else "").query).get("q")
        try:
            text = q[0] if q else await asyncio.wait_for(ws.recv(), scfg.query_timeout_s)
        except TimeoutError:
            await ws.close(POLICY_VIOLATION, f"no query within {scfg.query_timeout_s:.0f}s")
            return
        except ConnectionClosed:
            return
        query = parse_query(text if isinstance(text, str) else text.decode("utf-8", "replace"))
        if isinstance(query, KflError):
            self.counters.inc("stream.queries_rejected")
            log.info("hub %s (%s): query rejected: %s", peer, grant.name, query)
            await ws.send(error_frame(query))
            await ws.close(POLICY_VIOLATION, "invalid query")
            return
        wake = asyncio.Event()
        sub = Subscriber(query, grant.raw, f"{peer}/{grant.name}", scfg.client_queue, wake.set)
        self.fanout.add(sub)
        log.info("hub %s (%s, raw=%s): query %r", peer, grant.name, grant.raw, query.text)
        started = time.monotonic()
        reader = asyncio.ensure_future(_drain_incoming(ws))
        try:
            while not reader.done():
                for frame in sub.take():
                    await ws.send(frame)  # a slow client waits here; its queue overflows, counted
                if sub.done:
                    await ws.close(1000, "limit reached")
                    break
                if sub.pending:
                    continue  # more than one take's worth was waiting
                waiter = asyncio.ensure_future(wake.wait())
                await asyncio.wait([waiter, reader], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                wake.clear()
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            self.fanout.remove(sub)
            log.info("hub %s: closed after %.1fs, %d records matched, %d lost", peer, time.monotonic() - started,
                     sub.matched, sub.lost_total)

    async def serve(self, listen: str, ready: Callable[[int], None] | None = None) -> None:
        from interceptor.webauth import server_ssl_context

        self.loop = asyncio.get_running_loop()
        host, _, port = listen.rpartition(":")
        ssl_ctx = server_ssl_context(self.cfg.stream.tls_cert_file, self.cfg.stream.tls_key_file)
        self.reader.thread.start()
        async with serve(self._client, host.strip("[]") or "0.0.0.0", int(port), process_request=self._http,
                         ssl=ssl_ctx, max_size=64 * 1024, write_limit=64 * 1024) as server:
            self.server = server
            bound = next(iter(server.sockets)).getsockname()[1]
            log.info("hub: %s://%s:%d%s", "wss" if ssl_ctx else "ws", host or "0.0.0.0", bound, PATHS[0])
            if ready is not None:
                ready(bound)
            stop = asyncio.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(ValueError, RuntimeError):  # not the main thread (tests)
                    self.loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        self.reader.stop.set()
        self.reader.thread.join(5)


async def _drain_incoming(ws: ServerConnection) -> None:
    """Reads (and ignores) what the client sends after its query, so a close is noticed at once."""
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


def run_hub(cfg: Config, listen: str, port_file: str = "") -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    hub = Hub(cfg)

    def ready(port: int) -> None:
        if port_file:
            with open(port_file, "w") as f:
                f.write(f"{port}\n")

    captures = start_capture_proxy(cfg, hub.counters)
    try:
        asyncio.run(hub.serve(listen, ready))
    finally:
        if captures is not None:
            captures.shutdown()
    return 0


def start_capture_proxy(cfg: Config, counters: Counters, node: str = "hub") -> Any:
    """The agents' capture API for the whole cluster (``captures.hub_listen``; docs/captures.md) on
    its own port: the websocket server here takes GET requests only, the API needs POST and DELETE."""
    listen = cfg.captures.hub_listen
    if not listen:
        return None
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from interceptor.captures.proxy import CaptureProxy
    from interceptor.captures.routing import ClusterRouter
    from interceptor.httpapi import serve as serve_api
    from interceptor.webauth import BearerAuth

    token = load_token(cfg.auth, service="processor hub captures")
    proxy = CaptureProxy(ClusterRouter(cfg, node, token, counters), BearerAuth(token, counters), counters)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib hook name
            if proxy.owns(self.path.split("?", 1)[0]):
                serve_api(self, proxy)
            else:
                self.send_error(404, "the capture API is at /api/v1/captures")

        do_POST = do_DELETE = do_GET  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    host, _, port = listen.rpartition(":")
    server = ThreadingHTTPServer((host.strip("[]") or "0.0.0.0", int(port)), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="capture-proxy", daemon=True).start()
    log.info("hub: capture API on %s", listen)
    return server
