"""A pcapng writer (sans-I/O): every method returns the bytes of one block for the caller to write.

Blocks (pcapng, draft-ietf-opsawg-pcapng): a Section Header Block with comments and the writing
application, one Interface Description Block per tap (name, description, comments, the kernel
filter, nanosecond timestamps), Enhanced Packet Blocks, and at the end an Interface Statistics
Block per interface (packets received and dropped by the kernel, delivered to the file). Little
endian throughout; options padded to 32 bits. Comments are UTF-8, which is what Wireshark shows.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

SHB_TYPE = 0x0A0D0D0A
IDB_TYPE = 0x00000001
ISB_TYPE = 0x00000005
EPB_TYPE = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_END = 0
OPT_COMMENT = 1
SHB_HARDWARE, SHB_OS, SHB_USERAPPL = 2, 3, 4
IF_NAME, IF_DESCRIPTION, IF_TSRESOL, IF_FILTER, IF_OS = 2, 3, 9, 11, 12
ISB_STARTTIME, ISB_ENDTIME, ISB_IFRECV, ISB_IFDROP, ISB_OSDROP, ISB_USRDELIV = 2, 3, 4, 5, 7, 8
EPB_FLAGS = 2
EPB_INBOUND, EPB_OUTBOUND = 1, 2

TSRESOL_NS = 9  # if_tsresol: 10^-9 s
MAX_OPTION = 0xFFFF  # an option's length field is 16 bits


def _pad(n: int) -> int:
    return (4 - n % 4) % 4


def _option(code: int, value: bytes) -> bytes:
    value = value[:MAX_OPTION]
    return struct.pack("<HH", code, len(value)) + value + b"\0" * _pad(len(value))


def _options(opts: Iterable[tuple[int, bytes]]) -> bytes:
    body = b"".join(_option(code, value) for code, value in opts)
    return body + struct.pack("<HH", OPT_END, 0) if body else b""


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def _text(code: int, s: str) -> tuple[int, bytes]:
    return (code, s.encode("utf-8", "replace"))


def _ts(ts: float) -> tuple[int, int]:
    whole = int(ts)  # ts * 1e9 as one float would be rounded to 256 ns at today's epoch
    ns = whole * 1_000_000_000 + round((ts - whole) * 1e9)
    return ns >> 32, ns & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class InterfaceInfo:
    """What an Interface Description Block says about one tap."""

    linktype: int
    snaplen: int
    name: str
    description: str = ""
    comments: tuple[str, ...] = ()
    bpf_filter: str = ""
    os: str = ""


@dataclass(frozen=True, slots=True)
class InterfaceStats:
    """An Interface Statistics Block: kernel numbers from pcap_stats and what reached the file."""

    start: float
    end: float
    received: int | None = None  # isb_ifrecv: packets the kernel passed the filter
    kernel_dropped: int | None = None  # isb_ifdrop: dropped by the kernel (buffer full)
    os_dropped: int | None = None  # isb_osdrop: dropped by the interface / our own bounds
    delivered: int | None = None  # isb_usrdeliv: written to this file
    comments: tuple[str, ...] = ()


@dataclass
class PcapngWriter:
    """Hands out interface ids in the order interfaces are described."""

    interfaces: list[InterfaceInfo] = field(default_factory=list)

    def section(self, comments: Iterable[str] = (), application: str = "privacy-sensor",
                os_name: str = "", hardware: str = "") -> bytes:
        opts = [_text(OPT_COMMENT, c) for c in comments]
        opts += [_text(code, v) for code, v in ((SHB_HARDWARE, hardware), (SHB_OS, os_name),
                                                 (SHB_USERAPPL, application)) if v]
        # Section length -1: not known in advance (we stream).
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options(opts)
        return _block(SHB_TYPE, body)

    def interface(self, info: InterfaceInfo) -> tuple[int, bytes]:
        """(interface id, the IDB's bytes)."""
        opts = [_text(IF_NAME, info.name)]
        if info.description:
            opts.append(_text(IF_DESCRIPTION, info.description))
        opts += [_text(OPT_COMMENT, c) for c in info.comments]
        opts.append((IF_TSRESOL, bytes([TSRESOL_NS])))
        if info.bpf_filter:
            opts.append((IF_FILTER, b"\0" + info.bpf_filter.encode()))  # 0: libpcap filter string
        if info.os:
            opts.append(_text(IF_OS, info.os))
        body = struct.pack("<HHI", info.linktype, 0, info.snaplen) + _options(opts)
        self.interfaces.append(info)
        return len(self.interfaces) - 1, _block(IDB_TYPE, body)

    def packet(self, if_id: int, ts: float, data: bytes, orig_len: int | None = None,
               direction: int = 0) -> bytes:
        """An EPB; ``data`` is what was captured (at most the snaplen), ``orig_len`` the packet's
        length on the wire (defaults to ``len(data)``)."""
        hi, lo = _ts(ts)
        cap = len(data)
        opts = _options([(EPB_FLAGS, struct.pack("<I", direction))]) if direction else b""
        body = (struct.pack("<IIIII", if_id, hi, lo, cap, orig_len if orig_len is not None else cap)
                + data + b"\0" * _pad(cap) + opts)
        return _block(EPB_TYPE, body)

    def statistics(self, if_id: int, stats: InterfaceStats) -> bytes:
        hi, lo = _ts(stats.end)
        opts = [_text(OPT_COMMENT, c) for c in stats.comments]
        for code, when in ((ISB_STARTTIME, stats.start), (ISB_ENDTIME, stats.end)):
            h, low = _ts(when)
            opts.append((code, struct.pack("<II", h, low)))
        for code, value in ((ISB_IFRECV, stats.received), (ISB_IFDROP, stats.kernel_dropped),
                            (ISB_OSDROP, stats.os_dropped), (ISB_USRDELIV, stats.delivered)):
            if value is not None:
                opts.append((code, struct.pack("<Q", value)))
        return _block(ISB_TYPE, struct.pack("<III", if_id, hi, lo) + _options(opts))

