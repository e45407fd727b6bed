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
from typing import Any

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1

# tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1: block_status, num_pkts,
# offset_to_first_pkt, ...
_block_hdr = struct.Struct("=8xIII").unpack_from
_block_status = struct.Struct("=I").pack_into
# tpacket3_hdr: tp_next_offset, tp_sec, tp_nsec, tp_snaplen, (tp_len, tp_status), tp_mac
_pkt_hdr = struct.Struct("=IIII4x4xH").unpack_from

OnPacket = Callable[[float, bytes, int, Any], None]


class RingCursor:
    """A reader's position in a ring of ``block_count`` blocks of ``block_size`` bytes."""

    def __init__(self, block_size: int, block_count: int) -> None:
        self.block_size = block_size
        self.block_count = block_count
        self.block = 0  # the next block to look at
        self.offset = 0  # inside the current block when a dispatch stopped mid-block
        self.left = 0  # packets left in the current block

    def dispatch(self, ring: mmap, max_packets: int, linktype: int, on_packet: OnPacket, arg: Any) -> int:
        """Hand up to ``max_packets`` ready packets to ``on_packet(ts, frame, linktype, arg)``;
        returns the count. A packet whose ``on_packet`` raised counts as read (the exception goes
        up; the next dispatch starts after it)."""
        n = 0
        bsize = self.block_size
        while n < max_packets:
            base = self.block * bsize
            if self.left == 0:
                status, num, first = _block_hdr(ring, base)
                if not status & TP_STATUS_USER:
                    break
                self.left = num
                self.offset = base + first
            if self.left:
                off = self.offset
                nxt, sec, nsec, snap, mac = _pkt_hdr(ring, off)
                frame = ring[off + mac:off + mac + snap]  # a copy: the block may go back below
                # Moved on before the call: a packet whose processing raised is done with (and
                # its block, if it was the last one, is the kernel's again, not read twice).
                self.offset = off + nxt
                self.left -= 1
                n += 1
                if self.left == 0:
                    self._release(ring, base)
                on_packet(sec + nsec * 1e-9, frame, linktype, arg)
            else:  # an empty block (a timeout with nothing captured): straight back
                self._release(ring, base)
        return n

    def _release(self, ring: mmap, base: int) -> None:
        """Give the block at ``base`` back to the kernel and move to the next one."""
        _block_status(ring, base + 8, TP_STATUS_KERNEL)
        self.block = (self.block + 1) % self.block_count
