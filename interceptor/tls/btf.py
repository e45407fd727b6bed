"""Struct member offsets of the running kernel, from its BTF (/sys/kernel/btf/vmlinux).

BCC compiles against the kernel headers on disk, and on these machines (as on many nodes) those are
not the running kernel's: a ``task->signal->tty`` written in C reads the wrong bytes. The running
kernel describes its own types in BTF; this reads the few member offsets the probes need and passes
them to the compiler as constants (probes.c reads through them with ``bpf_probe_read_kernel``).
Only the parts of the format needed for that are decoded (struct/union members, skipping the rest).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

VMLINUX = Path("/sys/kernel/btf/vmlinux")
MAGIC = 0xEB9F
STRUCT, UNION = 4, 5
# Bytes after the 12-byte common header, per kind: fixed, plus per vlen item.
FIXED = {1: 4, 3: 12, 14: 4, 17: 4}
PER_ITEM = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}


class BtfError(ValueError):
    """The BTF blob is missing or not understood."""


@dataclass(frozen=True, slots=True)
class RawComposite:
    """Where a struct/union's members are in the type section; decoded only when asked for."""

    pos: int
    vlen: int
    kind_flag: int
    name_off: int
    is_struct: bool


class Btf:
    def __init__(self, data: bytes) -> None:
        if len(data) < 24:
            raise BtfError("BTF blob too short")
        magic, _version, _flags, hdr_len = struct.unpack_from("<HBBI", data)
        if magic != MAGIC:
            raise BtfError("not BTF (bad magic)")
        type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", data, 8)
        self._strings = data[hdr_len + str_off: hdr_len + str_off + str_len]
        self._types = data[hdr_len + type_off: hdr_len + type_off + type_len]
        self.composites: dict[int, RawComposite] = {}
        self._parse()

    def _name(self, off: int) -> str:
        end = self._strings.find(b"\0", off)
        return self._strings[off:end].decode("ascii", "replace")

    def _parse(self) -> None:
        # One pass over the type section, keeping only where composites are (vmlinux has ~100k types).
        types, pos, type_id, unpack = self._types, 0, 1, struct.unpack_from
        fixed, per_item = FIXED, PER_ITEM
        while pos + 12 <= len(types):
            name_off, info = unpack("<II", types, pos)
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            if kind == STRUCT or kind == UNION:
                self.composites[type_id] = RawComposite(pos + 12, vlen, info >> 31, name_off, kind == STRUCT)
            pos += 12 + fixed.get(kind, 0) + per_item.get(kind, 0) * vlen
            type_id += 1

    def _struct_id(self, name: str) -> int | None:
        needle = name.encode()
        for type_id, comp in self.composites.items():
            if comp.is_struct and self._strings.startswith(needle + b"\0", comp.name_off):
                return type_id
        return None

    def offset(self, struct_name: str, member: str) -> int:
        """Byte offset of ``member`` in ``struct_name``, looking into anonymous structs/unions."""
        type_id = self._struct_id(struct_name)
        if type_id is None:
            raise BtfError(f"no struct {struct_name} in BTF")
        found = self._find(type_id, member.encode(), 0)
        if found is None:
            raise BtfError(f"no member {member} in struct {struct_name}")
        return found // 8

    def _find(self, type_id: int, member: bytes, base: int) -> int | None:
        comp = self.composites.get(type_id)
        if comp is None:
            return None
        for i in range(comp.vlen):
            m_name, m_type, m_off = struct.unpack_from("<III", self._types, comp.pos + 12 * i)
            bits = m_off & 0xFFFFFF if comp.kind_flag else m_off
            if m_name and self._strings.startswith(member + b"\0", m_name):
                return base + bits
            if not m_name:  # an anonymous struct/union: its members belong to this one
                inner = self._find(m_type, member, base + bits)
                if inner is not None:
                    return inner
        return None


# (macro, struct, member): what probes.c reads to hold new programs at exec.
NEEDED = (
    ("OFF_TASK_SIGNAL", "task_struct", "signal"),
    ("OFF_SIGNAL_TTY", "signal_struct", "tty"),
    ("OFF_TASK_MM", "task_struct", "mm"),
    ("OFF_MM_EXE_FILE", "mm_struct", "exe_file"),
    ("OFF_FILE_INODE", "file", "f_inode"),
    ("OFF_INODE_INO", "inode", "i_ino"),
    ("OFF_INODE_SB", "inode", "i_sb"),
    ("OFF_SB_DEV", "super_block", "s_dev"),
)


def exec_hold_cflags(path: Path = VMLINUX) -> list[str]:
    """``-DNAME=offset`` for NEEDED; raises BtfError (or OSError) when the kernel has no usable BTF."""
    btf = Btf(path.read_bytes())
    return [f"-D{macro}={btf.offset(s, m)}" for macro, s, m in NEEDED]
