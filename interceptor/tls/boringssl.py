"""BoringSSL without symbols (grpcio's ``cygrpc*.so``): ``SSL_write``/``SSL_read``/``SSL_new`` found
by their error-reporting call sites.

grpcio links BoringSSL into its Cython extension with hidden visibility and strips the file, so no
symbol names these functions. What the build keeps is BoringSSL's error reporting:
``OPENSSL_PUT_ERROR(SSL, reason)`` compiles to ``ERR_put_error(ERR_LIB_SSL, 0, reason, __FILE__,
__LINE__)``, i.e. ``edi = 16, esi = 0, edx = reason, rcx = "…/ssl/ssl_lib.cc", r8d = line`` right
before the call. The reason codes are public, stable constants of ``<openssl/ssl.h>``/``err.h``; the
line numbers change between versions, their order within a function does not. Functions come from
the unwind table (interceptor/tls/ehframe.py): exact starts, and a split-off ``.cold`` part is never
taken for an entry. The signatures, each of which must match exactly one function or nothing is
attached:

- ``SSL_write``: its only ssl_lib.cc sites are, in line order, SHOULD_NOT_HAVE_BEEN_CALLED (a QUIC
  connection), UNINITIALIZED, SSL_HANDSHAKE_FAILURE, BAD_LENGTH — no other function of the file
  reports BAD_LENGTH after a failed implicit handshake.
- ``SSL_read``: ``SSL_peek`` (defined just before ``SSL_write``) reports SHOULD_NOT_HAVE_BEEN_CALLED
  once; the compiler inlines it into ``SSL_read``, so exactly two functions hold that one site at
  that line, and ``SSL_read`` is the one that calls everything the other does and more (it also
  discards the consumed read buffer). One function only (not inlined) or any other shape: no probe.
- ``SSL_new``: the one function reporting NULL_SSL_CTX. Its return names a new connection's SSL*
  (the probe ends any stream a freed and reused pointer still names); optional.

Nothing is attached when any step is unclear; :class:`Found` says why (``reason``), and the source
counts it (``tls.boringssl.no_signature``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from interceptor.tls import x86
from interceptor.tls.attach import ProbePoint
from interceptor.tls.ehframe import EhFrameError, Function, UnwindTable
from interceptor.tls.elf import Elf, ElfError

# grpcio's Cython extension (the wheel's BoringSSL); other stripped BoringSSL builds are not looked at.
CYGRPC_RE = re.compile(r"/cygrpc\.[^/]*\.so$")
FILE_SUFFIX = b"/ssl/ssl_lib.cc\0"
ERR_LIB_SSL = 16
SHOULD_NOT_HAVE_BEEN_CALLED = 66  # ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED (2 | ERR_R_FATAL)
BAD_LENGTH, NULL_SSL_CTX, SSL_HANDSHAKE_FAILURE, UNINITIALIZED = 111, 185, 215, 226  # SSL_R_*
WRITE_SIGNATURE = (SHOULD_NOT_HAVE_BEEN_CALLED, UNINITIALIZED, SSL_HANDSHAKE_FAILURE, BAD_LENGTH)
MAX_SPAN = 60  # lines: the sites of one signature are within one short function
MAX_FUNCTION = 1 << 16  # bytes: larger "functions" are not disassembled
# RIP-relative LEA into any 64-bit register: REX.W (+R) 8D, ModRM mod=00 rm=101.
LEA_RIP = re.compile(rb"[\x48\x4c]\x8d[\x05\x0d\x15\x1d\x25\x2d\x35\x3d]", re.DOTALL)
WINDOW = 10  # instructions looked at before a call for its arguments
ARGS = {"edi": "edi", "rdi": "edi", "esi": "esi", "rsi": "esi", "edx": "edx", "rdx": "edx",
        "rcx": "rcx", "ecx": "rcx", "r8d": "r8d", "r8": "r8d"}
IMM = re.compile(r"^(0x[0-9a-f]+|[0-9]+)$")
RIP_DISP = re.compile(r"\[rip ([+-]) (0x[0-9a-f]+|[0-9]+)\]")


def is_cygrpc(path: str) -> bool:
    return bool(CYGRPC_RE.search(path.removesuffix(" (deleted)")))


@dataclass(frozen=True, slots=True)
class Site:
    line: int
    reason: int


@dataclass
class Analysed:
    """One function that mentions ssl_lib.cc: its error sites and its direct call targets."""

    fn: Function
    sites: list[Site] = field(default_factory=list)
    candidates: list[tuple[int, Site]] = field(default_factory=list)  # (called function, site) before the check
    calls: set[int] = field(default_factory=set)
    unclear: bool = False  # the file is referenced where no complete call site could be read


@dataclass(frozen=True, slots=True)
class Found:
    """The functions found (virtual addresses), or the reason none were."""

    ssl_write: int | None = None
    ssl_read: int | None = None
    ssl_new: int | None = None
    reason: str = ""


def probe_points(path: str) -> list[ProbePoint] | None:
    """Where to attach in a stripped BoringSSL, or None (nothing found for sure)."""
    try:
        with Elf(path) as elf:
            found = find(elf)
            if found.ssl_write is None or found.ssl_read is None:
                return None
            points: list[ProbePoint] = []
            for addr, fn in ((found.ssl_write, "boringssl_write_entry"), (found.ssl_read, "boringssl_read_entry")):
                off = elf.file_offset(addr)
                if off is None:
                    return None
                points += [ProbePoint(off, fn), ProbePoint(off, "ssl_return", ret=True)]
            if found.ssl_new is not None and (off := elf.file_offset(found.ssl_new)) is not None:
                points.append(ProbePoint(off, "boringssl_new_return", ret=True))
            return points
    except (OSError, ElfError, EhFrameError, IndexError, ValueError):
        return None


def find(elf: Elf) -> Found:
    """The signatures of the module docstring applied to ``elf``."""
    files = _file_strings(elf)
    if not files:
        return Found(reason="no_boringssl_ssl_lib")
    table = UnwindTable(elf)
    analysed = _analyse(elf, table, files)
    if not analysed:
        return Found(reason="no_error_sites")
    write = [a for a in analysed if _sorted(a) == list(WRITE_SIGNATURE) and _span(a) <= MAX_SPAN]
    if len(write) != 1 or not write[0].fn.entry:
        return Found(reason=f"ssl_write_matches_{len(write)}")
    first = min(s.line for s in write[0].sites)
    read = _ssl_read(analysed, first)
    if read is None:
        return Found(ssl_write=write[0].fn.start, reason="ssl_read_not_unique")
    new = [a for a in analysed if [s.reason for s in a.sites] == [NULL_SSL_CTX] and a.fn.entry and not a.unclear]
    ssl_new = new[0].fn.start if len(new) == 1 else None
    return Found(write[0].fn.start, read.fn.start, ssl_new)


def _sorted(a: Analysed) -> list[int] | None:
    return None if a.unclear else [s.reason for s in sorted(a.sites, key=lambda s: s.line)]


def _span(a: Analysed) -> int:
    lines = [s.line for s in a.sites]
    return max(lines) - min(lines)


def _ssl_read(analysed: list[Analysed], write_line: int) -> Analysed | None:
    """SSL_peek's QUIC check is the last SHOULD_NOT_HAVE_BEEN_CALLED before SSL_write's first site;
    exactly SSL_peek and SSL_read (SSL_peek inlined) hold it, SSL_read calling a strict superset."""
    lines = [s.line for a in analysed for s in a.sites
             if s.reason == SHOULD_NOT_HAVE_BEEN_CALLED and s.line < write_line]
    if not lines or write_line - max(lines) > MAX_SPAN:
        return None
    peek_line = max(lines)
    holders = [a for a in analysed if a.sites == [Site(peek_line, SHOULD_NOT_HAVE_BEEN_CALLED)] and not a.unclear]
    if len(holders) != 2 or not all(a.fn.entry for a in holders):
        return None
    a, b = holders
    if a.calls < b.calls:
        return b
    if b.calls < a.calls:
        return a
    return None


def _file_strings(elf: Elf) -> set[int]:
    """Virtual addresses of the NUL-terminated strings ending in ``/ssl/ssl_lib.cc``."""
    out = set()
    for sec in elf.sections:
        if sec.name not in (".rodata", ".rodata.str1.1", ".rodata.str1.8") or not sec.addr:
            continue
        data = elf.data[sec.offset:sec.offset + sec.size]
        pos = data.find(FILE_SUFFIX)
        while pos >= 0:
            start = data.rfind(b"\0", 0, pos) + 1
            out.add(sec.addr + start)
            pos = data.find(FILE_SUFFIX, pos + 1)
    return out


def _analyse(elf: Elf, table: UnwindTable, files: set[int]) -> list[Analysed]:
    text = elf.section(".text")
    if text is None:
        return []
    code = elf.data[text.offset:text.offset + text.size]
    functions: dict[int, Function] = {}
    for m in LEA_RIP.finditer(code):
        p = m.start()
        disp = int.from_bytes(code[p + 3:p + 7], "little", signed=True)
        if text.addr + p + 7 + disp in files:
            fn = table.function_at(text.addr + p)
            if fn is not None and fn.size <= MAX_FUNCTION:
                functions.setdefault(fn.start, fn)
    out = [_sites(elf, fn, files) for fn in functions.values()]
    # The reporting function is the one almost every site calls; a "site" calling another is not one.
    report = Counter(t for a in out for t, _ in a.candidates).most_common(1)
    target = report[0][0] if report else None
    for a in out:
        a.sites = [s for t, s in a.candidates if t == target]
        if len(a.sites) != len(a.candidates):
            a.unclear = True
    return out


def _sites(elf: Elf, fn: Function, files: set[int]) -> Analysed:
    insns = list(x86.instructions(elf.read(fn.start, fn.size), fn.start))
    targets = {int(i.operands, 16) for i in insns if i.mnemonic.startswith("j") and IMM.match(i.operands)}
    a = Analysed(fn)
    refs = 0
    for k, insn in enumerate(insns):
        if _lea_target(insn) in files:
            refs += 1
        target = x86.call_target(insn)
        if target is None:
            continue
        a.calls.add(target)
        regs = _call_args(insns, k, targets)
        if regs.get("rcx") in files:
            if regs.get("edi") == ERR_LIB_SSL and regs.get("esi") == 0 and "edx" in regs and "r8d" in regs:
                a.candidates.append((target, Site(regs["r8d"], regs["edx"])))
            else:
                a.unclear = True
    if refs != len(a.candidates):
        a.unclear = True  # a reference to the file that is not a readable call site
    return a


def _lea_target(insn: x86.Insn) -> int | None:
    if insn.mnemonic != "lea":
        return None
    m = RIP_DISP.search(insn.operands)
    if m is None:
        return None
    disp = int(m.group(2), 0)
    return insn.addr + insn.size + (disp if m.group(1) == "+" else -disp)


def _call_args(insns: list[x86.Insn], k: int, jump_targets: set[int]) -> dict[str, int]:
    """The argument registers set to constants in the straight-line code just before call ``k``:
    the last write before the call wins; code reached by a jump is where the block starts."""
    regs: dict[str, int] = {}
    unknown: set[str] = set()
    for insn in reversed(insns[max(0, k - WINDOW):k]):
        if insn.mnemonic in ("call", "ret") or insn.mnemonic.startswith("j"):
            break
        dst, _, src = insn.operands.partition(", ")
        reg = ARGS.get(dst)
        if reg is not None and reg not in regs and reg not in unknown:
            value = _constant(insn, src)
            if value is None:
                unknown.add(reg)
            else:
                regs[reg] = value
        if insn.addr in jump_targets:
            break
    return regs


def _constant(insn: x86.Insn, src: str) -> int | None:
    if insn.mnemonic == "mov" and IMM.match(src):
        return int(src, 0)
    if insn.mnemonic == "xor" and insn.operands.split(", ") == [insn.operands.split(", ")[0]] * 2:
        return 0
    if insn.mnemonic == "lea":
        return _lea_target(insn)
    return None
