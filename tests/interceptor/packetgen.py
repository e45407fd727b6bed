"""Builds captured frames of synthetic TCP connections, for feeding the core from bytes.

Checksums are left zero: the core, like tcpdump on a host with offloads, does not verify them.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from interceptor.capture.packets import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
)

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def ip_packet(src: str, dst: str, tcp: bytes) -> bytes:
    if ":" in src:
        s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
        return struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + s + d + tcp
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    return struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0) + s + d + tcp


def tcp_segment(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0) + payload


def frame(linktype: int, ip: bytes, vlan: int | None = None) -> bytes:
    ethertype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    if linktype == LINKTYPE_ETHERNET:
        tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
        return b"\x02" * 6 + b"\x04" * 6 + tag + struct.pack("!H", ethertype) + ip
    if linktype == LINKTYPE_LINUX_SLL:
        return struct.pack("!HHH", 0, 1, 6) + b"\x02" * 6 + b"\0\0" + struct.pack("!H", ethertype) + ip
    if linktype == LINKTYPE_LINUX_SLL2:
        return struct.pack("!HHIHBB", ethertype, 0, 2, 1, 0, 6) + b"\x02" * 6 + b"\0\0" + ip
    if linktype == LINKTYPE_RAW:
        return ip
    raise ValueError(linktype)


@dataclass
class Conn:
    """A TCP connection between client and server producing (ts, frame) records."""

    client: tuple[str, int] = ("10.0.0.1", 40000)
    server: tuple[str, int] = ("10.0.0.2", 8080)
    linktype: int = LINKTYPE_ETHERNET
    cseq: int = 1000
    sseq: int = 5000
    ts: float = 1_700_000_000.0
    step: float = 0.001
    vlan: int | None = None
    frames: list[tuple[float, bytes]] = field(default_factory=list)

    def _emit(self, from_client: bool, seq: int, flags: int, payload: bytes, ack: int) -> tuple[float, bytes]:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        tcp = tcp_segment(src[1], dst[1], seq, ack, flags, payload)
        self.ts += self.step
        rec = (self.ts, frame(self.linktype, ip_packet(src[0], dst[0], tcp), self.vlan))
        self.frames.append(rec)
        return rec

    def handshake(self) -> Conn:
        self._emit(True, self.cseq, SYN, b"", 0)
        self._emit(False, self.sseq, SYN | ACK, b"", self.cseq + 1)
        self.cseq += 1
        self.sseq += 1
        self._emit(True, self.cseq, ACK, b"", self.sseq)
        return self

    def send(self, from_client: bool, data: bytes, mss: int = 1400) -> list[tuple[float, bytes]]:
        """Send data in segments of at most ``mss``; returns the records it added."""
        out = []
        for i in range(0, len(data), mss):
            chunk = data[i : i + mss]
            if from_client:
                out.append(self._emit(True, self.cseq, ACK | PSH, chunk, self.sseq))
                self.cseq += len(chunk)
            else:
                out.append(self._emit(False, self.sseq, ACK | PSH, chunk, self.cseq))
                self.sseq += len(chunk)
        return out

    def request(self, data: bytes, mss: int = 1400) -> list[tuple[float, bytes]]:
        return self.send(True, data, mss)

    def response(self, data: bytes, mss: int = 1400) -> list[tuple[float, bytes]]:
        return self.send(False, data, mss)

    def close(self) -> Conn:
        self._emit(True, self.cseq, FIN | ACK, b"", self.sseq)
        self.cseq += 1
        self._emit(False, self.sseq, FIN | ACK, b"", self.cseq)
        self.sseq += 1
        self._emit(True, self.cseq, ACK, b"", self.sseq)
        return self

    def reset(self, from_client: bool = True) -> Conn:
        self._emit(from_client, self.cseq if from_client else self.sseq, RST, b"", 0)
        return self


def http_request(method: str = "POST", target: str = "/api/users", body: bytes = b'{"email":"a@b.c"}',
                 headers: list[tuple[str, str]] | None = None, content_type: str = "application/json") -> bytes:
    hs = [("Host", "svc"), ("Content-Type", content_type)] + (headers or [])
    if body or method in ("POST", "PUT", "PATCH"):
        hs.append(("Content-Length", str(len(body))))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n"
    return head.encode("latin-1") + body


def http_response(status: int = 200, body: bytes = b'{"id":1}', headers: list[tuple[str, str]] | None = None,
                  content_type: str = "application/json", length: bool = True) -> bytes:
    hs = [("Content-Type", content_type)] + (headers or [])
    if length:
        hs.append(("Content-Length", str(len(body))))
    head = f"HTTP/1.1 {status} OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n"
    return head.encode("latin-1") + body


def write_pcap(path: str, records: list[tuple[float, bytes]], linktype: int = LINKTYPE_ETHERNET) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for ts, data in records:
            sec = int(ts)
            usec = int(round((ts - sec) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)


def replay(records: list[tuple[float, bytes]], config: object = None, linktype: int = LINKTYPE_ETHERNET,
           close: bool = True) -> tuple[list, object]:
    """Feed records through a fresh pipeline; returns (pairs, counters)."""
    from interceptor.config import Config
    from interceptor.counters import Counters
    from interceptor.pipeline import Pipeline

    pairs: list = []
    counters = Counters()
    pipeline = Pipeline(config or Config(), counters, pairs.append)  # type: ignore[arg-type]
    for ts, data in records:
        pipeline.feed_packet(ts, data, linktype)
    if close:
        pipeline.close()
    return pairs, counters


def keep_all_config(**core: object) -> object:
    from interceptor.config import Config

    cfg = Config()
    cfg.filters.keep_all = True
    for k, v in core.items():
        setattr(cfg.core, k, v)
    return cfg
