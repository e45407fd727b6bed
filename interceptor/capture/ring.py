"""Our own AF_PACKET TPACKET_V3 capture socket (``capture.source: ring``), with PACKET_FANOUT.

pypcap reads the same kind of ring but cannot join a fanout group, which is what lets
``capture.workers`` processes share one interface. A ``RingSocket`` is:

- ``socket(AF_PACKET, SOCK_RAW, 0)`` (protocol 0: it receives nothing until bound), a TPACKET_V3
  receive ring of ``block_count`` blocks mapped into this process, a drop-all classic BPF filter;
- bound to the interface, optionally joined to a fanout group, and only then given the real filter
  (``capture.bpf_filter`` compiled by libpcap's ``pcap_compile`` for the link type), so no packet is
  read before the socket is where it belongs;
- read a block at a time: the kernel hands whole blocks to user space (TP_STATUS_USER), we walk the
  packet headers on the mapping, copy each frame out and give the block back (``capture/ringwalk.py``,
  the per-packet part, compiled with the core).

Kernel numbers come from PACKET_STATISTICS (which resets on read, so they are accumulated here).
The fanout mode is PACKET_FANOUT_HASH: the kernel demultiplexes with ``__skb_get_hash_symmetric``,
a flow hash of the sorted addresses and ports, so both directions of a TCP connection land in the
same member (tests/interceptor/capture/test_ring.py checks it on real traffic).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import mmap
import os
import socket
import struct
from dataclasses import dataclass
from typing import Any

from interceptor.capture.ringwalk import TP_STATUS_USER, OnPacket, RingCursor

SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_FANOUT = 18
TPACKET_V3 = 2
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_FLAG_DEFRAG = 0x8000  # IP fragments are reassembled before hashing (ports known)
SO_ATTACH_FILTER = 26
ETH_P_ALL = 0x0003
SIOCGIFHWADDR = 0x8927
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
ARPHRD_NONE = 0xFFFE
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101

# tpacket_block_desc and tpacket3_hdr, as pack_blocks writes them (ringwalk.py reads them)
_BLOCK_HDR = struct.Struct("=IIIIII")  # version, offset_to_priv, block_status, num_pkts, first, blk_len
_PKT_HDR = struct.Struct("=IIIIIIHH")
_FIRST_PKT = 48  # sizeof(tpacket_block_desc) rounded as the kernel does (TPACKET_ALIGN)
_MAC = 66  # tpacket3_hdr (48 aligned) + sockaddr_ll (18): where the kernel puts an Ethernet frame
_DROP_ALL = struct.pack("=HBBI", 0x06, 0, 0, 0)  # BPF_RET|BPF_K 0: accept nothing



class RingError(OSError):
    """The ring socket could not be set up (bad filter, unsupported link, no permission)."""


@dataclass(slots=True)
class RingStats:
    """Cumulative kernel numbers of one ring socket (PACKET_STATISTICS, summed)."""

    received: int = 0  # passed the filter (including the dropped ones)
    dropped: int = 0  # the ring was full: the kernel discarded them
    freeze_q: int = 0  # blocks the kernel found still owned by user space


def compile_filter(expression: str, linktype: int, snaplen: int) -> bytes:
    """``expression`` compiled by libpcap for ``linktype`` as an array of ``struct sock_filter``."""
    lib = _libpcap()
    handle = lib.pcap_open_dead(linktype, snaplen)
    if not handle:
        raise RingError("pcap_open_dead failed")
    prog = _BpfProgram()
    try:
        if lib.pcap_compile(handle, ctypes.byref(prog), expression.encode(), 1, PCAP_NETMASK_UNKNOWN) != 0:
            raise RingError(f"capture.bpf_filter {expression!r}: {lib.pcap_geterr(handle).decode(errors='replace')}")
        code = ctypes.string_at(prog.bf_insns, prog.bf_len * 8)  # struct bpf_insn == struct sock_filter
        lib.pcap_freecode(ctypes.byref(prog))
        return code
    finally:
        lib.pcap_close(handle)


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.c_void_p)]


_LIB: list[Any] = []


def _libpcap() -> Any:
    if not _LIB:
        name = ctypes.util.find_library("pcap") or "libpcap.so.0.8"
        lib = ctypes.CDLL(name)
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.argtypes = [ctypes.c_void_p]
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        _LIB.append(lib)
    return _LIB[0]


def attach_filter(sock: socket.socket, code: bytes) -> None:
    """SO_ATTACH_FILTER with a ``struct sock_fprog`` pointing at ``code``."""
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(code) // 8, ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)  # the kernel copies the program


def link_type(sock: socket.socket, interface: str) -> int:
    """The pcap link type of ``interface`` from its ARPHRD type (SIOCGIFHWADDR)."""
    req = struct.pack("16s16x", interface.encode()[:15])
    arphrd = struct.unpack_from("=16xH", fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, req))[0]
    if arphrd in (ARPHRD_ETHER, ARPHRD_LOOPBACK):  # Linux loopback frames carry a zeroed Ethernet header
        return LINKTYPE_ETHERNET
    if arphrd == ARPHRD_NONE:  # tun, wireguard: IP packets with no link header
        return LINKTYPE_RAW
    raise RingError(f"{interface}: link type ARPHRD {arphrd} is not supported by the ring source (use pcap)")


def fanout_group(interface_index: int, salt: int) -> int:
    """A fanout group id for one interface of one agent: group ids are per network namespace, and
    every member must be on the same device, so each tapped interface needs its own id."""
    return (salt * 1031 + interface_index) & 0xFFFF


@dataclass(frozen=True, slots=True)
class RingShape:
    """What a process needs to map a ring socket made elsewhere (sent over a Unix socket)."""

    interface: str
    linktype: int
    block_size: int
    block_count: int


def open_ring_sockets(interface: str, bpf_filter: str, snaplen: int, buffer_bytes: int,
                      block_timeout_ms: int, members: int = 1, fanout: int | None = None,
                      ) -> tuple[list[socket.socket], RingShape]:
    """``members`` ring sockets on ``interface`` (in the current network namespace), all in fanout
    group ``fanout`` when given. Each gets the real filter only after every one has joined, so no
    connection is split by the group changing size under it."""
    socks: list[socket.socket] = []
    try:
        probe = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        socks.append(probe)
        linktype = link_type(probe, interface)
        code = compile_filter(bpf_filter, linktype, snaplen)
        block_size, block_count = ring_geometry(buffer_bytes, snaplen)
        frame = 2048  # tp_frame_size: only checked for consistency in V3 (packets are packed)
        req = struct.pack("=7I", block_size, block_count, frame, block_size // frame * block_count,
                          block_timeout_ms, 0, 0)
        for i in range(members):
            sock = probe if i == 0 else socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            if i:
                socks.append(sock)
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
            attach_filter(sock, _DROP_ALL)  # protocol 0 receives nothing; this holds once bound
            sock.bind((interface, ETH_P_ALL))
            if fanout is not None:
                mode = (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16  # above a signed int
                sock.setsockopt(SOL_PACKET, PACKET_FANOUT, struct.pack("=I", fanout | mode))
        for sock in socks:
            attach_filter(sock, code)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks, RingShape(interface, linktype, block_size, block_count)


class RingSocket:
    """A ring socket mapped into this process, read a block at a time."""

    def __init__(self, sock: socket.socket | None, shape: RingShape, mapping: mmap.mmap | None = None) -> None:
        self.sock = sock
        self.shape = shape
        self.interface = shape.interface
        self.linktype = shape.linktype
        self.block_size = shape.block_size
        self.block_count = shape.block_count
        self.stats = RingStats()
        self.fd = sock.fileno() if sock is not None else -1
        try:
            self.ring: mmap.mmap | None = mapping if mapping is not None else mmap.mmap(
                self.fd, self.block_size * self.block_count, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError:
            if sock is not None:
                sock.close()
            raise
        self.cursor = RingCursor(self.block_size, self.block_count)

    @classmethod
    def open(cls, interface: str, bpf_filter: str, snaplen: int, buffer_bytes: int,
             block_timeout_ms: int) -> RingSocket:
        """One ring on ``interface`` of the current namespace, no fanout."""
        socks, shape = open_ring_sockets(interface, bpf_filter, snaplen, buffer_bytes, block_timeout_ms)
        return cls(socks[0], shape)

    def dispatch(self, max_packets: int, on_packet: OnPacket, arg: Any) -> int:
        """Hand up to ``max_packets`` ready packets to ``on_packet(ts, frame, linktype, arg)``; each
        block goes back to the kernel as soon as its last packet is read. Returns the count."""
        ring = self.ring
        if ring is None:
            raise OSError("ring closed")
        return self.cursor.dispatch(ring, max_packets, self.linktype, on_packet, arg)

    @classmethod
    def mapped(cls, frames: list[tuple[float, bytes]], linktype: int = LINKTYPE_ETHERNET,
               block_size: int = 1 << 20) -> RingSocket:
        """A ring without a socket whose blocks already hold ``frames`` (ts, frame) the way the
        kernel lays them out, all ready for user space: for tests and bench/livepath.py, which
        measure the reading code on known frames."""
        blocks = pack_blocks(frames, block_size)
        mapping = mmap.mmap(-1, block_size * max(1, len(blocks)))
        for i, block in enumerate(blocks):
            mapping[i * block_size : i * block_size + len(block)] = block
        return cls(None, RingShape("mapped", linktype, block_size, max(1, len(blocks))), mapping)

    def refresh_stats(self) -> RingStats:
        """Add the kernel's counts since the last call (PACKET_STATISTICS resets them)."""
        if self.sock is None:  # a mapped ring (tests): no kernel behind it
            return self.stats
        raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)
        packets, drops, freeze = struct.unpack("=III", raw)
        st = self.stats
        st.received += packets  # tp_packets counts the dropped ones too
        st.dropped += drops
        st.freeze_q += freeze
        return st

    def close(self) -> None:
        if self.ring is not None:
            self.ring.close()
            self.ring = None
        if self.sock is not None:
            self.sock.close()


def ring_geometry(buffer_bytes: int, snaplen: int) -> tuple[int, int]:
    """(block size, block count) for about ``buffer_bytes`` of ring. A block must hold the largest
    frame (``snaplen`` plus the packet header), and is kept that small (a power of two pages, as
    libpcap does): the kernel retires a block at every timeout even when little is in it, so at low
    rates the number of blocks, not their size, is what the reader's latency is measured against."""
    block = os.sysconf("SC_PAGE_SIZE")
    while block < snaplen + 512:  # tpacket3_hdr + sockaddr_ll, aligned
        block <<= 1
    return block, max(4, buffer_bytes // block)


def pack_blocks(frames: list[tuple[float, bytes]], block_size: int) -> list[bytearray]:
    """``frames`` in TPACKET_V3 blocks as the kernel fills them (each block's status TP_STATUS_USER,
    packets at 16-byte aligned offsets chained by tp_next_offset, the last one's 0)."""
    blocks: list[bytearray] = []
    block = bytearray()
    count = 0
    last = 0

    def close() -> None:
        nonlocal block, count
        if count:
            _PKT_HDR.pack_into(block, last, 0, *_PKT_HDR.unpack_from(block, last)[1:])  # the chain's end
            _BLOCK_HDR.pack_into(block, 0, 1, 0, TP_STATUS_USER, count, _FIRST_PKT, len(block))
            blocks.append(block)
        block, count = bytearray(), 0

    for ts, frame in frames:
        size = (_MAC + len(frame) + 15) & ~15
        if size + _FIRST_PKT > block_size:
            raise ValueError(f"a frame of {len(frame)} bytes does not fit a block of {block_size}")
        if not count or len(block) + size > block_size:
            close()
            block = bytearray(_FIRST_PKT)
        last = len(block)
        sec = int(ts)
        block += _PKT_HDR.pack(size, sec, min(999_999_999, round((ts - sec) * 1e9)), len(frame), len(frame), TP_STATUS_USER,
                               _MAC, _MAC + 14)
        block += bytes(_MAC - _PKT_HDR.size) + frame + bytes(size - _MAC - len(frame))
        count += 1
    close()
    return blocks
