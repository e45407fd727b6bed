"""One connection and the protocol layer reading it: ``Connection`` for TCP as captured (both
directions' reassembly, the ACK gating between them), ``Plaintext`` for an eBPF plaintext stream
(bytes already in order). Both choose their layer from the first bytes (``layers.choose``) and
switch it when the layer says so (``Upgrade: h2c``, a tunnel).

The pipeline routes each segment to its ``Connection`` (``receive``) and keeps the table; the
connection decides when it is over (both FINs delivered, an RST) and says so with ``over``: the
router then forgets it. Nothing here knows about other connections.

ACK gating: a segment that acknowledges bytes of the other direction not delivered yet (two taps
read out of step, reordering) is held until they arrive, so a response never overtakes its
request; bounded per direction and in the memory budget, and released when the wait is over
(``release_stale``) or the connection ends.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from interceptor.capture.packets import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN
from interceptor.conversation import Context, Conversation
from interceptor.coverage.hello import Hello
from interceptor.http2 import H2Limits
from interceptor.layers import Chooser, Host, Input, ProtocolLayer, TlsHandshake, layer_event
from interceptor.pairs import Endpoint, Pair
from interceptor.reassembly import HALF32, MASK32, TcpStream
from interceptor.stages import Emit

Address = tuple[bytes, int]
MAX_DEFERRED = 64  # segments per direction waiting for the peer


@dataclass(slots=True)
class Deferred:
    """A segment held until the bytes of the other direction it acknowledges have arrived."""

    seq: int
    acked: int | None  # the other direction's offset it acknowledges (unwrapped)
    flags: int
    payload: bytes
    ts: float


def layer_events(host: Host, ts: float) -> None:
    """Take what the host's layer made (called when ``layer.events`` is not empty): pairs go to the
    post-pair stages (``Context.emit``), the rest is acted on by ``layers.layer_event``. (Here, not
    in ``layers``: this runs for every pair, and this module is compiled.)"""
    # (Narrowed to the usual types first: compiled, their attributes are then read natively, where
    # through the protocols each is a generic attribute access; this runs for every pair.)
    if isinstance(host, Connection):
        layer = host.layer
        ctx = host.ctx
    else:
        layer = host.layer
        ctx = host.ctx
    if isinstance(layer, Conversation):
        events = layer.events
        layer.events = []
    else:
        events = layer.events
        layer.events = []
    emit = ctx.emit
    for event in events:
        if isinstance(event, Pair):
            if isinstance(emit, Emit):  # (the pipeline's: a native call)
                emit.pair(event)
            else:
                emit(event)
        else:
            layer_event(host, layer, event, ts)
    now = host.layer if isinstance(host, Connection) else host.layer
    if now is not layer and now.events:  # the new layer read the switch's leftover
        layer_events(host, ts)


class Connection:
    """Direction 0 is sent by ``a`` (``endpoints[0]``). ``layer`` is the protocol layer (HTTP/1
    until the first bytes choose another); ``over`` is set, with ``reason``, once it has ended."""

    __slots__ = ("a", "ctx", "h2limits", "streams", "layer", "last_seen", "closed", "deferred", "cov",
                 "over", "reason", "max_deferred", "alpn", "key", "tag", "cov_bytes", "sniffing", "older", "newer")

    def __init__(self, a: Address, endpoints: tuple[Endpoint, Endpoint], source: dict[str, Any], ts: float,
                 ctx: Context, h2limits: H2Limits, max_out_of_order: int, synced: bool) -> None:
        self.a = a
        self.ctx = ctx
        self.h2limits = h2limits
        self.layer: ProtocolLayer = Conversation(ctx, endpoints, source, synced=synced)
        self.alpn = ""  # what the TLS handshake agreed on, when it shows it
        # The first bytes choose the protocol layer (HTTP/1, HTTP/2, TLS): until then, a Chooser.
        # (Both pairs typed as tuples of any length: compiled, a ``tuple[X, X]`` is kept unboxed,
        # and indexing it by direction built a new tuple object each time, four a packet.)
        self.streams: tuple[TcpStream, ...] = (
            TcpStream(Chooser(self, 0, synced), ctx.counters, ctx.budget, max_out_of_order),
            TcpStream(Chooser(self, 1, synced), ctx.counters, ctx.budget, max_out_of_order))
        self.last_seen = ts
        self.closed = [False, False]
        self.deferred: tuple[deque[Deferred], ...] = (deque(), deque())
        self.cov: Any = None  # the coverage account's record of the connection
        # Kept here, natively, and given to ``cov`` when the connection ends (per packet, ``cov``'s
        # own attributes would be generic Python attribute accesses): the payload bytes seen, and
        # whether the coverage account still reads the first bytes (``cov.sniffing``).
        self.cov_bytes = 0
        self.sniffing = False
        self.key = b""  # the pipeline's flow table key (packets.flow_key) ...
        self.tag = b""  # ... and direction 0's Segment.tag
        # The pipeline's order of activity (``Pipeline.by_age``): the flows active just before and
        # just after this one.
        self.older: Connection | None = None
        self.newer: Connection | None = None
        self.over = False
        self.reason = ""
        self.max_deferred = MAX_DEFERRED

    def __repr__(self) -> str:
        return f"<Connection over={self.over} closed={self.closed} {self.layer!r}>"

    def settle(self) -> None:
        for d, stream in enumerate(self.streams):
            stream.consumer = self.layer.parsers[d]

    # -- segments ---------------------------------------------------------------------------------
    def receive(self, direction: int, seq: int, ack: int, flags: int, payload: bytes, ts: float) -> None:
        """One segment of ``direction`` (raw sequence and acknowledgement numbers)."""
        layer = self.layer
        # (The HTTP/1 layer narrowed first: compiled, then read natively, not through the protocol.)
        dead = layer.dead if isinstance(layer, Conversation) else layer.dead
        if dead:  # nothing will be read again (not a protocol we read, a tunnel...)
            if flags & (TCP_FIN | TCP_RST):
                self.end(ts, "")
            return
        streams = self.streams
        if flags & TCP_SYN:
            stream = streams[direction]
            stream.syn(seq)
            if stream.start == seq:
                # Where its bytes start (HTTP/1.x pairing proofs use it): only from the SYN that
                # began the stream, not a copy arriving after the direction's data (a lagging tap).
                layer.set_origin(direction, (seq + 1) & MASK32)
            layer.set_client(direction if not flags & TCP_ACK else 1 - direction)
        acked = None  # the other direction's offset this segment acknowledges (unwrapped)
        if payload or flags & (TCP_FIN | TCP_RST):  # a FIN or RST waits for what it acknowledges too
            peer = streams[1 - direction]
            peer_next = peer.next
            if flags & TCP_ACK and peer_next is not None:
                acked = peer_next + (((ack - peer_next + HALF32) & MASK32) - HALF32)
            deferred = self.deferred[direction]
            if deferred or acked is not None and acked > peer_next and acked > received(peer):  # type: ignore[operator]
                # It acknowledges bytes of the other direction that have not arrived yet (taps read
                # out of step, reordering): hold it so a response never overtakes its request.
                if len(deferred) < self.max_deferred and self.ctx.budget.reserve(len(payload)):
                    deferred.append(Deferred(seq, acked, flags, payload, ts))
                    self.ctx.counts["tcp.deferred_segments"] += 1
                    return
                self.release_deferred(direction)
        self._deliver(direction, seq, acked, flags, payload, ts)

    def _deliver(self, direction: int, seq: int, acked: int | None, flags: int, payload: bytes, ts: float) -> None:
        stream = self.streams[direction]
        if payload:
            self.ctx.hot.payload_bytes += len(payload)
            stream.segment(seq, payload, ts, acked)  # the acknowledged offset travels with the bytes
            layer = self.layer
            if layer.events if isinstance(layer, Conversation) else layer.events:
                layer_events(self, ts)
        if flags & TCP_FIN:
            stream.fin(seq + (1 if flags & TCP_SYN else 0), len(payload))
        if flags & TCP_RST:
            self.end(ts, "connection_reset")
            return
        if stream.fin_at is not None and stream.finished and not self.closed[direction]:
            self.closed[direction] = True
            self.layer.close_direction(direction, ts)  # (a body delimited by the close completes)
            if self.layer.events:
                layer_events(self, ts)
            if all(self.closed):
                self.end(ts, "no_response")
                return
        if payload and self.deferred[1 - direction]:
            self._retry_deferred(1 - direction, ts)

    # -- the ACK gate -----------------------------------------------------------------------------
    def _retry_deferred(self, direction: int, now: float) -> None:
        """Deliver held segments whose acknowledged bytes have now arrived.

        They take the time of the segment that released them when that is later: a response's
        first byte cannot precede the request it answers, whatever the taps' clocks said.
        """
        deferred = self.deferred[direction]
        peer = self.streams[1 - direction]
        while deferred and not self.over:
            held = deferred[0]
            if held.acked is not None and peer.next is not None and held.acked > received(peer):
                return
            deferred.popleft()
            self.ctx.budget.release(len(held.payload))
            self._deliver(direction, held.seq, held.acked, held.flags, held.payload, max(held.ts, now))

    def release_deferred(self, direction: int) -> None:
        """Deliver held segments even though the bytes they acknowledge never came (capture loss)."""
        deferred = self.deferred[direction]
        peer = self.streams[1 - direction]
        if deferred:
            self.ctx.counters.inc("tcp.deferred_released_unmet", len(deferred))
        while deferred and not self.over:
            held = deferred.popleft()
            self.ctx.budget.release(len(held.payload))
            # Cumulative ACKs prove the peer's missing bytes were received, only not captured:
            # give up on those holes first, so the peer's later data is paired in order.
            acked = held.acked
            while peer.pending and acked is not None and peer.next is not None and acked > peer.next:
                peer.skip_gap(held.ts)
            if self.layer.events:  # (what the peer's held data completed)
                layer_events(self, held.ts)
            self._deliver(direction, held.seq, acked, held.flags, held.payload, held.ts)

    def release_stale(self, now: float, wait_s: float) -> None:
        """Held segments waited ``wait_s`` for their peer's bytes: deliver them anyway."""
        limit = now - wait_s
        for direction in (0, 1):
            deferred = self.deferred[direction]
            if deferred and deferred[0].ts < limit:
                self.release_deferred(direction)

    # -- end --------------------------------------------------------------------------------------
    def end(self, ts: float, reason: str) -> None:
        """The connection is over (FIN both ways, RST, idle, or end of input): held segments are
        delivered first (one of them may end it sooner, with its own reason), held data after a
        hole is still delivered, close-delimited bodies complete, unanswered requests are counted."""
        for direction in (0, 1):
            self.release_deferred(direction)
        if self.over:
            return  # delivering the held segments ended it already
        self.over = True
        self.reason = reason
        for stream in self.streams:
            stream.flush(ts)
        for direction, stream in enumerate(self.streams):
            stream.release()
            if not self.closed[direction]:  # ended without its FIN (RST, idle, end of capture)
                self.closed[direction] = True
                self.layer.close_direction(direction, ts, clean=False)
        self.layer.close(ts, reason or "no_response")
        if self.layer.events:
            layer_events(self, ts)

    def hellos(self) -> list[Hello]:
        """The TLS hellos its layer read (none unless it is TLS)."""
        layer = self.layer
        return [h for h in layer.hellos if h is not None] if type(layer) is TlsHandshake else []

    def spans(self) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """Per direction, the raw sequence range used: the first followed (the SYN's when seen),
        just past the last (a second tap's late copies fall inside it)."""
        out = []
        for stream in self.streams:
            end = stream.next if stream.fin_at is None or stream.next is None else max(stream.next, stream.fin_at)
            out.append(None if end is None or stream.start is None else (stream.start & MASK32, end & MASK32))
        return out[0], out[1]

    def discard(self) -> None:
        """Forget everything without emitting (after an internal error): held bytes go back."""
        self.over = True
        for stream in self.streams:
            stream.release()
        budget = self.ctx.budget
        for deferred in self.deferred:
            for held in deferred:
                budget.release(len(held.payload))
            deferred.clear()
        self.layer.discard()


def received(stream: TcpStream) -> int:
    """How far a direction's stream has been delivered, its FIN (one sequence number) included."""
    nxt = stream.next
    assert nxt is not None
    return nxt + 1 if stream.fin_at is not None and nxt >= stream.fin_at else nxt


class Plaintext:
    """One eBPF plaintext stream (a TLS library's reads and writes): both directions already in
    order, no sequence numbers to gate on. Its layer is chosen as a TCP connection's is (the
    HTTP/2 preface after ALPN ``h2``; ``alpn`` from the packet view's handshake for a stream met
    after it), never TLS (it is the inside of TLS)."""

    __slots__ = ("ctx", "h2limits", "layer", "inputs", "alpn")

    def __init__(self, ctx: Context, h2limits: H2Limits, endpoints: tuple[Endpoint, Endpoint],
                 source: dict[str, Any], alpn: str = "") -> None:
        self.ctx = ctx
        self.h2limits = h2limits
        self.layer: ProtocolLayer = Conversation(ctx, endpoints, source, synced=True)
        self.alpn = alpn
        self.inputs: list[Input] = [Chooser(self, d, True, alpn, tls=False) for d in (0, 1)]

    def __repr__(self) -> str:
        return f"<Plaintext {self.layer!r}>"

    def settle(self) -> None:
        self.inputs = list(self.layer.parsers)

    def receive(self, direction: int, data: bytes, ts: float) -> bool:
        """Bytes of ``direction``; False when the stream's further bytes are of no use."""
        self.inputs[direction].data(data, ts)
        if self.layer.events:
            layer_events(self, ts)
        return not self.layer.dead

    def gap(self, direction: int, size: int | None = None) -> None:
        self.inputs[direction].gap(size)
        if self.layer.events:
            layer_events(self, 0.0)

    def close(self, ts: float) -> None:
        self.layer.close(ts)
        if self.layer.events:
            layer_events(self, ts)

    def discard(self) -> None:
        self.layer.discard()
