"""Which ``replay --workers`` worker a frame's connection belongs to (compiled: every worker asks it
of every record of the file, so the answer for another worker's record must cost next to nothing).

Connections are dealt out in the order they first appear in the file (one to each worker in turn):
every worker reads the same packets in the same order, so each computes the same table without
talking to the others, and a capture of 4 long connections gives 2 workers 2 each (a hash of 4
keys into 2 buckets is lumpy: 3-1 or 4-0 as often as not). The table is bounded: past
``max_known`` connections, new ones go by a crc32 of their addresses (also the same in every
process, unlike ``hash()``).
"""

from __future__ import annotations

import zlib

from interceptor.capture.packets import LINKTYPE_ETHERNET, Segment, decode


class Sharder:
    """The worker of a frame's connection, the same answer in every worker; 0 for anything that is
    not a TCP segment (worker 0 counts those, so each is counted once)."""

    def __init__(self, workers: int, max_known: int = 1 << 20) -> None:
        self.workers = workers
        self.max_known = max_known
        self.known: dict[bytes, int] = {}  # connection key -> worker
        # The common frame's 12 bytes of addresses and ports as they stand (one direction) -> worker:
        # one slice and one lookup is the cheapest look (a third of ``decode``'s instructions).
        self.seen: dict[bytes, int] = {}

    def owner_at(self, linktype: int, buf: bytes, start: int, caplen: int) -> int:
        """``owner`` of the frame of ``caplen`` bytes at ``buf[start:]``, read in place: the common
        frame of a connection already seen costs one 12-byte slice and one lookup, no frame copy."""
        if (linktype == LINKTYPE_ETHERNET and caplen >= 54 and buf[start + 12] == 8 and buf[start + 13] == 0
                and buf[start + 14] == 0x45 and buf[start + 23] == 6 and not (buf[start + 20] & 0x3F)
                and not buf[start + 21]):
            found = self.seen.get(buf[start + 26 : start + 38])
            if found is not None:
                return found
        return self.owner(linktype, buf[start : start + caplen])

    def owner(self, linktype: int, frame: bytes) -> int:
        # Ethernet, IPv4 without options, TCP, not a fragment: addresses and ports at fixed offsets.
        # A frame of this shape that ``decode`` rejects still goes to its connection's worker,
        # which counts it; every other frame is decoded in full.
        if (linktype == LINKTYPE_ETHERNET and len(frame) >= 54 and frame[12:15] == b"\x08\x00\x45"
                and frame[23] == 6 and not (frame[20] & 0x3F or frame[21])):
            seen = frame[26:38]
            found = self.seen.get(seen)
            if found is not None:
                return found
            found = self.deal(connection_key(frame[26:30] + frame[34:36], frame[30:34] + frame[36:38]))
            if len(self.seen) < 2 * self.max_known:
                self.seen[seen] = found
            return found
        try:
            seg = decode(linktype, frame)
        except Exception:  # noqa: BLE001 - the pipeline counts decoder failures (worker 0's)
            return 0
        if not isinstance(seg, Segment):  # Rejected: skipped or dropped
            return 0
        return self.deal(connection_key(seg.src + seg.sport.to_bytes(2, "big"),
                                        seg.dst + seg.dport.to_bytes(2, "big")))

    def deal(self, key: bytes) -> int:
        found = self.known.get(key)
        if found is not None:
            return found
        if len(self.known) >= self.max_known:
            return zlib.crc32(key) % self.workers
        found = self.known[key] = len(self.known) % self.workers
        return found


def connection_key(a: bytes, b: bytes) -> bytes:
    """Both directions of a connection, one key: its two (address, port) ends in order."""
    return a + b if a < b else b + a
