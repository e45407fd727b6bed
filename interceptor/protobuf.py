"""Protocol Buffers wire format decoded without a schema, into JSON-like values.

Field numbers become keys (``"1"``, ``"2"``...), a field seen several times becomes a list, varints
and fixed-width numbers are integers, and a length-delimited field is, in this order of preference:
text (valid UTF-8 without control characters: where personal data usually is), a nested message
(when its bytes parse completely as one), or bytes as base64 (``{"base64": ...}``). Without the
``.proto`` the choice is a guess, so the processor gets values to look at rather than a typed
message; packed repeated numbers show up as bytes or, when they happen to parse, as a message.

Own code rather than ``bbpb`` (blackboxprotobuf): on the same mixed 240-byte message (text, ints,
nested, bytes) bbpb decodes ~1.4-1.7k messages/s (it builds a type definition for every message),
this module ~7k/s, and ~55-60k/s on messages of text and small ints (2 cores shared with other
work); the wire format is five cases. Bounded: nesting depth and the number of fields per pair.
"""

from __future__ import annotations

import base64
from typing import Any, Final

MAX_DEPTH: Final = 16
MAX_FIELDS: Final = 10_000  # decoded values per call (all messages of a half share ``budget``)


class NotProtobuf(ValueError):
    pass


class _Budget:
    """The fields a message may still decode, shared by its nested messages. A native class when
    compiled: reading and setting ``left`` are plain loads and stores (a one-item list's were a
    boxed int each, ~2k instructions a gRPC call)."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


def decode(data: bytes, max_depth: int = MAX_DEPTH, max_fields: int = MAX_FIELDS) -> dict[str, Any]:
    """One message. Raises ``NotProtobuf`` when the bytes are not a well-formed message."""
    return _message(data, 0, len(data), max_depth, _Budget(max_fields))


# Keys of the usual field numbers, made once ("1".."255"): str() of an int per field showed in profiles.
_NAMES: Final = tuple(str(i) for i in range(256))


def _message(data: bytes, pos: int, end: int, depth: int, budget: _Budget) -> dict[str, Any]:
    # One loop with the common cases inline (one-byte keys and lengths, wire type 2 first): a gRPC
    # call decodes a few dozen fields, and calls and attribute lookups were most of their cost.
    out: dict[str, Any] = {}
    left = budget.left
    count = 0
    value: Any
    while pos < end:
        key = data[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = _varint(data, pos, end)
        wire = key & 7
        if wire == 2:
            length = data[pos] if pos < end else 0x80
            if length < 0x80:
                pos += 1
            else:
                length, pos = _varint(data, pos, end)
            stop = pos + length
            if stop > end:
                raise NotProtobuf("length past the end")
            first = data[pos] if length else 0x20
            if first < 0x20 and first != 0x09 and first != 0x0A and first != 0x0D:
                # A control character first: a nested message's key, not text (no slice unless it
                # fails). Parsed here rather than through _nested: this is the hot case.
                value = None
                if depth > 0:
                    budget.left = left - count
                    try:
                        value = _message(data, pos, stop, depth - 1, budget)
                        count = left - budget.left
                    except NotProtobuf:
                        pass  # its fields do not count (``count`` unchanged): kept as bytes
                if value is None:
                    value = opaque(data[pos:stop])
            else:
                # Printable ASCII (names, e-mail addresses, ids: the usual text) is told from the
                # bytes: compiled, a native loop rather than ``str.isprintable``, a method call.
                i = pos
                while i < stop:
                    c = data[i]
                    if c < 0x20 or c > 0x7E:
                        break
                    i += 1
                raw = data[pos:stop]
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError:
                    value = None
                if i < stop and (value is None or not value.isprintable()):
                    # A message if it parses as one, else text with line breaks, else bytes.
                    text = value
                    budget.left = left - count
                    value = _nested(data, pos, stop, depth, budget)
                    count = left - budget.left
                    if value is None:
                        value = text if text is not None and _texty(text) else opaque(raw)
            pos = stop
        elif wire == 0:
            if pos < end and data[pos] < 0x80:
                value = data[pos]
                pos += 1
            else:
                value, pos = _varint(data, pos, end)
        elif wire == 1:
            if pos + 8 > end:
                raise NotProtobuf("fixed64 past the end")
            # (int.from_bytes: a double's high bits make it a big int, which mypyc's inline
            # arithmetic would build through its slow path at a higher cost than this call)
            value = int.from_bytes(data[pos:pos + 8], "little")
            pos += 8
        elif wire == 5:
            if pos + 4 > end:
                raise NotProtobuf("fixed32 past the end")
            value = _fixed32(data, pos)
            pos += 4
        else:  # 3/4: groups (deprecated since proto2), 6/7: invalid
            raise NotProtobuf(f"wire type {wire}")
        number = key >> 3
        if not number:
            raise NotProtobuf("field number 0")
        count += 1
        if count > left:
            raise NotProtobuf("too many fields")
        name = _NAMES[number] if number < 256 else str(number)
        size = len(out)
        prev = out.setdefault(name, value)  # one lookup for a field's first value
        if len(out) == size:  # the field was seen before: its values become a list
            if type(prev) is list:
                prev.append(value)
            else:
                out[name] = [prev, value]
    budget.left = left - count
    return out


def _fixed32(data: bytes, pos: int) -> int:
    """A little-endian 4-byte number (``pos + 4 <= len(data)``): compiled, four native loads joined
    by * and + (``int.from_bytes`` of a slice is a slice and a method call: ~950 instructions)."""
    return data[pos] + data[pos + 1] * 256 + data[pos + 2] * 65536 + data[pos + 3] * 16777216


def _nested(data: bytes, pos: int, stop: int, depth: int, budget: _Budget) -> dict[str, Any] | None:
    """``data[pos:stop]`` as a message one level down, if it parses completely as one."""
    if depth <= 0 or pos == stop:
        return None
    left = budget.left
    try:
        return _message(data, pos, stop, depth - 1, budget)
    except NotProtobuf:
        budget.left = left  # its fields do not count: the value is kept another way
        return None


def _texty(text: str) -> bool:
    """Text with line breaks or tabs, no other control characters."""
    return not any(c < " " and c not in "\t\r\n" for c in text)


def fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of one message, values raw (ints, or bytes for
    length-delimited): for reading messages whose schema we do know (descriptor sets)."""
    out: list[tuple[int, int, int | bytes]] = []
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos, end)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos, end)
        elif wire == 2:
            length, pos = _varint(data, pos, end)
            if pos + length > end:
                raise NotProtobuf("length past the end")
            value, pos = data[pos:pos + length], pos + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise NotProtobuf("fixed past the end")
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        else:
            raise NotProtobuf(f"wire type {wire}")
        out.append((number, wire, value))
    return out


def opaque(raw: bytes) -> dict[str, str]:
    """Bytes that are neither text nor a message."""
    return {"base64": base64.b64encode(raw).decode("ascii")}


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end:
            raise NotProtobuf("varint past the end")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise NotProtobuf("varint too long")
