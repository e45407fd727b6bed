"""The disk spool on its own: order, byte budget, deletion after acknowledgement, recovery."""

from __future__ import annotations

from pathlib import Path

from interceptor.counters import Counters
from interceptor.sinks.spool import Spool


def drain(spool: Spool) -> list[bytes]:
    out = []
    while (rec := spool.peek()) is not None:
        spool.take()
        out.append(rec.value)
        spool.ack(rec.segment)
    return out


def test_records_come_back_in_order_with_key_and_headers(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 4096, Counters())
    for i in range(300):
        assert spool.append(b"k%d" % i if i % 2 else None, b"value-%d" % i, [("h", b"\xff%d" % i)])
    assert spool.pending == 300
    for i in range(300):
        rec = spool.peek()
        assert rec is not None and rec.value == b"value-%d" % i
        assert rec.key == (b"k%d" % i if i % 2 else None)
        assert rec.headers == [("h", b"\xff%d" % i)]
        spool.take()
        spool.ack(rec.segment)
    assert spool.peek() is None and spool.pending == 0
    assert spool.bytes == 0 and not list(tmp_path.glob("*.seg"))  # every segment deleted once acked


def test_byte_budget_refuses_and_frees(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000, 4096, Counters())
    accepted = sum(spool.append(None, b"x" * 1000, []) for _ in range(20))
    assert 5 <= accepted < 10
    assert spool.bytes <= 10_000
    assert len(drain(spool)) == accepted
    assert spool.append(None, b"x" * 1000, [])  # room again after the replay


def test_unacked_segment_survives_restart(tmp_path: Path) -> None:
    counters = Counters()
    spool = Spool(tmp_path, 1 << 20, 4096, counters)
    for i in range(100):
        spool.append(None, b"%d" % i + b"." * 100, [])
    rec = spool.peek()
    assert rec is not None
    spool.take()  # handed to the producer but never acknowledged: the process dies
    spool.flush()
    again = Spool(tmp_path, 1 << 20, 4096, counters)
    assert again.recovered == 100  # at least once: the unacknowledged record comes back too
    values = drain(again)
    assert values[0].startswith(b"0.") and values[-1].startswith(b"99.")
    again.append(None, b"new", [])
    assert drain(again) == [b"new"]


def test_torn_tail_is_cut_and_counted(tmp_path: Path) -> None:
    counters = Counters()
    spool = Spool(tmp_path, 1 << 20, 1 << 20, counters)
    for i in range(10):
        spool.append(None, b"v%d" % i, [])
    spool.close()
    (seg,) = tmp_path.glob("*.seg")
    seg.write_bytes(seg.read_bytes()[:-3])  # a crash in the middle of the last write
    again = Spool(tmp_path, 1 << 20, 1 << 20, counters)
    assert again.recovered == 9
    assert counters.dropped("kafka_spool_corrupt") == 1
    assert drain(again) == [b"v%d" % i for i in range(9)]


def test_reading_catches_up_with_writing(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, 1 << 20, Counters())
    seen = []
    for i in range(50):
        spool.append(None, b"%d" % i, [])
        if i % 7 == 0:
            seen += drain(spool)
    seen += drain(spool)
    assert seen == [b"%d" % i for i in range(50)]
    spool.close()
    assert Spool(tmp_path, 1 << 20, 1 << 20, Counters()).recovered == 0
