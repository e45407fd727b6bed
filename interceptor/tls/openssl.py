"""OpenSSL probe points: SSL_write, SSL_read, SSL_write_ex, SSL_read_ex (entry + return) and SSL_free.

curl uses the first pair, CPython 3.11 the ``_ex`` pair; hooking all four covers both without double
counting (in OpenSSL 3 neither calls the other). ``libssl3.so`` is NSS, not OpenSSL, and is skipped.
Statically linked OpenSSL (an executable defining these symbols) is probed the same way.
"""

from __future__ import annotations

import re

from interceptor.tls.attach import ProbePoint
from interceptor.tls.elf import Elf, ElfError

LIBSSL_RE = re.compile(r"/libssl\.so(\.[0-9]+)*$")
ENTRY_FNS = {
    "SSL_write": "ssl_write_entry",
    "SSL_read": "ssl_read_entry",
    "SSL_write_ex": "ssl_write_ex_entry",
    "SSL_read_ex": "ssl_read_ex_entry",
}
FREE = "SSL_free"


def is_libssl(path: str) -> bool:
    return bool(LIBSSL_RE.search(path.removesuffix(" (deleted)")))


def probe_points(path: str) -> list[ProbePoint] | None:
    """Where to attach in ``path``, or None if it does not define SSL_write and SSL_read."""
    try:
        with Elf(path) as elf:
            syms = elf.find_symbols(set(ENTRY_FNS) | {FREE})
            offsets = {name: elf.file_offset(s.addr) for name, s in syms.items()}
    except (OSError, ElfError):
        return None
    if offsets.get("SSL_write") is None or offsets.get("SSL_read") is None:
        return None
    points = []
    for name, fn in ENTRY_FNS.items():
        off = offsets.get(name)
        if off is not None:
            points += [ProbePoint(off, fn), ProbePoint(off, "ssl_return", ret=True)]
    if offsets.get(FREE) is not None:
        points.append(ProbePoint(offsets[FREE], "ssl_free_entry"))
    return points
