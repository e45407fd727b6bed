"""Capture file source: pcap and pcapng, plain or gzip-compressed, yielding (ts, linktype, frame).

A small reader of our own rather than dpkt's: it reads both formats through one interface, handles
pcapng files whose interfaces have different link types and timestamp resolutions, and knows the
byte offset of every record, so a damaged file is reported as "file, offset, what is wrong" after
everything readable was yielded.

The file is hostile input: every length is checked against a cap and against what encloses it
*before* anything is read or allocated for it, so a record claiming 4 GB costs nothing, and every
malformation ends the read with one ``CaptureError`` (never ``struct.error`` or ``IndexError``).
The file may be a pipe or ``-`` (standard input): it is read strictly forward, never seeked.
"""

from __future__ import annotations

import gzip
import io
import struct
import sys
import zlib
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
# Wireshark's cap for an ordinary packet; a pcap file may declare a larger snaplen, up to MAX_RECORD.
STANDARD_SNAPLEN = 262144
# A record or block claiming more than this is corruption, not a packet: the largest frame a Linux
# capture produces (BIG TCP GSO on loopback) is 512 KiB; 16 MiB bounds what one record can allocate.
MAX_RECORD = 16 * 1024 * 1024
# Errors a damaged (gzip) stream raises while being read; zlib.error is not an OSError.
READ_ERRORS = (OSError, EOFError, zlib.error)


class CaptureError(Exception):
    """A capture file problem; ``offset`` is where in the (decompressed) file it was found."""

    def __init__(self, path: str, offset: int | None, message: str) -> None:
        self.path, self.offset, self.message = path, offset, message
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"{path}{where}: {message}")


class Malformed(Exception):
    """A block's contents contradict its own lengths (raised by the block parsers, located by the reader)."""


class _Prefixed(io.RawIOBase):
    """A forward-only stream: ``prefix`` (the magic bytes already read) followed by ``rest``.

    Lets the format be sniffed on a pipe, where there is no seeking back."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class CaptureReader:
    """Iterate over a capture file's packets. ``packets`` counts the records read so far;
    ``linktypes`` holds every link type the file declared."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.packets = 0
        self.offset = 0
        self.format = ""
        self.linktypes: set[int] = set()
        self._raw: BinaryIO | None = None
        self._fh = self._open()

    def _open(self) -> BinaryIO:
        if self.path == "-":
            raw: BinaryIO = sys.stdin.buffer
        else:
            try:
                raw = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            except FileNotFoundError:
                raise CaptureError(self.path, None, "no such file") from None
            except IsADirectoryError:
                raise CaptureError(self.path, None, "is a directory, not a capture file") from None
            except PermissionError:
                raise CaptureError(self.path, None, "permission denied") from None
            except OSError as e:
                raise CaptureError(self.path, None, f"cannot open: {e.strerror or e}") from None
            self._raw = raw
        try:
            magic = raw.read(2)
        except OSError as e:
            raise CaptureError(self.path, 0, f"unreadable: {e.strerror or e}") from None
        stream: BinaryIO = io.BufferedReader(_Prefixed(magic, raw), CHUNK)  # type: ignore[assignment]
        if magic == GZIP_MAGIC:
            return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
        return stream

    def close(self) -> None:
        self._fh.close()
        if self._raw is not None:
            self._raw.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[float, int, bytes]]:
        magic = self._read(4)
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
            return self._fh.read(n)
        except READ_ERRORS as e:  # gzip stream cut short or corrupt, disk error
            raise CaptureError(self.path, self.offset, f"read error ({type(e).__name__}: {e})") from None

    # -- pcap -----------------------------------------------------------------------------------
    def _read_pcap(self, magic: bytes) -> Iterator[tuple[float, int, bytes]]:
        endian, resolution = PCAP_MAGICS[magic]
        header = self._read(20)
        if len(header) < 20:
            raise CaptureError(self.path, 4, "truncated pcap file header")
        _vmaj, _vmin, _zone, _sigfigs, snaplen, linktype = struct.unpack(endian + "HHiIII", header)
        linktype &= 0x0FFFFFFF  # upper bits carry FCS info
        self.linktypes.add(linktype)
        limit = min(max(snaplen, STANDARD_SNAPLEN), MAX_RECORD)
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
            if caplen > limit:  # checked before anything is read for it
                raise CaptureError(self.path, self.offset,
                                   f"record length {caplen} exceeds the limit of {limit} (corrupt file)")
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

    # -- pcapng ---------------------------------------------------------------------------------
    def _read_pcapng(self, first: bytes) -> Iterator[tuple[float, int, bytes]]:
        endian = "<"
        interfaces: list[Interface] = []
        pending: bytes | None = first
        while True:
            start = self.offset
            head = (pending + self._read(4)) if pending is not None else self._read(8)
            pending = None
            if not head:
                return
            if len(head) < 8:
                raise CaptureError(self.path, start, "truncated block header (capture cut short)")
            prefix = b""
            if head[:4] == PCAPNG_SHB:  # a new section: its byte-order magic says how to read it
                prefix = self._read(4)
                if prefix == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif prefix == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    raise CaptureError(self.path, start, "bad pcapng byte-order magic")
                interfaces = []
            btype, length = struct.unpack(endian + "II", head)
            minimum = 28 if prefix else 12
            if length < minimum or length > MAX_RECORD or length % 4:
                raise CaptureError(self.path, start, f"block length {length} is not valid (corrupt file)")
            body = prefix + self._read(length - 12 - len(prefix))
            trailer = self._read(4)
            if len(body) < length - 12 or len(trailer) < 4:
                raise CaptureError(self.path, start, "truncated block (capture cut short)")
            if struct.unpack(endian + "I", trailer)[0] != length:
                raise CaptureError(self.path, start, f"block trailer does not repeat the length {length} (corrupt file)")
            try:
                if btype == 1:
                    interfaces.append(_interface(body, endian))
                    self.linktypes.add(interfaces[-1].linktype)
                    packet = None
                elif btype in (6, 3, 2):
                    packet = _packet(btype, body, endian, interfaces)
                else:
                    packet = None  # a block we do not need (statistics, name resolution, custom)
            except Malformed as e:
                raise CaptureError(self.path, start, f"{BLOCK_NAMES.get(btype, 'block')}: {e} (corrupt file)") from None
            self.offset = start + length
            if packet is not None:
                self.packets += 1
                yield packet


BLOCK_NAMES = {1: "interface description block", 2: "packet block", 3: "simple packet block",
               6: "enhanced packet block"}


class Interface:
    """A pcapng interface: its link type and the seconds one timestamp tick stands for."""

    __slots__ = ("linktype", "resolution")

    def __init__(self, linktype: int, resolution: float) -> None:
        self.linktype = linktype
        self.resolution = resolution


def _interface(body: bytes, endian: str) -> Interface:
    if len(body) < 8:
        raise Malformed(f"body of {len(body)} bytes, 8 needed")
    linktype = struct.unpack_from(endian + "H", body, 0)[0]
    resolution = 1e-6
    p = 8
    while p + 4 <= len(body):
        code, olen = struct.unpack_from(endian + "HH", body, p)
        if code == 0:
            break
        if p + 4 + olen > len(body):
            raise Malformed(f"option {code} of {olen} bytes runs past the block end")
        if code == 9 and olen >= 1:  # if_tsresol: a power of ten, or of two when the top bit is set
            v = body[p + 4]
            resolution = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        p += 4 + ((olen + 3) & ~3)
    return Interface(linktype, resolution)


def _packet(btype: int, body: bytes, endian: str, interfaces: list[Interface]) -> tuple[float, int, bytes]:
    if btype == 3:  # simple packet block: interface 0, no timestamp, captured = what the block holds
        if len(body) < 4:
            raise Malformed(f"body of {len(body)} bytes, 4 needed")
        iface, ts_ticks, data_off = 0, 0, 4
        caplen = min(struct.unpack_from(endian + "I", body, 0)[0], len(body) - 4)
    else:
        if len(body) < 20:
            raise Malformed(f"body of {len(body)} bytes, 20 needed")
        if btype == 6:  # enhanced packet block
            iface, high, low, caplen, _orig = struct.unpack_from(endian + "IIIII", body, 0)
        else:  # obsolete packet block
            iface, _drops, high, low, caplen, _orig = struct.unpack_from(endian + "HHIIII", body, 0)
        data_off, ts_ticks = 20, (high << 32) | low
        if caplen > len(body) - 20:
            raise Malformed(f"captured length {caplen} runs past the block end")
    if iface >= len(interfaces):
        raise Malformed(f"names interface {iface}, the section declared {len(interfaces)}")
    interface = interfaces[iface]
    return ts_ticks * interface.resolution, interface.linktype, body[data_off : data_off + caplen]
