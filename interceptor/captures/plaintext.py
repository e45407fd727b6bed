"""Decrypted TLS as packets (sans-I/O): eBPF plaintext streams in, synthesized TCP/IP packets out.

The uprobes hand us the bytes a process wrote to or read from a TLS connection, in order, with the
socket's real addresses. To let Wireshark/tshark dissect them as if TLS were not there, each
stream becomes a TCP connection between the same addresses and ports: a three-way handshake when
its first bytes arrive (the side that sends first is taken as the client, as in HTTP), data
segments with consistent sequence and acknowledgement numbers, a FIN exchange when the stream
ends. Lost plaintext (the ring buffer overflowed) advances the sender's sequence number, so tshark
shows "previous segment not captured" there instead of splicing the bytes together. Packets are raw
IP (LINKTYPE_RAW) with correct IPv4 and TCP checksums.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from array import array
from collections.abc import Hashable
from dataclasses import dataclass

LINKTYPE_RAW = 101
MAX_PAYLOAD = 65_000  # per synthesized segment: an IPv4 total length is 16 bits
GAP_ADVANCE = 1  # sequence numbers skipped for a loss (tshark only needs to see a hole)
MAX_FLOWS = 10_000

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


@dataclass(frozen=True, slots=True)
class Address:
    ip: str
    port: int


@dataclass(frozen=True, slots=True)
class SynthPacket:
    ts: float
    data: bytes  # a raw IPv4 or IPv6 packet


@dataclass(slots=True)
class _Flow:
    """One plaintext stream as a TCP connection; side 0 is the client (who sent first)."""

    ends: tuple[Address, Address]
    seq: list[int]  # next sequence number each side sends
    swapped: bool  # the client is the stream's ``b``: a stream direction d is side d ^ swapped
    opened: bool = False
    closed: bool = False


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(array("H", data))  # native order: the folded sum is byte-swapped alike (RFC 1071)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _checksum(*parts: bytes) -> bytes:
    total = sum(_sum16(p) for p in parts)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return struct.pack("=H", ~total & 0xFFFF)


def _packed(ip: str) -> bytes:
    return ipaddress.ip_address(ip).packed


def tcp_packet(src: Address, dst: Address, seq: int, ack: int, flags: int, payload: bytes = b"",
               ident: int = 0) -> bytes:
    """One IPv4 or IPv6 packet carrying one TCP segment (no options, window 65535)."""
    s, d = _packed(src.ip), _packed(dst.ip)
    tcp = bytearray(struct.pack("!HHIIBBHHH", src.port, dst.port, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                                5 << 4, flags, 0xFFFF, 0, 0))
    length = len(tcp) + len(payload)
    if len(s) == 4:
        pseudo = s + d + struct.pack("!BBH", 0, 6, length)
        tcp[16:18] = _checksum(pseudo, bytes(tcp), payload)
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, ident & 0xFFFF, 0x4000, 64, 6, 0, s, d))
        ip[10:12] = _checksum(bytes(ip))
    else:
        pseudo = s + d + struct.pack("!IxxxB", length, 6)
        tcp[16:18] = _checksum(pseudo, bytes(tcp), payload)
        ip = bytearray(struct.pack("!IHBB16s16s", 6 << 28, length, 6, 64, s, d))
    return bytes(ip) + bytes(tcp) + payload


class PlaintextSynth:
    """Turns ``data``/``gap``/``close`` of plaintext streams into packets. ``MAX_FLOWS`` streams at
    once; beyond, new streams are refused (the caller counts ``plaintext_too_many_streams``)."""

    def __init__(self, max_flows: int = MAX_FLOWS) -> None:
        self.flows: dict[Hashable, _Flow] = {}
        self.max_flows = max_flows
        self._ident = 0

    def data(self, conn: Hashable, ts: float, direction: int, data: bytes, a: Address, b: Address
             ) -> list[SynthPacket] | None:
        """Bytes sent by side ``direction`` (0: a→b, 1: b→a). None when the stream is refused
        (table full or an address unknown)."""
        flow = self._flow(conn, direction, a, b)
        if flow is None:
            return None
        out = [] if flow.opened else self._handshake(flow, ts)
        side = direction ^ flow.swapped
        src, dst = flow.ends[side], flow.ends[1 - side]
        for off in range(0, len(data), MAX_PAYLOAD):
            chunk = data[off:off + MAX_PAYLOAD]
            out.append(self._segment(ts, src, dst, flow.seq[side], flow.seq[1 - side], PSH | ACK, chunk))
            flow.seq[side] += len(chunk)
        return out

    def gap(self, conn: Hashable, direction: int) -> None:
        """Plaintext of side ``direction`` was lost: leave a hole in its sequence space."""
        flow = self.flows.get(conn)
        if flow is not None:
            flow.seq[direction ^ flow.swapped] += GAP_ADVANCE

    def close(self, conn: Hashable, ts: float) -> list[SynthPacket]:
        """The stream ended: FIN from each side, and the last ACK."""
        flow = self.flows.pop(conn, None)
        if flow is None or not flow.opened:
            return []
        (c, s), (cs, ss) = flow.ends, flow.seq
        out = [
            self._segment(ts, c, s, cs, ss, FIN | ACK),
            self._segment(ts, s, c, ss, cs + 1, FIN | ACK),
            self._segment(ts, c, s, cs + 1, ss + 1, ACK),
        ]
        return out

    def close_all(self, ts: float) -> list[SynthPacket]:
        out: list[SynthPacket] = []
        for conn in list(self.flows):
            out += self.close(conn, ts)
        return out

    def _flow(self, conn: Hashable, direction: int, a: Address, b: Address) -> _Flow | None:
        flow = self.flows.get(conn)
        if flow is not None:
            return flow
        if len(self.flows) >= self.max_flows or not (a.ip and b.ip and a.port and b.port):
            return None
        # Side 0 of the flow is the client: whoever sends first.
        swapped = direction == 1
        isn = zlib.crc32(repr(conn).encode())
        flow = _Flow((b, a) if swapped else (a, b), [isn, (isn * 7 + 12345) & 0xFFFFFFFF], swapped)
        self.flows[conn] = flow
        return flow

    def _handshake(self, flow: _Flow, ts: float) -> list[SynthPacket]:
        c, s = flow.ends
        cs, ss = flow.seq
        out = [
            self._segment(ts, c, s, cs, 0, SYN),
            self._segment(ts, s, c, ss, cs + 1, SYN | ACK),
            self._segment(ts, c, s, cs + 1, ss + 1, ACK),
        ]
        flow.seq = [cs + 1, ss + 1]
        flow.opened = True
        return out

    def _segment(self, ts: float, src: Address, dst: Address, seq: int, ack: int, flags: int,
                 payload: bytes = b"") -> SynthPacket:
        self._ident += 1
        return SynthPacket(ts, tcp_packet(src, dst, seq, ack, flags, payload, self._ident))


@dataclass(slots=True)
class _Held:
    packets: list[SynthPacket]
    size: int = 0
    closed_at: float | None = None


class StreamHold:
    """Holds each synthesized stream until its connection is over, then releases it in one block.

    Wireshark keys TCP conversations on addresses and ports only, across interfaces: a synthesized
    SYN with the real 4-tuple written while the real connection is still going on the veth starts a
    new conversation that the rest of the real packets fall into (mis-analysed as retransmissions,
    TLS records not dissected). Written after the real connection ended — ``linger_s`` after the
    plaintext stream closed, or when the capture ends — it is a conversation of its own. Bounded:
    past ``max_bytes`` held in all, the biggest open stream is released early (``released_early``).
    """

    def __init__(self, max_bytes: int = 16 << 20, linger_s: float = 1.0) -> None:
        self.max_bytes = max_bytes
        self.linger_s = linger_s
        self.held: dict[Hashable, _Held] = {}
        self.size = 0
        self.released_early = 0

    def add(self, conn: Hashable, packets: list[SynthPacket]) -> list[SynthPacket]:
        """Hold ``packets``; returns what must be written now to stay within the bound."""
        h = self.held.setdefault(conn, _Held([]))
        n = sum(len(p.data) for p in packets)
        h.packets += packets
        h.size += n
        self.size += n
        out: list[SynthPacket] = []
        while self.size > self.max_bytes and self.held:
            biggest = max(self.held, key=lambda c: self.held[c].size)
            self.released_early += 1
            out += self._release(biggest)
        return out

    def close(self, conn: Hashable, now: float) -> None:
        if conn in self.held:
            self.held[conn].closed_at = now

    def due(self, now: float) -> list[SynthPacket]:
        out: list[SynthPacket] = []
        for conn in [c for c, h in self.held.items() if h.closed_at is not None and now - h.closed_at >= self.linger_s]:
            out += self._release(conn)
        return out

    def release_all(self) -> list[SynthPacket]:
        out: list[SynthPacket] = []
        for conn in list(self.held):
            out += self._release(conn)
        return out

    def _release(self, conn: Hashable) -> list[SynthPacket]:
        h = self.held.pop(conn)
        self.size -= h.size
        return h.packets
