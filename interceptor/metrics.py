"""Prometheus metrics endpoint, DaemonSet probes and the memory self-limit.

``/metrics`` renders the shared Counters (counts as ``interceptor_<name>_total``, drops as
``interceptor_dropped_total{reason}``, gauges as is; help text from counternames.py) plus per-tap packet and kernel-drop numbers and
the process's CPU/RSS. ``/healthz`` fails when the main loop has not turned for ``stale_s`` (a wedged
agent gets restarted); ``/readyz`` succeeds once the first discovery pass opened its taps.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from interceptor.counternames import meaning
from interceptor.counters import Counters
from interceptor.httpapi import HttpApi, serve

log = logging.getLogger(__name__)
TapStatsFn = Callable[[], list[tuple[dict[str, str], Any]]]
Route = Callable[[BaseHTTPRequestHandler], None]  # serves one GET path (e.g. the stream's /ws)
_BAD = re.compile(r"[^a-zA-Z0-9_]")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _metric_name(name: str) -> str:
    return "interceptor_" + _BAD.sub("_", name)


class SensorCollector:
    """Reads Counters and tap stats at scrape time (no second copy of the numbers)."""

    def __init__(self, counters: Counters, tap_stats: TapStatsFn | None = None) -> None:
        self.counters = counters
        self.tap_stats = tap_stats

    def collect(self) -> Iterator[Any]:
        snap = self.counters.snapshot()
        verdicts = {kind: CounterMetricFamily(f"interceptor_coverage_{kind}", f"TCP {kind} in the coverage "
                                              "account, by verdict", labels=["verdict"])
                    for kind in ("connections", "bytes")}
        for name, value in snap["counts"].items():  # type: ignore[union-attr]
            kind, _, verdict = name.removeprefix("coverage.").partition(".")
            if name.startswith("coverage.") and kind in verdicts and verdict:  # coverage.connections.<verdict>
                verdicts[kind].add_metric([verdict], value)
                continue
            yield CounterMetricFamily(_metric_name(name), meaning("count", name), value=value)
        yield from verdicts.values()
        drops = CounterMetricFamily("interceptor_dropped", "items dropped, by reason", labels=["reason"])
        for reason, value in snap["dropped"].items():  # type: ignore[union-attr]
            drops.add_metric([reason], value)
        yield drops
        for name, value in snap["gauges"].items():  # type: ignore[union-attr]
            yield GaugeMetricFamily(_metric_name(name), meaning("gauge", name), value=value)
        if self.tap_stats is None:
            return
        labels = ["kind", "interface", "netns"]
        fams = {
            "packets": CounterMetricFamily("interceptor_tap_packets", "packets read from a tap", labels=labels),
            "kernel_received": CounterMetricFamily(
                "interceptor_tap_kernel_received", "packets the kernel passed the tap's filter", labels=labels),
            "kernel_dropped": CounterMetricFamily(
                "interceptor_tap_kernel_dropped", "packets the kernel dropped: tap buffer full", labels=labels),
            "if_dropped": CounterMetricFamily(
                "interceptor_tap_interface_dropped", "packets the interface dropped", labels=labels),
        }
        for source, st in self.tap_stats():
            values = [source["kind"], source["interface"], source["netns"]]
            for attr, fam in fams.items():
                fam.add_metric(values, getattr(st, attr))
        yield from fams.values()


class Health:
    """What the probes answer: the loop's heartbeat and readiness."""

    def __init__(self, stale_s: float = 30.0) -> None:
        self.stale_s = stale_s
        self.ready = False
        self.last_beat = time.monotonic()

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def healthy(self) -> bool:
        return time.monotonic() - self.last_beat < self.stale_s


def _handler(registry: CollectorRegistry, health: Health, apis: Sequence[HttpApi] = (),
             routes: dict[str, Route] | None = None) -> type[BaseHTTPRequestHandler]:
    routes = routes or {}

    class Handler(BaseHTTPRequestHandler):
        def _api(self) -> bool:
            """Routes of mounted APIs (captures: interceptor/captures/api.py) come first."""
            path = self.path.split("?", 1)[0]
            api = next((a for a in apis if a.owns(path)), None)
            if api is not None:
                serve(self, api)
            return api is not None

        def do_POST(self) -> None:  # noqa: N802 - stdlib hook name
            if not self._api():
                self._send(404, b"not found\n")

        do_DELETE = do_POST  # noqa: N815

        def do_GET(self) -> None:  # noqa: N802 - stdlib hook name
            path = self.path.split("?", 1)[0]
            if path in routes:  # takes the connection over (the stream's websocket)
                routes[path](self)
                return
            if self._api():
                return
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok = health.healthy()
                self._send(200 if ok else 503, b"ok\n" if ok else b"main loop stalled\n")
            elif path == "/readyz":
                self._send(200 if health.ready else 503, b"ready\n" if health.ready else b"starting\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def check_listen(listen: str) -> str | None:
    """Why ``listen`` cannot be bound (one line), or None: checked before taps and probes are set up,
    so a second agent on the node fails at once instead of after touching the kernel."""
    host, _, port = listen.rpartition(":")
    try:
        probe = ThreadingHTTPServer((host.strip("[]") or "0.0.0.0", int(port)), BaseHTTPRequestHandler,
                                    bind_and_activate=False)
        try:
            probe.server_bind()
        finally:
            probe.server_close()
    except ValueError:
        return f"metrics.listen: {listen!r} is not host:port"
    except OSError as e:
        return f"metrics.listen {listen}: cannot listen: {e.strerror or e} (is another agent running on this node?)"
    return None


class MetricsServer:
    """The HTTP endpoint in a daemon thread; ``listen`` is ``host:port`` (port 0 picks one)."""

    def __init__(self, listen: str, counters: Counters, health: Health, tap_stats: TapStatsFn | None = None,
                 apis: Sequence[HttpApi] = (), routes: dict[str, Route] | None = None,
                 tls: ssl.SSLContext | None = None):
        host, _, port = listen.rpartition(":")
        self.registry = CollectorRegistry()
        self.registry.register(SensorCollector(counters, tap_stats))
        self.registry.register(ProcessCollector(namespace="interceptor", registry=None))
        self.server = ThreadingHTTPServer((host.strip("[]") or "0.0.0.0", int(port)),
                                          _handler(self.registry, health, apis, routes))
        self.server.daemon_threads = True
        if tls is not None:  # the handshake happens in each connection's thread, not in accept()
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def rss_bytes() -> int:
    """Resident set size of this process (one small /proc read, cheap enough for every tick)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class MemoryGuard:
    """Drop instead of being OOM-killed: above ``limit_bytes`` RSS, ``over`` is true and the agent
    stops feeding packets (counted as ``dropped.memory_limit``) until the pipeline's timeouts have
    freed memory and RSS is back under ``resume_ratio`` of the limit."""

    def __init__(self, limit_bytes: int, counters: Counters, resume_ratio: float = 0.9) -> None:
        self.limit = limit_bytes
        self.resume = int(limit_bytes * resume_ratio)
        self.counters = counters
        self.over = False

    def check(self) -> bool:
        if self.limit <= 0:
            return False
        rss = rss_bytes()
        self.counters.set_gauge("memory.rss_bytes", rss)
        if not self.over and rss > self.limit:
            self.over = True
            self.counters.inc("memory.limit_reached")
            log.warning("RSS %d above the memory limit %d: dropping packets until it falls", rss, self.limit)
        elif self.over and rss < self.resume:
            self.over = False
            log.warning("RSS %d back under %d: capturing again", rss, self.resume)
        self.counters.set_gauge("memory.over_limit", 1.0 if self.over else 0.0)
        return self.over


class CpuGuard:
    """Stay within ``limit`` cores: when the last interval used more, the agent stops taking new
    connections (counted as ``dropped.cpu_limit``) until usage falls back under the limit.
    Connections already followed go on whole: nothing already captured is cut in the middle."""

    def __init__(self, limit_cores: float, counters: Counters, min_interval_s: float = 0.5) -> None:
        self.limit = limit_cores
        self.counters = counters
        self.min_interval = min_interval_s
        self.over = False
        self._last = (time.monotonic(), time.process_time())

    def check(self) -> bool:
        if self.limit <= 0:
            return False
        now, cpu = time.monotonic(), time.process_time()
        wall = now - self._last[0]
        if wall < self.min_interval:
            return self.over
        used = (cpu - self._last[1]) / wall
        self._last = (now, cpu)
        self.counters.set_gauge("cpu.cores_used", round(used, 3))
        if used > self.limit and not self.over:
            self.counters.inc("cpu.limit_reached")
            log.warning("CPU %.2f cores above the limit %.2f: not following new connections", used, self.limit)
        elif used <= self.limit and self.over:
            log.warning("CPU %.2f cores back under %.2f: following new connections again", used, self.limit)
        self.over = used > self.limit
        self.counters.set_gauge("cpu.over_limit", 1.0 if self.over else 0.0)
        return self.over
