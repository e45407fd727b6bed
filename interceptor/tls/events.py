"""Decoding of the ring-buffer records written by probes.c (``struct event_t``), and stream bookkeeping.

The header layout must match ``struct event_t``; a record holds exactly ``len`` data bytes after it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# ts, conn, offset, pid, tid, fd, len, type, dir, kind, pad[5]
HEADER = struct.Struct("<QQQIIiIBBB5x")
assert HEADER.size == 48

EV_DATA, EV_CLOSE = 0, 1
DIR_WRITE, DIR_READ = 0, 1
KINDS = ("openssl", "gotls")


class EventError(ValueError):
    """A record shorter than its header says."""


@dataclass(slots=True)
class Event:
    ts_ns: int  # CLOCK_MONOTONIC
    conn: int  # SSL* or *tls.Conn in the process
    offset: int  # of data[0] in this direction of the connection
    pid: int
    tid: int
    fd: int  # -1 when unknown
    type: int
    dir: int  # DIR_WRITE: the process sent it; DIR_READ: it received it
    kind: str
    data: bytes

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


def decode(raw: bytes) -> Event:
    """One ring-buffer record. Raises EventError on a malformed one."""
    if len(raw) < HEADER.size:
        raise EventError(f"record of {len(raw)} bytes is shorter than the {HEADER.size}-byte header")
    ts, conn, off, pid, tid, fd, n, typ, direction, kind = HEADER.unpack_from(raw)
    if HEADER.size + n > len(raw) or kind >= len(KINDS) or direction > 1:
        raise EventError(f"bad record: len={n} kind={kind} dir={direction} size={len(raw)}")
    return Event(ts, conn, off, pid, tid, fd, typ, direction, KINDS[kind], raw[HEADER.size:HEADER.size + n])


@dataclass(slots=True)
class StreamCheck:
    """Expected next offset per direction of one connection: tells in-order data from a gap (records
    lost in the ring buffer) or a restart (the pointer now names a new connection)."""

    next: list[int]

    def __init__(self) -> None:
        self.next = [0, 0]

    def classify(self, ev: Event) -> str:
        """'ok', 'gap' (bytes missing before this record) or 'restart' (offset went backwards)."""
        expected = self.next[ev.dir]
        self.next[ev.dir] = ev.end
        if ev.offset == expected:
            return "ok"
        return "gap" if ev.offset > expected else "restart"
