"""A disk spool for Kafka messages the broker could not take: segment files with a byte budget.

Records are appended to numbered segment files and read back in the order they were written.
A segment is deleted only when every record read from it has been acknowledged (delivered, or
given up for good), so a process that dies mid-replay finds the rest on disk at its next start:
spooled pairs are delivered at least once (the pair ``id`` lets a consumer drop the rare
duplicate). A torn record at the end of a segment (a crash mid-write) is cut off and counted.

Record frame (little endian): crc32 u32 | key_len u32 (0xFFFFFFFF = no key) | headers_len u32 |
value_len u32 | key | headers (JSON list of [name, latin-1 text]) | value. The CRC covers
everything after it.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from interceptor.counters import Counters

log = logging.getLogger(__name__)

FRAME = struct.Struct("<IIII")
NO_KEY = 0xFFFFFFFF
SUFFIX = ".seg"
KafkaHeaders = list[tuple[str, bytes]]


@dataclass(slots=True)
class SpoolRecord:
    segment: int  # which segment it came from, for ack()
    key: bytes | None
    value: bytes
    headers: KafkaHeaders


def encode(key: bytes | None, value: bytes, headers: KafkaHeaders) -> bytes:
    hdr = orjson.dumps([[k, (v or b"").decode("latin-1")] for k, v in headers])
    k = key or b""
    body = FRAME.pack(0, NO_KEY if key is None else len(k), len(hdr), len(value))[4:] + k + hdr + value
    return struct.pack("<I", zlib.crc32(body)) + body


def decode_at(buf: bytes, pos: int) -> tuple[int, bytes | None, bytes, KafkaHeaders] | None:
    """(end position, key, value, headers) of the record at ``pos``; None when torn or corrupt."""
    if pos + FRAME.size > len(buf):
        return None
    crc, klen, hlen, vlen = FRAME.unpack_from(buf, pos)
    start = pos + FRAME.size
    end = start + (0 if klen == NO_KEY else klen) + hlen + vlen
    if end > len(buf) or zlib.crc32(buf[pos + 4:end]) != crc:
        return None
    kend = start + (0 if klen == NO_KEY else klen)
    key = None if klen == NO_KEY else bytes(buf[start:kend])
    headers = [(k, v.encode("latin-1")) for k, v in orjson.loads(buf[kend:kend + hlen])]
    return end, key, bytes(buf[kend + hlen:end]), headers


class Spool:
    """Append-only, byte-budgeted, ordered. Single-threaded: the sink calls it from its own loop."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int, segment_bytes: int,
                 counters: Counters) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = max(segment_bytes, 4096)
        self.counters = counters
        self.sizes: dict[int, int] = {}  # segment -> bytes on disk
        self.unacked: dict[int, int] = {}  # segment -> records read but not yet acknowledged
        self.unread = 0  # records on disk not yet handed out by next()
        self._writer: BinaryIO | None = None
        self._wseg = -1  # segment being written
        self._rseg = -1  # segment being read, and its records
        self._rbuf = b""
        self._rpos = 0
        self._held: SpoolRecord | None = None  # peeked, not yet taken
        self._exhausted: set[int] = set()  # segments read to the end
        self.recovered = self._scan()

    # -- start-up ------------------------------------------------------------------------------

    def _scan(self) -> int:
        """Count the records left by an earlier process; cut torn tails. Returns the count."""
        total = 0
        for seg in self._segments():
            path = self._path(seg)
            buf = path.read_bytes()
            pos, n = 0, 0
            while (rec := decode_at(buf, pos)) is not None:
                pos, n = rec[0], n + 1
            if pos < len(buf):
                log.warning("spool: %s: %d bytes of a torn or corrupt record cut off", path, len(buf) - pos)
                self.counters.drop("kafka_spool_corrupt")
                with path.open("r+b") as f:
                    f.truncate(pos)
            if n == 0:
                path.unlink()
                continue
            self.sizes[seg] = pos
            total += n
        self.unread = total
        self._wseg = max(self.sizes, default=-1)  # never append to an old segment: start a new one
        return total

    def _segments(self) -> list[int]:
        return sorted(int(p.name[: -len(SUFFIX)]) for p in self.dir.glob("*" + SUFFIX)
                      if p.name[: -len(SUFFIX)].isdigit())

    def _path(self, seg: int) -> Path:
        return self.dir / f"{seg:012d}{SUFFIX}"

    # -- writing -------------------------------------------------------------------------------

    @property
    def bytes(self) -> int:
        return sum(self.sizes.values())

    @property
    def pending(self) -> int:
        """Records on disk not yet handed out (what is left to replay)."""
        return self.unread

    def append(self, key: bytes | None, value: bytes, headers: KafkaHeaders) -> bool:
        """Write one record; False when it would exceed the byte budget (the caller counts the drop)."""
        frame = encode(key, value, headers)
        if self.bytes + len(frame) > self.max_bytes:
            return False
        if self._writer is None or self.sizes[self._wseg] + len(frame) > self.segment_bytes:
            self._roll()
            self._wseg += 1
            self.sizes[self._wseg] = 0
            self._writer = self._path(self._wseg).open("ab", buffering=256 * 1024)
        self._writer.write(frame)
        self.sizes[self._wseg] += len(frame)
        self.unread += 1
        return True

    def _roll(self) -> None:
        """Close the segment being written; the next append starts a new one."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def flush(self) -> None:
        """Hand buffered records to the OS, so a killed process loses none of them."""
        if self._writer is not None:
            self._writer.flush()

    # -- reading -------------------------------------------------------------------------------

    def peek(self) -> SpoolRecord | None:
        """The oldest record not yet taken, or None. Stays the same until take()."""
        if self._held is None and self.unread:
            self._held = self._read_next()
        return self._held

    def take(self) -> None:
        """The peeked record was handed on; it now waits for ack()."""
        rec = self._held
        assert rec is not None
        self._held = None
        self.unread -= 1
        self.unacked[rec.segment] = self.unacked.get(rec.segment, 0) + 1

    def ack(self, segment: int) -> None:
        """One record taken from ``segment`` is done with (delivered, re-spooled or dropped)."""
        self.unacked[segment] -= 1
        self._maybe_delete(segment)

    def _read_next(self) -> SpoolRecord | None:
        while True:
            if self._rseg >= 0 and (rec := decode_at(self._rbuf, self._rpos)) is not None:
                self._rpos, key, value, headers = rec
                seg = self._rseg
                if self._rpos >= len(self._rbuf):
                    self._exhausted.add(seg)  # deletable as soon as its last record is acked
                return SpoolRecord(seg, key, value, headers)
            if self._rseg >= 0:
                self._exhausted.add(self._rseg)
                self._maybe_delete(self._rseg)
            if not self._open_next_segment():
                return None

    def _open_next_segment(self) -> bool:
        later = [s for s in sorted(self.sizes) if s > self._rseg]
        if not later:
            return False
        seg = later[0]
        if seg == self._wseg and self._writer is not None:
            self._roll()  # read only closed segments: the writer moves on to a new file
        self._rseg, self._rbuf, self._rpos = seg, self._path(seg).read_bytes(), 0
        return True

    def _maybe_delete(self, seg: int) -> None:
        """Delete a segment that is fully read and fully acknowledged."""
        if seg not in self._exhausted or self.unacked.get(seg, 0):
            return
        self._path(seg).unlink(missing_ok=True)
        self._exhausted.discard(seg)
        self.sizes.pop(seg, None)
        self.unacked.pop(seg, None)
        if seg == self._rseg:
            self._rbuf = b""

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
