"""The account: every finished connection folded into a bounded set of aggregates per interval.

Sans-I/O: ``Connection`` records in, ``Aggregate`` records out at ``flush``. One aggregate per
(source, destination, destination port, verdict, protocol, SNI, library, and the few descriptive
fields that go with them); the source port is left out (ephemeral). When an interval has
``max_keys`` aggregates, further new keys fold into one overflow aggregate per verdict and protocol
(so totals still add up) and ``coverage.keys_overflow`` counts each connection folded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interceptor.counters import Counters
from interceptor.pairs import Endpoint

SCHEMA_VERSION = 1
VERDICTS = ("inspected", "tls-decrypted", "tls-unread", "other-protocol", "unknown", "joined-mid-stream")
OVERFLOW = "(overflow)"


@dataclass(slots=True)
class Connection:
    """What coverage knows of one connection when it ends; never any of its payload."""

    src: Endpoint  # the client (the SYN's sender; else the first to speak)
    dst: Endpoint
    verdict: str
    protocol: str
    bytes: int = 0
    pairs: int = 0
    source: str = ""  # source kind that read it (pcap-veth, openssl, gotls...)
    sni: str = ""
    alpn: str = ""  # offered protocols, comma-separated in the client's order
    tls_version: str = ""
    library: str = ""
    process: str = ""
    reason: str = ""  # why it was not read


Key = tuple[str, str, int, str, str, str, str, str, str, str, str, str]


@dataclass(slots=True)
class Aggregate:
    src: Endpoint
    dst: Endpoint
    conn: Connection  # the first connection of the key: its descriptive fields
    connections: int = 0
    bytes: int = 0
    pairs: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def to_record(self, start: float, end: float, node: str) -> dict[str, Any]:
        c = self.conn
        rec: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "interval_start": round(start, 3),
            "interval_end": round(end, 3),
            "verdict": c.verdict,
            "protocol": c.protocol,
            "src": _endpoint_record(self.src, with_port=False),
            "dst": _endpoint_record(self.dst, with_port=True),
            "connections": self.connections,
            "bytes": self.bytes,
            "pairs": self.pairs,
        }
        for name in ("source", "sni", "alpn", "tls_version", "library", "process", "reason"):
            value = getattr(c, name)
            if value:
                rec[name] = value
        if node:
            rec["node"] = node
        return rec


def _endpoint_record(ep: Endpoint, with_port: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {"ip": ep.ip}
    if with_port:
        rec["port"] = ep.port
    rec.update(ep.meta)
    return rec


def key_of(c: Connection) -> Key:
    # Each end's process and library (when a local process owns it) are part of what the key names.
    ends = f"{c.src.meta.get('process', '')}/{c.src.meta.get('library', '')}>" \
           f"{c.dst.meta.get('process', '')}/{c.dst.meta.get('library', '')}" if c.src.meta or c.dst.meta else ""
    return (c.src.ip, c.dst.ip, c.dst.port, c.verdict, c.protocol, c.sni, c.library, c.alpn, c.tls_version,
            c.reason, c.source, c.process + ends)


class Account:
    def __init__(self, counters: Counters, max_keys: int, start: float = 0.0) -> None:
        self.counters = counters
        self.max_keys = max_keys
        self.start = start
        self.aggregates: dict[Key, Aggregate] = {}

    def add(self, c: Connection) -> Key:
        """Count one finished connection; returns its key (late bytes are added to it)."""
        key = key_of(c)
        agg = self.aggregates.get(key)
        if agg is None:
            if len(self.aggregates) >= self.max_keys:
                self.counters.inc("coverage.keys_overflow")
                key = (OVERFLOW, OVERFLOW, 0, c.verdict, c.protocol, "", "", "", "", "", "", "")
                agg = self.aggregates.get(key)
            if agg is None:
                first = c
                if key[0] == OVERFLOW:  # described by verdict and protocol only
                    first = Connection(Endpoint(OVERFLOW, 0), Endpoint(OVERFLOW, 0), c.verdict, c.protocol)
                agg = self.aggregates[key] = Aggregate(first.src, first.dst, first)
        agg.connections += 1
        agg.bytes += c.bytes
        agg.pairs += c.pairs
        self.counters.inc("coverage.connections." + c.verdict)
        self.counters.inc("coverage.bytes." + c.verdict, c.bytes)
        return key

    def add_pairs(self, key: Key, n: int) -> None:
        """Pairs of a connection already counted (read from its plaintext stream, which ended later);
        none once its interval was flushed (the record is out)."""
        agg = self.aggregates.get(key)
        if agg is not None:
            agg.pairs += n

    def add_bytes(self, key: Key, n: int) -> None:
        """Bytes of a connection already counted (segments after its close)."""
        agg = self.aggregates.get(key)
        if agg is not None:
            agg.bytes += n
            verdict = agg.conn.verdict
        else:  # its interval was flushed: the bytes still count, without a connection
            verdict = key[3]
        self.counters.inc("coverage.bytes." + verdict, n)

    def flush_view(self, now: float, node: str = "") -> list[dict[str, Any]]:
        """The interval so far, as records, without ending it (what ``interceptor coverage`` shows)."""
        return [agg.to_record(self.start, now, node) for agg in list(self.aggregates.values())]

    def flush(self, end: float, node: str = "") -> list[dict[str, Any]]:
        """The interval's aggregates as records; a new interval starts at ``end``."""
        records = [agg.to_record(self.start, end, node) for agg in self.aggregates.values()]
        self.aggregates = {}
        self.start = end
        self.counters.inc("coverage.records", len(records))
        return records
