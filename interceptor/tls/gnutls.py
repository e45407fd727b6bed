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

from interceptor.tls.attach import ProbePoint, exported_probe_points

LIBGNUTLS_RE = re.compile(r"/libgnutls\.so(\.[0-9]+)*$")
ENTRY_FNS = {"gnutls_record_send": "gnutls_write_entry", "gnutls_record_recv": "gnutls_read_entry"}
DEINIT = "gnutls_deinit"


def is_libgnutls(path: str) -> bool:
    return bool(LIBGNUTLS_RE.search(path.removesuffix(" (deleted)")))


def probe_points(path: str) -> list[ProbePoint] | None:
    """Where to attach in ``path``, or None if it does not define both record functions."""
    return exported_probe_points(path, ENTRY_FNS, DEINIT, "gnutls_deinit_entry")
