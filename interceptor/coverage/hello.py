"""TLS handshake facts from the first bytes of a connection: ClientHello and ServerHello.

Sans-I/O: bytes in (the start of one direction's stream, possibly several records), a ``Hello`` or
``None`` out. Only what the handshake shows in clear is read (RFC 8446 §4.1.2/§4.1.3, RFC 6066 SNI,
RFC 7301 ALPN, supported_versions); nothing of it is kept but these few names. A TLS 1.3 server's
ALPN answer travels encrypted (EncryptedExtensions): for 1.3 only the client's offer is known.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HANDSHAKE = 22
CLIENT_HELLO, SERVER_HELLO = 1, 2
EXT_SNI, EXT_ALPN, EXT_SUPPORTED_VERSIONS = 0, 16, 43
MAX_HELLO = 1 << 14  # a handshake message larger than one record's plaintext is not a hello we parse

VERSIONS = {0x0300: "SSL3.0", 0x0301: "TLS1.0", 0x0302: "TLS1.1", 0x0303: "TLS1.2", 0x0304: "TLS1.3"}


@dataclass(slots=True)
class Hello:
    kind: str  # "client" or "server"
    version: str  # the highest offered (client) or the chosen one (server)
    sni: str = ""
    alpn: tuple[str, ...] = ()  # client: offered in order; server: the chosen one (TLS 1.2)


class NeedMore(Exception):
    """The bytes so far end inside the hello: feed more."""


def looks_like_tls(data: bytes) -> bool:
    """A TLS record header: handshake/alert/ccs/appdata/heartbeat type, version 3.x."""
    return len(data) >= 3 and 20 <= data[0] <= 24 and data[1] == 3 and data[2] <= 4


def parse(data: bytes) -> Hello | None:
    """The hello at the start of ``data``; None if it is not one; ``NeedMore`` if it is cut short.

    The handshake message may span several records (large post-quantum key shares make a
    ClientHello of ~1.8 KB, still one record usually, but split records are legal)."""
    if data[:1] and data[0] != HANDSHAKE:
        return None  # application data, alert...: no hello at this point of the stream
    body = _handshake_bytes(data)
    if len(body) < 4:
        raise NeedMore
    mtype = body[0]
    length = int.from_bytes(body[1:4], "big")
    if mtype not in (CLIENT_HELLO, SERVER_HELLO) or length > MAX_HELLO:
        return None
    if len(body) < 4 + length:
        raise NeedMore
    msg = body[4:4 + length]
    try:
        return _client(msg) if mtype == CLIENT_HELLO else _server(msg)
    except (IndexError, struct.error, UnicodeDecodeError, ValueError):
        return None  # malformed: it is still TLS, only the facts are unknown


def _handshake_bytes(data: bytes) -> bytes:
    """Concatenated payloads of the leading handshake records."""
    out = bytearray()
    pos = 0
    while pos + 5 <= len(data) and data[pos] == HANDSHAKE:
        n = int.from_bytes(data[pos + 3:pos + 5], "big")
        out += data[pos + 5:pos + 5 + n]
        if pos + 5 + n > len(data):
            break
        pos += 5 + n
        if len(out) >= 4 and len(out) >= 4 + int.from_bytes(out[1:4], "big"):
            break
    return bytes(out)


class _Reader:
    """Bounds-checked reads over one handshake message (IndexError on overrun)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise IndexError("short hello")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def vec8(self) -> bytes:
        return self.take(self.u8())

    def vec16(self) -> bytes:
        return self.take(self.u16())

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def _extensions(r: _Reader) -> dict[int, bytes]:
    if not r.left:
        return {}
    block = _Reader(r.vec16())
    exts: dict[int, bytes] = {}
    while block.left:
        etype = block.u16()
        exts[etype] = block.vec16()
    return exts


def _client(msg: bytes) -> Hello:
    r = _Reader(msg)
    legacy = r.u16()
    r.take(32)  # random
    r.vec8()  # session id
    r.vec16()  # cipher suites
    r.vec8()  # compression methods
    exts = _extensions(r)
    version = legacy
    if EXT_SUPPORTED_VERSIONS in exts:
        vr = _Reader(_Reader(exts[EXT_SUPPORTED_VERSIONS]).vec8())
        offered = [vr.u16() for _ in range(vr.left // 2)]
        known = [v for v in offered if v in VERSIONS]  # GREASE values are skipped
        if known:
            version = max(known)
    return Hello("client", VERSIONS.get(version, f"0x{version:04x}"), _sni(exts.get(EXT_SNI)), _alpn(exts.get(EXT_ALPN)))


def _server(msg: bytes) -> Hello:
    r = _Reader(msg)
    version = r.u16()
    r.take(32)
    r.vec8()
    r.u16()  # chosen cipher suite
    r.u8()  # compression
    exts = _extensions(r)
    if EXT_SUPPORTED_VERSIONS in exts:
        version = _Reader(exts[EXT_SUPPORTED_VERSIONS]).u16()
    return Hello("server", VERSIONS.get(version, f"0x{version:04x}"), "", _alpn(exts.get(EXT_ALPN)))


def _sni(ext: bytes | None) -> str:
    if not ext:
        return ""
    names = _Reader(_Reader(ext).vec16())
    while names.left:
        kind = names.u8()
        name = names.vec16()
        if kind == 0:  # host_name
            return name.decode("ascii").lower()
    return ""


def _alpn(ext: bytes | None) -> tuple[str, ...]:
    if not ext:
        return ()
    protos = _Reader(_Reader(ext).vec16())
    out = []
    while protos.left:
        out.append(protos.vec8().decode("ascii", "replace"))
    return tuple(out)
