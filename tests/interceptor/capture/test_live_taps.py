"""Packet-level live capture on a test node: discovery plans the right taps and they see the right bytes."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from interceptor.capture.live import TapSet
from interceptor.config import CaptureConfig
from interceptor.counters import Counters
from interceptor.discovery.plan import KIND_LOOPBACK, KIND_VETH, plan_taps
from interceptor.discovery.scan import scan

pytestmark = [pytest.mark.slow, pytest.mark.netns]
KEY = 0x5A


class Collector:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str, str], bytearray] = defaultdict(bytearray)
        self.linktypes: set[int] = set()

    def __call__(self, ts: float, data: bytes, linktype: int, source: dict) -> None:
        self.data[(source["kind"], source["interface"], source["netns"])] += data
        self.linktypes.add(linktype)


def _loop(taps: TapSet, stop: threading.Event) -> None:
    while not stop.is_set():
        taps.poll_once(0.05)


def test_taps_follow_the_plan_and_survive_pod_deletion(node_lab) -> None:
    plain = node_lab.pod("plain")
    meshed = node_lab.pod("meshed")
    node_lab.app(plain, "server", "8080", port=8080, name="plain-server")
    node_lab.app(meshed, "server", "8080", port=8080, name="meshed-app")
    node_lab.app(meshed, "proxy", "4143", "8080", str(KEY), "linkerd2-proxy", port=4143, name="meshed-proxy")
    cfg = CaptureConfig(include_namespaces=[node_lab.pattern])

    spaces = scan(cfg)
    by_id = {ns.id: ns for ns in spaces}
    assert by_id[meshed.netns_id].mesh.mesh == "linkerd"
    assert not by_id[plain.netns_id].mesh
    assert by_id[plain.netns_id].host_peers == {"eth0": plain.host_dev}
    specs, skips = plan_taps(spaces, cfg)
    assert {s.key for s in specs} == {
        (KIND_VETH, plain.host_dev, plain.netns_id),
        (KIND_LOOPBACK, "lo", meshed.netns_id),
    }
    assert any(s.interface == meshed.host_dev and "mTLS" in s.reason for s in skips)

    counters = Counters()
    got = Collector()
    taps = TapSet(cfg, counters, got, node="test-node")
    assert taps.sync(specs) == (2, 0)
    stop = threading.Event()
    loop = threading.Thread(target=_loop, args=(taps, stop))
    loop.start()
    try:
        assert len(node_lab.client(plain.pod_ip, 8080, 5, "plain")) == 5
        assert len(node_lab.client(meshed.pod_ip, 4143, 5, "mesh", KEY)) == 5
        time.sleep(0.3)
        veth = bytes(got.data[(KIND_VETH, plain.host_dev, plain.netns_id)])
        lo = bytes(got.data[(KIND_LOOPBACK, "lo", meshed.netns_id)])
        assert veth.count(b"POST /api/plain/") == 5
        assert lo.count(b"POST /api/mesh/") == 5, "the sidecar's plaintext is on the pod's loopback"
        assert b"/api/mesh/" not in veth and b"/api/plain/" not in lo
        assert got.linktypes == {1}

        # The plain pod dies while being captured: no exception, a counter, the other tap goes on.
        node_lab.delete_pod(plain)
        deadline = time.monotonic() + 5
        while counters.get("capture.tap_vanished") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        specs, _ = plan_taps(scan(cfg), cfg)
        taps.sync(specs)
        assert loop.is_alive(), "a vanished interface must not end the capture loop"
        assert counters.get("capture.tap_vanished") + counters.get("capture.tap_closed") >= 1
        assert set(taps.taps) == {(KIND_LOOPBACK, "lo", meshed.netns_id)}
        assert len(node_lab.client(meshed.pod_ip, 4143, 3, "after", KEY)) == 3
        time.sleep(0.3)
        assert bytes(got.data[(KIND_LOOPBACK, "lo", meshed.netns_id)]).count(b"POST /api/after/") == 3
    finally:
        stop.set()
        loop.join(5)
        taps.refresh_stats()
        taps.close_all()
    assert counters.dropped("capture_kernel") == 0
