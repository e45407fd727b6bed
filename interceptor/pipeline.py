"""The sans-I/O pipeline: packets (or decrypted byte streams) in, filtered pairs out.

Stages, each its own module: ``capture.packets`` (link/IP/TCP decoding) → ``reassembly`` (ordered
byte streams per direction) → ``http`` (message framing) → ``pairs`` (request/response matching) →
``filters`` (noise) → the ``on_pair`` callback (enrichment, sinks). No sockets or files in here; time
is whatever timestamp the caller passes, so a pcap replays exactly as it was captured.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.pairs import Endpoint, Pair


class Pipeline:
    """Feed with ``feed_packet`` (capture) or ``feed_stream`` (TLS plaintext); pairs go to ``on_pair``."""

    def __init__(
        self,
        config: Config,
        counters: Counters,
        on_pair: Callable[[Pair], None],
        source: dict[str, Any] | None = None,
    ) -> None:
        raise NotImplementedError

    def feed_packet(self, ts: float, data: bytes, linktype: int, source: dict[str, Any] | None = None) -> None:
        """One captured frame. ``linktype`` is the pcap LINKTYPE_* value. ``source`` overrides the
        pipeline's default source for flows this packet creates (e.g. which tap saw it). The same TCP
        connection seen on two taps is one flow: duplicates are treated as retransmissions."""
        raise NotImplementedError

    def feed_stream(
        self, conn_id: Hashable, direction: int, ts: float, data: bytes,
        a: Endpoint, b: Endpoint, source: dict[str, Any],
    ) -> None:
        """Plaintext bytes of a connection already in order (TLS uprobes). ``direction`` 0 means
        a→b, 1 means b→a; which side is the client is decided from the content."""
        raise NotImplementedError

    def stream_gap(self, conn_id: Hashable, direction: int) -> None:
        """Bytes were lost in one direction of a stream: the message in progress is abandoned and
        the parser resynchronises on the next message start."""
        raise NotImplementedError

    def stream_close(self, conn_id: Hashable, ts: float) -> None:
        """The connection ended (SSL_free, FIN): bodies delimited by close are completed."""
        raise NotImplementedError

    def tick(self, now: float) -> None:
        """Expire requests waiting too long for a response and idle flows."""
        raise NotImplementedError

    def close(self, now: float | None = None) -> None:
        """End of input: complete what can be completed, count the rest as dropped."""
        raise NotImplementedError
