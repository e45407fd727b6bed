"""The HTTP/2 protocol layer (``layers.ProtocolLayer``): ``H2Conversation`` gives its connection
what a ``Conversation`` gives it for HTTP/1 (per-direction inputs, gap, expire, close) around an
``Http2Connection``, and turns its ``Exchange`` events into pairs. ``layers.choose`` decides when a
connection is HTTP/2 (the preface, frames met mid-way, ALPN ``h2``, ``Upgrade: h2c``).
"""

from __future__ import annotations

from typing import Any

from interceptor import descriptors
from interceptor.config import Config, ConfigError
from interceptor.conversation import Context
from interceptor.http2 import Exchange, H2Limits, Http2Connection
from interceptor.layerevents import LayerEvent
from interceptor.pairs import Endpoint, Pair
from interceptor.reassembly import NativeConsumer


def h2_limits(config: Config) -> H2Limits:
    core, h2 = config.core, config.http2
    try:
        schemas = descriptors.load(config.grpc.descriptor_sets)
    except descriptors.DescriptorError as e:
        raise ConfigError(str(e)) from None
    return H2Limits(core.max_message_bytes, core.max_header_bytes, core.oversize == "truncate", core.decode_bodies,
                    h2.max_streams, h2.grpc_max_messages, schemas)


class _Direction(NativeConsumer):
    """One direction's consumer (the TcpStream and feed_stream interface; a ``NativeConsumer``:
    compiled, TcpStream calls it natively rather than through a generic Python call per segment)."""

    __slots__ = ("conv", "d")

    def __init__(self, conv: H2Conversation, d: int) -> None:
        self.conv = conv
        self.d = d

    def data(self, payload: bytes, ts: float, offset: int | None = None, ack: int | None = None) -> None:
        conv = self.conv
        conv.emit(conv.layer.receive(self.d, payload, ts))

    def feed(self, payload: bytes, ts: float, offset: int | None = None, ack: int | None = None) -> None:
        self.data(payload, ts, offset, ack)  # (a method, not ``feed = data``: mypyc compiles this module)

    def gap(self, size: int | None = None) -> None:
        self.conv.layer.gap(self.d)


class H2Conversation:
    """``endpoints[d]`` sends direction ``d``; pairs go to ``events`` (the connection takes them)."""

    dead = False  # an HTTP/2 connection stays readable to its end (resync after damage)

    def __init__(self, ctx: Context, limits: H2Limits, endpoints: tuple[Endpoint, Endpoint], source: dict[str, Any],
                 joined_late: bool, client: int | None = None) -> None:
        self.ctx = ctx
        self.endpoints = endpoints
        self.source = source
        self.layer = Http2Connection(limits, ctx.counters, ctx.budget, joined_late=joined_late, client=client)
        self.parsers = (_Direction(self, 0), _Direction(self, 1))
        self.pairs = 0  # exchanges paired on this connection (the coverage account counts them)
        self.events: list[LayerEvent] = []  # pairs (HTTP/2 switches to nothing)
        ctx.counters.inc("h2.connections_joined_late" if joined_late else "h2.connections")

    def __repr__(self) -> str:
        return f"<H2Conversation {self.layer!r}>"

    @property
    def queue(self) -> bool:
        """Streams waiting (the pipeline's tick expires them)."""
        return bool(self.layer.streams)

    def emit(self, events: list[Exchange]) -> None:
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
            self.events.append(pair)

    def set_client(self, direction: int) -> None:
        """The TCP handshake told us who the client is."""
        if self.layer.client is None:
            self.layer.client = direction

    def set_origin(self, direction: int, offset: int) -> None:
        """(HTTP/2 pairs by stream id: where the bytes start does not matter.)"""

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
