"""Capture file source: pcap and pcapng, plain or gzip-compressed, yielding (ts, linktype, frame).

A small reader of our own rather than dpkt's: it reads both formats through one interface, handles
pcapng files whose interfaces have different link types and timestamp resolutions, and knows the
byte offset of every record, so a damaged file is reported as "file, offset, what is wrong" after
everything readable was yielded.

The file is hostile input: every length is checked against a cap and against what encloses it
*before* anything is read or allocated for it, so a record claiming 4 GB costs nothing, and every
malformation ends the read with one ``CaptureError`` (never ``struct.error`` or ``IndexError``).
The file may be a pipe or ``-`` (standard input): it is read strictly forward, never seeked.

This module opens and reads (files, pipes, gzip) in blocks of about a MiB; cutting the records
out of each block, the part that runs per packet, is ``capture.records`` (compiled with mypyc).
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

from interceptor.capture.records import MAX_RECORD, Cutter, Packet, PcapCutter, PcapngCutter
from interceptor.sharding import Sharder

__all__ = ["CHUNK", "MAX_RECORD", "CaptureError", "CaptureReader", "Packet"]

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20  # bytes read at a time (a packet record larger than this is read whole)
# Wireshark's cap for an ordinary packet; a pcap file may declare a larger snaplen, up to MAX_RECORD.
STANDARD_SNAPLEN = 262144
# Errors a damaged (gzip) stream raises while being read; zlib.error is not an OSError.
READ_ERRORS = (OSError, EOFError, zlib.error)


class CaptureError(Exception):
    """A capture file problem; ``offset`` is where in the (decompressed) file it was found."""

    def __init__(self, path: str, offset: int | None, message: str) -> None:
        self.path, self.offset, self.message = path, offset, message
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"{path}{where}: {message}")


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
        # Straight into the caller's buffer: read() then a copy would copy the whole file once more
        # in user space (~1 % of a replay's instructions; each ``--workers`` worker reads it all).
        return self._rest.readinto(buffer)  # type: ignore[attr-defined]


class CaptureReader:
    """Iterate over a capture file's packets (or ``batches`` of them). ``packets`` counts the
    records cut so far (a batch at a time: the one being iterated over is counted whole);
    ``linktypes`` holds every link type the file declared."""

    def __init__(self, path: str | Path, stream: BinaryIO | None = None) -> None:
        """``stream``: read the capture from it (closed with the reader) rather than from ``path``,
        which then only names it in messages (a ``replay --workers`` worker's copy of the file)."""
        self.path = str(path)
        self.packets = 0
        self.offset = 0
        self.format = ""
        self.linktypes: set[int] = set()
        self._raw: BinaryIO | None = stream
        self._fh = self._open()

    @property
    def compressed(self) -> bool:
        """Whether the file is gzip-compressed (what is read from it is decompressed)."""
        return isinstance(self._fh, gzip.GzipFile)

    def blocks(self) -> Iterator[bytes]:
        """The (decompressed) file itself, from its start, as it reads: for ``replay --workers``'
        parent to decompress once for every worker. A read error is a ``CaptureError``."""
        while True:
            data = self._read1(CHUNK)
            if not data:
                return
            self.offset += len(data)
            yield data

    def _open(self) -> BinaryIO:
        if self._raw is not None:
            raw: BinaryIO = self._raw
        elif self.path == "-":
            raw = sys.stdin.buffer
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

    def __iter__(self) -> Iterator[Packet]:
        for batch in self.batches():
            yield from batch

    def batches(self, sharder: Sharder | None = None, index: int = 0) -> Iterator[list[Packet]]:
        """The packets in lists (one per block read, about a MiB of the file), cut by compiled code;
        with ``sharder``, only those of worker ``index``'s connections (``packets`` counts all)."""
        magic = self._read(4)
        cutter: Cutter
        if magic in PCAP_MAGICS:
            self.format = "pcap"
            cutter, buf, base = self._pcap_header(magic), b"", 24
        elif magic == PCAPNG_SHB:
            self.format = "pcapng"
            cutter, buf, base = PcapngCutter(self.linktypes), magic, 0
        elif not magic:
            raise CaptureError(self.path, 0, "empty file, not a capture")
        else:
            raise CaptureError(self.path, 0, f"not a pcap or pcapng capture (starts with {magic.hex()})")
        cutter.sharder, cutter.index = sharder, index
        pos, at_eof = 0, False
        while True:
            batch: list[Packet] = []
            records = cutter.records
            pos = cutter.cut(buf, pos, batch, at_eof)
            self.packets += cutter.records - records
            self.offset = base + pos  # where the first record not yet cut starts
            if batch:
                yield batch
            if cutter.problem:
                raise CaptureError(self.path, self.offset, cutter.problem)
            if at_eof:
                return
            if pos < len(buf):
                # A record cut by the block's end: read just what it lacks (so the next block is
                # cut as read, not copied onto the tail of this one; a record larger than a block
                # is read whole, its bytes being no use without the rest).
                data = self._read_exact(cutter.need - (len(buf) - pos))
                buf, base, pos = buf[pos:] + data, base + pos, 0
            else:
                # The next block, as much as one read gives: from a damaged gzip stream, every
                # record decompressed before the damage is yielded.
                data = self._read1(CHUNK)
                buf, base, pos = data, base + pos, 0
            at_eof = not data

    def _pcap_header(self, magic: bytes) -> PcapCutter:
        endian, resolution = PCAP_MAGICS[magic]
        header = self._read(20)
        if len(header) < 20:
            raise CaptureError(self.path, 4, "truncated pcap file header")
        _vmaj, _vmin, _zone, _sigfigs, snaplen, linktype = struct.unpack(endian + "HHiIII", header)
        linktype &= 0x0FFFFFFF  # upper bits carry FCS info
        self.linktypes.add(linktype)
        limit = min(max(snaplen, STANDARD_SNAPLEN), MAX_RECORD)
        self.offset = 24
        return PcapCutter(endian == "<", resolution, linktype, limit, self.linktypes)

    def _read(self, n: int) -> bytes:
        try:
            return self._fh.read(n)
        except READ_ERRORS as e:  # gzip stream cut short or corrupt, disk error
            raise CaptureError(self.path, self.offset, f"read error ({type(e).__name__}: {e})") from None

    def _read_exact(self, n: int) -> bytes:
        """``n`` bytes (fewer only at the end of the file) in reads of their own: ``read(n)`` would
        fill the 1 MiB buffer, and the next block would be a copy out of it -- a second copy of
        nearly the whole file (callgrind: 93 M instructions per 90 MB)."""
        data = self._read1(n)
        while 0 < len(data) < n:
            more = self._read1(n - len(data))
            if not more:
                break
            data += more
        return data

    def _read1(self, n: int) -> bytes:
        """Up to ``n`` bytes, as many as one read gives (a pipe: what has arrived, at least 1)."""
        try:
            return self._fh.read1(n)  # type: ignore[attr-defined]
        except READ_ERRORS as e:
            raise CaptureError(self.path, self.offset, f"read error ({type(e).__name__}: {e})") from None
