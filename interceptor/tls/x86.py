"""x86-64 instructions as far as probe placement needs them: decoding (capstone), RETs, direct call
targets, and which instructions the kernel *emulates* when a uprobe sits on them.

Why placement matters: a uprobe traps on its instruction and then either emulates it (pushes, direct
jumps and calls, conditional jumps, NOPs) or executes it out of line with a single-step trap. The
single-step costs about 11 µs per hit on the VMs measured here against 0.3–0.6 µs for an emulated
instruction (bench/tls, docs/tls.md), so the probes sit on emulated instructions wherever the
arguments or results they need are still in registers there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

JCC_SHORT = range(0x70, 0x80)
JCC_NEAR = range(0x80, 0x90)  # after 0x0f
PUSH_REG = range(0x50, 0x58)  # optionally after a REX.B prefix 0x41
LEGACY_PREFIXES = {0x66, 0xF2, 0xF3, 0x2E, 0x3E}  # branch hints, operand size (as in nopw)


class Insn(NamedTuple):
    addr: int
    size: int
    mnemonic: str
    operands: str
    raw: bytes


def instructions(code: bytes, addr: int) -> Iterator[Insn]:
    """The instructions of ``code`` (a function's bytes at virtual address ``addr``)."""
    import capstone  # installed by scripts/setup.d/run/ebpf.sh

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.skipdata = True  # go on past padding/odd bytes instead of stopping
    for a, size, mnem, ops in md.disasm_lite(code, addr):
        yield Insn(a, size, mnem, ops, code[a - addr:a - addr + size])


def emulated(insn: Insn) -> bool:
    """True when the kernel emulates ``insn`` under a uprobe instead of single-stepping it: register
    pushes (Linux 6.x), direct calls and jumps, conditional jumps, NOPs."""
    raw = insn.raw.lstrip(bytes(LEGACY_PREFIXES))
    if not raw:
        return False
    op = raw[0]
    if op in PUSH_REG or op == 0x41 and len(raw) > 1 and raw[1] in PUSH_REG:
        return True
    if op in (0xE8, 0xE9, 0xEB, 0x90) or op in JCC_SHORT:
        return True
    return op == 0x0F and len(raw) > 1 and (raw[1] in JCC_NEAR or raw[1] == 0x1F)


def call_target(insn: Insn) -> int | None:
    """The target of a direct ``call rel32``, else None."""
    if insn.mnemonic == "call" and insn.raw[:1] == b"\xe8":
        return int(insn.operands, 16)
    return None


def ret_addresses(code: bytes, addr: int) -> list[int]:
    """Virtual addresses of the RET instructions in ``code``: found by decoding, since a 0xC3 byte may
    also be part of an immediate or ModRM byte, and a uprobe in mid-instruction corrupts it."""
    return [i.addr for i in instructions(code, addr) if i.mnemonic in ("ret", "retq")]
