"""Which layer reads a connection, and the pipeline's adapter for the HTTP/2 one.

``choose`` looks at a connection's first bytes: the HTTP/2 client preface (prior knowledge, also
what a TLS plaintext stream starts with after ALPN ``h2``), or, on a connection joined mid-way,
two plausible HTTP/2 frame headers in a row (looked for in the first few payloads of each
direction while the HTTP/1 reader has found no message start: text never has the zero bytes a
frame header starts with). ``H2Conversation`` gives the pipeline what a
``Conversation`` gives it for HTTP/1 (per-direction consumers, gap, expire, close) around an
``Http2Connection``, and turns its ``Exchange`` events into pairs.
"""

from __future__ import annotations

import enum
from typing import Any

from interceptor import descriptors
from interceptor.config import Config, ConfigError
from interceptor.conversation import Context
from interceptor.http import State
from interceptor.http2 import PREFACE, H2Limits, Http2Connection, resync_point
from interceptor.pairs import Endpoint, Pair

SNIFF_TRIES = 4  # payloads per direction of a connection met mid-way that may still show HTTP/2


class Layer(enum.Enum):
    HTTP1 = "http/1"
    H2 = "h2"
    H2_JOINED = "h2-joined"  # HTTP/2 met mid-connection: HPACK state unknown
    UNDECIDED = "undecided"


def choose(first: bytes, synced: bool) -> Layer:
    """The layer for a connection whose first payload (in either direction) is ``first``."""
    if first.startswith(PREFACE) or (len(first) < len(PREFACE) and PREFACE.startswith(first) and len(first) >= 4):
        return Layer.H2
    if first[3:5] == b"\x04\x00" and first[5:9] == b"\x00\x00\x00\x00" and resync_point(first, 0) == 0:
        return Layer.H2  # the server's preface, a SETTINGS frame, came first (grpc-core servers do that)
    if not synced:
        return Layer.H2_JOINED if resync_point(first, 0) >= 0 else Layer.UNDECIDED
    return Layer.HTTP1


def h2_limits(config: Config) -> H2Limits:
    core, h2 = config.core, config.http2
    try:
        schemas = descriptors.load(config.grpc.descriptor_sets)
    except descriptors.DescriptorError as e:
        raise ConfigError(str(e)) from None
    return H2Limits(core.max_message_bytes, core.max_header_bytes, core.oversize == "truncate", core.decode_bodies,
                    h2.max_streams, h2.grpc_max_messages, schemas)


class Sniffer:
    """A new TCP connection's stream consumer until its first bytes choose the layer; then both
    directions' streams feed the chosen conversation directly (no cost after the first bytes).

    ``flow`` is the pipeline's Flow (``conversation`` and ``streams``): the HTTP/1 conversation is
    the default, replaced when the bytes are HTTP/2."""

    __slots__ = ("flow", "d", "ctx", "limits", "synced", "tries")

    def __init__(self, flow: Any, d: int, ctx: Context, limits: H2Limits, synced: bool) -> None:
        self.flow = flow
        self.d = d
        self.ctx = ctx
        self.limits = limits
        self.synced = synced
        self.tries = SNIFF_TRIES

    def data(self, payload: bytes, ts: float, offset: int, ack: int | None) -> None:
        flow = self.flow
        layer = choose(payload, self.synced)
        if layer is Layer.UNDECIDED:
            self.tries -= 1
            parser = flow.conversation.parsers[self.d]
            parser.data(payload, ts, offset, ack)  # HTTP/1 reads it meanwhile (its resync) ...
            if self.tries > 0 and parser.state is State.RESYNC:
                return  # ... and until it finds a message start, we look again at the next payload
            self._settle(flow)
            return
        elif layer is not Layer.HTTP1:
            old = flow.conversation
            old.discard()  # nothing paired yet: it only held bytes while searching
            flow.conversation = H2Conversation(self.ctx, self.limits, old.endpoints, old.source,
                                               joined_late=layer is Layer.H2_JOINED, client=old.client)
        self._settle(flow)
        flow.conversation.parsers[self.d].data(payload, ts, offset, ack)

    @staticmethod
    def _settle(flow: Any) -> None:
        for d, stream in enumerate(flow.streams):
            stream.consumer = flow.conversation.parsers[d]

    def gap(self, size: int | None = None) -> None:
        self.flow.conversation.parsers[self.d].gap(size)


class _Direction:
    """One direction's consumer (the TcpStream and feed_stream interface)."""

    __slots__ = ("conv", "d")

    def __init__(self, conv: H2Conversation, d: int) -> None:
        self.conv = conv
        self.d = d

    def data(self, payload: bytes, ts: float, offset: int | None = None, ack: int | None = None) -> None:
        conv = self.conv
        conv.emit(conv.layer.receive(self.d, payload, ts))

    feed = data

    def gap(self, size: int | None = None) -> None:
        self.conv.layer.gap(self.d)


class H2Conversation:
    """``endpoints[d]`` sends direction ``d``; pairs go to ``ctx.emit``."""

    dead = False  # an HTTP/2 connection stays readable to its end (resync after damage)
    upgrade = None  # (what Conversation sets on Upgrade: h2c; HTTP/2 upgrades to nothing)

    def __init__(self, ctx: Context, limits: H2Limits, endpoints: tuple[Endpoint, Endpoint], source: dict[str, Any],
                 joined_late: bool, client: int | None = None) -> None:
        self.ctx = ctx
        self.endpoints = endpoints
        self.source = source
        self.layer = Http2Connection(limits, ctx.counters, ctx.budget, joined_late=joined_late, client=client)
        self.parsers = (_Direction(self, 0), _Direction(self, 1))
        self.pairs = 0  # exchanges paired on this connection (the coverage account counts them)
        ctx.counters.inc("h2.connections_joined_late" if joined_late else "h2.connections")

    def __repr__(self) -> str:
        return f"<H2Conversation {self.layer!r}>"

    @property
    def queue(self) -> bool:
        """Streams waiting (the pipeline's tick expires them)."""
        return bool(self.layer.streams)

    def emit(self, events: list[Any]) -> None:
        if not events:
            return
        layer = self.layer
        c = layer.client or 0
        src, dst = self.endpoints[c], self.endpoints[1 - c]
        for ex in events:
            self.pairs += 1
            grpc = ex.grpc
            pair = Pair(ex.request, ex.response, src, dst, self.source,
                        protocol="grpc" if grpc is not None else "h2", headers_incomplete=ex.headers_incomplete,
                        grpc=grpc)
            self.ctx.emit(pair)

    def set_client(self, direction: int) -> None:
        """The TCP handshake told us who the client is."""
        if self.layer.client is None:
            self.layer.client = direction

    def gap(self, direction: int, size: int | None = None) -> None:
        self.layer.gap(direction)

    def expire(self, now: float) -> None:
        self.layer.expire(now, self.ctx.response_timeout_s)

    def close_direction(self, direction: int, ts: float, clean: bool = True) -> None:
        """A FIN: HTTP/2 ends its halves with END_STREAM, nothing completes at close."""

    def close(self, ts: float, reason: str = "no_response") -> None:
        self.emit(self.layer.close(reason))

    def discard(self) -> None:
        self.layer.discard()
