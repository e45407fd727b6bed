"""The sans-I/O pipeline: packets (or decrypted byte streams) in, filtered pairs out.

Stages, each its own module: ``capture.packets`` (link/IP/TCP decoding) → ``reassembly`` (ordered
byte streams per direction) → ``http`` (message framing) → ``conversation`` (request/response
matching) → the post-pair ``stages`` (bounds, filters, then the output's: enrichment, sinks). Each
TCP connection is a ``connection.Connection`` (both directions, the ACK gating, its protocol layer);
the pipeline routes segments to it and keeps the flow table, the memory budget and the memory of
ended connections. No sockets or files in here; time is whatever timestamp the caller passes, so a pcap replays exactly as it was
captured.
"""

from __future__ import annotations

import socket
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from interceptor.capture.packets import (
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    Rejected,
    Segment,
    decode,
    flow_key,
    ip_text,
    reverse_tag,
)
from interceptor.config import Config
from interceptor.connection import Address, Connection, Plaintext
from interceptor.conversation import Context
from interceptor.counters import Counters
from interceptor.coverage.account import Account
from interceptor.coverage.tracker import Tracker
from interceptor.h2conversation import h2_limits
from interceptor.http import Limits
from interceptor.pairs import Endpoint, Pair
from interceptor.reassembly import HALF32, MASK32, Budget
from interceptor.stages import Bounds, Emit, Emitted, Filters, Stages, as_stages

LATE_SLACK = 1 << 20  # bytes before an ended flow's first followed byte still taken for its copies


def ip_bytes(ip: str) -> bytes:
    """``packets.ip_text`` reversed (an IPv4-mapped IPv6 address as the IPv4 one packets carry)."""
    if ip.startswith("::ffff:") and "." in ip:
        ip = ip[7:]
    return socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)


@dataclass(slots=True)
class Closed:
    """What is kept of an ended connection: the sequence range each direction used."""

    tag: bytes  # the ``Segment.tag`` of direction 0
    # Per direction, raw sequence numbers: the first followed (the SYN's when seen), just past the last.
    spans: tuple[tuple[int, int] | None, tuple[int, int] | None]
    ts: float


class Pipeline:
    """Feed with ``feed_packet`` (capture) or ``feed_stream`` (TLS plaintext). Pairs go through
    ``stages``: the bounds and filters, then ``output`` (the output's ``Stages``, or a function)."""

    def __init__(
        self,
        config: Config,
        counters: Counters,
        output: Stages | Callable[[Pair], Any],
        source: dict[str, Any] | None = None,
    ) -> None:
        core = config.core
        self.config = config
        self.counters = counters
        self.hot = counters.hot  # (the counts taken per packet and per pair: native ints)
        self.source = source or {"kind": "pcap-file"}
        self.budget = Budget(core.max_buffered_bytes)
        self.stages = Stages([Bounds(core, counters), Filters(config.filters, counters), Emitted(counters),
                              *as_stages(output)])
        limits = Limits(core.max_message_bytes, core.max_header_bytes, core.oversize == "truncate", core.decode_bodies,
                        core.on_gap == "partial")
        self.ctx = Context(limits, counters, self.budget, core.response_timeout_s, core.max_pending_requests,
                           Emit(self.stages, counters))
        self.h2limits = h2_limits(config)
        # The flow table: the connection by its key (``packets.flow_key``), and by each direction's
        # ``Segment.tag`` (``index``: one lookup per packet of the bytes cut from the frame, which
        # also says the direction). The order of last activity (what idle expiry, ``tick`` and
        # ``close`` walk) is a list linked through the connections (``Connection.older/newer``,
        # from ``oldest`` to ``newest``): moving a flow to the newest end is a few native attribute
        # writes, where keeping a dict in that order (a delete and an insert) was ~900 instructions
        # a packet.
        self.flows: dict[bytes, Connection] = {}
        self.index: dict[bytes, Connection] = {}
        self.oldest: Connection | None = None
        self.newest: Connection | None = None
        self.closed: OrderedDict[bytes, Closed] = OrderedDict()  # recently ended flows
        self.closed_memory_s = max(2.0, 4 * core.reorder_wait_s)  # longer than taps lag behind each other
        self.streams: dict[Hashable, Plaintext] = {}
        self.stream_seen: dict[Hashable, float] = {}
        self.stream_owner: dict[tuple[str, int, str, int], Hashable] = {}  # connection -> stream that pairs it
        self.stream_keys: dict[Hashable, tuple[str, int, str, int]] = {}
        self.mirrors: set[Hashable] = set()
        self.now = 0.0
        self.accept_new_flows = True  # False while the agent sheds load: new connections are not followed
        cov = config.coverage
        self.coverage = Tracker(Account(counters, cov.max_keys), counters, cov.interval_s, max_recent=cov.max_recent,
                                recent_s=cov.recent_s, enabled=cov.enabled)  # the agent sets grace_s/attribute

    # -- packets ----------------------------------------------------------------------------------
    def feed_packet(self, ts: float, data: bytes, linktype: int, source: dict[str, Any] | None = None) -> None:
        """One captured frame. ``linktype`` is the pcap LINKTYPE_* value. ``source`` overrides the
        pipeline's default source for flows this packet creates (e.g. which tap saw it). The same TCP
        connection seen on two taps is one flow: duplicates are treated as retransmissions."""
        self.hot.packets += 1
        if ts > self.now:
            self.now = ts
        try:
            seg = decode(linktype, data)
        except Exception:  # noqa: BLE001 - a decoder bug must never stop capture
            self.counters.drop("decode_error")
            return
        # (``type() is``, not isinstance: cheaper per packet, but mypy narrows only the true branch)
        if type(seg) is Rejected:
            if seg.dropped:
                self.counters.drop(seg.reason)
            else:  # not traffic we could have used: counted, but not as a drop
                self.counters.inc("packets.skipped." + seg.reason)
            return
        try:
            self._segment(seg, ts, source)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - never crash on traffic: count and go on
            self.counters.drop("internal_error")
            self._forget(seg)  # type: ignore[arg-type]

    def _segment(self, seg: Segment, ts: float, source: dict[str, Any] | None) -> None:
        seq, flags, payload = seg.seq, seg.flags, seg.payload
        tag = seg.tag
        flow = self.index.get(tag)
        if flow is None:
            if flags & TCP_RST or not (payload or flags & TCP_SYN):
                return  # a bare ACK or FIN of a connection we do not track
            # A late copy of a connection that ended (a second tap lagging): not a new one. The
            # sequence numbers decide (a SYN too); coverage accounts for it either way.
            key = flow_key(tag)
            late = key in self.closed and self._after_close(key, tag, seq, flags, payload)
            if self.coverage.tail(key, bool(flags & TCP_SYN) and not late, len(payload), ts) or late:
                return
            flow = self._new_flow(key, tag, seg, flags, ts, source)
            if flow is None:
                return
        else:
            if flow is not self.newest:  # least recently used first (what _expire_idle reads)
                self._unlink(flow)
                self._link(flow)
            flow.last_seen = ts
            if not payload and not flags & (TCP_SYN | TCP_FIN | TCP_RST):
                return  # a bare ACK: nothing to reassemble (the common third of all packets)
        direction = 0 if tag == flow.tag else 1
        if payload:
            flow.cov_bytes += len(payload)  # (coverage: bytes as in tcp.payload_bytes, added at the end)
            if flow.sniffing:  # coverage: the first bytes name the protocol
                cov = flow.cov
                self.coverage.data(cov, direction, seq, payload)
                flow.sniffing = cov.sniffing
        flow.receive(direction, seq, seg.ack, flags, payload, ts)
        if flow.over:
            self._ended(flow.key, flow, ts)

    def _new_flow(
        self, key: bytes, tag: bytes, seg: Segment, flags: int, ts: float, source: dict[str, Any] | None
    ) -> Connection | None:
        a: Address = (seg.src, seg.sport)
        b: Address = (seg.dst, seg.dport)
        if not self.accept_new_flows:  # shedding load (the agent's CPU guard)
            self.counters.drop("cpu_limit")
            self._untracked(a, b, flags, "cpu_limit")
            return None
        if len(self.flows) >= self.config.core.max_flows:
            self._expire_idle(ts)
            if len(self.flows) >= self.config.core.max_flows:
                self.counters.drop("flow_table_full")
                self._untracked(a, b, flags, "flow_table_full")
                return None
        endpoints = (Endpoint(ip_text(a[0]), a[1]), Endpoint(ip_text(b[0]), b[1]))
        # A connection whose SYN we saw starts at a message boundary; otherwise search for one.
        syn = bool(flags & TCP_SYN)
        source = source or self.source
        flow = Connection(a, endpoints, source, ts, self.ctx, self.h2limits,
                          self.config.core.max_out_of_order_segments, synced=syn)
        flow.key = key
        flow.tag = tag
        flow.cov = self.coverage.open(endpoints, source.get("kind", ""), syn,
                                      (1 if flags & TCP_ACK else 0) if syn else None, ts)
        flow.sniffing = flow.cov is not None and flow.cov.sniffing
        old = self.flows.get(key)
        if old is not None:  # (never: a key in the table has its tags in the index)
            self._unlink(old)
        self.flows[key] = flow
        self._link(flow)
        self.index[tag] = flow
        self.index[reverse_tag(tag)] = flow
        self.counters.inc("flows")
        if not flags & TCP_SYN:
            self.counters.inc("flows.midstream")
        return flow

    def _end(self, key: bytes, flow: Connection, ts: float, reason: str) -> None:
        """End a connection from here (idle, end of input): it completes what it can, then is forgotten."""
        flow.end(ts, reason)
        self._ended(key, flow, ts)

    def _ended(self, key: bytes, flow: Connection, ts: float) -> None:
        """The connection is over: out of the table, its sequence ranges remembered, accounted."""
        if self.flows.pop(key, None) is None:
            return
        self._unindex(flow)
        self._remember_closed(key, flow, ts)
        if flow.cov is not None:
            flow.cov.bytes += flow.cov_bytes
            flow.cov_bytes = 0
            self.coverage.handshake(flow.cov, flow.hellos())
            self.coverage.close(flow.cov, ts, flow.layer.pairs, key,
                                closed=flow.reason not in ("flow_idle_timeout", "end_of_capture"))

    def _unindex(self, flow: Connection) -> None:
        """The connection leaves the per-direction index and the order of activity."""
        self.index.pop(flow.tag, None)
        self.index.pop(reverse_tag(flow.tag), None)
        self._unlink(flow)

    def _link(self, flow: Connection) -> None:
        """``flow`` becomes the newest in the order of activity (it is not in it)."""
        last = self.newest
        flow.older = last
        flow.newer = None
        if last is None:
            self.oldest = flow
        else:
            last.newer = flow
        self.newest = flow

    def _unlink(self, flow: Connection) -> None:
        """``flow`` leaves the order of activity (if it is in it): its links are cleared, so that
        an ended connection is freed at once, not left in a reference cycle."""
        older, newer = flow.older, flow.newer
        if older is None:
            if self.oldest is not flow:
                return  # not linked
            self.oldest = newer
        else:
            older.newer = newer
        if newer is None:
            self.newest = older
        else:
            newer.older = older
        flow.older = None
        flow.newer = None

    def by_age(self) -> list[Connection]:
        """The flows, least recently active first."""
        out = []
        flow = self.oldest
        while flow is not None:
            out.append(flow)
            flow = flow.newer
        return out

    def _untracked(self, a: Address, b: Address, flags: int, reason: str) -> None:
        """A connection attempt (a SYN) not followed still counts in the coverage account."""
        if flags & TCP_SYN and not flags & TCP_ACK:
            self.coverage.untracked((Endpoint(ip_text(a[0]), a[1]), Endpoint(ip_text(b[0]), b[1])), reason)

    def _remember_closed(self, key: bytes, flow: Connection, ts: float) -> None:
        """Keep where each direction ended, so that a second tap's late copies of the connection's
        last packets are recognised instead of starting a new flow (and pairing them again)."""
        closed = self.closed
        limit = ts - self.closed_memory_s
        while closed and (len(closed) >= self.config.core.max_flows or next(iter(closed.values())).ts < limit):
            closed.popitem(last=False)
        closed[key] = Closed(flow.tag, flow.spans(), ts)

    def _after_close(self, key: bytes, tag: bytes, seq: int, flags: int, payload: bytes) -> bool:
        """A segment of a connection that has ended (True: a late copy, ignored) or of a new one
        on the same addresses (False: the memory of the old one is dropped)."""
        tomb = self.closed[key]
        span = tomb.spans[0 if tag == tomb.tag else 1]
        if span is not None:  # inside the sequence range the old connection used: a copy of it
            # (with some room before where we started following it: its SYN or first segments may
            # have been lost on this tap and not on the other)
            start, end = span
            late = (((seq + LATE_SLACK - start + HALF32) & MASK32) - HALF32 >= 0
                    and ((seq + len(payload) - end + HALF32) & MASK32) - HALF32 <= 0)
        else:
            late = False
        if late:
            self.counters.inc("tcp.after_close_segments")
            return True
        del self.closed[key]
        return False

    def _forget(self, seg: Segment) -> None:
        """Drop a flow whose processing failed, returning everything it held to the budget."""
        flow = self.index.get(seg.tag)
        if flow is not None:
            self.flows.pop(flow.key, None)
            self._unindex(flow)
            if flow.cov is not None:
                flow.cov.bytes += flow.cov_bytes
                flow.cov_bytes = 0
                self.coverage.handshake(flow.cov, flow.hellos())
                self.coverage.close(flow.cov, self.now, flow.layer.pairs, None, closed=False,
                                    reason="internal_error")
            flow.discard()

    # -- byte streams (TLS plaintext) ---------------------------------------------------------------
    def feed_stream(
        self, conn_id: Hashable, direction: int, ts: float, data: bytes,
        a: Endpoint, b: Endpoint, source: dict[str, Any],
    ) -> bool:
        """Plaintext bytes of a connection already in order (TLS uprobes). ``direction`` 0 means
        a→b, 1 means b→a; which side is the client is decided from the content.

        Returns False when the stream's further bytes are of no use (a mirror of a stream already
        followed, not HTTP, upgraded): the source may stop sending them until ``stream_close``."""
        if ts > self.now:
            self.now = ts
        self.stream_seen[conn_id] = ts
        stream = self.streams.get(conn_id)
        if stream is None:
            if conn_id in self.mirrors or self.config.tls.one_pair_per_connection and self._is_mirror(conn_id, a, b):
                self.counters.counts["stream.mirrored_bytes"] += len(data)
                return False
            # Its layer is chosen by its first bytes, as a TCP connection's (the HTTP/2 preface
            # after ALPN h2); the packet view's handshake, when it showed ALPN, decides a stream
            # met after its start.
            alpn = self._alpn(a, b)
            stream = self.streams[conn_id] = Plaintext(self.ctx, self.h2limits, (a, b), source, alpn)
            self.coverage.stream_seen(a, b, source.get("kind", ""), ts)
            self.counters.inc("streams")
        self.counters.counts["stream.bytes"] += len(data)
        try:
            return stream.receive(direction, data, ts)
        except Exception:  # noqa: BLE001 - never crash on traffic
            self.counters.drop("internal_error")
            self.streams.pop(conn_id, None)
            stream.discard()
            return False

    def _alpn(self, a: Endpoint, b: Endpoint) -> str:
        """The ALPN protocol the packet view of the same connection saw agreed, if it is followed."""
        try:
            tag = ip_bytes(a.ip) + ip_bytes(b.ip) + a.port.to_bytes(2, "big") + b.port.to_bytes(2, "big")
        except (OSError, OverflowError):
            return ""  # addresses unknown
        flow = self.index.get(tag)
        if flow is None or not flow.alpn:
            return ""
        self.counters.inc("stream.alpn_from_packets")
        return flow.alpn

    def _is_mirror(self, conn_id: Hashable, a: Endpoint, b: Endpoint) -> bool:
        """Client and server on one node are both traced: the same connection arrives from both
        processes. Only the first one seen yields pairs; the other is its mirror, counted."""
        if not (a.port and b.port and a.ip and b.ip):
            return False  # addresses unknown: cannot tell two connections apart
        key = (a.ip, a.port, b.ip, b.port) if (a.ip, a.port) < (b.ip, b.port) else (b.ip, b.port, a.ip, a.port)
        owner = self.stream_owner.get(key)
        if owner is not None and owner != conn_id and owner in self.streams:
            self.mirrors.add(conn_id)
            self.counters.inc("stream.mirrored")
            return True
        self.stream_owner[key] = conn_id
        self.stream_keys[conn_id] = key
        return False

    def stream_gap(self, conn_id: Hashable, direction: int, size: int | None = None) -> None:
        """``size`` bytes (None: unknown) were lost in one direction of a stream: inside a body
        whose framing survives only that body is damaged, else the parser resynchronises on the
        next message start."""
        stream = self.streams.get(conn_id)
        if stream is not None:
            self.counters.inc("stream.gaps")
            stream.gap(direction, size)

    def stream_close(self, conn_id: Hashable, ts: float) -> None:
        """The connection ended (SSL_free, close): bodies delimited by close are completed."""
        stream = self.streams.pop(conn_id, None)
        self.stream_seen.pop(conn_id, None)
        self.mirrors.discard(conn_id)
        key = self.stream_keys.pop(conn_id, None)
        if key is not None and self.stream_owner.get(key) == conn_id:
            del self.stream_owner[key]
        if stream is not None:
            stream.close(ts)
            layer = stream.layer
            if layer.pairs:  # the account's packet view of a decrypted connection pairs nothing
                self.coverage.stream_pairs(*layer.endpoints, layer.pairs)

    # -- time -------------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Expire requests waiting too long for a response, and idle flows."""
        if now > self.now:
            self.now = now
        self._expire_idle(now)
        self.coverage.tick(now)
        wait_s = self.config.core.reorder_wait_s
        for flow in self.by_age():
            if flow.deferred[0] or flow.deferred[1]:
                flow.release_stale(now, wait_s)
                if flow.over:
                    self._ended(flow.key, flow, now)
                    continue
            if flow.layer.queue:
                flow.layer.expire(now)
        idle_limit = now - self.config.core.flow_idle_timeout_s
        for conn_id, stream in list(self.streams.items()):
            stream.layer.expire(now)
            if self.stream_seen.get(conn_id, now) < idle_limit:
                self.stream_close(conn_id, now)
                self.counters.inc("stream.idle_expired")
        for conn_id in [c for c in self.mirrors if self.stream_seen.get(c, now) < idle_limit]:
            self.stream_close(conn_id, now)
        self.counters.set_gauge("flows.tracked", len(self.flows))
        self.counters.set_gauge("buffer.bytes", self.budget.used)

    def _expire_idle(self, now: float) -> None:
        limit = now - self.config.core.flow_idle_timeout_s
        while self.oldest is not None:
            flow = self.oldest
            if flow.last_seen >= limit:
                break
            self.counters.inc("flows.idle_expired")
            self._end(flow.key, flow, now, "flow_idle_timeout")

    def close(self, now: float | None = None) -> None:
        """End of input: complete what can be completed, count the rest as dropped."""
        ts = self.now if now is None else now
        for flow in self.by_age():
            self._end(flow.key, flow, ts, "end_of_capture")
        for conn_id in list(self.streams) + list(self.mirrors):
            self.stream_close(conn_id, ts)
        self.coverage.flush_waiting()
