"""The pair record: one HTTP request (HTTP/1.x, HTTP/2, gRPC), its response, and where they were seen.

This is the one data model the whole system shares, from the HTTP parser to the Kafka sink to the
processor. Every type here is frozen: a pair is built once, complete, and a stage that changes it
(truncation, enrichment) builds a new one with its ``replace`` method -- so no pair, and no
endpoint shared by the pairs of one connection, is changed behind another stage's back.

Compiled with the hot path (interceptor/compiled.py): the parsers build a pair per exchange and
every sink turns it into a record, so both are native code there.

Its JSON form: ``Pair.to_record`` is the one place that produces it, ``Pair.from_record`` the one
place that reads it back (and checks it: the processor's record check is ``from_record``).
``schema/pair.v1.json`` describes the same record; tests/interceptor/test_pair_model.py checks
that its keys and required lists are the ones declared in interceptor/pairrecord.py (``RECORD_KEYS``).
"""

from __future__ import annotations

import base64
import binascii
import inspect
import os
import types
from typing import TYPE_CHECKING, Any, Final

import orjson

# The record's layout and its check live in interceptor/pairrecord.py (compiled with the hot path);
# re-exported here, the pair model's one import.
from interceptor.pairrecord import (  # noqa: F401
    BODY_ENCODINGS,
    PROTOCOLS,
    RECORD_KEYS,
    SCHEMA_VERSION,
    RecordError,
    check_record,
)

if TYPE_CHECKING:
    from interceptor.grpc import GrpcCall


Headers = list[tuple[str, str]]


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of header ``name`` (lower-case), or None."""
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def body_text(body: bytes) -> str | None:
    """The body as text when it is valid UTF-8, else None (the record carries it as base64).
    (A pre-check of a small body's first 16 bytes, to skip the decoder's exception for binary,
    measured 2.5k instructions a call worse on the Go gRPC capture: its binary bytes come later.)"""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


class _LastSource:
    """The last source object's JSON (one pipeline has one source dict, shared by its pairs):
    reused while it is the same object and still equal to the copy taken then (kept only when its
    values are immutable scalars, so a change in place shows in the comparison)."""

    def __init__(self) -> None:
        self.obj: dict[str, Any] | None = None
        self.copy: dict[str, Any] = {}
        self.json = b""


_last_source: Final = _LastSource()


def _source_json(source: dict[str, Any]) -> bytes:
    last = _last_source
    if source is last.obj and source == last.copy:
        return last.json
    j = orjson.dumps(source)
    for v in source.values():
        if not (v is None or type(v) is str or type(v) is int or type(v) is float or type(v) is bool):
            return j
    last.obj, last.copy, last.json = source, dict(source), j
    return j


class Message:
    """What request and response share: headers in wire order, the decoded body, timing.

    Plain classes with an explicit ``__init__``, not dataclasses: mypyc compiles them into native
    classes whose construction and attribute reads are C (a dataclass's generated ``__init__``
    stays interpreted). Every attribute is ``Final``: compiled, mypyc makes it read-only at run time
    (assigning raises ``AttributeError``); pure, ``_freeze_pure`` below does the same."""

    __slots__ = ("version", "headers", "body", "body_size", "truncated", "ts", "wire_bytes", "index", "body_incomplete",
                 "body_missing")  # pure Python: slot reads, no per-instance dict

    version: Final[str]
    headers: Final[Headers]
    body: Final[bytes]
    body_size: Final[int]  # decoded entity size as seen on the wire, even when ``body`` was truncated
    truncated: Final[bool]
    ts: Final[float]  # first byte of the message
    # Neither is part of the record: not compared, so a pair read back from its record equals it.
    wire_bytes: Final[int]  # head + framed body as captured, for accounting
    index: Final[dict[str, str] | None]  # lower-case name -> first value
    body_incomplete: Final[bool]  # the capture lost bytes of the body (head and framing survived)
    body_missing: Final[int]  # how many body bytes were lost (at least; framing may hide more)

    def __init__(self, version: str, headers: Headers, body: bytes, body_size: int, truncated: bool, ts: float,
                 wire_bytes: int = 0, index: dict[str, str] | None = None, body_incomplete: bool = False,
                 body_missing: int = 0) -> None:
        self.version = version
        self.headers = headers
        self.body = body
        self.body_size = body_size
        self.truncated = truncated
        self.ts = ts
        self.wire_bytes = wire_bytes
        self.index = index
        self.body_incomplete = body_incomplete
        self.body_missing = body_missing

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (lower-case)."""
        if self.index is not None:
            return self.index.get(name)
        return header_value(self.headers, name)

    @property
    def content_type(self) -> str:
        return self.header("content-type") or ""

    def _same(self, other: Message) -> bool:
        return (self.version == other.version and self.headers == other.headers and self.body == other.body
                and self.body_size == other.body_size and self.truncated == other.truncated and self.ts == other.ts
                and self.body_incomplete == other.body_incomplete and self.body_missing == other.body_missing)

    def _record(self, rec: dict[str, Any]) -> dict[str, Any]:
        """``rec`` (the half's own first keys) completed with what both halves have, in record order."""
        rec["version"] = self.version
        rec["headers"] = self.headers  # a list of tuples: orjson writes them as arrays, no copy
        text = body_text(self.body)  # text bodies stay readable
        if text is not None:
            rec["body"] = text
            rec["body_encoding"] = "utf-8"
        else:
            rec["body"] = base64.b64encode(self.body).decode("ascii")
            rec["body_encoding"] = "base64"
        rec["body_size"] = self.body_size
        rec["truncated"] = self.truncated
        if self.body_incomplete:  # the capture lost part of this body: what it kept is here
            rec["body_incomplete"] = True
            rec["body_missing_bytes"] = self.body_missing
        return rec


class Request(Message):
    __slots__ = ("method", "target")

    method: Final[str]
    target: Final[str]

    def __init__(self, version: str, headers: Headers, body: bytes, body_size: int, truncated: bool, ts: float,
                 wire_bytes: int = 0, index: dict[str, str] | None = None, body_incomplete: bool = False,
                 body_missing: int = 0, method: str = "GET", target: str = "/") -> None:
        super().__init__(version, headers, body, body_size, truncated, ts, wire_bytes, index, body_incomplete,
                         body_missing)
        self.method = method
        self.target = target

    def replace(self, body: bytes | None = None, truncated: bool | None = None, body_incomplete: bool | None = None,
                body_missing: int | None = None) -> Request:
        """A copy with the given fields changed (the model is frozen: stages build new messages)."""
        return Request(self.version, self.headers, self.body if body is None else body, self.body_size,
                       self.truncated if truncated is None else truncated, self.ts, self.wire_bytes, self.index,
                       self.body_incomplete if body_incomplete is None else body_incomplete,
                       self.body_missing if body_missing is None else body_missing, self.method, self.target)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request) or type(other) is not type(self):
            return NotImplemented
        return self._same(other) and self.method == other.method and self.target == other.target

    __hash__ = None  # type: ignore[assignment]  # equal by value, and the headers are a list

    def __repr__(self) -> str:  # never the body or the header values: they may be payload
        return f"<Request {self.method} {self.target} {self.version}, {len(self.headers)} headers, {self.body_size} bytes>"

    def to_record(self) -> dict[str, Any]:
        return self._record({"method": self.method, "target": self.target})


class Response(Message):
    __slots__ = ("status", "reason")

    status: Final[int]
    reason: Final[str]

    def __init__(self, version: str, headers: Headers, body: bytes, body_size: int, truncated: bool, ts: float,
                 wire_bytes: int = 0, index: dict[str, str] | None = None, body_incomplete: bool = False,
                 body_missing: int = 0, status: int = 200, reason: str = "") -> None:
        super().__init__(version, headers, body, body_size, truncated, ts, wire_bytes, index, body_incomplete,
                         body_missing)
        self.status = status
        self.reason = reason

    def replace(self, body: bytes | None = None, truncated: bool | None = None, body_incomplete: bool | None = None,
                body_missing: int | None = None) -> Response:
        """A copy with the given fields changed (the model is frozen: stages build new messages)."""
        return Response(self.version, self.headers, self.body if body is None else body, self.body_size,
                        self.truncated if truncated is None else truncated, self.ts, self.wire_bytes, self.index,
                        self.body_incomplete if body_incomplete is None else body_incomplete,
                        self.body_missing if body_missing is None else body_missing, self.status, self.reason)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response) or type(other) is not type(self):
            return NotImplemented
        return self._same(other) and self.status == other.status and self.reason == other.reason

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.version}, {len(self.headers)} headers, {self.body_size} bytes>"

    def to_record(self) -> dict[str, Any]:
        return self._record({"status": self.status, "reason": self.reason})


class Endpoint:
    __slots__ = ("ip", "port", "meta", "_json")

    ip: Final[str]
    port: Final[int]
    meta: Final[dict[str, Any]]  # pod, namespace, workload... added by enrichment
    # The record's {"ip", "port"} as JSON, made at the first record while meta is empty: the
    # endpoints of a connection are shared by all its pairs. Not part of the value (not compared).
    _json: bytes | None

    def __init__(self, ip: str, port: int, meta: dict[str, Any] | None = None) -> None:
        self.ip = ip
        self.port = port
        self.meta = {} if meta is None else meta  # its own: the coverage tracker fills it in place
        self._json = None

    def _record_json(self) -> bytes:
        """``orjson.dumps(self.to_record())``: made once while meta is empty (the endpoints of a
        connection are shared by all its pairs)."""
        if self.meta:
            return orjson.dumps(self.to_record())
        j = self._json
        if j is None:
            j = orjson.dumps({"ip": self.ip, "port": self.port})
            object.__setattr__(self, "_json", j)  # (the pure build's guard refuses plain assignment)
        return j

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Endpoint):
            return NotImplemented
        return self.ip == other.ip and self.port == other.port and self.meta == other.meta

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Endpoint({self.ip!r}, {self.port!r}, {self.meta!r})"

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"ip": self.ip, "port": self.port}
        if self.meta:
            rec.update(self.meta)
        return rec


class _Ids:
    """Unique ids without uuid4's cost: a random per-process prefix and a counter in hex. A forked
    process (``capture.workers``, ``replay --workers``) draws its own prefix (``os.register_at_fork``):
    a copied counter would give every worker the same ids."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex() + "-"
        self.n = 0
        self.high = self.prefix  # the prefix and the counter's hex digits but the last two (n >= 256)
        self.last = ""  # the last id made: hex digits, nothing in it for JSON to escape

    def next(self) -> str:
        """``prefix + format(n, "x")``: the last two digits from a table, the others made every 256
        ids (``format`` is a generic call, ~1.3k instructions a pair)."""
        n = self.n + 1
        self.n = n
        low = n & 255
        if n < 256:
            made = self.prefix + _HEX_DIGITS[low]
        else:
            if low == 0:
                self.high = self.prefix + format(n >> 8, "x")
            made = self.high + _HEX_PAIRS[low]
        self.last = made
        return made


_HEX_DIGITS: Final = [format(i, "x") for i in range(256)]
_HEX_PAIRS: Final = [format(i, "02x") for i in range(256)]
_ids: Final = _Ids()
os.register_at_fork(after_in_child=_ids.reset)


# -- the record's JSON ------------------------------------------------------------------------------
# ``Pair.to_json`` writes the record as one bytes template (``b"..%s.." % (...)``: compiled, mypyc
# makes it a single copy of the pieces, no list, no join), its pieces: the JSON of parts met before
# kept as bytes (a message's head -- status or method, reason, version, header list --, the
# endpoints, the source) and orjson only for what changes per pair (id, timestamps, target,
# bodies). orjson writes an object's members the same at any depth and without spaces, so a part's
# JSON made apart and spliced in gives ``orjson.dumps(pair.to_record())`` byte for byte
# (tests/interceptor/test_pair_json.py). Measured: see the README's "Compiled core".
_dumps: Final = orjson.dumps  # (a module attribute read is a generic lookup per use)
_HEADS_MAX: Final = 512  # heads remembered (each table; emptied when full: bounded memory)
_HEAD_JSON_MAX: Final = 4096  # bytes: a bigger head is made every time, never kept


class _Head:
    """A message head's JSON (``pre``, and ``post`` after a request's target) and what it was made
    from: the start line's fields and the header tuples themselves. A head is found by the identity
    of its first header tuple and matches only when every tuple is the same object (the parser
    shares the tuples of a field block met before, httpsyntax.known_fields): comparing is a
    pointer test per header, no hashing; holding the tuples keeps their ids from being reused."""

    __slots__ = ("headers", "word", "code", "version", "pre", "post")

    def __init__(self, headers: list[Any], word: str, code: int, version: str, pre: bytes, post: bytes) -> None:
        # Our own copy (the message's list is its own). ``list[Any]``, not ``Headers``: compiled, an
        # item read from a ``list[tuple[str, str]]`` is unboxed into a new native tuple, which has no
        # identity to compare (and a list item would raise).
        self.headers = list(headers)
        self.word = word  # the method, or the reason
        self.code = code  # the status (0 for a request)
        self.version = version
        self.pre = pre
        self.post = post

    def matches(self, headers: list[Any], word: str, code: int, version: str) -> bool:
        mine = self.headers
        n = len(mine)
        if n != len(headers) or code != self.code or word != self.word or version != self.version:
            return False
        for i in range(n):
            if headers[i] is not mine[i]:
                return False
        return True


_request_heads: Final[dict[int, _Head]] = {}
_response_heads: Final[dict[int, _Head]] = {}
_PROTOCOLS_JSON: Final = {p: orjson.dumps(p) for p in PROTOCOLS}


def _head_of(table: dict[int, _Head], headers: list[Any], word: str, code: int, version: str) -> _Head | None:
    head = table.get(id(headers[0]) if headers else 0)
    if head is not None and head.matches(headers, word, code, version):
        return head
    return None


def _remember(table: dict[int, _Head], head: _Head) -> None:
    if len(head.pre) + len(head.post) > _HEAD_JSON_MAX:
        return
    for h in head.headers:
        if type(h) is not tuple:  # (a list could change in place: only immutable tuples are kept)
            return
    if len(table) >= _HEADS_MAX:
        table.clear()
    table[id(head.headers[0]) if head.headers else 0] = head


def _request_head(req: Request) -> _Head:
    """``{"method":..,"target":`` and ``,"version":..,"headers":[..]``: the target (it varies with
    the ids in paths) is written between them, each time."""
    head = _head_of(_request_heads, req.headers, req.method, 0, req.version)
    if head is None:
        head = _Head(req.headers, req.method, 0, req.version, _dumps({"method": req.method})[:-1] + b',"target":',
                     b"," + _dumps({"version": req.version, "headers": req.headers})[1:-1])
        _remember(_request_heads, head)
    return head


def _response_head(resp: Response) -> _Head:
    """``{"status":..,"reason":..,"version":..,"headers":[..]``."""
    head = _head_of(_response_heads, resp.headers, resp.reason, resp.status, resp.version)
    if head is None:
        head = _Head(resp.headers, resp.reason, resp.status, resp.version,
                     _dumps({"status": resp.status, "reason": resp.reason, "version": resp.version,
                             "headers": resp.headers})[:-1], b"")
        _remember(_response_heads, head)
    return head


def _body_json(m: Message) -> tuple[bytes, bytes]:
    """The body as the record's JSON string, and its encoding's name."""
    body = m.body
    if not body:
        return b'""', b"utf-8"
    text = body_text(body)
    if text is not None:
        return _dumps(text), b"utf-8"
    return b'"%s"' % base64.b64encode(body), b"base64"  # (base64's alphabet needs no escaping)


def _flags_json(m: Message) -> bytes:
    """``"truncated"`` and what the capture lost of the body, the message's last members."""
    truncated = b"true" if m.truncated else b"false"
    if m.body_incomplete:
        return b'%s,"body_incomplete":true,"body_missing_bytes":%d' % (truncated, m.body_missing)
    return truncated


def _id_json(id_: str) -> bytes:
    if id_ is _ids.last:  # made by _Ids just now (a pair is written as it is made): nothing to escape
        return b'"%s"' % id_.encode()
    return _dumps(id_)


class Pair:
    __slots__ = ("request", "response", "src", "dst", "source", "protocol", "headers_incomplete", "grpc", "id")

    request: Final[Request]
    response: Final[Response]
    src: Final[Endpoint]  # the client
    dst: Final[Endpoint]  # the server
    source: Final[dict[str, Any]]  # {"kind": "pcap-file", "file": ...} / {"kind": "openssl", "pid": ...}
    protocol: Final[str]  # "http/1.1", "h2", or "grpc" (HTTP/2 carrying application/grpc)
    headers_incomplete: Final[bool]  # HTTP/2 joined late or after loss: fields we could not decode left out
    grpc: Final[GrpcCall | None]
    # Unique per pair. A counter, not uuid4 (~0.1 us): made for every pair, even those filtered later.
    id: Final[str]

    def __init__(self, request: Request, response: Response, src: Endpoint, dst: Endpoint, source: dict[str, Any],
                 protocol: str = "http/1.1", headers_incomplete: bool = False, grpc: GrpcCall | None = None,
                 id: str = "") -> None:  # noqa: A002 - the record's key
        self.request = request
        self.response = response
        self.src = src
        self.dst = dst
        self.source = source
        self.protocol = protocol
        self.headers_incomplete = headers_incomplete
        self.grpc = grpc
        self.id = id or _ids.next()

    def replace(self, request: Request | None = None, response: Response | None = None, src: Endpoint | None = None,
                dst: Endpoint | None = None, id: str | None = None) -> Pair:  # noqa: A002
        """A copy with the given fields changed, its id kept unless given (stages: truncation, enrichment)."""
        return Pair(self.request if request is None else request, self.response if response is None else response,
                    self.src if src is None else src, self.dst if dst is None else dst, self.source, self.protocol,
                    self.headers_incomplete, self.grpc, self.id if id is None else id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pair):
            return NotImplemented
        return (self.id == other.id and self.request == other.request and self.response == other.response
                and self.src == other.src and self.dst == other.dst and self.source == other.source
                and self.protocol == other.protocol and self.headers_incomplete == other.headers_incomplete
                and self.grpc == other.grpc)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"<Pair {self.id} {self.protocol} {self.src.ip}:{self.src.port} -> {self.dst.ip}:{self.dst.port} "
                f"{self.request!r} {self.response!r}>")

    @property
    def body_bytes(self) -> int:
        return len(self.request.body) + len(self.response.body)

    def to_record(self) -> dict[str, Any]:
        req, resp = self.request, self.response
        rec: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "ts_request": req.ts,
            "ts_response": resp.ts,
            "src": self.src.to_record(),
            "dst": self.dst.to_record(),
            "request": req.to_record(),
            "response": resp.to_record(),
            "source": self.source,
            "protocol": self.protocol,
        }
        if self.headers_incomplete:
            rec["headers_incomplete"] = True
        if self.grpc is not None:
            rec["grpc"] = self.grpc.to_record()
        return rec

    def _json(self, end: bytes) -> bytes:
        """The record's JSON and ``end`` (see "the record's JSON" above)."""
        req, resp = self.request, self.response
        qhead, rhead = _request_head(req), _response_head(resp)
        qbody, qenc = _body_json(req)
        rbody, renc = _body_json(resp)
        protocol = _PROTOCOLS_JSON.get(self.protocol)
        if protocol is None:
            protocol = _dumps(self.protocol)
        extra = b""
        if self.headers_incomplete:
            extra = b',"headers_incomplete":true'
        if self.grpc is not None:
            extra += b',"grpc":' + _dumps(self.grpc.to_record())
        return (b'{"schema_version":%d,"id":%s,"ts_request":%s,"ts_response":%s,"src":%s,"dst":%s,'
                b'"request":%s%s%s,"body":%s,"body_encoding":"%s","body_size":%d,"truncated":%s},'
                b'"response":%s,"body":%s,"body_encoding":"%s","body_size":%d,"truncated":%s},'
                b'"source":%s,"protocol":%s%s%s') % (
            SCHEMA_VERSION, _id_json(self.id), _dumps(req.ts), _dumps(resp.ts),
            self.src._record_json(), self.dst._record_json(),
            qhead.pre, _dumps(req.target), qhead.post, qbody, qenc, req.body_size, _flags_json(req),
            rhead.pre, rbody, renc, resp.body_size, _flags_json(resp),
            _source_json(self.source), protocol, extra, end)

    def to_json(self) -> bytes:
        """The record as JSON: ``orjson.dumps(self.to_record())``, byte for byte."""
        return self._json(b"}")

    def to_json_line(self) -> bytes:
        """``to_json`` and a newline."""
        return self._json(b"}\n")

    @staticmethod
    def from_record(rec: Any) -> Pair:
        """The pair a record (v1, as parsed JSON) describes; ``RecordError`` naming the first key that
        is missing or of the wrong type. Keys this version does not know are ignored (the schema's
        rule for readers), so ``to_record`` of the result drops them."""
        return _read_pair(rec, True)


def _freeze_pure(cls: type) -> None:
    """Interpreted, instances of ``cls`` become read-only as the compiled build's are (there mypyc
    enforces the ``Final`` attributes; the interpreter does not). Assignment raises; construction
    runs the class's own ``__init__`` on a mutable twin of the class (same slots, plain attribute
    stores: a guarded ``__setattr__`` would cost ~0.3 us a field) and then switches the class. The
    wrapper is generated with ``__init__``'s own parameters: ``*args, **kwargs`` cost a dict a call."""
    init = vars(cls)["__init__"]  # each of them defines its own
    twin = type(cls.__name__, (cls,), {"__slots__": (), "__setattr__": object.__setattr__,
                                       "__delattr__": object.__delattr__})
    env: dict[str, Any] = {"init": init, "cls": cls, "twin": twin, "setclass": object.__setattr__}
    params, names = [], []
    for p in list(inspect.signature(init).parameters.values())[1:]:
        names.append(p.name)
        if p.default is inspect.Parameter.empty:
            params.append(p.name)
        else:
            env[f"_default_{p.name}"] = p.default
            params.append(f"{p.name}=_default_{p.name}")
    args = ", ".join(names)
    exec(f"def __init__(self, {', '.join(params)}):\n"  # noqa: S102 - our own parameter names
         f"    if type(self) is not cls:  # a subclass's __init__ calling ours: already on its twin\n"
         f"        init(self, {args})\n"
         f"        return\n"
         f"    setclass(self, '__class__', twin)\n"
         f"    init(self, {args})\n"
         f"    setclass(self, '__class__', cls)\n", env)
    env["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
    env["__init__"].__doc__ = init.__doc__
    setattr(cls, "__init__", env["__init__"])  # noqa: B010 - assigning through the type would not pass mypy
    setattr(cls, "__setattr__", _read_only)  # noqa: B010
    setattr(cls, "__delattr__", _read_only)  # noqa: B010


def _read_only(self: Any, name: str, value: Any = None) -> None:
    raise AttributeError(f"attribute '{name}' of '{type(self).__name__}' objects is not writable")


if isinstance(_freeze_pure, types.FunctionType):  # interpreted (compiled, functions are native)
    for _cls in (Message, Request, Response, Endpoint, Pair):
        _freeze_pure(_cls)


def _read_pair(rec: Any, bodies: bool) -> Pair:
    check_record(rec)
    grpc = _read_grpc(rec["grpc"]) if rec.get("grpc") is not None else None
    req, resp = rec["request"], rec["response"]
    request = Request(req["version"], _read_headers(req), _decode_body(req, "request", bodies), req["body_size"],
                      req["truncated"], float(rec["ts_request"]), 0, None, req.get("body_incomplete", False),
                      req.get("body_missing_bytes", 0), req["method"], req["target"])
    response = Response(resp["version"], _read_headers(resp), _decode_body(resp, "response", bodies),
                        resp["body_size"], resp["truncated"], float(rec["ts_response"]), 0, None,
                        resp.get("body_incomplete", False), resp.get("body_missing_bytes", 0), resp["status"],
                        resp["reason"])
    return Pair(request, response, _read_endpoint(rec["src"]), _read_endpoint(rec["dst"]), rec["source"],
                rec.get("protocol", "http/1.1"), rec.get("headers_incomplete", False), grpc, rec["id"])


def _read_endpoint(rec: dict[str, Any]) -> Endpoint:
    return Endpoint(rec["ip"], rec["port"], {k: v for k, v in rec.items() if k != "ip" and k != "port"})


def _read_headers(rec: dict[str, Any]) -> Headers:
    """A checked message's headers as the parsers give them: (name, value) tuples."""
    return [(h[0], h[1]) for h in rec["headers"]]


def _decode_body(rec: dict[str, Any], where: str, decode: bool) -> bytes:
    """The body of a checked message (a string, utf-8 or base64) as bytes; b"" unless ``decode``."""
    if not decode:
        return b""
    text = rec["body"]
    if rec["body_encoding"] == "utf-8":
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (\ud800) is JSON but not UTF-8
            raise RecordError(f"{where}.body: not valid UTF-8 text") from None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RecordError(f"{where}.body: not valid base64") from None


def _read_grpc(rec: dict[str, Any]) -> GrpcCall:
    """A gRPC object ``_check_grpc`` passed."""
    from interceptor.grpc import GrpcCall

    return GrpcCall(rec["service"], rec["method"], rec["status"], rec["message"], rec["request_messages"],
                    rec["response_messages"], rec["messages_omitted"])
