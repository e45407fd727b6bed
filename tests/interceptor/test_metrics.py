"""The metrics endpoint (a real HTTP server on loopback) and the memory self-limit."""

from __future__ import annotations

import urllib.error
import urllib.request

from interceptor.capture.live import TapStats
from interceptor.counters import Counters
from interceptor.metrics import Health, MemoryGuard, MetricsServer, rss_bytes


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def test_endpoint_exports_counters_drops_and_tap_stats() -> None:
    counters = Counters()
    counters.inc("pairs.emitted", 7)
    counters.drop("capture_kernel", 3)
    counters.set_gauge("capture.taps", 2)
    health = Health(stale_s=60)
    src = {"kind": "pcap-veth", "interface": "veth1", "netns": "net:[4026532000]"}
    server = MetricsServer("127.0.0.1:0", counters, health, lambda: [(src, TapStats(10, 12, 2, 0))]).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        code, text = _get(base + "/metrics")
        assert code == 200
        assert "interceptor_pairs_emitted_total 7.0" in text
        assert 'interceptor_dropped_total{reason="capture_kernel"} 3.0' in text
        assert "interceptor_capture_taps 2.0" in text
        assert ('interceptor_tap_kernel_dropped_total{interface="veth1",kind="pcap-veth",'
                'netns="net:[4026532000]"} 2.0') in text
        assert "interceptor_process_resident_memory_bytes" in text
        assert _get(base + "/healthz")[0] == 200
        assert _get(base + "/readyz")[0] == 503
        health.ready = True
        assert _get(base + "/readyz")[0] == 200
        health.last_beat -= 120  # the main loop stopped turning
        assert _get(base + "/healthz")[0] == 503
        assert _get(base + "/nope")[0] == 404
    finally:
        server.close()


def test_memory_guard_trips_and_recovers() -> None:
    counters = Counters()
    guard = MemoryGuard(1 << 20, counters)  # 1 MiB: any Python process is above it
    assert guard.check() is True
    assert counters.get("memory.limit_reached") == 1
    guard.limit, guard.resume = 1 << 40, 1 << 39  # RSS far under the resume mark again
    assert guard.check() is False
    assert counters.gauges["memory.over_limit"] == 0.0
    assert counters.gauges["memory.rss_bytes"] == rss_bytes() or counters.gauges["memory.rss_bytes"] > 0
    assert MemoryGuard(0, counters).check() is False  # 0 disables the limit
