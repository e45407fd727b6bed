"""gRPC over HTTP/2: what a call is (service, method, status) and its length-prefixed messages.

A gRPC body is a sequence of messages, each a 1-byte compressed flag, a 4-byte big-endian length
and the message (compressed with the ``grpc-encoding`` of that half when the flag is set). Status
and message come from the response's trailers, or from the headers of a trailers-only response.
Messages are decoded schema-less (``protobuf``) for the processor; each half keeps at most
``max_messages`` of them, the rest counted.
"""

from __future__ import annotations

import urllib.parse
import zlib
from dataclasses import dataclass, field
from typing import Any

from interceptor import protobuf
from interceptor.counters import Counters
from interceptor.descriptors import Schemas
from interceptor.http import UnsupportedEncoding, decode_content
from interceptor.pairs import Message

GRPC_TYPES = ("application/grpc",)  # and application/grpc+proto, +json...


def is_grpc(content_type: str) -> bool:
    return content_type.startswith(GRPC_TYPES)


def service_method(path: str) -> tuple[str, str]:
    """``/package.Service/Method`` → (``package.Service``, ``Method``); ("", "") if not that shape."""
    known = _METHODS.get(path)
    if known is not None:
        return known
    parts = path.split("?", 1)[0].split("/")
    found = (parts[1], parts[2]) if len(parts) == 3 and not parts[0] and parts[1] and parts[2] else ("", "")
    if len(_METHODS) >= METHODS_REMEMBERED:
        _METHODS.clear()
    _METHODS[path] = found
    return found


# A service has a handful of methods called over and over: their split paths are remembered.
METHODS_REMEMBERED = 1024
_METHODS: dict[str, tuple[str, str]] = {}
# Deflate expands at most ~1032:1, so a compressed message this many times smaller than the bound
# cannot pass it: decompressed in one call, without the streaming decompressor's set-up.
DEFLATE_MAX_RATIO = 1032


def framed(body: bytes) -> bool:
    """``body`` is exactly a sequence of gRPC messages (how a call is told when its content-type
    was lost with the HPACK state: five bytes of framing that add up to the body are no accident)."""
    pos, end = 0, len(body)
    while pos + 5 <= end:
        if body[pos] > 1:
            return False
        pos += 5 + int.from_bytes(body[pos + 1:pos + 5], "big")
    return pos == end and end > 0


@dataclass(slots=True)
class GrpcCall:
    service: str
    method: str
    status: int | None = None  # grpc-status; None when the call has no trailers (cut, reset)
    message: str = ""  # grpc-message, percent-decoded
    request_messages: list[Any] = field(default_factory=list)
    response_messages: list[Any] = field(default_factory=list)
    messages_omitted: int = 0  # past the per-half bound, or not decodable

    def to_record(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "method": self.method,
            "status": self.status,
            "message": self.message,
            "request_messages": self.request_messages,
            "response_messages": self.response_messages,
            "messages_omitted": self.messages_omitted,
        }


@dataclass(slots=True)
class Messages:
    values: list[Any]
    omitted: int = 0


def call_of(request: Message, response: Message, path: str, counters: Counters, max_messages: int,
            limit: int, schemas: Schemas | None = None) -> GrpcCall:
    service, method = service_method(path)
    status_text = response.header("grpc-status")
    status = int(status_text) if status_text is not None and status_text.isdigit() else None
    req = messages(request, counters, max_messages, limit)
    resp = messages(response, counters, max_messages, limit)
    message = response.header("grpc-message")
    if schemas is not None:  # field names where the method is in a descriptor set
        named = schemas.name(path, True, req.values), schemas.name(path, False, resp.values)
        if named[0] is not None and named[1] is not None:
            req.values, resp.values = named[0], named[1]
            counters.counts["grpc.calls_named"] += 1
    counters.counts["grpc.calls"] += 1
    return GrpcCall(service, method, status, urllib.parse.unquote(message) if message else "",
                    req.values, resp.values, req.omitted + resp.omitted)


def messages(msg: Message, counters: Counters, max_messages: int, limit: int) -> Messages:
    """The decoded messages of one half's body (bounded in count; each at most ``limit`` bytes once
    decompressed)."""
    body = msg.body
    out = Messages([])
    end = len(body)
    if end < 5:
        if end:
            out.omitted += 1
            counters.inc("grpc.messages_cut")
        return out
    encoding = msg.header("grpc-encoding")
    encoding = encoding.strip().lower() if encoding else "identity"
    proto = msg.content_type in PROTO_TYPES
    values = out.values
    pos = seen = 0
    while pos + 5 <= end:
        flag = body[pos]
        length = int.from_bytes(body[pos + 1:pos + 5], "big")
        pos += 5
        data = body[pos:pos + length]
        pos += length
        seen += 1
        if len(values) >= max_messages:
            out.omitted += 1
            continue
        if len(data) < length:  # the half was truncated inside this message
            out.omitted += 1
            counters.inc("grpc.messages_cut")
            break
        if flag & 1:
            data = _decompress(_encoding(encoding, data), data, limit, counters)
            if data is None:
                out.omitted += 1
                continue
        values.append(_value(data, proto, counters))
    counters.counts["grpc.messages"] += seen
    if 0 < end - pos < 5:
        out.omitted += 1
        counters.inc("grpc.messages_cut")
    return out


PROTO_TYPES = frozenset({"application/grpc", "application/grpc+proto", ""})  # "": lost with the HPACK state


def _encoding(named: str, data: bytes) -> str:
    """A compressed message needs an encoding; when grpc-encoding was lost with the HPACK state
    (joined late) the data's own magic tells gzip and zlib-deflate apart."""
    if named != "identity":
        return named
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    return "deflate" if data[:1] == b"\x78" else named


def _decompress(encoding: str, data: bytes, limit: int, counters: Counters) -> bytes | None:
    if encoding == "gzip" and len(data) * DEFLATE_MAX_RATIO < limit:
        try:
            return zlib.decompress(data, zlib.MAX_WBITS | 16)
        except zlib.error:
            pass  # damaged or cut: the streaming path below decides, as for any other message
    try:
        decoded, complete = decode_content(encoding, data, limit)
    except UnsupportedEncoding:
        counters.inc("grpc.unknown_encoding")
        return None
    except (zlib.error, ValueError):
        counters.inc("grpc.decompress_errors")
        return None
    if not complete:
        counters.inc("grpc.decompression_limit_hits")
        return None
    return decoded


def _value(data: bytes, proto: bool, counters: Counters) -> Any:
    if proto:
        try:
            return protobuf.decode(data)
        except protobuf.NotProtobuf:
            counters.inc("grpc.not_protobuf")
    try:
        return data.decode("utf-8")  # application/grpc+json and friends
    except UnicodeDecodeError:
        return protobuf.opaque(data)
