"""The protocol layers a connection's bytes go through, and the one function that chooses them.

A layer reads both directions of one connection: HTTP/1 (``conversation.Conversation``), HTTP/2
(``h2conversation.H2Conversation``), the TLS handshake (``TlsHandshake``: SNI, ALPN, version, in
clear; nothing is decrypted) and ``Opaque`` (a tunnel or upgrade nobody reads). Every layer has the
same shape (``ProtocolLayer``): per direction an input fed ``data(bytes, ts, offset, ack)`` and
``gap(size)`` (what a ``TcpStream`` or an eBPF plaintext stream delivers), the connection's end
(``close_direction``, ``close``) and time (``expire``). What a layer finds out that concerns its
host it hands back as events in ``events`` (h11's style: the host pulls them, nothing calls up):
the ``Pair``s it made, ``Switch`` (the connection continues in another protocol: ``Upgrade: h2c``
→ HTTP/2, a CONNECT tunnel or a WebSocket → opaque) and ``Handshake`` (a TLS hello's facts). The
host hands the pairs to the post-pair stages (``Context.emit``).

``choose`` picks the layer from a connection's first bytes, for packets (``connection.Connection``)
and eBPF plaintext streams (``connection.Plaintext``) alike; ``Chooser`` is a new connection's
input until its first bytes have chosen; ``build`` and ``switched`` make the layers.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

from interceptor.conversation import Context, Conversation
from interceptor.coverage import hello as tlshello
from interceptor.h2conversation import H2Conversation
from interceptor.http import State
from interceptor.http2 import PREFACE, H2Limits, resync_point
from interceptor.layerevents import Handshake, LayerEvent, Switch
from interceptor.pairs import Endpoint

SNIFF_TRIES = 4  # payloads per direction of a connection met mid-way that may still show HTTP/2
MAX_HELLO_BYTES = 16384  # per direction: a ClientHello with post-quantum key shares fits


class Kind(enum.Enum):
    HTTP1 = "http/1"
    H2 = "h2"
    H2_JOINED = "h2-joined"  # HTTP/2 met mid-connection: HPACK state unknown
    TLS = "tls"
    OPAQUE = "opaque"
    UNDECIDED = "undecided"  # met mid-connection, nothing recognised yet: HTTP/1 reads meanwhile


def choose(first: bytes, synced: bool, alpn: str = "", tls: bool = True) -> Kind:
    """The layer for a connection whose first payload (in either direction) is ``first``.

    ``synced``: the connection's start was seen (a SYN; a plaintext stream from its first byte).
    ``alpn``: the protocol its TLS handshake agreed on, when known (plaintext streams). ``tls``:
    TLS records are looked for (not inside TLS plaintext)."""
    if first.startswith(PREFACE) or (len(first) < len(PREFACE) and PREFACE.startswith(first) and len(first) >= 4):
        return Kind.H2
    if first[3:5] == b"\x04\x00" and first[5:9] == b"\x00\x00\x00\x00" and resync_point(first, 0) == 0:
        return Kind.H2  # the server's preface, a SETTINGS frame, came first (grpc-core servers do that)
    if tls and tlshello.looks_like_tls(first):
        return Kind.TLS
    if alpn == "h2":  # a plaintext stream joined after its preface: frames of a known HTTP/2 connection
        return Kind.H2_JOINED
    if not synced:
        return Kind.H2_JOINED if resync_point(first, 0) >= 0 else Kind.UNDECIDED
    return Kind.HTTP1


class Input(Protocol):
    """One direction's input (``reassembly.StreamConsumer``, and what plaintext streams feed)."""

    def data(self, payload: bytes, ts: float, offset: int | None = None, ack: int | None = None) -> None: ...

    def gap(self, size: int | None = None) -> None: ...


class ProtocolLayer(Protocol):
    """What every layer gives its host. ``endpoints[d]`` sends direction ``d``."""

    endpoints: tuple[Endpoint, Endpoint]
    source: dict[str, Any]
    pairs: int  # exchanges paired (the coverage account counts them)
    events: list[LayerEvent]  # for the host, pulled after each feed

    @property
    def parsers(self) -> tuple[Input, Input]: ...

    @property
    def dead(self) -> bool: ...  # no byte will be read again: the host may stop reassembling

    @property
    def queue(self) -> Any: ...  # true while something waits for time (``expire``)

    def set_client(self, direction: int) -> None: ...

    def set_origin(self, direction: int, offset: int) -> None: ...

    def gap(self, direction: int, size: int | None = None) -> None: ...

    def expire(self, now: float) -> None: ...

    def close_direction(self, direction: int, ts: float, clean: bool = True) -> None: ...

    def close(self, ts: float, reason: str = "no_response") -> None: ...

    def discard(self) -> None: ...


# -- the layers of this module --------------------------------------------------------------------
class _Ignore:
    """An input that reads nothing."""

    __slots__ = ()

    def data(self, payload: bytes, ts: float, offset: int | None = None, ack: int | None = None) -> None:
        pass

    def gap(self, size: int | None = None) -> None:
        pass


class _Quiet:
    """The parts of the interface a layer that pairs nothing and waits for nothing shares."""

    endpoints: tuple[Endpoint, Endpoint]
    source: dict[str, Any]
    pairs: int
    events: list[LayerEvent]
    queue = False

    def set_client(self, direction: int) -> None:
        pass

    def set_origin(self, direction: int, offset: int) -> None:
        pass

    def gap(self, direction: int, size: int | None = None) -> None:
        pass

    def expire(self, now: float) -> None:
        pass

    def close_direction(self, direction: int, ts: float, clean: bool = True) -> None:
        pass

    def close(self, ts: float, reason: str = "no_response") -> None:
        pass


class Opaque(_Quiet):
    """A connection nobody reads any more (a tunnel, a WebSocket): dead from the start, so its
    host stops reassembling; FIN and RST still end it."""

    dead = True
    parsers = (_Ignore(), _Ignore())

    def __init__(self, endpoints: tuple[Endpoint, Endpoint], source: dict[str, Any], pairs: int = 0) -> None:
        self.endpoints = endpoints
        self.source = source
        self.pairs = pairs
        self.events = []

    def __repr__(self) -> str:
        return "<Opaque>"

    def discard(self) -> None:
        pass


class _HelloInput:
    """One direction of a TLS connection: its first bytes, until the hello in them is read."""

    __slots__ = ("layer", "d", "buf", "done")

    def __init__(self, layer: TlsHandshake, d: int) -> None:
        self.layer = layer
        self.d = d
        self.buf = b""
        self.done = False

    def data(self, payload: bytes, ts: float, offset: int | None = None, ack: int | None = None) -> None:
        if self.done:
            return
        layer = self.layer
        take = payload[:MAX_HELLO_BYTES - len(self.buf)]
        if not layer.ctx.budget.reserve(len(take)):
            layer.ctx.counters.drop("memory_budget")
            self.finish(None)
            return
        self.buf += take
        try:
            found = tlshello.parse(self.buf)
        except tlshello.NeedMore:
            if len(self.buf) < MAX_HELLO_BYTES:
                return
            found = None
        self.finish(found)

    def gap(self, size: int | None = None) -> None:
        if not self.done:
            self.finish(None)  # the hello, or what follows it, was not captured whole

    def finish(self, found: tlshello.Hello | None) -> None:
        """The direction's hello is read (``found``) or cannot be: nothing more is kept."""
        layer = self.layer
        self.done = True
        layer.ctx.budget.release(len(self.buf))
        self.buf = b""
        counters = layer.ctx.counters
        if found is None:
            counters.inc("layer.tls.hellos_unread")
        else:
            counters.inc("layer.tls.hellos")
            layer.hellos[self.d] = found
            layer.events.append(Handshake(self.d, found))


class TlsHandshake(_Quiet):
    """A TLS connection seen as packets: the ClientHello and ServerHello are read for their facts
    (SNI, offered or chosen ALPN, version: ``coverage.hello``), the encrypted rest is not. Its
    plaintext, when an eBPF source supplies it, is read by a layer of its own (``Plaintext``)."""

    def __init__(self, ctx: Context, endpoints: tuple[Endpoint, Endpoint], source: dict[str, Any],
                 pairs: int = 0) -> None:
        self.ctx = ctx
        self.endpoints = endpoints
        self.source = source
        self.pairs = pairs
        self.events = []
        self.hellos: list[tlshello.Hello | None] = [None, None]
        self.parsers = (_HelloInput(self, 0), _HelloInput(self, 1))
        ctx.counters.inc("layer.tls")

    def __repr__(self) -> str:
        return f"<TlsHandshake {self.hellos}>"

    @property
    def dead(self) -> bool:
        return self.parsers[0].done and self.parsers[1].done

    @property
    def alpn(self) -> str:
        """The protocol agreed on, when the clear part of the handshake shows it: the server's
        choice (TLS 1.2; 1.3 encrypts it), or the client's only offer."""
        for hello in self.hellos:
            if hello is not None and hello.kind == "server" and hello.alpn:
                return hello.alpn[0]
        for hello in self.hellos:
            if hello is not None and hello.kind == "client" and len(hello.alpn) == 1:
                return hello.alpn[0]
        return ""

    def gap(self, direction: int, size: int | None = None) -> None:
        self.parsers[direction].gap(size)

    def close(self, ts: float, reason: str = "no_response") -> None:
        self.discard()

    def discard(self) -> None:
        for part in self.parsers:
            if not part.done:
                part.done = True
                self.ctx.budget.release(len(part.buf))
                part.buf = b""


# -- making layers --------------------------------------------------------------------------------
def build(kind: Kind, ctx: Context, h2limits: H2Limits, endpoints: tuple[Endpoint, Endpoint],
          source: dict[str, Any], client: int | None, synced: bool) -> ProtocolLayer:
    """A fresh layer of ``kind`` for a connection (HTTP/1 for ``UNDECIDED``: it searches meanwhile)."""
    if kind is Kind.H2 or kind is Kind.H2_JOINED:
        return H2Conversation(ctx, h2limits, endpoints, source, joined_late=kind is Kind.H2_JOINED, client=client)
    if kind is Kind.TLS:
        return TlsHandshake(ctx, endpoints, source)
    if kind is Kind.OPAQUE:
        return Opaque(endpoints, source)
    conv = Conversation(ctx, endpoints, source, synced=synced)
    if client is not None:
        conv.set_client(client)
    return conv


def switched(old: ProtocolLayer, switch: Switch, ctx: Context, h2limits: H2Limits, ts: float) -> ProtocolLayer:
    """The layer that reads on after ``switch`` (fed the switch's leftover bytes already)."""
    if switch.protocol == "h2c" and switch.request is not None:
        conv = H2Conversation(ctx, h2limits, old.endpoints, old.source, joined_late=False, client=1 - switch.server)
        conv.layer.upgraded(switch.request, 1 - switch.server)
        conv.pairs = old.pairs
        ctx.counters.inc("h2.upgrades")
        if switch.leftover:
            conv.parsers[switch.server].data(switch.leftover, ts)
        return conv
    ctx.counters.inc("layer.opaque")
    return Opaque(old.endpoints, old.source, old.pairs)


class Host(Protocol):
    """What ``Connection`` and ``Plaintext`` share: the layer reading them and the ALPN a TLS
    handshake agreed on. ``settle`` points the host's inputs at its layer's."""

    layer: ProtocolLayer
    ctx: Context
    h2limits: H2Limits
    alpn: str

    def settle(self) -> None: ...


def layer_event(host: Host, layer: ProtocolLayer, event: LayerEvent, ts: float) -> None:
    """Act on one of ``layer``'s events other than a pair (``connection.layer_events`` hands those
    to the stages): a switch replaces the host's layer, a TLS handshake tells the ALPN agreed on."""
    if type(event) is Switch:
        if host.layer is layer:  # (a layer switches once: its readers stop at the switch)
            host.layer = switched(layer, event, host.ctx, host.h2limits, ts)
            host.settle()
    elif type(event) is Handshake and type(layer) is TlsHandshake:
        host.alpn = layer.alpn


class Chooser:
    """A new connection's input in direction ``d`` until its first bytes choose the layer; then
    the host's inputs are the chosen layer's own (no cost after the first bytes).

    ``host`` has ``layer`` (HTTP/1 from the start: the default, replaced when the bytes say
    otherwise) and ``settle()``, which points its inputs at the layer's."""

    __slots__ = ("host", "d", "synced", "alpn", "tls", "tries")

    def __init__(self, host: Any, d: int, synced: bool, alpn: str = "", tls: bool = True) -> None:
        self.host = host
        self.d = d
        self.synced = synced
        self.alpn = alpn
        self.tls = tls
        self.tries = SNIFF_TRIES

    def data(self, payload: bytes, ts: float, offset: int | None = None, ack: int | None = None) -> None:
        host = self.host
        kind = choose(payload, self.synced, self.alpn, self.tls)
        if kind is Kind.UNDECIDED:
            self.tries -= 1
            parser = host.layer.parsers[self.d]
            parser.data(payload, ts, offset, ack)  # HTTP/1 reads it meanwhile (its resync) ...
            if self.tries > 0 and parser.state is State.RESYNC:
                return  # ... and until it finds a message start, we look again at the next payload
            host.settle()
            return
        if kind is not Kind.HTTP1:
            old = host.layer
            old.discard()  # nothing paired yet: it only held bytes while searching
            host.layer = build(kind, old.ctx, host.h2limits, old.endpoints, old.source, old.client, self.synced)
        host.settle()
        host.layer.parsers[self.d].data(payload, ts, offset, ack)

    def gap(self, size: int | None = None) -> None:
        self.host.layer.parsers[self.d].gap(size)
