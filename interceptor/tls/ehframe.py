"""Function extents from an ELF's unwind tables (``.eh_frame_hdr`` + ``.eh_frame``), for files
whose symbols are stripped.

Every function a C++ library may unwind through has an FDE: its exact start and size. The FDE's
first call-frame rules also tell a real entry from a part split off a function (GCC's ``.cold``
blocks, reached by a jump from inside the function): at an entry nothing has been pushed yet, so
the canonical frame address is ``rsp + 8`` (just the return address) before any instruction runs;
a split-off part starts with the caller's frame already set up (a larger offset). A uprobe is
placed only at an entry (:func:`function_at` says which).
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass

from interceptor.tls.elf import Elf

RSP, RA = 7, 16  # DWARF register numbers on x86-64
DW_EH_PE_OMIT = 0xFF


class EhFrameError(ValueError):
    """An unwind table this module does not read (an encoding it does not know, a bad offset)."""


@dataclass(frozen=True, slots=True)
class Function:
    start: int  # virtual address
    size: int
    entry: bool  # CFA = rsp + 8 at ``start``: a function entered by a call, not a split-off part

    @property
    def end(self) -> int:
        return self.start + self.size


def _leb(d: bytes | memoryview, p: int, signed: bool = False) -> tuple[int, int]:
    """A (U/S)LEB128 number at ``p``, and the offset after it."""
    value = shift = 0
    while True:
        b = d[p]
        p += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return (value - (1 << shift) if signed and b & 0x40 else value), p


def _uleb(d: bytes | memoryview, p: int) -> tuple[int, int]:
    return _leb(d, p)


def _sleb(d: bytes | memoryview, p: int) -> tuple[int, int]:
    return _leb(d, p, signed=True)


class UnwindTable:
    """The sorted FDE start table of ``.eh_frame_hdr`` and lazy FDE decoding."""

    def __init__(self, elf: Elf) -> None:
        hdr, self.frame = elf.section(".eh_frame_hdr"), elf.section(".eh_frame")
        if hdr is None or self.frame is None:
            raise EhFrameError(f"{elf.path}: no .eh_frame_hdr")
        self.d = elf.data
        self.hdr_addr = hdr.addr
        o = hdr.offset
        version, ptr_enc, count_enc, table_enc = self.d[o:o + 4]
        # The layout every toolchain writes: a pcrel sdata4 frame pointer, udata4 count, and a
        # datarel sdata4 table of (initial location, FDE address) pairs.
        if version != 1 or ptr_enc != 0x1B or count_enc != 0x03 or table_enc != 0x3B:
            raise EhFrameError(f"{elf.path}: .eh_frame_hdr encoding {ptr_enc:#x}/{count_enc:#x}/{table_enc:#x}")
        (count,) = struct.unpack_from("<I", self.d, o + 8)
        table = struct.unpack_from(f"<{2 * count}i", self.d, o + 12)
        self.starts = [hdr.addr + table[i] for i in range(0, 2 * count, 2)]
        self.fdes = [hdr.addr + table[i] for i in range(1, 2 * count, 2)]
        self._cies: dict[int, tuple[int, bool, int]] = {}

    def _frame_offset(self, vaddr: int) -> int:
        assert self.frame is not None
        off = vaddr - self.frame.addr
        if not 0 <= off < self.frame.size:
            raise EhFrameError(f"FDE address {vaddr:#x} outside .eh_frame")
        return self.frame.offset + off

    def function_at(self, addr: int) -> Function | None:
        """The function (FDE) containing ``addr``, or None."""
        i = bisect.bisect_right(self.starts, addr) - 1
        if i < 0:
            return None
        fn = self._fde(self.fdes[i])
        return fn if fn.start <= addr < fn.end else None

    def _fde(self, vaddr: int) -> Function:
        d, p = self.d, self._frame_offset(vaddr)
        (length,) = struct.unpack_from("<I", d, p)
        if length in (0, 0xFFFFFFFF):
            raise EhFrameError(f"FDE at {vaddr:#x}: length {length:#x}")
        end = p + 4 + length
        (cie_ptr,) = struct.unpack_from("<I", d, p + 4)
        cie_off = p + 4 - cie_ptr
        enc, has_aug, cfa_offset = self._cie(cie_off)
        q = p + 8
        (begin,) = struct.unpack_from("<i", d, q)
        start = vaddr + (q - p) + begin if enc & 0x70 == 0x10 else begin
        (size,) = struct.unpack_from("<I", d, q + 4)
        q += 8
        if has_aug:
            n, q = _uleb(d, q)
            q += n
        offset = _entry_cfa(d, q, end, cfa_offset)
        return Function(start, size, offset == 8)

    def _cie(self, off: int) -> tuple[int, bool, int]:
        """(FDE pointer encoding, whether FDEs carry augmentation data, CFA offset after the CIE's
        initial instructions, or -1 when they do not say rsp + N)."""
        if off in self._cies:
            return self._cies[off]
        d = self.d
        (length,) = struct.unpack_from("<I", d, off)
        end = off + 4 + length
        p = off + 8
        version = d[p]
        p += 1
        aug_end = d.find(b"\0", p)
        aug = bytes(d[p:aug_end]).decode("ascii", "replace")
        p = aug_end + 1
        if "eh" in aug:
            raise EhFrameError(f"CIE augmentation {aug!r}")
        _code_align, p = _uleb(d, p)
        _data_align, p = _sleb(d, p)
        if version == 1:
            p += 1
        else:
            _ra, p = _uleb(d, p)
        enc = 0x00
        if aug.startswith("z"):
            n, p = _uleb(d, p)
            data_end = p + n
            for ch in aug[1:]:
                if ch == "R":
                    enc = d[p]
                    p += 1
                elif ch == "L":
                    p += 1
                elif ch == "P":
                    penc = d[p]
                    p += 1 + _pointer_size(penc)
                elif ch not in "SB":
                    raise EhFrameError(f"CIE augmentation {aug!r}")
            p = data_end
        if enc & 0x0F != 0x0B:  # sdata4, pcrel or absolute: what x86-64 toolchains write
            raise EhFrameError(f"FDE pointer encoding {enc:#x}")
        cie = (enc, aug.startswith("z"), _entry_cfa(d, p, end, None))
        self._cies[off] = cie
        return cie


def _pointer_size(enc: int) -> int:
    fmt = enc & 0x0F
    sizes = {0x02: 2, 0x03: 4, 0x04: 8, 0x0A: 2, 0x0B: 4, 0x0C: 8, 0x00: 8}
    if fmt not in sizes:
        raise EhFrameError(f"personality encoding {enc:#x}")
    return sizes[fmt]


def _entry_cfa(d: bytes | memoryview, p: int, end: int, offset: int | None) -> int:
    """The CFA offset from rsp once the rules before the first location advance are applied
    (starting from ``offset``; None: not yet defined). -1 when the CFA is not rsp + N there or an
    instruction is not understood: such a start is not treated as an entry."""
    reg = RSP if offset is not None else None
    cur = offset if offset is not None else -1
    while p < end:
        op = d[p]
        p += 1
        hi = op & 0xC0
        if hi == 0x40 or op in (0x02, 0x03, 0x04):  # advance_loc*: the rules at the start are known
            break
        if hi == 0x80:  # offset(reg): a saved register, the CFA is unchanged
            _, p = _uleb(d, p)
        elif hi == 0xC0 or op in (0x00, 0x0A, 0x0B):  # restore(reg), nop, remember/restore state
            continue
        elif op == 0x0C:  # def_cfa reg, off
            r, p = _uleb(d, p)
            cur, p = _uleb(d, p)
            reg = r
        elif op == 0x0E:  # def_cfa_offset
            cur, p = _uleb(d, p)
        elif op == 0x0D:  # def_cfa_register
            reg, p = _uleb(d, p)
        elif op in (0x05, 0x09, 0x11, 0x14, 0x15):  # two operands, CFA unchanged
            _, p = _uleb(d, p)
            _, p = _uleb(d, p)
        elif op in (0x06, 0x07, 0x08, 0x2E):  # one operand, CFA unchanged
            _, p = _uleb(d, p)
        elif op == 0x10 or op == 0x16:  # expression(reg, block): the CFA is unchanged
            _, p = _uleb(d, p)
            n, p = _uleb(d, p)
            p += n
        else:  # def_cfa_expression, *_sf forms and anything unknown: not a plain entry
            return -1
    return cur if reg == RSP else -1
