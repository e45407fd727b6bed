"""Per-connection coverage: what each TCP connection was, and whether a source read it.

Sans-I/O, driven by the pipeline at three points (a connection opens, its first bytes, it ends)
and by the TLS byte streams (``stream_seen``). Only the first bytes of each direction are looked
at, in order, and only until the protocol is known (``SNIFF_BYTES`` at most): then the buffer is
dropped. No payload is kept beyond that, for any connection. A TLS connection's handshake facts
(SNI, ALPN, version) are its TLS layer's (``layers.TlsHandshake``), given at its end (``handshake``).

A connection's ``Connection`` record goes to the ``Account`` when it ends. An encrypted one whose
plaintext an eBPF source supplied (the same addresses and ports, either way round) is
``tls-decrypted``; the match may come a moment after the packets end (two sources, two queues), so
an unmatched TLS connection waits ``grace_s`` before it is counted ``tls-unread``. Segments that
arrive after a connection ended belong to it (``recent``), not to a new mid-stream one.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from interceptor.counters import Counters
from interceptor.coverage import hello as tlshello
from interceptor.coverage.account import Account, Connection, Key
from interceptor.coverage.sniff import UNKNOWN, recognize
from interceptor.pairs import Endpoint
from interceptor.reassembly import HALF32, MASK32

K = TypeVar("K", bound=Hashable)

if TYPE_CHECKING:
    # imported where a TLS connection ends (_tls, _decrypted): a capture of plain HTTP never needs
    # the TLS library model, nor interceptor.tls behind it
    from interceptor.coverage.library import TlsState

SNIFF_BYTES = 16384  # per direction at most, while the protocol is not recognised
READ_PROTOCOLS = {"http/1.1"}  # parsed by the pipeline; other protocols count as read once they yield pairs

FourTuple = tuple[str, int, str, int]


@dataclass(slots=True)
class Attribution:
    """A local process at one end of a connection (filled by the agent's /proc adapter)."""

    process: str
    pid: int
    library: str
    tls_state: TlsState | None = None


class FlowCoverage:
    """One connection's coverage state, owned by the pipeline's flow."""

    __slots__ = ("endpoints", "source", "midstream", "client", "bufs", "nexts", "sniffing", "protocol", "hello",
                 "server_hello", "bytes", "attribution")

    def __init__(self, endpoints: tuple[Endpoint, Endpoint], source: str, midstream: bool, client: int | None) -> None:
        self.endpoints = endpoints  # endpoints[d] sends direction d
        self.source = source
        self.midstream = midstream
        self.client = client
        self.bufs: list[bytearray] = [bytearray(), bytearray()]
        self.nexts: list[int | None] = [None, None]
        self.sniffing = True
        self.protocol: str | None = None
        self.hello: tlshello.Hello | None = None
        self.server_hello: tlshello.Hello | None = None
        self.bytes = 0
        self.attribution: tuple[Attribution | None, Attribution | None] | None = None


class Tracker:
    def __init__(self, account: Account, counters: Counters, interval_s: float = 60.0, grace_s: float = 0.0,
                 tls_active: bool = False, max_recent: int = 65536, recent_s: float = 30.0,
                 attribute: Callable[[Endpoint], Attribution | None] | None = None, enabled: bool = True) -> None:
        self.enabled = enabled  # False: no connection is followed (open returns None), nothing is counted
        self.account = account
        self.interval_s = interval_s
        self.ready: deque[dict[str, Any]] = deque()  # records of finished intervals, for ``drain``
        self.node = ""
        self.counters = counters
        self.grace_s = grace_s
        self.tls_active = tls_active  # an eBPF source runs: unread TLS is then explained per process
        self.attribute = attribute
        self.max_recent = max_recent
        self.recent_s = recent_s
        self.recent: OrderedDict[Hashable, tuple[Key | None, float]] = OrderedDict()
        self.streams: OrderedDict[FourTuple, tuple[str, float]] = OrderedDict()  # TLS plaintext seen
        self.waiting: OrderedDict[FourTuple, tuple[Connection, float]] = OrderedDict()
        # The pairs of a connection read from its plaintext (an eBPF stream) are not the packet view's:
        # they reach its account when the stream ends, before (pending) or after (decrypted) its packets.
        self.pending_pairs: OrderedDict[FourTuple, int] = OrderedDict()
        self.decrypted: OrderedDict[FourTuple, Key] = OrderedDict()
        self.max_streams = max_recent

    # -- the pipeline's hooks ---------------------------------------------------------------------
    def open(self, endpoints: tuple[Endpoint, Endpoint], source: str, syn: bool, client: int | None,
             ts: float) -> FlowCoverage | None:
        if not self.enabled:
            return None
        if not self.account.start:
            self.account.start = ts  # the first interval starts with the first connection
        return FlowCoverage(endpoints, source, not syn, client)

    def data(self, cov: FlowCoverage, direction: int, seq: int, payload: bytes) -> None:
        """A payload segment while the connection is still being recognised (``cov.sniffing``; the
        pipeline counts every segment's length itself, natively, and adds it to ``cov.bytes`` at the end).
        Bytes are taken in sequence order only; a segment after a hole waits for its retransmission."""
        nxt = cov.nexts[direction]
        skip = 0 if nxt is None else (nxt - seq) & MASK32  # bytes of it already taken
        if skip >= HALF32 or skip >= len(payload):
            return  # starts after a hole, or an old retransmission
        buf = cov.bufs[direction]
        buf += payload[skip:skip + SNIFF_BYTES - len(buf)]
        cov.nexts[direction] = (seq + len(payload)) & MASK32
        self._decide(cov, direction)

    def _decide(self, cov: FlowCoverage, direction: int) -> None:
        if cov.client is None:
            cov.client = direction  # no SYN seen: the first to speak is taken as the client
        client, server = cov.bufs[cov.client], cov.bufs[1 - cov.client]
        if cov.protocol is None:
            cov.protocol = recognize(bytes(client), bytes(server))
            if cov.protocol is None:
                return
        if cov.protocol == "tls" and not cov.midstream and self.attribute is not None and cov.attribution is None:
            # The hellos' facts come from the connection's TLS layer (``handshake``); the processes
            # at its ends are looked up now, while they are surely alive.
            cov.attribution = (self.attribute(cov.endpoints[cov.client]), self.attribute(cov.endpoints[1 - cov.client]))
        self._stop(cov)

    @staticmethod
    def handshake(cov: FlowCoverage, hellos: list[tlshello.Hello]) -> None:
        """The TLS hellos the connection's layer read (``layers.TlsHandshake``): SNI, ALPN, version."""
        for found in hellos:
            if found.kind == "client":
                cov.hello = found
            else:
                cov.server_hello = found

    @staticmethod
    def _stop(cov: FlowCoverage) -> None:
        cov.sniffing = False
        cov.bufs = [bytearray(), bytearray()]  # nothing of the payload stays

    def close(self, cov: FlowCoverage, ts: float, pairs: int, key: Hashable, closed: bool = True,
              reason: str = "") -> None:
        """The connection ended: by FIN or RST when ``closed`` (then its later segments are looked up
        with ``key``, see ``tail``), else it went idle or the input ended."""
        conn = self._connection(cov, pairs)
        if reason and not conn.reason:
            conn.reason = reason
        self._stop(cov)
        four = _four(conn.src, conn.dst)
        if conn.protocol == "tls" and conn.verdict == "tls-unread" and self.grace_s > 0:
            self.waiting[four] = (conn, ts + self.grace_s)
            agg_key = None
        else:
            agg_key = self._count(conn, four)
        if not closed:
            return
        self.recent[key] = (agg_key, ts)
        if len(self.recent) > self.max_recent:
            self.recent.popitem(last=False)

    def tail(self, key: Hashable, syn: bool, nbytes: int, ts: float) -> bool:
        """A segment of a connection not tracked: True if it belongs to one that just ended."""
        entry = self.recent.get(key)
        if entry is None:
            return False
        agg_key, ended = entry
        if syn or ts - ended > self.recent_s:
            del self.recent[key]  # the 4-tuple is reused by a new connection
            return False
        if nbytes and agg_key is not None:
            self.account.add_bytes(agg_key, nbytes)
        self.counters.inc("coverage.segments_after_close")
        return True

    def untracked(self, endpoints: tuple[Endpoint, Endpoint], reason: str) -> None:
        """A connection attempt the pipeline could not follow (flow table full, load shedding)."""
        if not self.enabled:
            return
        self.account.add(Connection(endpoints[0], endpoints[1], "unknown", "", reason=reason))

    # -- TLS plaintext --------------------------------------------------------------------------
    def stream_seen(self, a: Endpoint, b: Endpoint, kind: str, ts: float) -> None:
        """An eBPF source delivers plaintext of the connection a<->b."""
        if not (self.enabled and a.port and b.port):
            return
        four = _four(a, b)
        waiting = self.waiting.pop(four, None)
        if waiting is not None:
            conn = waiting[0]
            self._decrypted(conn, kind, four)
            self._count(conn, four)
            return
        self.streams[four] = (kind, ts)
        self.streams.move_to_end(four)
        if len(self.streams) > self.max_streams:
            self.streams.popitem(last=False)

    def stream_pairs(self, a: Endpoint, b: Endpoint, pairs: int) -> None:
        """The plaintext view of a<->b ended with ``pairs`` exchanges paired: the connection's pairs."""
        if not (self.enabled and pairs and a.port and b.port):
            return
        four = _four(a, b)
        key = self.decrypted.get(four)
        if key is not None:  # its packets were counted already
            self.account.add_pairs(key, pairs)
            return
        waiting = self.waiting.get(four)
        if waiting is not None:
            waiting[0].pairs += pairs
            return
        self.pending_pairs[four] = self.pending_pairs.get(four, 0) + pairs
        self.pending_pairs.move_to_end(four)
        if len(self.pending_pairs) > self.max_streams:  # a stream whose packets no tap sees
            self.pending_pairs.popitem(last=False)

    def tick(self, now: float) -> None:
        """Count the TLS connections whose grace ran out; forget old stream and recent entries;
        close the interval when it is over (its records wait in ``ready``)."""
        while self.waiting:
            four, (conn, deadline) = next(iter(self.waiting.items()))
            if deadline > now:
                break
            del self.waiting[four]
            self._count(conn, four)
        limit = now - self.recent_s
        _expire(self.streams, limit)
        _expire(self.recent, limit)
        if self.account.start and now - self.account.start >= self.interval_s:
            self.ready.extend(self.account.flush(now, self.node))
            self.decrypted.clear()  # their records are out: later pairs must not reach the next interval's

    def flush_waiting(self) -> None:
        """End of input: the connections still waiting for a plaintext match are counted as they are."""
        for four, (conn, _) in list(self.waiting.items()):
            del self.waiting[four]
            self._count(conn, four)

    def finish(self, now: float) -> None:
        """Close the current interval now (end of a replay, agent shutdown)."""
        self.flush_waiting()
        if self.account.aggregates:
            self.ready.extend(self.account.flush(max(now, self.account.start), self.node))
        self.decrypted.clear()

    def drain(self) -> list[dict[str, Any]]:
        out = list(self.ready)
        self.ready.clear()
        return out

    # -- the verdict ------------------------------------------------------------------------------
    def _connection(self, cov: FlowCoverage, pairs: int) -> Connection:
        client = cov.client if cov.client is not None else 0
        # Copies: the flow's endpoints are the pairs' too (enrichment writes into them).
        src, dst = (Endpoint(ep.ip, ep.port) for ep in (cov.endpoints[client], cov.endpoints[1 - client]))
        protocol = cov.protocol
        if protocol is None:
            protocol = recognize(bytes(cov.bufs[client]), bytes(cov.bufs[1 - client])) or UNKNOWN
        conn = Connection(src, dst, "unknown", "" if protocol == UNKNOWN else protocol, cov.bytes, pairs)
        if not cov.bytes:
            conn.reason = "no_payload"
        if pairs or protocol in READ_PROTOCOLS:
            conn.verdict, conn.source = "inspected", cov.source
        elif cov.midstream:
            conn.verdict = "joined-mid-stream"
        elif protocol == "tls":
            self._tls(conn, cov)
        elif protocol != UNKNOWN:
            conn.verdict = "other-protocol"
        return conn

    def _tls(self, conn: Connection, cov: FlowCoverage) -> None:
        from interceptor.coverage.library import Library, TlsState, why_unread

        if cov.hello is not None:
            conn.sni = cov.hello.sni
            conn.alpn = ",".join(cov.hello.alpn)
            conn.tls_version = cov.hello.version
        if cov.server_hello is not None:
            conn.tls_version = cov.server_hello.version
        ends = cov.attribution or (None, None)
        for ep, who in zip((conn.src, conn.dst), ends, strict=True):
            if who is not None:  # each end's own process and library: "the Java side is JSSE"
                ep.meta["process"], ep.meta["library"] = who.process, who.library
        four = _four(conn.src, conn.dst)
        found = self.streams.pop(four, None)
        if found is not None:
            self._decrypted(conn, found[0], four)
            return
        conn.verdict = "tls-unread"
        local = ends[0] or ends[1]  # the client's process first: it chose the library
        if local is not None:
            conn.process, conn.library = local.process, local.library
        state = local.tls_state if local is not None else None
        library = Library(local.library, "") if local is not None else None
        if not self.tls_active:
            conn.reason = why_unread(library, None)
        else:
            conn.reason = why_unread(library, state or TlsState(True))

    def _decrypted(self, conn: Connection, kind: str, four: FourTuple) -> None:
        from interceptor.coverage.library import PROBED

        conn.verdict, conn.source, conn.reason = "tls-decrypted", kind, ""
        conn.library = next((lib for lib, k in PROBED.items() if k == kind), kind)  # the one that was read
        conn.pairs += self.pending_pairs.pop(four, 0)

    def _count(self, conn: Connection, four: FourTuple) -> Key:
        key = self.account.add(conn)
        if conn.verdict == "tls-decrypted":  # its stream may end later: its pairs are added then
            self.decrypted[four] = key
            if len(self.decrypted) > self.max_recent:
                self.decrypted.popitem(last=False)
        return key



def _four(a: Endpoint, b: Endpoint) -> FourTuple:
    """The connection's addresses in one order, whoever sent first."""
    return (a.ip, a.port, b.ip, b.port) if (a.ip, a.port) < (b.ip, b.port) else (b.ip, b.port, a.ip, a.port)


def _expire(table: OrderedDict[K, tuple[Any, float]], limit: float) -> None:
    """Drop the entries last seen before ``limit`` (insertion order is time order: oldest first)."""
    while table:
        k, (_, seen) = next(iter(table.items()))
        if seen >= limit:
            break
        del table[k]
