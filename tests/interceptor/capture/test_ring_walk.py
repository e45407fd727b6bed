"""Walking TPACKET_V3 blocks (``RingSocket.dispatch``) on a mapped ring whose blocks hold known
frames in the kernel's layout: every frame once, in order, with its timestamp, across blocks and
across dispatch calls that stop mid-block; each block handed back to the kernel once read."""

from __future__ import annotations

import struct

from interceptor.capture.ring import RingSocket, pack_blocks
from interceptor.capture.ringwalk import TP_STATUS_KERNEL, TP_STATUS_USER, pipeline_of


def _frames(n: int) -> list[tuple[float, bytes]]:
    # Sizes from a bare header to 1.5 KB, so packets sit at varied aligned offsets.
    return [(1_700_000_000 + i * 0.001234, bytes([i & 0xFF]) * (54 + (i * 37) % 1460)) for i in range(n)]


def _status(ring: RingSocket, block: int) -> int:
    assert ring.ring is not None
    return struct.unpack_from("=I", ring.ring, block * ring.block_size + 8)[0]


def test_every_frame_once_in_order_with_its_timestamp_across_blocks_and_calls() -> None:
    frames = _frames(300)
    ring = RingSocket.mapped(frames, block_size=16 << 10)  # ~10 frames a block: many blocks
    assert ring.block_count > 10
    got: list[tuple[float, bytes, int, object]] = []
    calls = 0
    while len(got) < len(frames):
        n = ring.dispatch(7, lambda ts, f, lt, a: got.append((ts, f, lt, a)), "tap")  # stops mid-block
        assert 0 < n <= 7
        calls += 1
    assert ring.dispatch(7, lambda *a: None, None) == 0  # every block back to the kernel: nothing ready
    assert [f for _, f, _, _ in got] == [f for _, f in frames]
    assert all(abs(ts - want) < 1e-6 for (ts, _, _, _), (want, _) in zip(got, frames, strict=True))
    assert {(lt, a) for _, _, lt, a in got} == {(1, "tap")}
    assert all(_status(ring, b) == TP_STATUS_KERNEL for b in range(ring.block_count))
    assert calls >= len(frames) // 7
    ring.close()


def test_a_block_is_returned_only_once_its_last_packet_is_read() -> None:
    frames = _frames(5)
    ring = RingSocket.mapped(frames)
    assert ring.block_count == 1 and _status(ring, 0) == TP_STATUS_USER
    assert ring.dispatch(4, lambda *a: None, None) == 4
    assert _status(ring, 0) == TP_STATUS_USER  # one packet left in it: still ours
    assert ring.dispatch(4, lambda *a: None, None) == 1
    assert _status(ring, 0) == TP_STATUS_KERNEL
    ring.close()


def test_a_packet_whose_processing_raised_is_read_once_and_its_block_given_back() -> None:
    frames = _frames(3)
    ring = RingSocket.mapped(frames)
    seen: list[bytes] = []

    def fail_on_last(ts: float, frame: bytes, linktype: int, arg: object) -> None:
        seen.append(frame)
        if len(seen) == 3:
            raise RuntimeError("a bug on this packet")

    try:
        ring.dispatch(10, fail_on_last, None)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the callback's exception did not reach the caller")
    assert seen == [f for _, f in frames]
    assert _status(ring, 0) == TP_STATUS_KERNEL  # its last packet was read: the kernel's again
    assert ring.dispatch(10, fail_on_last, None) == 0 and len(seen) == 3  # not read twice
    ring.close()


def test_pack_blocks_refuses_a_frame_larger_than_a_block() -> None:
    try:
        pack_blocks([(0.0, bytes(5000))], 4096)
    except ValueError as e:
        assert "does not fit" in str(e)
    else:
        raise AssertionError("a 5000-byte frame was packed into a 4096-byte block")


def test_a_pipeline_fed_straight_from_the_ring_gets_what_a_callback_would_give_it() -> None:
    """The walk calls a pipeline's own ``feed_packet`` as a method of the compiled class (no
    Python-level call); the pairs, their sources and the counters are those of the same frames fed
    through a plain callback."""
    from interceptor.counters import Counters
    from interceptor.pipeline import Pipeline
    from tests.interceptor.packetgen import Conn, http_request, http_response, keep_all_config

    conn = Conn().handshake()
    for i in range(20):
        conn.request(http_request("POST", f"/api/orders/{i}", b'{"email":"a@b.c","n":%d}' % i))
        conn.response(http_response(201, b'{"id":%d}' % i + b" " * (i * 97)))
    frames = conn.close().frames
    source = {"kind": "pcap-veth", "interface": "veth-a", "netns": "net:[1]", "node": "n1"}
    runs = []
    for direct in (True, False):
        pairs: list = []
        counters = Counters()
        pipe = Pipeline(keep_all_config(), counters, pairs.append)  # type: ignore[arg-type]
        ring = RingSocket.mapped(frames, block_size=8 << 10)
        wrapped = pipe.feed_packet if direct else (lambda ts, f, lt, a, feed=pipe.feed_packet: feed(ts, f, lt, a))
        assert (pipeline_of(wrapped) is pipe) is direct
        while ring.dispatch(5, wrapped, source):
            pass
        pipe.close()
        ring.close()
        runs.append(([(p.request.target, p.response.status, p.response.body, p.source) for p in pairs],
                     counters.snapshot()))
    assert runs[0] == runs[1]
    assert [t for t, *_ in runs[0][0]] == [f"/api/orders/{i}" for i in range(20)]
    assert {s["interface"] for *_, s in runs[0][0]} == {"veth-a"}
