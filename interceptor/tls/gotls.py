"""Go crypto/tls probe points: where ``(*Conn).Write``/``Read``/``Close`` start and where their data is.

Uretprobes must never be used on Go (the runtime copies goroutine stacks and then finds a foreign
return address: ``fatal error: unknown caller pc``). Placement (cheapest first; see x86.py for why
the instruction under a probe matters so much):

- Entry probes sit on the instruction right after the prologue's stack check (``push rbp`` since Go
  1.21: emulated, reached once per call even when the stack grows); else on the check's ``jbe``.
- Write: its data is copied at that entry (Go's Write writes everything or fails): no other probe.
- Read: its data is copied at its one ``call runtime.memmove`` (``copy(b, c.input)``: RBX is the
  decrypted source, RCX the count), a direct call the kernel emulates; only when that call is not
  found, at every RET (single-stepped: found by decoding, each is a trap).

Function bounds come from the ELF symbol table, or, for stripped binaries (``-ldflags "-s -w"``),
from ``.gopclntab``, which the Go runtime itself needs and so is always there.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from interceptor.tls import x86
from interceptor.tls.attach import ProbePoint
from interceptor.tls.elf import Elf, ElfError, Symbol

WRITE = "crypto/tls.(*Conn).Write"
READ = "crypto/tls.(*Conn).Read"
CLOSE = "crypto/tls.(*Conn).Close"
MEMMOVE = "runtime.memmove"  # not probed: its call site in Read is
# Optional: run once per connection (unlike handshakeContext, which every Read/Write calls); their
# socket I/O tells the probes the connection's socket before the first Write.
HANDSHAKES = {"crypto/tls.(*Conn).clientHandshake", "crypto/tls.(*Conn).serverHandshake"}
FUNCS = {WRITE, READ, CLOSE} | HANDSHAKES

EM_X86_64 = 62
PCLN_MAGICS = {0xFFFFFFF0: "1.18", 0xFFFFFFF1: "1.20"}  # Go 1.18+ layouts (register ABI is 1.17+)


@dataclass
class GoProbes:
    """File offsets for the uprobes of one Go binary."""

    path: str
    entries: dict[str, int] = field(default_factory=dict)  # function name → entry probe offset
    once: dict[str, bool] = field(default_factory=dict)  # entry probe reached once per call
    returns: dict[str, list[int]] = field(default_factory=dict)  # function → RET offsets
    read_copy: int | None = None  # Read's call to runtime.memmove
    symbols_from: str = "symtab"


def is_go(elf: Elf) -> bool:
    return elf.section(".gopclntab") is not None or elf.section(".go.buildinfo") is not None


def find_go_probes(path: str) -> GoProbes | None:
    """Probe offsets for ``path``, or None when it is not a Go binary using crypto/tls on x86-64."""
    try:
        with Elf(path) as elf:
            if elf.machine != EM_X86_64 or not is_go(elf):
                return None
            probes = GoProbes(path)
            syms = elf.find_symbols(FUNCS | {MEMMOVE})
            if WRITE not in syms or READ not in syms:
                syms = pclntab_symbols(elf, FUNCS | {MEMMOVE})
                probes.symbols_from = "gopclntab"
            if WRITE not in syms or READ not in syms:
                return None
            for name, sym in syms.items():
                if name == MEMMOVE or elf.file_offset(sym.addr) is None:
                    continue
                code = elf.read(sym.addr, sym.size)
                entry, probes.once[name] = entry_probe_address(code, sym.addr)
                probes.entries[name] = elf.file_offset(entry)
                if name != CLOSE:
                    rets = x86.ret_addresses(code, sym.addr)
                    probes.returns[name] = [o for o in map(elf.file_offset, rets) if o is not None]
                if name == READ and MEMMOVE in syms:
                    copy = read_copy_address(code, sym.addr, syms[MEMMOVE].addr)
                    probes.read_copy = elf.file_offset(copy) if copy is not None else None
            if not probes.returns.get(WRITE) or not probes.returns.get(READ):
                return None
            return probes
    except (OSError, ElfError):
        return None


def entry_probe_address(code: bytes, addr: int) -> tuple[int, bool]:
    """(where to put the "entry" uprobe, whether it is reached once per call).

    The prologue is a stack check (``cmp rsp, [r14+16]``, maybe after ``lea r12, [rsp-N]``), then a
    ``jbe`` to the code that grows the stack and restarts the function. The argument registers are
    untouched up to the instruction after the ``jbe``: there, when the kernel emulates it (``push
    rbp``), the probe is cheap and fires once per call. Else on the ``jbe`` (emulated too, but hit
    again on a restart: probes.c ignores the repeat), else on the first instruction."""
    insns = x86.instructions(code[:48], addr)
    for i, insn in enumerate(insns):
        if insn.mnemonic == "jbe" and i > 0:
            after = next(insns, None)
            return (after.addr, True) if after is not None and x86.emulated(after) else (insn.addr, False)
        stack_check = insn.mnemonic == "cmp" and "[r14 + 0x10]" in insn.operands
        if i >= 2 or not (stack_check or insn.mnemonic == "lea" and insn.operands.startswith("r12,")):
            break
    return addr, False


def read_copy_address(code: bytes, addr: int, memmove: int) -> int | None:
    """The one direct call to runtime.memmove in Read (``copy(b, c.input)``), or None when there is
    not exactly one (another Go version's code shape: the RET probes are used then)."""
    calls = [i.addr for i in x86.instructions(code, addr) if x86.call_target(i) == memmove]
    return calls[0] if len(calls) == 1 else None


def pclntab_symbols(elf: Elf, names: set[str]) -> dict[str, Symbol]:
    """Function bounds from ``.gopclntab`` (Go 1.18+): the function table lists every function's
    entry; its end is the next function's entry."""
    sec = elf.section(".gopclntab")
    if sec is None:
        return {}
    tab = elf.section_bytes(sec)
    if len(tab) < 72:
        return {}
    magic, ptr_size = struct.unpack_from("<I", tab, 0)[0], tab[7]
    if magic not in PCLN_MAGICS or ptr_size != 8:
        return {}
    nfunc, _nfiles, text_start, funcname_off, _cu, _filetab, _pctab, pcln_off = struct.unpack_from(
        "<8Q", tab, 8)
    if text_start == 0:  # filled in by a relocation (dynamically linked/PIE): runtime.text = .text
        text = elf.section(".text")
        text_start = text.addr if text else 0
    wanted = {n.encode(): n for n in names}
    found: dict[str, Symbol] = {}
    functab = pcln_off
    for i in range(nfunc):
        entry_off, func_off = struct.unpack_from("<II", tab, functab + 8 * i)
        name_off = struct.unpack_from("<i", tab, pcln_off + func_off + 4)[0]
        start = funcname_off + name_off
        name = tab[start:tab.index(b"\0", start)]
        if name in wanted:
            next_entry = struct.unpack_from("<I", tab, functab + 8 * (i + 1))[0]
            found[wanted[name]] = Symbol(wanted[name], text_start + entry_off, next_entry - entry_off)
            if len(found) == len(names):
                break
    return found


def probe_points(path: str) -> list[ProbePoint] | None:
    """The uprobes for a Go binary (see the module docstring), or None when it has no crypto/tls."""
    probes = find_go_probes(path)
    if probes is None:
        return None
    points = []
    for name, off in probes.entries.items():
        rets = probes.returns.get(name, [])
        if name == WRITE and probes.once[name]:
            points.append(ProbePoint(off, "go_write_once"))
        elif name == READ and probes.read_copy is not None:
            points += [ProbePoint(off, "go_read_entry"), ProbePoint(probes.read_copy, "go_read_copy")]
        elif name == CLOSE:
            points.append(ProbePoint(off, "go_close_entry"))
        elif name in HANDSHAKES:  # once per connection: the RET traps are affordable
            if rets:  # an entry without its RETs would leave calls behind
                points += [ProbePoint(off, "go_handshake_entry"), *(ProbePoint(r, "go_handshake_return") for r in rets)]
        else:
            fn = "go_write_entry" if name == WRITE else "go_read_entry"
            points += [ProbePoint(off, fn), *(ProbePoint(r, "go_return") for r in rets)]
    return points
