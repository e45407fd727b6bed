"""HPACK header-block decoding for a passive observer (RFC 7541), tolerant of a dynamic table it
cannot know.

``hpack.Decoder`` (python-hyper) is an endpoint's decoder: it raises ``InvalidTableIndex`` on the
first reference to an entry it never saw and its state is unusable afterwards, so a connection
joined mid-way (agent started late, capture began late) or one with capture loss yields nothing.
This decoder owns the dynamic table so that it can say *which* fields it does not know instead of
failing (and carries the RFC's static table and Huffman code itself: importing ``hpack`` for them
cost ~26M instructions at every start, most of it ``logging`` and a 4k-entry decoding table that a
steady connection, whose blocks repeat, hardly uses; ``hpack`` stays the tests' reference):

- Entries are numbered from the newest (index 62), so the entries inserted since we started
  watching keep exact positions whatever came before: a reference to one of them is decoded
  exactly, a reference beyond them is counted as unknown (``HeaderBlock.unknown``) and its field
  left out. Nothing is ever guessed: a field is either decoded exactly or not emitted.
- A literal with incremental indexing is learned (a literal with an unknown indexed *name* is
  learned as a placeholder, so later positions stay exact).
- Eviction only ever removes the oldest entries, so it never shifts a position; ours are evicted by
  the size the encoder last announced (a size update, else the default 4096). Evicting too early
  costs an "unknown" later, never a wrong field; too late costs only memory (never referenced).
- ``lose_state()`` (a gap in the direction, or a block we could not read) forgets every entry and
  goes back to the joined-late state: positions after unseen insertions are no longer known.
"""

from __future__ import annotations

from collections import deque
from typing import Final

Headers = list[tuple[str, str]]

DEFAULT_TABLE_SIZE: Final = 4096
MAX_TABLE_SIZE: Final = 64 * 1024  # our bound on one direction's table, whatever SETTINGS allow
ENTRY_OVERHEAD: Final = 32  # RFC 7541 4.1
SEEN_BLOCKS: Final = 64  # decoded blocks remembered per direction while the table does not change
STATIC: Final = (  # RFC 7541 Appendix A, indexes 1..61
    (':authority', ''), (':method', 'GET'), (':method', 'POST'), (':path', '/'), (':path', '/index.html'),
    (':scheme', 'http'), (':scheme', 'https'), (':status', '200'), (':status', '204'), (':status', '206'),
    (':status', '304'), (':status', '400'), (':status', '404'), (':status', '500'), ('accept-charset', ''),
    ('accept-encoding', 'gzip, deflate'), ('accept-language', ''), ('accept-ranges', ''), ('accept', ''),
    ('access-control-allow-origin', ''), ('age', ''), ('allow', ''), ('authorization', ''),
    ('cache-control', ''), ('content-disposition', ''), ('content-encoding', ''), ('content-language', ''),
    ('content-length', ''), ('content-location', ''), ('content-range', ''), ('content-type', ''),
    ('cookie', ''), ('date', ''), ('etag', ''), ('expect', ''), ('expires', ''), ('from', ''), ('host', ''),
    ('if-match', ''), ('if-modified-since', ''), ('if-none-match', ''), ('if-range', ''),
    ('if-unmodified-since', ''), ('last-modified', ''), ('link', ''), ('location', ''), ('max-forwards', ''),
    ('proxy-authenticate', ''), ('proxy-authorization', ''), ('range', ''), ('referer', ''), ('refresh', ''),
    ('retry-after', ''), ('server', ''), ('set-cookie', ''), ('strict-transport-security', ''),
    ('transfer-encoding', ''), ('user-agent', ''), ('vary', ''), ('via', ''), ('www-authenticate', ''),
)
N_STATIC: Final = len(STATIC)  # 61
_UNKNOWN = None  # a placeholder entry: learned position, unknown name


class HpackError(ValueError):
    """The block is not valid HPACK (truncated, bad Huffman, impossible index)."""


class HeaderBlock:
    """A decoded block. Shared by every stream that sent the same bytes while the table stood
    still (the decoder remembers it): read it, never change it. (A plain class: a dataclass costs
    ~2M instructions to create at import, and its ``__init__`` stays interpreted compiled.)"""

    __slots__ = ("headers", "unknown", "index", "status", "appended")

    def __init__(self, headers: Headers, unknown: int = 0, index: dict[str, str] | None = None,
                 status: int | None = None) -> None:
        self.headers = headers
        self.unknown = unknown  # fields left out: they referenced table entries we never saw
        self.index: dict[str, str] = index if index is not None else {}  # lower-case name -> first value
        self.status = status  # ``:status`` when it is three digits
        self.appended: list[Appended] | None = None  # this block (trailers) appended to others, newest last

    def __repr__(self) -> str:
        return f"HeaderBlock(headers={self.headers!r}, unknown={self.unknown}, status={self.status})"

    @classmethod
    def of(cls, headers: Headers, unknown: int) -> HeaderBlock:
        # Built once per distinct block (what every later use of it reads): names lower-cased, the
        # first value of a name wins (reversed: later duplicates are overwritten by earlier ones).
        index = {name.lower(): value for name, value in reversed(headers)}
        code = index.get(":status")
        # isascii too: str.isdigit also holds for "²" or "٣", which int() rejects or reads as a digit
        status = int(code) if code is not None and len(code) == 3 and code.isascii() and code.isdigit() else None
        return cls(headers, unknown, index, status)


APPENDED_BASES: Final = 4  # joins remembered per trailer block (one per response header block it follows)


class Appended:
    """A block (trailers) appended to the fields before it (``base``): the joined list and index,
    remembered on the block, so streams that repeat both blocks share them as they share the blocks
    (a gRPC call's trailers follow one of a few response header blocks: with and without
    grpc-encoding, say). Read, never changed."""

    __slots__ = ("base", "base_index", "headers", "index")

    def __init__(self, base: Headers, base_index: dict[str, str], block: HeaderBlock) -> None:
        self.base = base
        self.base_index = base_index
        self.headers = base + block.headers
        self.index = dict(block.index)
        self.index.update(base_index)  # the first value of a name wins

    @staticmethod
    def of(base: Headers, base_index: dict[str, str], block: HeaderBlock) -> Appended:
        known = block.appended
        if known is None:
            known = block.appended = []
        for joined in known:
            if joined.base is base and joined.base_index is base_index:
                return joined
        if len(known) >= APPENDED_BASES:
            del known[0]
        joined = Appended(base, base_index, block)
        known.append(joined)
        return joined


class Decoder:
    """One direction's HPACK state. ``joined_late``: we did not see the connection start."""

    __slots__ = ("entries", "size", "max_size", "joined_late", "unknown_refs", "_seen", "_changes")

    def __init__(self, joined_late: bool = False, max_size: int = DEFAULT_TABLE_SIZE) -> None:
        self.entries: deque[tuple[str | None, str, int]] = deque()  # newest first: (name, value, size)
        self.size = 0
        self.max_size = min(max_size, MAX_TABLE_SIZE)
        self.joined_late = joined_late
        self.unknown_refs = 0
        # Blocks decoded since the table last changed. A steady connection (gRPC above all) repeats
        # the same all-indexed block for every call: decoding it again would give the same fields.
        self._seen: dict[bytes, HeaderBlock] = {}
        self._changes = 0  # insertions and size updates so far

    def lose_state(self) -> None:
        """Bytes of this direction were lost: what we knew of the table no longer holds."""
        self._changes += 1
        self.entries.clear()
        self.size = 0
        self.joined_late = True
        self._seen.clear()

    def decode(self, block: bytes) -> HeaderBlock:
        """Decode one complete header block (HEADERS + CONTINUATION fragments joined). The result
        may be shared with earlier and later calls: the caller must not change it."""
        seen = self._seen.get(block)
        if seen is not None:
            self.unknown_refs += seen.unknown
            return seen
        changes = self._changes
        decoded = self._decode(block)
        if changes == self._changes:
            if len(self._seen) >= SEEN_BLOCKS:
                self._seen.clear()
            self._seen[block] = decoded
        else:
            self._seen.clear()  # the table changed: what was decoded before may mean something else now
        return decoded

    def _decode(self, block: bytes) -> HeaderBlock:
        out: Headers = []
        unknown = 0
        pos, end = 0, len(block)
        while pos < end:
            b = block[pos]
            if b & 0x80:  # indexed field
                index, pos = _integer(block, pos, 7)
                field = self._lookup(index)
                if field is None:
                    unknown += 1
                else:
                    out.append(field)
            elif b & 0x40:  # literal with incremental indexing
                name, value, pos = self._literal(block, pos, 6)
                self._add(name, value)
                if name is None:
                    unknown += 1
                else:
                    out.append((name, value))
            elif b & 0x20:  # dynamic table size update
                # The only thing that changes the encoder's table size (SETTINGS merely allow it).
                # Clamped for memory: evicting earlier than the encoder costs unknowns, not errors.
                size, pos = _integer(block, pos, 5)
                if size > MAX_TABLE_SIZE:
                    self.joined_late = True  # references past our bound become unknowns, not errors
                self.max_size = min(size, MAX_TABLE_SIZE)
                self._changes += 1
                self._evict()
            else:  # literal without indexing (0000) or never indexed (0001): same for a reader
                name, value, pos = self._literal(block, pos, 4)
                if name is None:
                    unknown += 1
                else:
                    out.append((name, value))
        self.unknown_refs += unknown
        return HeaderBlock.of(out, unknown)

    # -- pieces -----------------------------------------------------------------------------------
    def _lookup(self, index: int) -> tuple[str, str] | None:
        if index == 0:
            raise HpackError("index 0")
        if index <= N_STATIC:
            return STATIC[index - 1]
        i = index - N_STATIC - 1
        entries = self.entries
        if i < len(entries):
            name, value, _ = entries[i]
            return None if name is None else (name, value)
        if not self.joined_late:
            raise HpackError(f"index {index} beyond the dynamic table ({len(entries)} entries)")
        return None  # an entry from before we started watching

    def _literal(self, block: bytes, pos: int, prefix: int) -> tuple[str | None, str, int]:
        index, pos = _integer(block, pos, prefix)
        if index:
            field = self._lookup(index)
            name = None if field is None else field[0]
        else:
            name, pos = _string(block, pos)
        value, pos = _string(block, pos)
        return name, value, pos

    def _add(self, name: str | None, value: str) -> None:
        self._changes += 1
        # An unknown name's size is unknown: count the least it can be (the entry stays in place).
        size = ENTRY_OVERHEAD + len(value) + (len(name) if name is not None else 0)
        if size > self.max_size:  # RFC 7541 4.4: empties the table
            self.entries.clear()
            self.size = 0
            return
        self.entries.appendleft((name, value, size))
        self.size += size
        self._evict()

    def _evict(self) -> None:
        entries = self.entries
        while self.size > self.max_size and entries:
            self.size -= entries.pop()[2]


def _integer(data: bytes, pos: int, prefix: int) -> tuple[int, int]:
    """RFC 7541 5.1 integer at ``pos``; returns (value, next position)."""
    try:
        mask = (1 << prefix) - 1
        value = data[pos] & mask
        pos += 1
        if value < mask:
            return value, pos
        shift = 0
        while True:
            b = data[pos]
            pos += 1
            value += (b & 0x7F) << shift
            if not b & 0x80:
                return value, pos
            shift += 7
            if shift > 28:  # beyond any length or index we accept
                raise HpackError("integer too long")
    except IndexError:
        raise HpackError("block ends inside an integer") from None


def _string(data: bytes, pos: int) -> tuple[str, int]:
    """RFC 7541 5.2 string literal (Huffman-coded or not) at ``pos``."""
    if pos >= len(data):
        raise HpackError("block ends before a string")
    huffman = data[pos] & 0x80
    length, pos = _integer(data, pos, 7)
    end = pos + length
    if end > len(data):
        raise HpackError("string runs past the block")
    raw = data[pos:end]
    if huffman:
        raw = decode_huffman(raw)
    return raw.decode("latin-1"), end


# RFC 7541 Appendix B: each symbol's code length in bits (0..255, then 256 = EOS). The code is
# canonical (codes given out in order of length, then symbol), so the lengths are the whole code.
HUFFMAN_LENGTHS: Final = (
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6,
    6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8,
    13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15,
    11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23,
    23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26,
    26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21,
    22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27,
    27, 26, 30
)
EOS: Final = 256
SHORT_BITS: Final = 8  # codes up to this long are decoded by one table lookup (every printable ASCII byte's is)
LONGEST: Final = 30


class _HuffmanCode:
    """The canonical code's decoding tables, built at the first Huffman-coded string (~2k steps).

    ``short[next 8 bits]`` is ``symbol * 16 + length`` when a code of at most 8 bits starts there
    (0: a longer one). A longer code of length L is the L bits whose value minus ``first[L]`` is
    below ``count[L]``; it is symbol ``symbols[offset[L] + that]`` (canonical: codes of one length
    are consecutive, in symbol order)."""

    __slots__ = ("short", "first", "count", "offset", "symbols")

    def __init__(self) -> None:
        self.symbols = sorted(range(EOS + 1), key=_code_order)
        self.first = [0] * (LONGEST + 1)
        self.count = [0] * (LONGEST + 1)
        self.offset = [0] * (LONGEST + 1)
        self.short = [0] * (1 << SHORT_BITS)
        code, previous = -1, 0
        for i, symbol in enumerate(self.symbols):
            length = HUFFMAN_LENGTHS[symbol]
            code = (code + 1) << (length - previous)
            previous = length
            if not self.count[length]:
                self.first[length], self.offset[length] = code, i
            self.count[length] += 1
            if length <= SHORT_BITS:
                base = code << (SHORT_BITS - length)
                for peek in range(base, base + (1 << (SHORT_BITS - length))):
                    self.short[peek] = symbol * 16 + length


def _code_order(symbol: int) -> tuple[int, int]:
    return HUFFMAN_LENGTHS[symbol], symbol


_huffman: _HuffmanCode | None = None


def decode_huffman(data: bytes) -> bytes:
    """RFC 7541 5.2 Huffman-coded octets decoded. ``HpackError`` when EOS is inside or the padding
    is not a prefix of EOS (all ones) of at most 7 bits (RFC 7541 5.2)."""
    global _huffman
    code = _huffman
    if code is None:
        code = _huffman = _HuffmanCode()
    short = code.short
    out = bytearray()
    acc = bits = 0  # the bits read and not yet decoded: the low ``bits`` bits of ``acc``
    pos, n = 0, len(data)
    while True:
        if bits < SHORT_BITS:
            if pos < n:
                acc = acc << 8 | data[pos]
                pos += 1
                bits += 8
                continue
            if not bits:
                break
            pad = SHORT_BITS - bits  # the end: a short code may still fit, else this is the padding
            entry = short[acc << pad | ((1 << pad) - 1)]
            if entry and entry & 15 <= bits:
                out.append(entry >> 4)
                bits -= entry & 15
                acc &= (1 << bits) - 1
                continue
            if acc != (1 << bits) - 1:
                raise HpackError("bad Huffman string: padding is not a prefix of EOS")
            break
        entry = short[acc >> (bits - SHORT_BITS)]
        if entry:
            out.append(entry >> 4)
            bits -= entry & 15
            acc &= (1 << bits) - 1
            continue
        while bits < LONGEST and pos < n:
            acc = acc << 8 | data[pos]
            pos += 1
            bits += 8
        symbol, length = _long_code(code, acc, bits)
        if symbol < 0:
            raise HpackError("bad Huffman string: padding over 7 bits")
        if symbol == EOS:
            raise HpackError("bad Huffman string: EOS inside")
        out.append(symbol)
        bits -= length
        acc &= (1 << bits) - 1
    return bytes(out)


def _long_code(code: _HuffmanCode, acc: int, bits: int) -> tuple[int, int]:
    """The symbol and length of the code over 8 bits at the top of ``acc``'s ``bits`` bits; -1 if
    the bits end first (all that is left is more than 7 bits of padding, or not a code)."""
    first, count = code.first, code.count
    for length in range(SHORT_BITS + 1, min(bits, LONGEST) + 1):
        i = (acc >> (bits - length)) - first[length]
        if 0 <= i < count[length]:
            return code.symbols[code.offset[length] + i], length
    return -1, 0
