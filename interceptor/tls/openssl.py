"""OpenSSL probe points: the data calls (entry + return) and SSL_free.

curl uses SSL_write/SSL_read, CPython 3.11 the ``_ex`` pair; in OpenSSL (1.1.1 to 3.x) all four are
thin wrappers over two internal functions, ``ssl_write_internal``/``ssl_read_internal(s, buf, num,
size_t *count)``. Those are probed when the wrappers show them (``SSL_*_ex`` calls one with its own
arguments, and ``SSL_write``/``SSL_read`` call the same one) and their first instruction is one the
kernel emulates (a push): an exported wrapper starts with ``sub rsp`` or ``endbr64``, which a uprobe
must single-step (about 20 times the cost here, see x86.py). Otherwise the four wrappers are probed.
Either way no call is counted twice. ``libssl3.so`` is NSS, not OpenSSL, and is skipped. Statically
linked OpenSSL (an executable defining these symbols) is probed the same way.
"""

from __future__ import annotations

import re

from interceptor.tls import x86
from interceptor.tls.attach import ProbePoint
from interceptor.tls.elf import Elf, ElfError, Symbol

LIBSSL_RE = re.compile(r"/libssl\.so(\.[0-9]+)*$")
ENTRY_FNS = {
    "SSL_write": "ssl_write_entry",
    "SSL_read": "ssl_read_entry",
    "SSL_write_ex": "ssl_write_ex_entry",
    "SSL_read_ex": "ssl_read_ex_entry",
}
WRAPPERS = {"ssl_write_ex_entry": ("SSL_write_ex", "SSL_write"), "ssl_read_ex_entry": ("SSL_read_ex", "SSL_read")}
FREE = "SSL_free"
# Instructions a wrapper may run before its call without changing the argument registers.
PRELUDE = re.compile(r"^(endbr64|push \w+|sub rsp, (0x[0-9a-f]+|[0-9]+))$")


def is_libssl(path: str) -> bool:
    return bool(LIBSSL_RE.search(path.removesuffix(" (deleted)")))


def probe_points(path: str) -> list[ProbePoint] | None:
    """Where to attach in ``path``, or None if it does not define SSL_write and SSL_read."""
    try:
        with Elf(path) as elf:
            syms = elf.find_symbols(set(ENTRY_FNS) | {FREE})
            if "SSL_write" not in syms or "SSL_read" not in syms:
                return None
            points, covered = [], set()
            for fn, wrappers in WRAPPERS.items():
                inner = internal_function(elf, syms, *wrappers)
                if inner is not None and (off := elf.file_offset(inner)) is not None:
                    points += [ProbePoint(off, fn), ProbePoint(off, "ssl_return", ret=True)]
                    covered.update(wrappers)
            for name, fn in ENTRY_FNS.items():
                if name in syms and name not in covered and (off := elf.file_offset(syms[name].addr)) is not None:
                    points += [ProbePoint(off, fn), ProbePoint(off, "ssl_return", ret=True)]
            if FREE in syms and (off := elf.file_offset(syms[FREE].addr)) is not None:
                points.append(ProbePoint(off, "ssl_free_entry"))
            return points
    except (OSError, ElfError):
        return None


def internal_function(elf: Elf, syms: dict[str, Symbol], ex_name: str, plain_name: str) -> int | None:
    """The address of the internal function both wrappers call, when it can be probed at its entry
    with the wrappers' arguments (see the module docstring), else None."""
    if ex_name not in syms or plain_name not in syms:
        return None
    ex = syms[ex_name]
    target = None
    for insn in x86.instructions(elf.read(ex.addr, ex.size), ex.addr):
        target = x86.call_target(insn)
        if target is not None or not PRELUDE.match(f"{insn.mnemonic} {insn.operands}".strip()):
            break
    if target is None or elf.file_offset(target) is None:
        return None
    plain = syms[plain_name]
    if not any(x86.call_target(i) == target for i in x86.instructions(elf.read(plain.addr, plain.size), plain.addr)):
        return None
    first = next(x86.instructions(elf.read(target, 16), target), None)
    return target if first is not None and x86.emulated(first) else None
