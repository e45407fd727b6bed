"""The TPACKET_V3 ring source against real traffic in network namespaces: it sees exactly the
frames tcpdump sees on the same interface, and a fanout group keeps both directions of every
connection in one member."""

from __future__ import annotations

import sys
import textwrap
import threading
import time
from collections import defaultdict

import pytest

from interceptor.capture.packets import Segment, decode
from interceptor.capture.pcapfile import CaptureReader
from interceptor.capture.ring import (
    RingError,
    RingSocket,
    compile_filter,
    fanout_group,
    open_ring_sockets,
    ring_geometry,
)
from interceptor.discovery.netns import run_in_netns
from tests.fixtures.netns import free_port, make_pair
from tests.fixtures.node import APPS

pytestmark = [pytest.mark.slow, pytest.mark.netns]

# Many short keep-alive connections, each a few POSTs (bounded: count and socket timeouts).
CLIENT = textwrap.dedent("""
    import socket, sys
    host, port, conns, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    for c in range(conns):
        s = socket.create_connection((host, port), timeout=5)
        for i in range(per):
            body = ('{"c":%d,"i":%d,"pad":"%s"}' % (c, i, "x" * (50 * i))).encode()
            s.sendall(b"POST /r HTTP/1.1\\r\\nHost: t\\r\\nContent-Type: application/json\\r\\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\\r\\n\\r\\n" + body)
            buf = b""
            while b"\\r\\n\\r\\n" not in buf or len(buf) < buf.index(b"\\r\\n\\r\\n") + 4 + int(
                    buf.split(b"Content-Length: ")[1].split(b"\\r\\n")[0]):
                chunk = s.recv(65536)
                if not chunk:
                    raise SystemExit("server closed")
                buf += chunk
        s.close()
""")


class Reader(threading.Thread):
    """Reads the rings while the traffic runs, as the agent does (a block retires at every timeout,
    so an unread ring fills up even at a low rate)."""

    def __init__(self, rings: list[RingSocket]) -> None:
        super().__init__(daemon=True)
        self.rings = rings
        self.got: list[list[tuple[float, bytes]]] = [[] for _ in rings]
        self.stopping = threading.Event()

    def run(self) -> None:
        # Until 0.3 s (15 block timeouts) with nothing new, counted from the later of the last
        # packet and the traffic's end: on a loaded machine the client can pause longer than that
        # between packets, and the last block retires only after its end.
        last = time.monotonic()
        stopped_at: float | None = None
        while stopped_at is None or time.monotonic() - max(last, stopped_at) <= 0.3:
            if stopped_at is None and self.stopping.is_set():
                stopped_at = time.monotonic()
            for i, ring in enumerate(self.rings):
                if ring.dispatch(10_000, lambda ts, frame, lt, out: out.append((ts, frame)), self.got[i]):
                    last = time.monotonic()
            time.sleep(0.005)

    def finish(self) -> list[list[tuple[float, bytes]]]:
        self.stopping.set()
        self.join(10)
        assert not self.is_alive()
        return self.got


def _setup(netns_lab):
    pair = make_pair(netns_lab)
    port = free_port()
    netns_lab.start_server(pair.server, [sys.executable, APPS, "server", str(port)], port)
    return pair, port


def _client(pair, port: int, conns: int, per: int) -> None:
    pair.client.run([sys.executable, "-c", CLIENT, pair.server_ip, str(port), str(conns), str(per)], timeout=60)


def test_ring_sees_exactly_what_tcpdump_sees(netns_lab, tmp_path) -> None:
    pair, port = _setup(netns_lab)
    cap = pair.capture(tmp_path / "oracle.pcap", bpf=f"tcp port {port}", extra=["--time-stamp-precision=nano"])
    ns_path = f"/run/netns/{pair.server.name}"
    ring = run_in_netns(ns_path, lambda: RingSocket.open(pair.link.dev_b, f"tcp port {port}", 262144, 8 << 20, 20))
    try:
        reader = Reader([ring])
        reader.start()
        _client(pair, port, conns=6, per=8)
        frames = reader.finish()[0]
        cap.stop()
        assert ring.refresh_stats().dropped == 0
        assert cap.complete(), cap.log
    finally:
        ring.close()
    oracle = [(ts, frame) for ts, _lt, frame in CaptureReader(tmp_path / "oracle.pcap")]
    assert len(oracle) > 6 * 8 * 2  # handshakes, every request and response, the closes
    # The same frames; two sockets may order two packets of the same instant (one per direction)
    # differently, so each frame is matched with the oracle's copy of the same bytes, in order.
    assert sorted(f for _, f in frames) == sorted(f for _, f in oracle)
    seen: dict[bytes, list[float]] = {}
    for ts, f in oracle:
        seen.setdefault(f, []).append(ts)
    diffs = [abs(ts - seen[f].pop(0)) for ts, f in frames]
    # The same instants: on transmit each packet socket stamps its own clone, microseconds apart.
    assert max(diffs) < 1e-3, sorted(diffs)[-5:]
    assert ring.linktype == 1


def test_fanout_keeps_both_directions_of_each_connection_in_one_member(netns_lab) -> None:
    pair, port = _setup(netns_lab)
    ns_path = f"/run/netns/{pair.server.name}"
    group = fanout_group(7, salt=12345)

    def open_group() -> list[RingSocket]:
        socks, shape = open_ring_sockets(pair.link.dev_b, f"tcp port {port}", 262144, 8 << 20, 20,
                                         members=2, fanout=group)
        return [RingSocket(s, shape) for s in socks]

    rings = run_in_netns(ns_path, open_group)
    try:
        reader = Reader(rings)
        reader.start()
        _client(pair, port, conns=80, per=3)
        got = reader.finish()
        assert all(r.refresh_stats().dropped == 0 for r in rings)
    finally:
        for r in rings:
            r.close()
    # connection (sorted endpoints) -> member -> directions seen
    seen: dict[tuple, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for member, frames in enumerate(got):
        for _ts, frame in frames:
            seg = decode(1, frame)
            assert isinstance(seg, Segment)
            a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
            seen[(a, b) if a < b else (b, a)][member].add(0 if seg.dport == port else 1)
    assert len(seen) == 80
    split = [k for k, members in seen.items() if len(members) != 1]
    assert not split, f"{len(split)} connections had packets in both members"
    assert all(dirs == {0, 1} for members in seen.values() for dirs in members.values())
    per_member = [sum(1 for m in seen.values() if i in m) for i in (0, 1)]
    assert min(per_member) > 0, per_member  # the hash spreads connections (80 of them: never all in one)


def test_bad_filter_and_unknown_interface_are_clear_errors() -> None:
    with pytest.raises(RingError, match="capture.bpf_filter 'tcp port'"):
        compile_filter("tcp port", 1, 262144)
    with pytest.raises(OSError):
        RingSocket.open("no-such-if0", "tcp", 262144, 8 << 20, 50)


def test_ring_geometry_fits_the_buffer_and_the_largest_frame() -> None:
    assert ring_geometry(64 << 20, 262144) == (512 << 10, 128)
    assert ring_geometry(1 << 20, 262144) == (512 << 10, 4)  # at least 4 blocks
    assert ring_geometry(8 << 20, 65535) == (128 << 10, 64)


def test_a_ring_nobody_reads_counts_every_packet_it_drops(netns_lab) -> None:
    pair, port = _setup(netns_lab)
    ns_path = f"/run/netns/{pair.server.name}"
    # 4 small blocks retired every 5 ms: full long before the client is done.
    ring = run_in_netns(ns_path, lambda: RingSocket.open(pair.link.dev_b, f"tcp port {port}", 65535, 1, 5))
    try:
        assert ring.block_count == 4
        _client(pair, port, conns=6, per=8)
        time.sleep(0.1)
        frames = Reader([ring])
        frames.start()
        got = frames.finish()[0]
        st = ring.refresh_stats()
    finally:
        ring.close()
    assert st.dropped > 0
    assert st.received == len(got) + st.dropped  # every packet the filter passed: read or counted
