"""NSS probe points: NSPR's ``PR_Write``/``PR_Send`` and ``PR_Read``/``PR_Recv`` (entry + return),
``PR_Close``, in ``libnspr4.so``.

NSS applications (Firefox, Thunderbird, tstclnt, LibreOffice, some curl builds) do their TLS I/O
through NSPR on a layered descriptor: NSS's SSL layer on top of the TCP socket. The exported NSPR
functions dispatch to the top layer's methods and the layers call each other through their method
tables, so one application write is one ``PR_Write``; the kernel side keeps only calls on layered
descriptors (plain files and sockets use the same functions, see probes.c ``nss_entry``). The
return value is the count (``PRInt32``, -1 on error): OpenSSL's return probe copies the data.
``libssl3.so`` itself exports no data function to probe.
"""

from __future__ import annotations

import re

from interceptor.tls.attach import ProbePoint, exported_probe_points

LIBNSPR_RE = re.compile(r"/libnspr4\.so$")
ENTRY_FNS = {"PR_Write": "nss_write_entry", "PR_Send": "nss_write_entry",
             "PR_Read": "nss_read_entry", "PR_Recv": "nss_read_entry"}
CLOSE = "PR_Close"


def is_libnspr(path: str) -> bool:
    return bool(LIBNSPR_RE.search(path.removesuffix(" (deleted)")))


def probe_points(path: str) -> list[ProbePoint] | None:
    """Where to attach in ``path``, or None if it is not NSPR (the four I/O functions)."""
    return exported_probe_points(path, ENTRY_FNS, CLOSE, "nss_close_entry")
