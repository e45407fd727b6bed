"""HPACK header-block decoding for a passive observer (RFC 7541), tolerant of a dynamic table it
cannot know.

``hpack.Decoder`` (python-hyper) is an endpoint's decoder: it raises ``InvalidTableIndex`` on the
first reference to an entry it never saw and its state is unusable afterwards, so a connection
joined mid-way (agent started late, capture began late) or one with capture loss yields nothing.
This decoder keeps hpack's static table and Huffman code but owns the dynamic table so that it can
say *which* fields it does not know instead of failing:

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

from hpack.huffman_table import decode_huffman
from hpack.table import HeaderTable

Headers = list[tuple[str, str]]

DEFAULT_TABLE_SIZE: Final = 4096
MAX_TABLE_SIZE: Final = 64 * 1024  # our bound on one direction's table, whatever SETTINGS allow
ENTRY_OVERHEAD: Final = 32  # RFC 7541 4.1
SEEN_BLOCKS: Final = 64  # decoded blocks remembered per direction while the table does not change
STATIC: Final = tuple(
    (n.decode("latin-1"), v.decode("latin-1")) for n, v in HeaderTable.STATIC_TABLE
)
N_STATIC: Final = len(STATIC)  # 61
_UNKNOWN = None  # a placeholder entry: learned position, unknown name


class HpackError(ValueError):
    """The block is not valid HPACK (truncated, bad Huffman, impossible index)."""


class HeaderBlock:
    """A decoded block. Shared by every stream that sent the same bytes while the table stood
    still (the decoder remembers it): read it, never change it. (A plain class: a dataclass costs
    ~2M instructions to create at import, and its ``__init__`` stays interpreted compiled.)"""

    __slots__ = ("headers", "unknown", "index", "status")

    def __init__(self, headers: Headers, unknown: int = 0, index: dict[str, str] | None = None,
                 status: int | None = None) -> None:
        self.headers = headers
        self.unknown = unknown  # fields left out: they referenced table entries we never saw
        self.index: dict[str, str] = index if index is not None else {}  # lower-case name -> first value
        self.status = status  # ``:status`` when it is three digits

    def __repr__(self) -> str:
        return f"HeaderBlock(headers={self.headers!r}, unknown={self.unknown}, status={self.status})"

    @classmethod
    def of(cls, headers: Headers, unknown: int) -> HeaderBlock:
        # Built once per distinct block (what every later use of it reads): names lower-cased, the
        # first value of a name wins (reversed: later duplicates are overwritten by earlier ones).
        index = {name.lower(): value for name, value in reversed(headers)}
        code = index.get(":status")
        status = int(code) if code is not None and len(code) == 3 and code.isdigit() else None
        return cls(headers, unknown, index, status)


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
        try:
            raw = decode_huffman(raw)
        except Exception as e:  # hpack's HPACKDecodingError: bad padding or EOS inside
            raise HpackError(f"bad Huffman string: {e}") from None
    return raw.decode("latin-1"), end
