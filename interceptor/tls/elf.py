"""Just enough ELF64 (little-endian) to place uprobes: sections, symbols, virtual address → file offset.

Uprobes are attached by *file offset*, so every symbol address found here (``.dynsym``/``.symtab``
or Go's ``.gopclntab``) goes through :meth:`Elf.file_offset` via the PT_LOAD program headers.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass

PT_LOAD = 1
PT_DYNAMIC = 2
DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 1, 5, 15, 29
SHT_SYMTAB = 2
SHT_DYNSYM = 11
STT_FUNC = 2


class ElfError(ValueError):
    """Not an ELF64 little-endian file, or a truncated one."""


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    addr: int  # virtual address
    size: int


@dataclass(frozen=True, slots=True)
class Linkage:
    needed: tuple[str, ...]  # DT_NEEDED names, in order
    search: tuple[str, ...]  # DT_RUNPATH (or DT_RPATH) directories, $ORIGIN unexpanded


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    type: int
    addr: int
    offset: int
    size: int
    link: int


class Elf:
    """An ELF file mapped read-only; close() (or use as a context manager) when done."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "rb") as f:
            try:
                self.data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError as e:  # empty file
                raise ElfError(f"{path}: {e}") from None
        try:
            self._parse_header()
        except (struct.error, IndexError) as e:
            self.close()
            raise ElfError(f"{path}: truncated ELF ({e})") from None

    def __enter__(self) -> Elf:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.data.close()

    def _parse_header(self) -> None:
        d = self.data
        if d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
            raise ElfError(f"{self.path}: not an ELF64 little-endian file")
        (self.type, self.machine) = struct.unpack_from("<HH", d, 16)
        phoff, shoff = struct.unpack_from("<QQ", d, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", d, 54)
        self.loads = []  # (vaddr, memsz, offset, filesz)
        self.dynamic_at: tuple[int, int] | None = None  # (offset, size) of PT_DYNAMIC
        for i in range(phnum):
            p_type, _flags, p_off, p_vaddr, _paddr, p_filesz, p_memsz, _align = struct.unpack_from(
                "<IIQQQQQQ", d, phoff + i * phentsize)
            if p_type == PT_LOAD:
                self.loads.append((p_vaddr, p_memsz, p_off, p_filesz))
            elif p_type == PT_DYNAMIC:
                self.dynamic_at = (p_off, p_filesz)
        raw = []
        for i in range(shnum):
            raw.append(struct.unpack_from("<IIQQQQII", d, shoff + i * shentsize))
        names = raw[shstrndx][4] if raw else 0
        self.sections: list[Section] = []
        for name_off, sh_type, _flags, addr, off, size, link, _info in raw:
            self.sections.append(Section(self._cstr(names + name_off), sh_type, addr, off, size, link))

    def _cstr(self, off: int) -> str:
        end = self.data.find(b"\0", off)
        return self.data[off:end].decode("utf-8", "replace")

    def linkage(self) -> Linkage:
        """The libraries this file names (DT_NEEDED) and where it asks for them to be searched
        (DT_RUNPATH, else DT_RPATH); empty for a static executable."""
        if self.dynamic_at is None:
            return Linkage((), ())
        off, size = self.dynamic_at
        entries: list[tuple[int, int]] = []
        try:
            for tag, val in struct.iter_unpack("<qQ", self.data[off:off + size - size % 16]):
                if tag == 0:  # DT_NULL
                    break
                entries.append((tag, val))
        except struct.error:
            raise ElfError(f"{self.path}: truncated dynamic section") from None
        strtab = next((self.file_offset(v) for t, v in entries if t == DT_STRTAB), None)
        if strtab is None:
            return Linkage((), ())
        needed = tuple(self._cstr(strtab + v) for t, v in entries if t == DT_NEEDED)
        runpath = [self._cstr(strtab + v) for t, v in entries if t == DT_RUNPATH]
        rpath = runpath or [self._cstr(strtab + v) for t, v in entries if t == DT_RPATH]
        return Linkage(needed, tuple(d for p in rpath for d in p.split(":") if d))

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def section_bytes(self, sec: Section) -> bytes:
        return self.data[sec.offset:sec.offset + sec.size]

    def file_offset(self, vaddr: int) -> int | None:
        """The file offset holding virtual address ``vaddr`` (what a uprobe is attached by)."""
        for v, memsz, off, filesz in self.loads:
            if v <= vaddr < v + min(memsz, filesz):
                return vaddr - v + off
        return None

    def read(self, vaddr: int, n: int) -> bytes:
        off = self.file_offset(vaddr)
        if off is None:
            raise ElfError(f"{self.path}: address {vaddr:#x} is not in the file")
        return self.data[off:off + n]

    def find_symbols(self, names: set[str]) -> dict[str, Symbol]:
        """Function symbols named in ``names``, from .symtab and .dynsym (defined ones only).

        Looks the names up in the string table first, so a Go binary's 50,000 symbols are not all
        decoded."""
        found: dict[str, Symbol] = {}
        for sec in self.sections:
            if sec.type not in (SHT_SYMTAB, SHT_DYNSYM) or sec.link >= len(self.sections):
                continue
            strtab = self.sections[sec.link]
            strs = self.data[strtab.offset:strtab.offset + strtab.size]
            wanted = {}
            for name in names - found.keys():
                needle = b"\0" + name.encode() + b"\0"
                pos = strs.find(needle)
                while pos >= 0:
                    wanted[pos + 1] = name
                    pos = strs.find(needle, pos + 1)
            if not wanted:
                continue
            table = self.data[sec.offset:sec.offset + sec.size]
            for st_name, st_info, _other, shndx, value, size in struct.iter_unpack("<IBBHQQ", table):
                name = wanted.get(st_name)
                if name and shndx != 0 and value and (st_info & 0xF) == STT_FUNC:
                    found.setdefault(name, Symbol(name, value, size))
        return found
