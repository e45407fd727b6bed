"""Ring-buffer record decoding and the offset bookkeeping that turns lost records into gaps."""

from __future__ import annotations

import socket

import pytest

from interceptor.tls import events


def record(*, offset: int = 0, data: bytes = b"hello", direction: int = 0, kind: int = 1, family: int = 2,
           typ: int = 0, comm: bytes = b"tlsprog") -> bytes:
    laddr = socket.inet_pton(socket.AF_INET, "10.0.0.1") + bytes(12)
    raddr = socket.inet_pton(socket.AF_INET, "10.0.0.2") + bytes(12)
    head = events.HEADER.pack(123, 0xC0FFEE, offset, 42, 43, 7, len(data), typ, direction, kind,
                              family, 5555, 443, laddr, raddr, comm)
    return head + data


def test_decode_is_sized_to_the_data() -> None:
    ev = events.decode(record(data=b'{"a":1}', offset=10))
    assert (ev.pid, ev.tid, ev.fd, ev.conn, ev.offset, ev.end) == (42, 43, 7, 0xC0FFEE, 10, 17)
    assert (ev.kind, ev.dir, ev.type, ev.data, ev.comm) == ("gotls", 0, events.EV_DATA, b'{"a":1}', "tlsprog")
    assert ev.addrs == (("10.0.0.1", 5555), ("10.0.0.2", 443))


def test_decode_ipv6_and_unknown_addresses() -> None:
    raw = bytearray(record(family=10))
    l6 = socket.inet_pton(socket.AF_INET6, "fd00::1")
    r6 = socket.inet_pton(socket.AF_INET6, "::ffff:10.1.2.3")
    raw[56:72], raw[72:88] = l6, r6
    assert events.decode(bytes(raw)).addrs == (("fd00::1", 5555), ("10.1.2.3", 443))
    assert events.decode(record(family=0)).addrs is None


@pytest.mark.parametrize("raw", [b"", b"\0" * 50, record()[:-1], record(kind=7), record(direction=3)])
def test_malformed_records_raise(raw: bytes) -> None:
    with pytest.raises(events.EventError):
        events.decode(raw)


def test_stream_check_gap_and_restart() -> None:
    chk = events.StreamCheck()
    assert chk.classify(events.decode(record(offset=0, data=b"abc"))) == "ok"
    assert chk.classify(events.decode(record(offset=3, data=b"de"))) == "ok"
    assert chk.classify(events.decode(record(offset=0, data=b"x", direction=1))) == "ok"  # per direction
    assert chk.classify(events.decode(record(offset=9, data=b"z"))) == "gap"  # records 5..8 lost
    assert chk.classify(events.decode(record(offset=0, data=b"n"))) == "restart"  # pointer reused


def test_coalesce_merges_adjacent_continuations_only() -> None:
    head, body = events.decode(record(offset=0, data=b"HEAD")), events.decode(record(offset=4, data=b"BODY"))
    other_dir = events.decode(record(offset=0, data=b"resp", direction=1))
    after = events.decode(record(offset=8, data=b"MORE"))
    close = events.decode(record(typ=events.EV_CLOSE, data=b""))
    out = events.coalesce([head, body, other_dir, after, close])
    assert [(e.dir, e.offset, e.data) for e in out] == [(0, 0, b"HEADBODY"), (1, 0, b"resp"), (0, 8, b"MORE"),
                                                       (0, 0, b"")]  # not moved past the read
    assert out[0].end == 8


def test_coalesce_keeps_gaps_and_other_connections_apart() -> None:
    a = events.decode(record(offset=0, data=b"ab"))
    gap = events.decode(record(offset=5, data=b"cd"))  # 3 bytes lost: the gap must stay visible
    raw = bytearray(record(offset=7, data=b"ef"))
    raw[8:16] = (0xBEEF).to_bytes(8, "little")  # another connection
    other = events.decode(bytes(raw))
    assert [e.data for e in events.coalesce([a, gap, other])] == [b"ab", b"cd", b"ef"]


def test_coalesce_is_bounded() -> None:
    chunks = [events.decode(record(offset=i * 100, data=bytes([i]) * 100)) for i in range(10)]
    out = events.coalesce(chunks, limit=250)
    assert [len(e.data) for e in out] == [200, 200, 200, 200, 200]
    assert b"".join(e.data for e in out) == b"".join(bytes([i]) * 100 for i in range(10))
    assert [e.offset for e in out] == [0, 200, 400, 600, 800]
