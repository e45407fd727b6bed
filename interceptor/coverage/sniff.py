"""Which protocol a TCP connection speaks, from the first bytes of each direction.

Sans-I/O: the first bytes the client sent and the first bytes the server sent (either may be empty:
MySQL and SSH servers speak first) in, a protocol name out. Each recogniser checks a fixed header
shape, not a port, so a protocol on an unusual port is still named. Only the name is kept.
"""

from __future__ import annotations

import re

from interceptor.coverage.hello import looks_like_tls

UNKNOWN = "unknown"
ENOUGH = 16  # bytes after which a direction that matches nothing is not going to

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HTTP_METHOD = re.compile(rb"(?:GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH|CONNECT|TRACE|PROPFIND|PROPPATCH|MKCOL|"
                         rb"COPY|MOVE|LOCK|UNLOCK|REPORT|SEARCH|PURGE) [^ \r\n]")
RESP_ARRAY = re.compile(rb"\*[0-9]{1,6}\r\n\$[0-9]{1,9}\r\n")
REDIS_INLINE = re.compile(rb"(?i:PING|AUTH|HELLO|INFO|QUIT|SELECT|CLIENT)(?: |\r\n)")
PG_CODES = {196608, 80877103, 80877104, 80877102}  # v3 startup, SSLRequest, GSSENCRequest, CancelRequest
MONGO_OPS = {2013, 2004, 2012}  # OP_MSG, OP_QUERY (handshake of old drivers), OP_COMPRESSED


def recognize(client: bytes, server: bytes) -> str | None:
    """The protocol, ``UNKNOWN`` when the bytes seen rule out every recogniser, or None when more
    bytes could still decide."""
    if client:
        name = _client_first(client)
        if name:
            return name
    if server:
        name = _server_first(server)
        if name:
            return name
    if len(client) >= ENOUGH or (not client and len(server) >= ENOUGH):
        return UNKNOWN
    return None


def _client_first(data: bytes) -> str:
    if looks_like_tls(data):
        return "tls"
    if data.startswith(b"SSH-"):
        return "ssh"
    if data.startswith(H2_PREFACE[:min(len(data), len(H2_PREFACE))]) and len(data) >= 6:
        return "h2"
    if HTTP_METHOD.match(data):
        return "http/1.1"
    if data.startswith(b"AMQP") and len(data) >= 8:
        return "amqp"
    if RESP_ARRAY.match(data) or REDIS_INLINE.match(data):
        return "redis"
    if len(data) >= 8:
        return _binary_client(data)
    return ""


def _binary_client(data: bytes) -> str:
    """Length-prefixed binary protocols; checked from the most to the least specific header."""
    be_len = int.from_bytes(data[0:4], "big")
    if int.from_bytes(data[4:8], "big") in PG_CODES and 8 <= be_len <= 10000:
        return "postgresql"
    if len(data) >= 16:
        le_len = int.from_bytes(data[0:4], "little")
        response_to = int.from_bytes(data[8:12], "little")
        op = int.from_bytes(data[12:16], "little")
        if op in MONGO_OPS and response_to == 0 and 16 <= le_len <= 48_000_000:
            return "mongodb"
    if _kafka_request(data, be_len):
        return "kafka"
    if _dns_query(data):
        return "dns"
    return ""


def _kafka_request(data: bytes, length: int) -> bool:
    """Kafka request header v1+: size, api_key, api_version, correlation_id, client_id (int16 length)."""
    if len(data) < 14 or not 10 <= length <= 100_000_000:
        return False
    api_key = int.from_bytes(data[4:6], "big", signed=True)
    api_version = int.from_bytes(data[6:8], "big", signed=True)
    client_id_len = int.from_bytes(data[12:14], "big", signed=True)
    return 0 <= api_key <= 100 and 0 <= api_version <= 30 and -1 <= client_id_len <= length - 10


def _dns_query(data: bytes) -> bool:
    """RFC 7766: a 2-byte length, then a DNS header with QR=0, standard query, one question."""
    if len(data) < 14:
        return False
    length = int.from_bytes(data[0:2], "big")
    flags = int.from_bytes(data[4:6], "big")
    qd, an, ns = (int.from_bytes(data[i:i + 2], "big") for i in (6, 8, 10))
    return 17 <= length <= 65535 and not flags & 0x8000 and (flags >> 11) & 0xF == 0 and qd == 1 and an == 0 and ns == 0


def _server_first(data: bytes) -> str:
    if data.startswith(b"SSH-"):
        return "ssh"
    # MySQL initial handshake: 3-byte length, sequence 0, protocol version 10, a NUL-ended version.
    if len(data) >= 8 and data[3] == 0 and data[4] == 10 and 0 < int.from_bytes(data[0:3], "little") < 1024:
        nul = data.find(b"\x00", 5)
        if nul > 5 and data[5:6].isdigit():
            return "mysql"
    return ""
