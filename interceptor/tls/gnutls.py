"""GnuTLS probe points: ``gnutls_record_send``/``gnutls_record_recv`` (entry + return), ``gnutls_deinit``.

``gnutls_record_send(session, data, size)`` and ``gnutls_record_recv(session, data, size)`` return
the count (``ssize_t``; negative for errors and ``GNUTLS_E_AGAIN``), the shape of ``SSL_write``/
``SSL_read``, so the OpenSSL return probe copies their data; the session pointer names the
connection and ``gnutls_deinit`` ends it (session pointers are reused). ``gnutls_record_send2`` and
``gnutls_record_recv_seq`` are what those two call or a DTLS variant: probing them too would count
one write twice. Used by gnutls-cli, curl/wget built on GnuTLS, Exim, and many C services.
"""

from __future__ import annotations

import re

from interceptor.tls.attach import ProbePoint
from interceptor.tls.elf import Elf, ElfError

LIBGNUTLS_RE = re.compile(r"/libgnutls\.so(\.[0-9]+)*$")
ENTRY_FNS = {"gnutls_record_send": "gnutls_write_entry", "gnutls_record_recv": "gnutls_read_entry"}
DEINIT = "gnutls_deinit"


def is_libgnutls(path: str) -> bool:
    return bool(LIBGNUTLS_RE.search(path.removesuffix(" (deleted)")))


def probe_points(path: str) -> list[ProbePoint] | None:
    """Where to attach in ``path``, or None if it does not define both record functions."""
    try:
        with Elf(path) as elf:
            syms = elf.find_symbols(set(ENTRY_FNS) | {DEINIT})
            if not set(ENTRY_FNS) <= set(syms):
                return None
            points: list[ProbePoint] = []
            for name, fn in ENTRY_FNS.items():
                if (off := elf.file_offset(syms[name].addr)) is not None:
                    points += [ProbePoint(off, fn), ProbePoint(off, "ssl_return", ret=True)]
            if DEINIT in syms and (off := elf.file_offset(syms[DEINIT].addr)) is not None:
                points.append(ProbePoint(off, "gnutls_deinit_entry"))
            return points or None
    except (OSError, ElfError):
        return None
