"""The pair record's JSON text, written straight from the pair: what ``orjson.dumps(pair.to_record())``
gives, byte for byte, without building the record's five dicts first.

Why: every emitted pair becomes a line (JSON Lines) or a message (Kafka), and building the record
as dicts and then walking them again in orjson was ~33k instructions a pair of the ~2.9 KB line
(callgrind, compiled, the 50k-exchange capture): building, filling and freeing the dicts ~13k,
orjson's walk of the keys and small values ~9k, the two bodies' escaping ~11k. Here:

- what needs orjson's escaping or float format (the id, both timestamps, the target, both header
  lists and both bodies) goes to orjson in **one** call (each call costs ~1k before any work), as
  one flat list; its output is cut back into the values where they must end: a raw NUL put
  between groups (an ``orjson.Fragment``; orjson's own output never holds one: control characters
  in strings are escaped, structure and numbers have none), and inside a group at the one place
  the next value can start (a string ends at the first ``",[`` whose quote is not escaped; a
  header list at its first ``]],"``, since a raw quote never stands inside a string);
- the record's keys and punctuation are bytes literals, and what repeats from pair to pair (the
  endpoints of a connection, a method, a status line, the source and protocol, small integers)
  comes from bounded tables of the bytes made the first time;
- the line is one ``b"".join``.

A pair whose endpoints carry meta (enrichment) writes that part through orjson each time (meta
is filled in place, so not kept); meta naming ``ip`` or ``port`` goes the general way
(``to_record``). Interpreted, that general way is cheaper, and is what the pure build runs.
tests/interceptor/test_pair_json.py holds the two equal on replayed traffic, odd pairs and
generated strings (quotes, backslashes, brackets, control characters).
"""

from __future__ import annotations

import binascii
import types
from typing import TYPE_CHECKING, Any, Final

import orjson

from interceptor.pairrecord import SCHEMA_VERSION

if TYPE_CHECKING:
    from interceptor.pairs import Endpoint, Message, Pair

_NUL: Final = orjson.Fragment(b"\x00")
_HEAD: Final = b'{"schema_version":' + str(SCHEMA_VERSION).encode() + b',"id":'

# Bytes made before, by what they were made of. Bounded: a table is emptied when full.
_TABLE_MAX: Final = 4096
_ENDPOINTS: Final[dict[tuple[str, int, str, int], bytes]] = {}  # ',"src":{..},"dst":{..}' of a connection
_REQUEST_HEADS: Final[dict[str, bytes]] = {}  # ',"request":{"method":"GET","target":'
_VERSIONS: Final[dict[str, bytes]] = {}  # ',"version":"HTTP/1.1","headers":'
_RESPONSE_HEADS: Final[dict[tuple[int, str, str], bytes]] = {}  # ',"response":{"status":..,"headers":'
_PROTOCOLS: Final[dict[tuple[str, bool], bytes]] = {}  # ',"protocol":"h2","headers_incomplete":true'
_INTS: Final[dict[int, bytes]] = {}


class _LastSource:
    """The last source object's JSON (one pipeline has one source dict): reused while it is the
    same object and still equal to the copy taken then (kept only when its values are immutable
    scalars, so a change in place shows in the comparison)."""

    def __init__(self) -> None:
        self.obj: dict[str, Any] | None = None
        self.copy: dict[str, Any] = {}
        self.json = b""


_last_source: Final = _LastSource()


def body_text(body: bytes) -> str | None:
    """The body as text when it is valid UTF-8, else None (the record carries it as base64).

    A body that is binary usually says so in its first non-ASCII byte (a protobuf varint, a gzip
    header, a double): a continuation byte with no lead, a lead byte no UTF-8 text has, or a lead
    not followed by a continuation. Those are answered without raising ``UnicodeDecodeError``
    (~3k instructions each: one per gRPC call on real captures); everything else is decoded."""
    if _surely_not_utf8(body):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _surely_not_utf8(body: bytes) -> bool:
    # Only the first bytes are looked at (a binary body shows itself early; a text's non-ASCII
    # bytes are left to the decoder): a native loop, cheaper than one more pass over every body.
    n = len(body)
    end = n if n < 16 else 16
    i = 0
    while i < end:
        b = body[i]
        if b >= 0x80:
            if b < 0xC2 or b > 0xF4:
                return True
            return i + 1 >= n or not 0x80 <= body[i + 1] <= 0xBF
        i += 1
    return False


def pair_json(pair: Pair, newline: bool) -> bytes:
    """The record of ``pair`` as JSON (``orjson.dumps(pair.to_record())``), a newline appended if asked."""
    if _INTERPRETED:  # interpreted, the cutting costs more than the dicts
        return _general(pair, newline)
    return template_json(pair, newline)


def _general(pair: Pair, newline: bool) -> bytes:
    rec = pair.to_record()
    return orjson.dumps(rec, option=orjson.OPT_APPEND_NEWLINE) if newline else orjson.dumps(rec)


def template_json(pair: Pair, newline: bool) -> bytes:
    """``pair_json`` by the template (compiled, the one used; tests run it in both builds)."""
    req, resp, src, dst = pair.request, pair.response, pair.src, pair.dst
    if _meta_clash(src.meta) or _meta_clash(dst.meta):
        return _general(pair, newline)
    req_text, req_b64 = _body(req)
    resp_text, resp_b64 = _body(resp)
    grpc = pair.grpc
    values: list[Any] = [pair.id, req.ts, resp.ts, _NUL, req.target, req.headers, req_text, _NUL, resp.headers,
                         resp_text]
    if grpc is not None:
        values.append(_NUL)
        values.append(grpc.to_record())
    out = orjson.dumps(values)
    # group 1: id, ts_request, ts_response (numbers: no commas in them)
    n1 = out.find(b"\x00")
    c2 = out.rfind(b",", 1, n1 - 1)
    c1 = out.rfind(b",", 1, c2)
    # group 2: target, request headers, request body
    n2 = out.find(b"\x00", n1 + 1)
    t_end = _string_end(out, n1 + 2)
    h_end = _headers_end(out, t_end + 1)
    # group 3: response headers, response body (then the gRPC object after a third NUL)
    end = len(out) - 1
    n3 = -1
    if grpc is not None:
        n3 = out.find(b"\x00", n2 + 1)
        end = n3 - 1
    rh_end = _headers_end(out, n2 + 2)
    parts = [_HEAD, out[1:c1], b',"ts_request":', out[c1 + 1:c2], b',"ts_response":', out[c2 + 1:n1 - 1],
             _endpoints(src, dst), _request_head(req.method), out[n1 + 2:t_end], _version(req.version),
             out[t_end + 1:h_end], b',"body":', out[h_end + 1:n2 - 1], _encoding(req_b64), _int(req.body_size),
             _closing(req), _response_head(resp.status, resp.reason, resp.version), out[n2 + 2:rh_end],
             b',"body":', out[rh_end + 1:end], _encoding(resp_b64), _int(resp.body_size), _closing(resp),
             _source_json(pair.source), _protocol(pair)]
    if grpc is not None:
        parts.append(b',"grpc":')
        parts.append(out[n3 + 2:-1])
    parts.append(b"}\n" if newline else b"}")
    return b"".join(parts)


def _string_end(out: bytes, start: int) -> int:
    """The end (past its closing quote) of the JSON string at ``start`` followed by a list."""
    i = out.find(b'",[', start + 1)
    while out[i - 1] == 0x5C and not _even_backslashes(out, i):  # an escaped quote inside the string
        i = out.find(b'",[', i + 1)
    return i + 1


def _even_backslashes(out: bytes, quote: int) -> bool:
    n = 0
    i = quote - 1
    while out[i] == 0x5C:
        n += 1
        i -= 1
    return n % 2 == 0


def _headers_end(out: bytes, start: int) -> int:
    """The end of the header list at ``start`` (``[]``, or ``[[..],..]`` closed by its first ``]],"``)."""
    if out[start + 1] == 0x5D:  # "[]"
        return start + 2
    return out.find(b']],"', start) + 2


def _body(msg: Message) -> tuple[str, bool]:
    text = body_text(msg.body)
    if text is None:  # base64's alphabet needs no escaping
        return binascii.b2a_base64(msg.body, newline=False).decode("ascii"), True
    return text, False


def _encoding(b64: bool) -> bytes:
    return b',"body_encoding":"base64","body_size":' if b64 else b',"body_encoding":"utf-8","body_size":'


def _closing(msg: Message) -> bytes:
    if msg.body_incomplete:
        return ((b',"truncated":true' if msg.truncated else b',"truncated":false')
                + b',"body_incomplete":true,"body_missing_bytes":' + _int(msg.body_missing) + b"}")
    return b',"truncated":true}' if msg.truncated else b',"truncated":false}'


def _meta_clash(meta: dict[str, Any]) -> bool:
    # ``to_record`` updates the endpoint's {"ip", "port"} with its meta: a meta key of the same
    # name replaces the value in place, which the template does not do.
    return bool(meta) and ("ip" in meta or "port" in meta)


def _kept(table: dict[Any, bytes], key: Any, value: bytes) -> bytes:
    if len(table) >= _TABLE_MAX:
        table.clear()
    table[key] = value
    return value


def _int(n: int) -> bytes:
    j = _INTS.get(n)
    return j if j is not None else _kept(_INTS, n, orjson.dumps(n))


def _endpoint(ep: Endpoint) -> bytes:
    j = b'{"ip":' + orjson.dumps(ep.ip) + b',"port":' + orjson.dumps(ep.port)
    return j + (b"," + orjson.dumps(ep.meta)[1:] if ep.meta else b"}")


def _endpoints(src: Endpoint, dst: Endpoint) -> bytes:
    if src.meta or dst.meta:  # filled in place by enrichment: not kept
        return b',"src":' + _endpoint(src) + b',"dst":' + _endpoint(dst)
    key = (src.ip, src.port, dst.ip, dst.port)
    j = _ENDPOINTS.get(key)
    if j is not None:
        return j
    return _kept(_ENDPOINTS, key, b',"src":' + _endpoint(src) + b',"dst":' + _endpoint(dst))


def _request_head(method: str) -> bytes:
    j = _REQUEST_HEADS.get(method)
    if j is not None:
        return j
    return _kept(_REQUEST_HEADS, method, b',"request":{"method":' + orjson.dumps(method) + b',"target":')


def _version(version: str) -> bytes:
    j = _VERSIONS.get(version)
    if j is not None:
        return j
    return _kept(_VERSIONS, version, b',"version":' + orjson.dumps(version) + b',"headers":')


def _response_head(status: int, reason: str, version: str) -> bytes:
    key = (status, reason, version)
    j = _RESPONSE_HEADS.get(key)
    if j is not None:
        return j
    return _kept(_RESPONSE_HEADS, key, b',"response":{"status":' + orjson.dumps(status) + b',"reason":'
                 + orjson.dumps(reason) + _version(version))


def _protocol(pair: Pair) -> bytes:
    """',"protocol":".."' and the headers_incomplete flag."""
    key = (pair.protocol, pair.headers_incomplete)
    j = _PROTOCOLS.get(key)
    if j is not None:
        return j
    return _kept(_PROTOCOLS, key, b',"protocol":' + orjson.dumps(pair.protocol)
                 + (b',"headers_incomplete":true' if pair.headers_incomplete else b""))


def _source_json(source: dict[str, Any]) -> bytes:
    """',"source":{..}'."""
    last = _last_source
    if source is last.obj and source == last.copy:
        return last.json
    j = b',"source":' + orjson.dumps(source)
    for v in source.values():
        if not (v is None or type(v) is str or type(v) is int or type(v) is float or type(v) is bool):
            return j
    last.obj, last.copy, last.json = source, dict(source), j
    return j


_INTERPRETED: Final = isinstance(_source_json, types.FunctionType)  # compiled, functions are native
