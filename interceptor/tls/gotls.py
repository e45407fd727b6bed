"""Go crypto/tls probe points: where ``(*Conn).Write``/``Read``/``Close`` start and where they return.

Uretprobes must never be used on Go (the runtime copies goroutine stacks and then finds a foreign
return address: ``fatal error: unknown caller pc``). Instead an entry uprobe plus one uprobe on every
RET instruction of the function. Function bounds come from the ELF symbol table, or, for stripped
binaries (``-ldflags "-s -w"``), from ``.gopclntab``, which the Go runtime itself needs and so is
always there. RETs are found by disassembling the function with capstone: scanning for a 0xC3 byte
would also hit immediates and ModRM bytes, and a uprobe in the middle of an instruction corrupts it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from interceptor.tls.attach import ProbePoint
from interceptor.tls.elf import Elf, ElfError, Symbol

WRITE = "crypto/tls.(*Conn).Write"
READ = "crypto/tls.(*Conn).Read"
CLOSE = "crypto/tls.(*Conn).Close"
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
    entries: dict[str, int] = field(default_factory=dict)  # function name → entry offset
    returns: dict[str, list[int]] = field(default_factory=dict)  # function → RET offsets
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
            syms = elf.find_symbols(FUNCS)
            if WRITE not in syms or READ not in syms:
                syms = pclntab_symbols(elf, FUNCS)
                probes.symbols_from = "gopclntab"
            if WRITE not in syms or READ not in syms:
                return None
            for name, sym in syms.items():
                entry = elf.file_offset(sym.addr)
                if entry is None:
                    continue
                probes.entries[name] = elf.file_offset(entry_probe_address(elf.read(sym.addr, 32), sym.addr))
                if name != CLOSE:
                    rets = ret_addresses(elf.read(sym.addr, sym.size), sym.addr)
                    probes.returns[name] = [o for o in map(elf.file_offset, rets) if o is not None]
            if not probes.returns.get(WRITE) or not probes.returns.get(READ):
                return None
            return probes
    except (OSError, ElfError):
        return None


def entry_probe_address(code: bytes, addr: int) -> int:
    """Where to put the "entry" uprobe: on the prologue's ``jbe`` (to morestack) when the instructions
    before it are the stack check only (``cmp rsp, [r14+16]``, maybe ``lea r12, [rsp-N]``): the
    argument registers are still untouched there, and the kernel emulates a conditional jump, while
    the ``cmp`` at the entry must be single-stepped (one trap more on every call)."""
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    for i, (a, _size, mnem, ops) in enumerate(md.disasm_lite(code, addr)):
        if mnem == "jbe" and i > 0:
            return a
        if i >= 2 or not (mnem == "cmp" and "[r14 + 0x10]" in ops or mnem == "lea" and ops.startswith("r12,")):
            break
    return addr


def ret_addresses(code: bytes, addr: int) -> list[int]:
    """Virtual addresses of the RET instructions in ``code`` (a function's bytes at ``addr``)."""
    import capstone  # installed by scripts/setup.d/ebpf.sh

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.skipdata = True  # go on past padding/odd bytes instead of stopping
    return [a for a, _size, mnem, _ops in md.disasm_lite(code, addr) if mnem in ("ret", "retq")]


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
    """Entry and RET uprobes for a Go binary, or None when it has no crypto/tls to probe."""
    probes = find_go_probes(path)
    if probes is None:
        return None
    entry_fns = {WRITE: "go_write_entry", READ: "go_read_entry", CLOSE: "go_close_entry"}
    entry_fns.update(dict.fromkeys(HANDSHAKES, "go_handshake_entry"))
    points = []
    for name, off in probes.entries.items():
        rets = probes.returns.get(name, [])
        if name in HANDSHAKES and not rets:
            continue  # an entry without its RETs would leave calls behind
        points.append(ProbePoint(off, entry_fns[name]))
        fn = "go_handshake_return" if name in HANDSHAKES else "go_return"
        points += [ProbePoint(ret, fn) for ret in rets]
    return points
