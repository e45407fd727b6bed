"""The per-packet walk of a TPACKET_V3 receive ring: the only part of ``capture.source: ring`` that
runs for every packet, compiled with the core (``interceptor/compiled.py``).

A ``RingCursor`` is where a reader is in the ring: the block it looks at next, and inside it the
offset and count of the packets it has not handed on yet (a dispatch may stop mid-block). The
kernel hands whole blocks to user space (``block_status`` TP_STATUS_USER); each packet's header
(``tpacket3_hdr``) says where the next one starts and where its frame is; a block goes back to the
kernel (TP_STATUS_KERNEL) as soon as its last packet is read, never before — the kernel may refill
it at once. The socket, the mapping and the kernel's numbers stay in ``capture/ring.py``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from mmap import mmap
from typing import Any, Final

from interceptor.pipeline import Pipeline

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1

# tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1: block_status (+8), num_pkts
# (+12), offset_to_first_pkt (+16), blk_len (+20: the bytes the kernel filled, this header included)
_BLOCK_HEAD = 24
_block_status: Final = struct.Struct("=I").pack_into
# tpacket3_hdr: tp_next_offset, tp_sec, tp_nsec, tp_snaplen, (tp_len, tp_status), tp_mac (u16)
_pkt_hdr: Final = struct.Struct("=IIII4x4xH").unpack_from
# Which read of a packet header is cheaper depends on the build: byte reads compile to C (~2.7k
# instructions a packet, callback included, against ~4.3k interpreted with struct), while run
# interpreted they cost ~7x one struct call.
COMPILED: Final = not __file__.endswith(".py")

OnPacket = Callable[[float, bytes, int, Any], None]


def _u32(b: bytes, at: int) -> int:
    """A native-endian (little, x86/arm64) u32 of ``b``: byte reads compile to C, a struct call does not."""
    return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | b[at + 3] << 24


def pipeline_of(on_packet: OnPacket) -> Pipeline | None:
    """The pipeline whose own ``feed_packet`` ``on_packet`` is (bound to it), else None."""
    owner = getattr(on_packet, "__self__", None)
    return owner if isinstance(owner, Pipeline) and on_packet == owner.feed_packet else None


class RingCursor:
    """A reader's position in a ring of ``block_count`` blocks of ``block_size`` bytes.

    The block being read is copied out of the mapping once, as far as the kernel filled it (one
    memcpy), so the per-packet header reads and frame copies are on ``bytes``, which the compiled
    build does in C; the mapping would take a Python call per field."""

    def __init__(self, block_size: int, block_count: int) -> None:
        self.block_size = block_size
        self.block_count = block_count
        self.block = 0  # the next block to look at (or the one being read)
        self.data = b""  # the block being read
        self.offset = 0  # in ``data``: the next packet's header
        self.left = 0  # packets not handed on yet in ``data``

    def dispatch(self, ring: mmap, max_packets: int, linktype: int, on_packet: OnPacket, arg: Any) -> int:
        """Hand up to ``max_packets`` ready packets to ``on_packet(ts, frame, linktype, arg)``;
        returns the count. A packet whose ``on_packet`` raised counts as read (the exception goes
        up; the next dispatch starts after it). When ``on_packet`` is a pipeline's own
        ``feed_packet`` it is called as a method of the compiled class: a C call with the timestamp
        unboxed and no argument parsing (~300 instructions a packet less than a Python-level call)."""
        pipe = pipeline_of(on_packet)
        n = 0
        while n < max_packets:
            if self.left == 0:
                if not self._take(ring):
                    break
                if self.left == 0:  # an empty block (a timeout with nothing captured)
                    self._release(ring)
                    continue
            take = min(self.left, max_packets - n)
            n += take
            self._walk(ring, take, linktype, on_packet, pipe, arg)
        return n

    def _walk(self, ring: mmap, take: int, linktype: int, on_packet: OnPacket, pipe: Pipeline | None,
              arg: Any) -> None:
        """The next ``take`` packets of the block being read (it has at least that many left)."""
        data = self.data
        off = self.offset
        left = self.left
        native = COMPILED
        try:
            for _ in range(take):
                if native:
                    start = off + (data[off + 24] | data[off + 25] << 8)
                    frame = data[start:start + _u32(data, off + 12)]
                    ts = _u32(data, off + 4) + _u32(data, off + 8) * 1e-9
                    nxt = _u32(data, off)
                else:
                    nxt, sec, nsec, snap, mac = _pkt_hdr(data, off)
                    frame = data[off + mac:off + mac + snap]
                    ts = sec + nsec * 1e-9
                # Moved on before the call: a packet whose processing raised is done with (and
                # its block, if it was the last one, is the kernel's again, not read twice).
                off += nxt
                left -= 1
                if left == 0:
                    self._release(ring)
                if pipe is not None:
                    pipe.feed_packet(ts, frame, linktype, arg)
                else:
                    on_packet(ts, frame, linktype, arg)
        finally:
            self.offset = off
            self.left = left

    def _take(self, ring: mmap) -> bool:
        """Copy out the next block if the kernel has handed it to user space."""
        base = self.block * self.block_size
        head = ring[base:base + _BLOCK_HEAD]
        if not _u32(head, 8) & TP_STATUS_USER:
            return False
        used = _u32(head, 20)
        if used < _BLOCK_HEAD or used > self.block_size:  # not what the kernel writes: take it all
            used = self.block_size
        self.data = ring[base:base + used]
        self.left = _u32(head, 12)
        self.offset = _u32(head, 16)
        return True

    def _release(self, ring: mmap) -> None:
        """Give the block back to the kernel and move to the next one."""
        _block_status(ring, self.block * self.block_size + 8, TP_STATUS_KERNEL)
        self.block = (self.block + 1) % self.block_count
        self.data = b""
