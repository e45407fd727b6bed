"""The likely TLS library of a process, and why the TLS sources did not read its connection.

``identify`` is pure: the files a process maps (``/proc/<pid>/maps``) and the markers found in its
executable and mapped objects in, a ``Library`` out. A dynamic library is named by its file
(libssl, libgnutls, NSS's libssl3/libnss3, libjvm → JSSE); a statically linked one by strings the
linker kept: Go's build info, BoringSSL (Envoy, grpcio's cygrpc .so, Chrome's), OpenSSL's version
string (Node.js), rustls' crate paths. ``why_unread`` names the reason from what the TLS source
knows. ``library_of`` is the thin /proc adapter, with the markers of a file cached by its inode.
"""

from __future__ import annotations

import mmap
import os
import re
from collections import OrderedDict
from dataclasses import dataclass

# interceptor.tls (openssl's ELF reader, procfs) is imported where a process is looked at: a
# replay imports this module for its account and never looks at a process.

# Probed by interceptor/tls (each behind its tls.* switch): OpenSSL (dynamic, or linked into an
# executable), Go crypto/tls, GnuTLS, BoringSSL (by symbol like OpenSSL, or grpcio's stripped one by
# signature), NSS (through NSPR); the source kind that reads each.
PROBED = {"openssl": "openssl", "go": "gotls", "gnutls": "gnutls", "boringssl": "boringssl", "nss": "nss"}

# Byte markers looked for in executables and in mapped shared objects that are not a known library.
MARKERS = {
    "go": b"\xff Go buildinf:",
    "boringssl": b"BoringSSL",
    "openssl": b"OpenSSL 1.1.1",
    "openssl3": b"OpenSSL 3.",
    "rustls": b"rustls",
    "ssl_write": b"SSL_write",
}
SCAN_LIMIT = 512 << 20  # larger files are not scanned (counted as unknown, never read whole)

DYNAMIC = (
    (re.compile(r"/libgnutls\.so(\.[0-9]+)*$"), "gnutls"),
    (re.compile(r"/libssl3\.so$|/libnss3\.so$"), "nss"),
    (re.compile(r"/libjvm\.so$"), "jsse"),
    (re.compile(r"/libwolfssl\.so(\.[0-9]+)*$"), "wolfssl"),
    (re.compile(r"/libmbedtls\.so(\.[0-9]+)*$"), "mbedtls"),
)
CANDIDATE_SO = re.compile(r"cygrpc|grpc|envoy|boring|node|rustls|\.cpython-.*\.so$")


@dataclass(frozen=True, slots=True)
class Library:
    name: str  # openssl, boringssl, go, jsse, gnutls, nss, rustls, wolfssl, mbedtls, unknown
    linkage: str  # "dynamic", "static" or "" (unknown)
    file: str = ""  # the file that told

    @property
    def probed(self) -> bool:
        """Whether interceptor/tls has probes for it (with every tls.* switch on)."""
        return self.name in PROBED

    @property
    def label(self) -> str:
        """What a person reads on the map: ``java (JSSE)``-style names are made from this."""
        names = {"jsse": "JSSE", "go": "Go crypto/tls", "openssl": "OpenSSL", "boringssl": "BoringSSL",
                 "gnutls": "GnuTLS", "nss": "NSS", "rustls": "rustls"}
        return names.get(self.name, self.name)


UNKNOWN_LIBRARY = Library("unknown", "")


def identify(maps: list[str], markers: dict[str, set[str]]) -> Library:
    """``maps``: file paths the process maps (the executable first if known); ``markers``: per
    scanned file, the MARKERS keys found in it. A process often maps several TLS libraries (curl's
    libldap brings GnuTLS along with OpenSSL; Python's _ssl next to grpcio's BoringSSL): the one
    its connections most likely use wins, in this order: a JVM, a TLS stack compiled into the
    program or a native extension, dynamic OpenSSL, then the other dynamic libraries."""
    from interceptor.tls.openssl import is_libssl

    static: list[Library] = []
    dynamic: dict[str, Library] = {}
    for path in maps:
        found = markers.get(path, set())
        if "boringssl" in found:
            static.append(Library("boringssl", "static", path))
        elif "go" in found:
            static.append(Library("go", "static", path))
        elif "rustls" in found and "ssl_write" not in found:
            static.append(Library("rustls", "static", path))
        elif found & {"openssl", "openssl3"} and "ssl_write" in found:
            static.append(Library("openssl", "static", path))
        if is_libssl(path):
            dynamic.setdefault("openssl", Library("openssl", "dynamic", path))
        for pattern, name in DYNAMIC:
            if pattern.search(path):
                dynamic.setdefault(name, Library(name, "dynamic", path))
    if "jsse" in dynamic:
        return dynamic["jsse"]
    if static:
        return static[0]
    for name in ("openssl", "gnutls", "nss", "wolfssl", "mbedtls"):
        if name in dynamic:
            return dynamic[name]
    return UNKNOWN_LIBRARY


@dataclass(frozen=True, slots=True)
class TlsState:
    """What the TLS source knows of a process (from interceptor/tls/source.py), when it runs."""

    source_active: bool
    excluded: bool = False  # command, namespace or pod rules
    attached: bool = False  # probes are on one of its files
    attach_failed: bool = False
    probed: frozenset[str] = frozenset(PROBED)  # libraries whose probes are switched on (tls.openssl...)


def why_unread(library: Library | None, state: TlsState | None) -> str:
    """The one reason an encrypted connection was not read."""
    if state is None or not state.source_active:
        return "no_plaintext_source"  # a capture file, or eBPF unavailable on this node
    if library is None:
        return "process_not_on_node"  # neither end is a process this node can see
    if state.excluded:
        return "excluded_by_scope"
    if library.name not in state.probed:
        return "no_probe_for_library"
    if state.attach_failed:
        return "attach_failed"
    # Probes not on yet when the handshake was seen (a program that runs for less than a scan), or
    # on and still no plaintext: either way the connection began before the source could read it.
    return "attached_too_late"


class MarkerCache:
    """Markers per file, by (device, inode): a program run a thousand times is scanned once."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self.cache: OrderedDict[tuple[int, int], set[str]] = OrderedDict()
        self.scans = 0

    def markers(self, path: str) -> set[str]:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return set()
        try:
            st = os.fstat(fd)
            key = (st.st_dev, st.st_ino)
            found = self.cache.get(key)
            if found is None:
                found = scan_markers(fd, st.st_size)
                self.scans += 1
                self.cache[key] = found
                if len(self.cache) > self.limit:
                    self.cache.popitem(last=False)
            return found
        finally:
            os.close(fd)


def scan_markers(fd: int, size: int) -> set[str]:
    """The MARKERS present in an open file (mapped, searched in C; never copied whole)."""
    if size == 0 or size > SCAN_LIMIT:
        return set()
    try:
        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as m:
            return {name for name, needle in MARKERS.items() if m.find(needle) >= 0}
    except (OSError, ValueError):
        return set()


def library_of(pid: int, cache: MarkerCache, proc_root: str = "/proc") -> Library | None:
    """The likely TLS library of a running process; None if it is gone."""
    from interceptor.tls import procfs

    mappings = procfs.file_mappings(pid, proc_root)
    if mappings is None:
        return None
    exe = procfs.exe_path(pid, proc_root)
    paths = [m.path.removesuffix(" (deleted)") for m in mappings]
    if exe:
        paths = [exe] + [p for p in paths if p != exe]
    markers: dict[str, set[str]] = {}
    for path in paths:
        if path == exe or CANDIDATE_SO.search(path):
            opened = f"{proc_root}/{pid}/exe" if path == exe else procfs.in_root(pid, path, proc_root)
            markers[path] = cache.markers(opened)
    return identify(paths, markers)
