"""Cutting capture records out of a buffer: pcap records and pcapng blocks, compiled (mypyc).

``capture.pcapfile`` opens the file (plain, gzip, pipe) and reads it in blocks of about a MiB; a
cutter turns each block into a list of packets, ``(ts, linktype, frame)``, in one compiled loop, so
reading costs no interpreted work per packet. The cutter never reads: it says how many bytes the
next record needs (``need``), or why the file cannot be read on (``problem``, at the position it
returns), and the reader raises that as one ``CaptureError`` with the file offset.

Every length is checked against its cap and against what encloses it before anything is sliced for
it (the file is hostile input). With a ``sharder``, records of other workers' connections are
counted and skipped on the raw bytes, before any per-packet object is made (``replay --workers``).
"""

from __future__ import annotations

from interceptor.sharding import Sharder

Packet = tuple[float, int, bytes]

# A record or block claiming more than this is corruption, not a packet: the largest frame a Linux
# capture produces (BIG TCP GSO on loopback) is 512 KiB; 16 MiB bounds what one record can allocate.
MAX_RECORD = 16 * 1024 * 1024
BLOCK_NAMES = {1: "interface description block", 2: "packet block", 3: "simple packet block",
               6: "enhanced packet block"}


def u32(buf: bytes, p: int, little: bool) -> int:
    if little:
        return buf[p] | buf[p + 1] << 8 | buf[p + 2] << 16 | buf[p + 3] << 24
    return buf[p] << 24 | buf[p + 1] << 16 | buf[p + 2] << 8 | buf[p + 3]


def u16(buf: bytes, p: int, little: bool) -> int:
    if little:
        return buf[p] | buf[p + 1] << 8
    return buf[p] << 8 | buf[p + 1]


class Cutter:
    """What both cutters share: the counts, the sharding and the outcome of the last ``cut``."""

    def __init__(self, linktypes: set[int]) -> None:
        self.records = 0  # packet records cut so far, kept or skipped
        self.need = 0  # bytes from the returned position the next record needs to be whole
        self.problem = ""  # why the file cannot be read on from the returned position
        self.linktypes = linktypes  # every link type the file declared (the reader's set)
        self.sharder: Sharder | None = None
        self.index = 0  # with a sharder: keep only the records this worker owns

    def mine(self, linktype: int, buf: bytes, start: int, caplen: int) -> bool:
        sharder = self.sharder
        return sharder is None or sharder.owner_at(linktype, buf, start, caplen) == self.index

    def cut(self, buf: bytes, pos: int, out: list[Packet], at_eof: bool) -> int:
        """Append the whole records of ``buf[pos:]`` to ``out``; the position of the first one
        that is not whole (``need``) or not valid (``problem``). ``at_eof``: no more bytes follow,
        so a partial record is a truncated file."""
        raise NotImplementedError


class PcapCutter(Cutter):
    """Records of a pcap file (after its 24-byte header)."""

    def __init__(self, little: bool, resolution: float, linktype: int, limit: int, linktypes: set[int]) -> None:
        super().__init__(linktypes)
        self.little = little
        self.resolution = resolution
        self.linktype = linktype
        self.limit = limit  # the largest caplen accepted (the snaplen, within the caps)

    def cut(self, buf: bytes, pos: int, out: list[Packet], at_eof: bool) -> int:
        n = len(buf)
        little, linktype, limit = self.little, self.linktype, self.limit
        while True:
            if n - pos < 16:
                self.need = 16
                if at_eof and n > pos:
                    self.problem = "truncated record header (capture cut short)"
                return pos
            caplen = u32(buf, pos + 8, little)
            if caplen > limit:  # checked before anything is read for it
                self.problem = f"record length {caplen} exceeds the limit of {limit} (corrupt file)"
                return pos
            end = pos + 16 + caplen
            if end > n:
                self.need = 16 + caplen
                if at_eof:
                    self.problem = "truncated record (capture cut short)"
                return pos
            self.records += 1
            if self.mine(linktype, buf, pos + 16, caplen):
                ts = u32(buf, pos, little) + u32(buf, pos + 4, little) * self.resolution
                out.append((ts, linktype, buf[pos + 16 : end]))
            pos = end


class Interface:
    """A pcapng interface: its link type and the seconds one timestamp tick stands for."""

    def __init__(self, linktype: int, resolution: float) -> None:
        self.linktype = linktype
        self.resolution = resolution


class PcapngCutter(Cutter):
    """Blocks of a pcapng file, sections (byte order) and interfaces included."""

    def __init__(self, linktypes: set[int]) -> None:
        super().__init__(linktypes)
        self.little = True
        self.interfaces: list[Interface] = []

    def cut(self, buf: bytes, pos: int, out: list[Packet], at_eof: bool) -> int:
        n = len(buf)
        while True:
            left = n - pos
            shb = left >= 4 and buf[pos] == 0x0A and buf[pos + 1] == 0x0D and buf[pos + 2] == 0x0D \
                and buf[pos + 3] == 0x0A
            head = 12 if shb else 8  # a section header's byte-order magic comes before its length
            if left < head:
                self.need = head
                if at_eof and left:
                    self.problem = "truncated block header (capture cut short)"
                return pos
            little = self.little
            if shb:
                if buf[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a":
                    little = True
                elif buf[pos + 8 : pos + 12] == b"\x1a\x2b\x3c\x4d":
                    little = False
                else:
                    self.problem = "bad pcapng byte-order magic"
                    return pos
            length = u32(buf, pos + 4, little)
            if length < (28 if shb else 12) or length > MAX_RECORD or length % 4:
                self.problem = f"block length {length} is not valid (corrupt file)"
                return pos
            if length > left:
                self.need = length
                if at_eof:
                    self.problem = "truncated block (capture cut short)"
                return pos
            if u32(buf, pos + length - 4, little) != length:
                self.problem = f"block trailer does not repeat the length {length} (corrupt file)"
                return pos
            if shb:  # a new section: its own byte order, its own interfaces
                self.little = little
                self.interfaces = []
            else:
                btype = u32(buf, pos, little)
                wrong = self.block(btype, buf, pos + 8, length - 12, out)
                if wrong:
                    self.problem = f"{BLOCK_NAMES.get(btype, 'block')}: {wrong} (corrupt file)"
                    return pos
            pos += length

    def block(self, btype: int, buf: bytes, body: int, size: int, out: list[Packet]) -> str:
        """One block's body (``size`` bytes at ``body``): "" or what is wrong with it."""
        if btype == 1:
            return self.interface(buf, body, size)
        if btype == 6 or btype == 3 or btype == 2:
            return self.packet(btype, buf, body, size, out)
        return ""  # a block we do not need (statistics, name resolution, custom)

    def interface(self, buf: bytes, body: int, size: int) -> str:
        if size < 8:
            return f"body of {size} bytes, 8 needed"
        little = self.little
        linktype = u16(buf, body, little)
        resolution = 1e-6
        p, end = body + 8, body + size
        while p + 4 <= end:
            code, olen = u16(buf, p, little), u16(buf, p + 2, little)
            if code == 0:
                break
            if p + 4 + olen > end:
                return f"option {code} of {olen} bytes runs past the block end"
            if code == 9 and olen >= 1:  # if_tsresol: a power of ten, or of two when the top bit is set
                v = buf[p + 4]
                resolution = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
            p += 4 + ((olen + 3) & ~3)
        self.interfaces.append(Interface(linktype, resolution))
        self.linktypes.add(linktype)
        return ""

    def packet(self, btype: int, buf: bytes, body: int, size: int, out: list[Packet]) -> str:
        little = self.little
        if btype == 3:  # simple packet block: interface 0, no timestamp, captured = what the block holds
            if size < 4:
                return f"body of {size} bytes, 4 needed"
            iface, ticks, data = 0, 0, body + 4
            caplen = min(u32(buf, body, little), size - 4)
        else:
            if size < 20:
                return f"body of {size} bytes, 20 needed"
            if btype == 6:  # enhanced packet block
                iface, high, low = u32(buf, body, little), u32(buf, body + 4, little), u32(buf, body + 8, little)
            else:  # obsolete packet block (a 16-bit interface, then 16 bits of drops)
                iface, high, low = u16(buf, body, little), u32(buf, body + 4, little), u32(buf, body + 8, little)
            caplen = u32(buf, body + 12, little)
            data, ticks = body + 20, (high << 32) | low
            if caplen > size - 20:
                return f"captured length {caplen} runs past the block end"
        if iface >= len(self.interfaces):
            return f"names interface {iface}, the section declared {len(self.interfaces)}"
        interface = self.interfaces[iface]
        self.records += 1
        if self.mine(interface.linktype, buf, data, caplen):
            out.append((ticks * interface.resolution, interface.linktype, buf[data : data + caplen]))
        return ""
