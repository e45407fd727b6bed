"""Capture file source: pcap and pcapng, plain or gzip-compressed, yielding (ts, linktype, frame).

A small reader of our own rather than dpkt's: it reads both formats through one interface, handles
pcapng files whose interfaces have different link types and timestamp resolutions, and knows the
byte offset of every record, so a damaged file is reported as "file, offset, what is wrong" after
everything readable was yielded.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
MAX_RECORD = 256 * 1024 * 1024  # a record claiming more than this is corruption, not a packet


class CaptureError(Exception):
    """A capture file problem; ``offset`` is where in the (decompressed) file it was found."""

    def __init__(self, path: str, offset: int | None, message: str) -> None:
        self.path, self.offset, self.message = path, offset, message
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"{path}{where}: {message}")


class CaptureReader:
    """Iterate over a capture file's packets. ``packets`` counts the records read so far."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.packets = 0
        self.offset = 0
        self.format = ""
        self._fh = self._open()

    def _open(self) -> BinaryIO:
        try:
            raw = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            raise CaptureError(self.path, None, "no such file") from None
        except IsADirectoryError:
            raise CaptureError(self.path, None, "is a directory, not a capture file") from None
        except PermissionError:
            raise CaptureError(self.path, None, "permission denied") from None
        if raw.read(2) == GZIP_MAGIC:
            raw.close()
            return gzip.open(self.path, "rb")  # type: ignore[return-value]
        raw.seek(0)
        return raw

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[float, int, bytes]]:
        try:
            magic = self._fh.read(4)
        except (OSError, EOFError) as e:
            raise CaptureError(self.path, 0, f"unreadable: {e}") from None
        if magic in PCAP_MAGICS:
            self.format = "pcap"
            yield from self._read_pcap(magic)
        elif magic == PCAPNG_SHB:
            self.format = "pcapng"
            yield from self._read_pcapng(magic)
        elif not magic:
            raise CaptureError(self.path, 0, "empty file, not a capture")
        else:
            raise CaptureError(self.path, 0, f"not a pcap or pcapng capture (starts with {magic.hex()})")

    def _read(self, n: int) -> bytes:
        try:
            data = self._fh.read(n)
        except (OSError, EOFError) as e:  # gzip stream cut short or corrupt
            raise CaptureError(self.path, self.offset, f"read error: {e}") from None
        return data

    def _read_pcap(self, magic: bytes) -> Iterator[tuple[float, int, bytes]]:
        endian, resolution = PCAP_MAGICS[magic]
        header = self._read(20)
        if len(header) < 20:
            raise CaptureError(self.path, 4, "truncated pcap file header")
        _vmaj, _vmin, _zone, _sigfigs, _snaplen, linktype = struct.unpack(endian + "HHiIII", header)
        linktype &= 0x0FFFFFFF  # upper bits carry FCS info
        self.offset = 24
        unpack = struct.Struct(endian + "IIII").unpack_from
        # Records are cut out of 1 MiB blocks: one read call per block, not two per packet.
        buf, pos = b"", 0
        while True:
            if len(buf) - pos < 16:
                buf, pos = buf[pos:] + self._read(CHUNK), 0
                if not buf:
                    return
                if len(buf) < 16:
                    raise CaptureError(self.path, self.offset, "truncated record header (capture cut short)")
            sec, frac, caplen, _origlen = unpack(buf, pos)
            if caplen > MAX_RECORD:
                raise CaptureError(self.path, self.offset, f"record length {caplen} is not plausible (corrupt file)")
            end = pos + 16 + caplen
            if end > len(buf):
                buf, pos = buf[pos:] + self._read(max(CHUNK, caplen + 16)), 0
                end = 16 + caplen
                if end > len(buf):
                    raise CaptureError(self.path, self.offset, "truncated record (capture cut short)")
            data = buf[pos + 16 : end]
            pos = end
            self.offset += 16 + caplen
            self.packets += 1
            yield sec + frac * resolution, linktype, data

    def _read_pcapng(self, first: bytes) -> Iterator[tuple[float, int, bytes]]:
        endian = "<"
        interfaces: list[tuple[int, float]] = []  # (linktype, seconds per tick)
        block_type = first
        while True:
            start = self.offset
            if block_type is None:
                block_type = self._read(4)
                if not block_type:
                    return
            head = self._read(4)
            if len(block_type) < 4 or len(head) < 4:
                raise CaptureError(self.path, start, "truncated block header (capture cut short)")
            if block_type == PCAPNG_SHB:
                bom = self._read(4)
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    raise CaptureError(self.path, start, "bad pcapng byte-order magic")
                length = struct.unpack(endian + "I", head)[0]
                body = bom + self._read(length - 16) if length >= 16 else b""  # the BOM is part of the body
                interfaces = []
            else:
                length = struct.unpack(endian + "I", head)[0]
                body = self._read(length - 12) if length >= 12 else b""
            if length < 12 or length > MAX_RECORD or length % 4:
                raise CaptureError(self.path, start, f"block length {length} is not valid (corrupt file)")
            trailer = self._read(4)
            if len(body) < length - 12 or len(trailer) < 4:
                raise CaptureError(self.path, start, "truncated block (capture cut short)")
            self.offset = start + length
            btype = struct.unpack(endian + "I", block_type)[0]
            block_type = None  # type: ignore[assignment]
            if btype == 1:
                interfaces.append(_interface(body, endian))
            elif btype in (6, 3, 2):
                packet = _packet(btype, body, endian, interfaces)
                if packet is None:
                    raise CaptureError(self.path, start, "packet block names an unknown interface")
                self.packets += 1
                yield packet


def _interface(body: bytes, endian: str) -> tuple[int, float]:
    linktype = struct.unpack_from(endian + "H", body, 0)[0]
    resolution = 1e-6
    p = 8
    while p + 4 <= len(body):
        code, olen = struct.unpack_from(endian + "HH", body, p)
        if code == 0:
            break
        if code == 9 and olen >= 1:  # if_tsresol
            v = body[p + 4]
            resolution = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        p += 4 + ((olen + 3) & ~3)
    return linktype, resolution


def _packet(btype: int, body: bytes, endian: str, interfaces: list[tuple[int, float]]) -> tuple[float, int, bytes] | None:
    if btype == 6:  # enhanced packet block
        iface, high, low, caplen, _orig = struct.unpack_from(endian + "IIIII", body, 0)
        data_off, ts_ticks = 20, (high << 32) | low
    elif btype == 2:  # obsolete packet block
        iface, _drops, high, low, caplen, _orig = struct.unpack_from(endian + "HHIIII", body, 0)
        data_off, ts_ticks = 20, (high << 32) | low
    else:  # simple packet block: interface 0, no timestamp
        iface, caplen, data_off, ts_ticks = 0, struct.unpack_from(endian + "I", body, 0)[0], 4, 0
        caplen = min(caplen, len(body) - 4)
    if iface >= len(interfaces):
        return None
    linktype, resolution = interfaces[iface]
    return ts_ticks * resolution, linktype, body[data_off : data_off + caplen]
