"""gRPC over HTTP/2: what a call is (service, method, status) and its length-prefixed messages.

A gRPC body is a sequence of messages, each a 1-byte compressed flag, a 4-byte big-endian length
and the message (compressed with the ``grpc-encoding`` of that half when the flag is set). Status
and message come from the response's trailers, or from the headers of a trailers-only response.
Messages are decoded schema-less (``protobuf``) for the processor, lazily: a ``GrpcCall`` keeps
the halves' bodies and decodes (decompresses, parses, names fields) when its messages are first
read, which is when a pair that passed the bounds and filters becomes a record; a filtered-out call
costs no protobuf work. Each half keeps at most ``max_messages`` of them, the rest counted.
"""

from __future__ import annotations

import urllib.parse
import zlib
from typing import Any, Final
from zlib import decompress as _inflate  # a global: compiled, zlib.decompress was an attribute lookup

from interceptor import protobuf
from interceptor.counters import Counters
from interceptor.descriptors import Schemas
from interceptor.http import UnsupportedEncoding, decode_content
from interceptor.pairs import Message
from interceptor.protobuf import decode

GRPC_TYPE: Final = "application/grpc"  # and application/grpc+proto, +json...


def is_grpc(content_type: str) -> bool:
    return content_type.startswith(GRPC_TYPE)  # (one string: compiled, a primitive; a tuple was a method call)


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
METHODS_REMEMBERED: Final = 1024
_METHODS: dict[str, tuple[str, str]] = {}
# Deflate expands at most ~1032:1, so a compressed message this many times smaller than the bound
# cannot pass it: decompressed in one call, without the streaming decompressor's set-up.
DEFLATE_MAX_RATIO: Final = 1032
GZIP_WBITS: Final = 31  # zlib.MAX_WBITS | 16: a gzip header and trailer (a constant: compiled, no module attribute lookup)


def framed(body: bytes) -> bool:
    """``body`` is exactly a sequence of gRPC messages (how a call is told when its content-type
    was lost with the HPACK state: five bytes of framing that add up to the body are no accident)."""
    pos, end = 0, len(body)
    while pos + 5 <= end:
        if body[pos] > 1:
            return False
        pos += 5 + _length(body, pos)
    return pos == end and end > 0


class _Undecoded:
    """What decoding a call's messages needs, kept until its record is built: pairs that the
    filters or bounds stop never pay for protobuf (most of a small call's cost). A plain class, as
    ``Messages``: one per call, and a compiled dataclass's ``__init__`` stays interpreted."""

    __slots__ = ("request", "response", "path", "counters", "max_messages", "limit", "schemas")

    def __init__(self, request: Message, response: Message, path: str, counters: Counters, max_messages: int,
                 limit: int, schemas: Schemas | None) -> None:
        self.request = request
        self.response = response
        self.path = path
        self.counters = counters
        self.max_messages = max_messages
        self.limit = limit
        self.schemas = schemas


class GrpcCall:
    """A call's service, method and status (known when it completes) and its decoded messages
    (decoded the first time they are read: by ``to_record``, after the filters)."""

    __slots__ = ("service", "method", "status", "message", "_request", "_response", "_omitted", "_undecoded")

    def __init__(self, service: str, method: str, status: int | None = None, message: str = "",
                 request_messages: list[Any] | None = None, response_messages: list[Any] | None = None,
                 messages_omitted: int = 0) -> None:
        self.service = service
        self.method = method
        self.status = status  # grpc-status; None when the call has no trailers (cut, reset)
        self.message = message  # grpc-message, percent-decoded
        self._request: list[Any] = request_messages if request_messages is not None else []
        self._response: list[Any] = response_messages if response_messages is not None else []
        self._omitted = messages_omitted  # past the per-half bound, or not decodable
        self._undecoded: _Undecoded | None = None

    @property
    def request_messages(self) -> list[Any]:
        if self._undecoded is not None:
            self._decode(self._undecoded)
        return self._request

    @property
    def response_messages(self) -> list[Any]:
        if self._undecoded is not None:
            self._decode(self._undecoded)
        return self._response

    @property
    def messages_omitted(self) -> int:
        if self._undecoded is not None:
            self._decode(self._undecoded)
        return self._omitted

    def _decode(self, u: _Undecoded) -> None:
        self._undecoded = None  # once, even if a sink builds the record twice
        counters = u.counters
        req = messages(u.request, counters, u.max_messages, u.limit)
        resp = messages(u.response, counters, u.max_messages, u.limit)
        counters.inc("grpc.messages", req.seen + resp.seen)  # (once a call: an increment is ~450 instructions)
        if u.schemas is not None:  # field names where the method is in a descriptor set
            named = u.schemas.name(u.path, True, req.values), u.schemas.name(u.path, False, resp.values)
            if named[0] is not None and named[1] is not None:
                req.values, resp.values = named[0], named[1]
                counters.inc("grpc.calls_named")
        self._request, self._response, self._omitted = req.values, resp.values, req.omitted + resp.omitted

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GrpcCall):
            return NotImplemented
        return self.to_record() == other.to_record()

    __hash__ = None  # type: ignore[assignment]  # mutable until decoded, as the dataclass was

    def __repr__(self) -> str:
        state = " (undecoded)" if self._undecoded is not None else ""
        return f"<GrpcCall /{self.service}/{self.method} status={self.status}{state}>"

    def to_record(self) -> dict[str, Any]:
        if self._undecoded is not None:  # (once here rather than in each of the three properties)
            self._decode(self._undecoded)
        return {
            "service": self.service,
            "method": self.method,
            "status": self.status,
            "message": self.message,
            "request_messages": self._request,
            "response_messages": self._response,
            "messages_omitted": self._omitted,
        }


class Messages:
    """One half's decoded messages, how many were left out (bound, cut, undecodable), and how many
    its body framed (``seen``, counted as ``grpc.messages`` by the caller)."""

    __slots__ = ("values", "omitted", "seen")

    def __init__(self, values: list[Any], omitted: int = 0) -> None:
        self.values = values
        self.omitted = omitted
        self.seen = 0


def call_of(request: Message, response: Message, path: str, counters: Counters, max_messages: int,
            limit: int, schemas: Schemas | None = None) -> GrpcCall:
    """The call, its messages left to decode when they are first read."""
    service, method = service_method(path)
    status = _status(_header(response, "grpc-status"))
    message = _header(response, "grpc-message")
    counters.inc("grpc.calls")
    call = GrpcCall(service, method, status, urllib.parse.unquote(message) if message else "")
    call._undecoded = _Undecoded(request, response, path, counters, max_messages, limit, schemas)
    return call


def _status(text: str | None) -> int | None:
    """grpc-status as a number (None when absent or not one)."""
    if text == "0":  # the usual one: no int() of a string
        return 0
    # isascii too: str.isdigit also holds for "²" or "٣", which int() rejects or reads as a digit
    return int(text) if text is not None and text.isascii() and text.isdigit() else None


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
    encoding = ""  # grpc-encoding, read at the first compressed message
    proto = _is_proto(_header(msg, "content-type"))
    values = out.values
    pos = seen = over = 0
    while pos + 5 <= end:
        flag = body[pos]
        length = _length(body, pos)
        pos += 5
        seen += 1
        if len(values) >= max_messages:  # a long stream: the first ones are kept, the rest counted
            over += 1
            pos += length
            continue
        data = body[pos:pos + length]
        pos += length
        if len(data) < length:  # the half was truncated inside this message
            out.omitted += 1
            counters.inc("grpc.messages_cut")
            break
        if flag & 1:
            if not encoding:
                named = _header(msg, "grpc-encoding")
                encoding = named.strip().lower() if named else "identity"
            plain = _decompress(_encoding(encoding, data), data, limit, counters)
            if plain is None:
                out.omitted += 1
                continue
            data = plain
        if proto:  # (inline: one call less per message)
            try:
                values.append(decode(data))
                continue
            except protobuf.NotProtobuf:
                counters.inc("grpc.not_protobuf")
        values.append(_text_or_bytes(data))
    out.seen = seen
    if over:
        out.omitted += over
        counters.inc("grpc.messages_over_bound", over)
    if 0 < end - pos < 5:
        out.omitted += 1
        counters.inc("grpc.messages_cut")
    return out


def _length(body: bytes, pos: int) -> int:
    """The 4-byte big-endian length after the flag at ``pos`` (``pos + 5 <= len(body)``): compiled,
    four native loads joined by * and + (inline; ``int.from_bytes`` of a slice was a slice and a
    method call, and mypyc calls out for <<)."""
    return body[pos + 1] * 16777216 + body[pos + 2] * 65536 + body[pos + 3] * 256 + body[pos + 4]


def _header(msg: Message, name: str) -> str | None:
    """``msg.header(name)`` read from its index when it has one (the HTTP/2 layer's always do): no
    call into the interpreted model per lookup when this module is compiled."""
    index = msg.index
    return index.get(name) if index is not None else msg.header(name)


def _is_proto(content_type: str | None) -> bool:
    """Messages of this content type are protobuf: application/grpc, +proto, or none (lost with the
    HPACK state). Compiled, string comparisons rather than a frozenset lookup of a boxed string."""
    return (content_type is None or content_type == GRPC_TYPE or content_type == "application/grpc+proto"
            or content_type == "")


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
            return _inflate(data, GZIP_WBITS)
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


def _text_or_bytes(data: bytes) -> Any:
    """A message that is not protobuf: application/grpc+json and friends are text."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return protobuf.opaque(data)
