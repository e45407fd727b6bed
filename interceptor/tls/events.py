"""Decoding of the ring-buffer records written by probes.c (``struct event_t``), and stream bookkeeping.

The header layout must match ``struct event_t``; a record holds exactly ``len`` data bytes after it.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

# ts, conn, offset, pid, tid, fd, len, type, dir, kind, pad[5], then struct addr_t: family, lport, rport,
# pad, laddr[16], raddr[16]; comm[16] (the thread's command, read in the kernel)
HEADER = struct.Struct("<QQQIIiIBBB5xHHH2x16s16s16s")
assert HEADER.size == 104
AF_INET, AF_INET6 = 2, 10

EV_DATA, EV_CLOSE, EV_EXEC = 0, 1, 2
DIR_WRITE, DIR_READ = 0, 1
KINDS = ("openssl", "gotls", "gnutls", "boringssl", "nss")  # probes.c KIND_*
EXEC_HELD = 1  # an EV_EXEC notice's ``dir``: the kernel stopped the program; user space continues it


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
    raw_addr: tuple[int, int, bytes, int, bytes] | None = None  # family, lport, laddr, rport, raddr
    raw_comm: bytes = b""

    # Addresses and command are decoded only when a stream opens or a process appears, not per record.
    @property
    def addrs(self) -> tuple[tuple[str, int], tuple[str, int]] | None:
        """(local, remote) as the kernel recorded them, or None."""
        return addresses(*self.raw_addr) if self.raw_addr is not None else None

    @property
    def comm(self) -> str:
        return self.raw_comm.split(b"\0", 1)[0].decode("utf-8", "replace")

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


def decode(raw: bytes) -> Event:
    """One ring-buffer record. Raises EventError on a malformed one."""
    if len(raw) < HEADER.size:
        raise EventError(f"record of {len(raw)} bytes is shorter than the {HEADER.size}-byte header")
    ts, conn, off, pid, tid, fd, n, typ, direction, kind, family, lport, rport, laddr, raddr, comm = HEADER.unpack_from(raw)
    if HEADER.size + n > len(raw) or kind >= len(KINDS) or direction > 1:
        raise EventError(f"bad record: len={n} kind={kind} dir={direction} size={len(raw)}")
    data = raw[HEADER.size:HEADER.size + n]
    return Event(ts, conn, off, pid, tid, fd, typ, direction, KINDS[kind], data,
                 (family, lport, laddr, rport, raddr), comm)


def addresses(family: int, lport: int, laddr: bytes, rport: int, raddr: bytes) -> tuple[tuple[str, int], tuple[str, int]] | None:
    if family == AF_INET:
        return (socket.inet_ntop(socket.AF_INET, laddr[:4]), lport), (socket.inet_ntop(socket.AF_INET, raddr[:4]), rport)
    if family == AF_INET6:
        local, remote = socket.inet_ntop(socket.AF_INET6, laddr), socket.inet_ntop(socket.AF_INET6, raddr)
        return (_unmap(local), lport), (_unmap(remote), rport)
    return None


def _unmap(ip: str) -> str:
    return ip[7:] if ip.startswith("::ffff:") and "." in ip else ip


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


def coalesce(evs: list[Event], limit: int = 256 * 1024) -> list[Event]:
    """Merge each run of adjacent data records that continue one another (same connection and
    direction, contiguous offsets) into one event of at most ``limit`` bytes: a message written as
    head then body is then parsed in one pass. Order is kept; no record moves past another."""
    out: list[Event] = []
    runs: dict[int, list[bytes]] = {}  # index in out → the data parts of its run
    end = 0  # where the last run ends; it starts at out[-1].offset
    for ev in evs:
        last = out[-1] if out else None
        if (last is not None and ev.type == EV_DATA and last.type == EV_DATA and ev.offset == end
                and ev.conn == last.conn and ev.pid == last.pid and ev.dir == last.dir and ev.kind == last.kind
                and ev.end - last.offset <= limit):
            runs.setdefault(len(out) - 1, [last.data]).append(ev.data)
            end = ev.end
            continue
        out.append(ev)
        end = ev.end
    for i, parts in runs.items():
        out[i].data = b"".join(parts)
    return out
