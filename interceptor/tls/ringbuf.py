"""A BPF ring buffer read straight from its memory mapping, a batch at a time.

libbpf (as BCC exposes it) calls back into Python once per record through ctypes; here the records of
a batch are copied out of the mapping in one loop and handed over as a list, which lets the TLS
source merge a connection's consecutive records before parsing them. Layout (kernel/bpf/ringbuf.c):
page 0 holds the consumer position (written by us), page 1 the producer position, then the data area,
mapped twice in a row so a record that wraps around reads as one piece. Each record starts with an
8-byte header: length with the BUSY (still being written) and DISCARD bits, and a page offset; records
are 8-byte aligned. x86-64 keeps loads in order, which is all the reader needs (the probes are x86-64
only).
"""

from __future__ import annotations

import mmap
import select
import struct

BUSY = 1 << 31
DISCARD = 1 << 30
HEADER = 8
POS = struct.Struct("<Q")
LEN = struct.Struct("<I")


class RingReader:
    def __init__(self, map_fd: int, size: int) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError(f"ring buffer size {size} is not a power of two")
        self.fd = map_fd
        self.mask = size - 1
        page = mmap.PAGESIZE
        self._consumer = mmap.mmap(map_fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._producer = mmap.mmap(map_fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        self._data = memoryview(self._producer)[page:]
        self._epoll = select.epoll()
        self._epoll.register(map_fd, select.EPOLLIN)

    def wait(self, timeout_ms: int) -> None:
        """Sleep until a record that wakes readers arrives (or one is waiting), at most the timeout."""
        self._epoll.poll(timeout_ms / 1000 if timeout_ms >= 0 else -1)

    def drain(self, limit: int = 1 << 30) -> list[bytes]:
        """Copy out the records written so far (at most ``limit`` bytes of them) and free their space."""
        consumer = POS.unpack_from(self._consumer)[0]
        producer = POS.unpack_from(self._producer)[0]
        data, mask = self._data, self.mask
        records = []
        end = min(producer, consumer + limit)
        while consumer < end:
            at = consumer & mask
            length = LEN.unpack_from(data, at)[0]
            if length & BUSY:
                break  # reserved, not yet submitted: the next drain takes it
            size = length & ~(BUSY | DISCARD)
            if not length & DISCARD:
                records.append(data[at + HEADER:at + HEADER + size].tobytes())
            consumer += (size + HEADER + 7) & ~7
        POS.pack_into(self._consumer, 0, consumer)
        return records

    def close(self) -> None:
        self._epoll.close()
        self._data.release()
        self._producer.close()
        self._consumer.close()
