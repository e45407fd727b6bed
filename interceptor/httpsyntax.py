"""HTTP/1.1 message syntax and body framing as a strict recipient applies them (RFC 9110, RFC 9112).

A passive sensor must frame exactly what the server framed: when the two disagree about where a
message ends (two Content-Length values, ``Transfer-Encoding: xchunked``, ``Content-Length: +0_7``)
the bytes after it are parsed differently by each, which is request smuggling. So a message whose
head or framing a strict server (llhttp, the Node.js parser, as the conformance test checks) would
refuse is refused here too: counted by a named reason, not emitted, and the parser resynchronises.

What RFC 9112 lets a recipient accept is accepted: a bare LF as line terminator (§2.2), any token
as a method (RFC 9110 §9.1), obsolete line folding, replaced by a space (§5.2). Sans-I/O: functions
of bytes and parsed fields, no state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

from interceptor.pairs import Headers

T = TypeVar("T")

TCHAR = rb"!#$%&'*+.^_`|~0-9A-Za-z-"
VCHARS = rb"\t\x20-\x7e\x80-\xff"  # field-vchar, obs-text, SP and HTAB: no CTL, no DEL
_START = (rb"(?:[" + TCHAR + rb"]{1,32} [\x21-\x7e\x80-\xff]+ HTTP/1\.[01]"
          rb"|HTTP/1\.[01] [0-9]{3}(?: [" + VCHARS + rb"]*)?)")
_FIELD = rb"[" + TCHAR + rb"]+:[" + VCHARS + rb"]*"
# obs-fold is accepted and replaced by a space (RFC 9112 5.2), except a folded line that reads as a
# field of its own (" Content-Length: 38"): a server that does not fold sees that field, so the two
# would frame the message differently. llhttp refuses it, we do too.
_FOLD = rb"[ \t](?![ \t]*[" + TCHAR + rb"]+[ \t]*:)[" + VCHARS + rb"]*"
# A head: the start line, then field lines; the first field line may not be a fold (whitespace
# right after the start line is refused, RFC 9112 §2.2). No bare CR anywhere.
HEAD_CRLF = re.compile(_START + rb"(?:\r\n" + _FIELD + rb"(?:\r\n(?:" + _FIELD + rb"|" + _FOLD + rb"))*)?")
HEAD_ANY_EOL = re.compile(_START + rb"(?:\r?\n" + _FIELD + rb"(?:\r?\n(?:" + _FIELD + rb"|" + _FOLD + rb"))*)?")
FIELDS_ANY_EOL = re.compile(rb"(?:" + _FIELD + rb"(?:\r?\n(?:" + _FIELD + rb"|" + _FOLD + rb"))*)?")
HEAD_END = re.compile(rb"\r?\n\r?\n")  # the empty line that ends a head or a trailer section
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_EXT = rb"[ \t]*;[ \t]*[" + TCHAR + rb"]+(?:[ \t]*=[ \t]*(?:[" + TCHAR + rb"]+|" + _QUOTED + rb"))?"
CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:" + _EXT + rb")*\r?\n")
CL_VALUE = re.compile(r"[0-9]{1,18}")  # 18 digits: no overflow, and far beyond any bound we keep
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Transfer codings a server knows (RFC 9112 §7); any other in a request is refused (501 there).
KNOWN_CODINGS = frozenset(("chunked", "gzip", "x-gzip", "deflate", "compress", "x-compress"))


# Field names met before, as on the wire -> lower case (names repeat: one lookup instead of the
# checks and ``lower()``, and the index shares one key string). Bounded: once full, names not in
# it take the checks and ``lower()`` every time (still right, only slower).
_NAMES: dict[str, str] = {}
MAX_NAMES = 1024
# Field lines met before (their exact text) -> the parsed field and its lower-case name. A head
# repeats most of its lines from message to message (Host, Content-Type, Server...): a line found
# here was checked already, so it costs one lookup instead of checks of tens of instructions a
# character, and its field tuple is shared by the messages' header lists (immutable). Bounded in
# entries and line length, emptied when full: unique lines (hostile traffic) only make it miss.
_LINES: dict[str, tuple[tuple[str, str], str]] = {}
MAX_LINES = 1024
MAX_LINE = 160


def remember(table: dict[str, T], key: str, value: T) -> None:
    """Keep ``value`` in one of the bounded tables of lines met before (emptied when full)."""
    if len(key) <= MAX_LINE:
        if len(table) >= MAX_LINES:
            table.clear()
        table[key] = value


def plain_name(name: str) -> str | None:
    """The lower-case form of a field name made of letters, digits and '-' only (all tchar);
    None for any other name (the regex decides those)."""
    lower = _NAMES.get(name)
    if lower is not None:
        return lower
    if not name.isascii() or not (name.isalnum() or name.replace("-", "").isalnum()):
        return None
    lower = name.lower()
    if len(_NAMES) < MAX_NAMES:
        _NAMES[name] = lower
    return lower


def plain_line(line: str) -> tuple[tuple[str, str], str] | None:
    """A field line that ``_FIELD`` matches, parsed (the field, its lower-case name) as
    ``parse_headers`` does, when it is printable (no control character: no CR, LF, NUL, DEL, tab;
    a control byte of the wire is the same character decoded) and its name a ``plain_name``.
    None otherwise: the regex decides."""
    known = _LINES.get(line)
    if known is not None:
        return known
    colon = line.find(":")
    if colon <= 0 or not line.isprintable():
        return None
    name = line[:colon]
    lower = plain_name(name)
    if lower is None:
        return None
    known = ((name, line[colon + 1:].strip()), lower)
    remember(_LINES, line, known)
    return known


def plain_fields(block: str) -> tuple[Headers, dict[str, str]] | None:
    """``parse_headers`` of the field lines after a start line's CRLF, when each is a
    ``plain_line`` and no name repeats: then HEAD_CRLF's field part matches and the result is the
    general parser's. None otherwise (folding, a repeated or unusual name, a tab...): the regex
    decides."""
    headers: Headers = []
    index: dict[str, str] = {}
    for line in block.split("\r\n"):  # (an empty block is one empty line: refused, as by the regex)
        known = plain_line(line)
        if known is None:
            return None
        field, lower = known
        if lower in index:
            return None
        headers.append(field)
        index[lower] = field[1]
    return headers, index


# Field blocks met before (the raw bytes after the start line's CRLF) -> ``plain_fields`` of them.
# Between messages of one client or server most blocks repeat byte for byte (a response's changes
# once a second with its Date): one lookup of the block replaces splitting it and a lookup per
# line. Bounded in entries and block size, emptied when full (unique blocks only miss: they cost
# one lookup and one insertion more than the line tables alone).
_BLOCKS: dict[bytes, tuple[Headers, dict[str, str]]] = {}
MAX_BLOCKS = 256
MAX_BLOCK = 2048


def known_fields(raw: bytes) -> tuple[Headers, dict[str, str]] | None:
    """``plain_fields(decode_text(raw))``, from the table of blocks met before when it is there.
    The header list and index may be the table's own: never change them (copy them for a message)."""
    known = _BLOCKS.get(raw)
    if known is not None:
        return known
    fields = plain_fields(decode_text(raw))
    if fields is not None and len(raw) <= MAX_BLOCK:
        if len(_BLOCKS) >= MAX_BLOCKS:
            _BLOCKS.clear()
        _BLOCKS[raw] = fields
    return fields


def length_digits(value: str) -> bool:
    """``CL_VALUE.fullmatch(value)`` without the regex: 1 to 18 ASCII digits."""
    if not 0 < len(value) <= 18:
        return False
    for c in value:
        o = ord(c)
        if o < 48 or o > 57:
            return False
    return True


# Content-Length values met before -> their integer (bounded as the tables of lines above).
_LENGTHS: dict[str, int] = {}


def content_length(value: str) -> int:
    """``int(value)`` when ``length_digits(value)``, else -1: a value met before from a table (a
    repeated field line's value is the same string, its hash kept), in place of the digit check
    and the conversion."""
    known = _LENGTHS.get(value)
    if known is not None:
        return known
    if not length_digits(value):
        return -1
    length = int(value)
    remember(_LENGTHS, value, length)
    return length


def decode_text(raw: bytes) -> str:
    """Wire bytes of a head as text: UTF-8, and a byte that is not part of valid UTF-8 as the four
    characters ``\\xHH`` (the schema documents this), so a UTF-8 URL stays readable and nothing
    is lost or mistaken for another character."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace")


def crlf_lines(head: bytes) -> bytes:
    """A head validated by HEAD_ANY_EOL with its bare LFs made CRLF (no bare CR can be left)."""
    return head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@dataclass(frozen=True, slots=True)
class Framing:
    """How a message body is delimited: ``kind`` is 'none', 'length', 'chunked' or 'close'."""

    kind: str
    length: int = 0


NO_BODY = Framing("none")
CHUNKED = Framing("chunked")
UNTIL_CLOSE = Framing("close")


class FramingError(ValueError):
    """The message's length cannot be determined the way a strict recipient would: ``reason`` is
    the drop reason counted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def field_values(headers: Headers, name: str) -> list[str]:
    """Every comma-separated member of every field line called ``name`` (lower case)."""
    out: list[str] = []
    for n, v in headers:
        if n.lower() == name:
            out.extend(part.strip() for part in v.split(","))
    return out


def body_framing(is_request: bool, headers: Headers, index: dict[str, str]) -> Framing:
    """RFC 9112 §6.3 for a message that may have a body (status and method rules are the caller's)."""
    te = "transfer-encoding" in index
    cl = "content-length" in index
    if te:
        if cl:  # §6.3.3: a smuggling attempt as often as not; llhttp and others refuse it
            raise FramingError("transfer_encoding_with_content_length")
        codings = [c.lower() for c in field_values(headers, "transfer-encoding") if c]
        if not codings or not all(TOKEN.fullmatch(c) for c in codings):
            raise FramingError("bad_transfer_encoding")
        chunked = codings.count("chunked")
        if chunked > 1 or (chunked and codings[-1] != "chunked"):  # §7: chunked once, and last
            raise FramingError("bad_transfer_encoding")
        if is_request:
            if codings[-1] != "chunked":  # §6.3.4: the length cannot be determined: 400
                raise FramingError("bad_transfer_encoding")
            if not all(c in KNOWN_CODINGS for c in codings):
                raise FramingError("unknown_transfer_coding")
            return CHUNKED
        return CHUNKED if codings[-1] == "chunked" else UNTIL_CLOSE
    if cl:
        values = field_values(headers, "content-length")
        if not all(CL_VALUE.fullmatch(v) for v in values):
            raise FramingError("bad_content_length")
        if len(set(values)) > 1 and len({int(v) for v in values}) > 1:
            raise FramingError("conflicting_content_length")
        length = int(values[0])
        return Framing("length", length) if length else NO_BODY
    return NO_BODY if is_request else UNTIL_CLOSE
