"""What a protocol layer tells the connection that hosts it, as events (see ``layers``).

The host pulls them from the layer's ``events`` after feeding it; a layer never calls up. Besides
these two, a layer's events are the ``Pair``s it made (the host hands them to the stages).
"""

from __future__ import annotations

from dataclasses import dataclass

from interceptor.coverage.hello import Hello
from interceptor.pairs import Pair, Request


@dataclass(frozen=True, slots=True)
class Switch:
    """The connection continues in another protocol from here: ``protocol`` 'h2c' (HTTP/2, whose
    stream 1 is ``request``) or 'opaque' (a CONNECT tunnel, a WebSocket...). ``leftover`` is what
    followed the switch in the ``server`` direction."""

    protocol: str
    server: int
    leftover: bytes = b""
    request: Request | None = None


@dataclass(frozen=True, slots=True)
class Handshake:
    """A TLS hello read in ``direction``: its facts (SNI, ALPN, version), nothing else."""

    direction: int
    hello: Hello


LayerEvent = Pair | Switch | Handshake
