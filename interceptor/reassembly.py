"""TCP reassembly of one direction of a connection into an ordered byte stream.

Sequence numbers are unwrapped to a 64-bit stream offset, so wrap-around at 2**32 is invisible to
the rest. Retransmissions and overlaps keep the bytes delivered first (as most stacks do); segments
after a hole wait in a bounded set; when the set or the shared memory budget is exhausted, or the
flow ends with a hole, the hole is declared a gap and the consumer resynchronises after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from interceptor.counters import Counters

# (Final: compiled, a constant in the code; a plain module global is a dict lookup at each use,
# three a segment here and three more in connection.receive)
MASK32: Final = 0xFFFFFFFF
HALF32: Final = 0x80000000


@dataclass(slots=True)
class Held:
    """A segment after a hole, waiting for it to fill: each keeps its own time and ack."""

    payload: bytes
    ts: float
    ack: int | None  # the other direction's offset it acknowledged


class StreamConsumer(Protocol):
    def data(self, payload: bytes, ts: float, offset: int, ack: int | None) -> None: ...

    def gap(self, size: int | None) -> None: ...


class NativeConsumer:
    """Base of the consumers compiled with the core (``conversation.Input``): ``TcpStream`` calls
    them natively, where a consumer known only by its protocol costs a generic Python call with
    boxed arguments (one per segment)."""

    __slots__ = ()

    def data(self, payload: bytes, ts: float, offset: int | None = None, ack: int | None = None) -> None:
        raise NotImplementedError

    def gap(self, size: int | None = None) -> None:
        raise NotImplementedError


class Budget:
    """Bytes held across all flows (out-of-order segments, partial messages): one shared cap."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def reserve(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def release(self, n: int) -> None:
        self.used -= n


class TcpStream:
    """One direction. ``segment`` takes a raw sequence number and payload and delivers in order."""

    __slots__ = ("consumer", "counters", "budget", "max_pending", "started", "pos", "pending", "pending_bytes",
                 "fin_at", "start")

    def __init__(self, consumer: StreamConsumer, counters: Counters, budget: Budget, max_pending: int) -> None:
        self.consumer = consumer
        self.counters = counters
        self.budget = budget
        self.max_pending = max_pending
        # The next expected stream offset (unwrapped), once ``started`` (``next`` reads both). (A
        # native int and a flag, not an ``int | None``: that is a boxed int, unboxed at each use and
        # allocated anew at each segment.)
        self.started = False
        self.pos = 0
        self.pending: dict[int, Held] = {}  # offset -> held segment, waiting for a hole to fill
        self.pending_bytes = 0
        self.fin_at: int | None = None
        self.start: int | None = None  # offset of the first byte followed (the SYN's, when seen)

    @property
    def next(self) -> int | None:
        """The next expected stream offset (unwrapped); None until the stream has started."""
        return self.pos if self.started else None

    def syn(self, seq: int) -> None:
        if not self.started:
            self.started = True
            self.pos = (seq + 1) & MASK32
            self.start = seq

    def offset(self, seq: int) -> int:
        """Unwrap a 32-bit sequence number to the offset nearest to ``next``."""
        assert self.started
        nxt = self.pos
        return nxt + (((seq - nxt + HALF32) & MASK32) - HALF32)

    def segment(self, seq: int, payload: bytes, ts: float, ack: int | None = None) -> None:
        """Take a segment. ``ack`` is the segment's acknowledgement unwrapped into the other
        direction's offsets (None when unknown); it travels with the bytes to the consumer."""
        if not self.started:  # no SYN seen: take this segment as the start; what preceded it is unknown
            self.started = True
            self.pos = seq
            self.start = seq
            self.consumer.gap(None)
        nxt = self.pos
        start = nxt + (((seq - nxt + HALF32) & MASK32) - HALF32)
        if start == nxt and not self.pending:  # in order, nothing held: the common case
            self.pos = nxt + len(payload)
            consumer = self.consumer
            if isinstance(consumer, NativeConsumer):
                consumer.data(payload, ts, start, ack)
            else:
                consumer.data(payload, ts, start, ack)
            return
        self._place(start, payload, ts, ack)

    def _place(self, start: int, payload: bytes, ts: float, ack: int | None) -> None:
        nxt = self.pos
        end = start + len(payload)
        if end <= nxt:
            self.counters.inc("tcp.retransmitted_segments")
            return
        if start < nxt:  # overlap with bytes already delivered: theirs win
            self.counters.inc("tcp.overlapping_segments")
            payload = payload[nxt - start :]
            start = nxt
        if start == nxt:
            self.pos = end
            self.consumer.data(payload, ts, start, ack)
            if self.pending:
                self._drain()
            return
        self._hold(start, payload, ts, ack)

    def fin(self, seq: int, payload_len: int) -> None:
        if not self.started:
            self.started = True
            self.pos = seq
        self.fin_at = self.offset(seq) + payload_len

    @property
    def finished(self) -> bool:
        fin_at = self.fin_at
        return fin_at is not None and self.started and self.pos >= fin_at and not self.pending

    def _hold(self, start: int, payload: bytes, ts: float, ack: int | None) -> None:
        pending = self.pending
        if start in pending:
            if len(pending[start].payload) >= len(payload):
                self.counters.inc("tcp.retransmitted_segments")
                return
            self._forget(start)
        if len(pending) < self.max_pending and self.budget.reserve(len(payload)):
            pending[start] = Held(payload, ts, ack)
            self.pending_bytes += len(payload)
            self.counters.inc("tcp.out_of_order_segments")
            return
        # No room to wait for the hole: give up on it and go on from the earliest data we have.
        self.counters.drop("tcp_out_of_order_limit" if len(pending) >= self.max_pending else "memory_budget")
        first = min(start, min(pending)) if pending else start
        self._jump(first)
        if first != start:
            self._drain()
        self._place(start, payload, ts, ack)

    def _jump(self, offset: int) -> None:
        nxt = self.pos
        self.counters.inc("tcp.gaps")
        self.counters.inc("tcp.gap_bytes", offset - nxt)
        self.pos = offset
        self.consumer.gap(offset - nxt)  # the exact size: a body's framing can survive it

    def _forget(self, start: int) -> Held:
        held = self.pending.pop(start)
        self.pending_bytes -= len(held.payload)
        self.budget.release(len(held.payload))
        return held

    def _drain(self) -> None:
        pending = self.pending
        while pending:
            start = min(pending)
            nxt = self.pos
            if start > nxt:
                return
            held = self._forget(start)
            end = start + len(held.payload)
            if end <= nxt:
                continue
            self.pos = end
            self.consumer.data(held.payload[nxt - start :], held.ts, nxt, held.ack)

    def skip_gap(self, ts: float = 0.0) -> None:
        """Give up on the hole before the first held segment: signal a gap, deliver what follows."""
        if self.pending:
            self._jump(min(self.pending))
            self._drain()

    def flush(self, ts: float) -> None:
        """The flow is ending: skip every remaining hole so held data is not lost silently, and
        tell the consumer about bytes lost before the FIN (a close-delimited body is cut)."""
        while self.pending:
            self.skip_gap(ts)
        fin_at = self.fin_at
        if fin_at is not None and self.started and self.pos < fin_at:
            self._jump(fin_at)

    def release(self) -> None:
        """Return held bytes to the budget (flow evicted)."""
        if self.pending_bytes:
            self.budget.release(self.pending_bytes)
        self.pending.clear()
        self.pending_bytes = 0
