"""TCP reassembly from segments: order, retransmissions, overlaps, wrap-around, gaps, bounds."""

from interceptor.counters import Counters
from interceptor.reassembly import Budget, TcpStream


class Sink:
    def __init__(self) -> None:
        self.out: list[bytes | None] = []  # None marks a gap
        self.meta: list[tuple[int, float, int | None]] = []  # (offset, ts, ack) of each delivery

    def data(self, payload: bytes, ts: float, offset: int = 0, ack: int | None = None) -> None:
        self.out.append(payload)
        self.meta.append((offset, ts, ack))

    def gap(self, size: int | None = None) -> None:
        self.out.append(None)

    @property
    def text(self) -> bytes:
        return b"".join(x for x in self.out if x is not None)


def stream(max_pending: int = 16, budget: int = 1 << 20) -> tuple[TcpStream, Sink, Counters, Budget]:
    sink, counters, b = Sink(), Counters(), Budget(budget)
    return TcpStream(sink, counters, b, max_pending), sink, counters, b


def test_in_order_and_out_of_order() -> None:
    s, sink, c, _ = stream()
    s.syn(99)
    s.segment(100, b"hello ", 0)
    s.segment(112, b"!", 0)
    s.segment(106, b"world ", 0)
    assert sink.text == b"hello world !"
    assert c.get("tcp.out_of_order_segments") == 1


def test_retransmission_and_overlap_keep_first_bytes() -> None:
    s, sink, c, _ = stream()
    s.syn(0)
    s.segment(1, b"abcdef", 0)
    s.segment(1, b"abcdef", 0)  # exact retransmission
    s.segment(4, b"XYZghi", 0)  # overlaps "def" with different bytes: the first copy wins
    assert sink.text == b"abcdefghi"
    assert c.get("tcp.retransmitted_segments") == 1
    assert c.get("tcp.overlapping_segments") == 1


def test_out_of_order_overlapping_held_segments() -> None:
    s, sink, _, b = stream()
    s.syn(0)
    s.segment(5, b"56789", 0)
    s.segment(3, b"34567", 0)
    s.segment(1, b"12", 0)
    assert sink.text == b"123456789"
    assert b.used == 0


def test_sequence_wrap_around() -> None:
    s, sink, _, _ = stream()
    isn = 0xFFFFFFF0
    s.syn(isn)
    s.segment(isn + 1, b"a" * 10, 0)
    s.segment((isn + 11) & 0xFFFFFFFF, b"b" * 10, 0)  # crosses 2**32
    s.segment((isn + 31) & 0xFFFFFFFF, b"d" * 5, 0)
    s.segment((isn + 21) & 0xFFFFFFFF, b"c" * 10, 0)
    assert sink.text == b"a" * 10 + b"b" * 10 + b"c" * 10 + b"d" * 5


def test_midstream_start_takes_first_segment() -> None:
    s, sink, _, _ = stream()
    s.segment(5000, b"xyz", 0)
    s.segment(5003, b"123", 0)
    assert sink.text == b"xyz123"


def test_gap_when_too_many_segments_wait() -> None:
    s, sink, c, b = stream(max_pending=2)
    s.syn(0)
    s.segment(1, b"aa", 0)
    s.segment(10, b"x", 0)
    s.segment(11, b"y", 0)
    s.segment(12, b"z", 0)  # third held segment: give up on the hole 3..9
    assert sink.out == [b"aa", None, b"x", b"y", b"z"]
    assert c.dropped("tcp_out_of_order_limit") == 1
    assert c.get("tcp.gap_bytes") == 7
    assert b.used == 0


def test_gap_when_memory_budget_is_exhausted() -> None:
    s, sink, c, b = stream(budget=4)
    s.syn(0)
    s.segment(1, b"a", 0)
    s.segment(10, b"bbb", 0)
    s.segment(13, b"ccc", 0)  # does not fit the budget: jump to the held data
    assert sink.out == [b"a", None, b"bbb", b"ccc"]
    assert c.dropped("memory_budget") == 1
    assert b.used == 0


def test_flush_delivers_held_data_after_holes() -> None:
    s, sink, c, _ = stream()
    s.syn(0)
    s.segment(1, b"a", 0)
    s.segment(5, b"e", 0)
    s.segment(9, b"i", 0)
    s.flush(0)
    assert sink.out == [b"a", None, b"e", None, b"i"]
    assert c.get("tcp.gaps") == 2


def test_fin_marks_the_end() -> None:
    s, _, _, _ = stream()
    s.syn(0)
    s.fin(4, 0)
    assert not s.finished
    s.segment(1, b"abc", 0)
    assert s.finished


def test_held_segments_keep_their_own_time_offset_and_ack() -> None:
    s, sink, _, _ = stream()
    s.syn(0)
    s.segment(4, b"def", 2.0, 70)
    s.segment(1, b"abc", 1.0, 50)
    assert sink.out == [b"abc", b"def"]
    assert sink.meta == [(1, 1.0, 50), (4, 2.0, 70)]
