"""The pair record: one HTTP request (HTTP/1.x, HTTP/2, gRPC), its response, and where they were seen.

This is the one data model the whole system shares, from the HTTP parser to the Kafka sink to the
processor. Every type here is frozen: a pair is built once, complete, and a stage that changes it
(truncation, enrichment) builds a new one with ``dataclasses.replace`` -- so no pair, and no
endpoint shared by the pairs of one connection, is changed behind another stage's back.

Its JSON form: ``Pair.to_record`` is the one place that produces it, ``Pair.from_record`` the one
place that reads it back (and checks it: the processor's record check is ``from_record``).
``schema/pair.v1.json`` describes the same record; tests/interceptor/test_pair_model.py checks
that its keys and required lists are the ones declared below (``RECORD_KEYS``).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

if TYPE_CHECKING:
    from interceptor.grpc import GrpcCall

SCHEMA_VERSION = 1

Headers = list[tuple[str, str]]
T = TypeVar("T")


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of header ``name`` (lower-case), or None."""
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def built_once(cls: type[T]) -> type[T]:
    """A frozen, slotted dataclass with a fast ``__init__``.

    ``frozen=True``'s own ``__init__`` sets each field through ``object.__setattr__`` (~0.3 us a
    field: ~10 us per pair for its 35 fields, measured). This one calls each slot's descriptor
    directly (the same store, without the frozen ``__setattr__``); everything else -- assignment
    raising ``FrozenInstanceError``, ``replace``, ``==`` -- is the dataclass's."""
    names, params, body = [], [], []
    env: dict[str, Any] = {"_MISSING": MISSING}
    for f in fields(cls):  # type: ignore[arg-type]
        names.append(f.name)
        env[f"_set_{f.name}"] = getattr(cls, f.name).__set__  # the slot's member descriptor
        if f.default is not MISSING:
            env[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
            body.append(f"    _set_{f.name}(self, {f.name})")
        elif f.default_factory is not MISSING:
            env[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            body.append(f"    _set_{f.name}(self, _factory_{f.name}() if {f.name} is _MISSING else {f.name})")
        else:
            params.append(f.name)
            body.append(f"    _set_{f.name}(self, {f.name})")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body), env)  # noqa: S102 - our own fields
    env["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = env["__init__"]  # type: ignore[misc]
    return cls


@built_once
@dataclass(frozen=True, slots=True)
class Message:
    """What request and response share: headers in wire order, the decoded body, timing."""

    version: str
    headers: Headers
    body: bytes
    body_size: int  # decoded entity size as seen on the wire, even when ``body`` was truncated
    truncated: bool
    ts: float  # first byte of the message
    # Neither is part of the record: not compared, so a pair read back from its record equals it.
    wire_bytes: int = field(default=0, compare=False)  # head + framed body as captured, for accounting
    index: dict[str, str] | None = field(default=None, compare=False)  # lower-case name -> first value
    body_incomplete: bool = False  # the capture lost bytes of the body (head and framing survived)
    body_missing: int = 0  # how many body bytes were lost (at least; framing may hide more)

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (lower-case)."""
        if self.index is not None:
            return self.index.get(name)
        return header_value(self.headers, name)

    @property
    def content_type(self) -> str:
        return self.header("content-type") or ""


@built_once
@dataclass(frozen=True, slots=True)
class Request(Message):
    method: str = "GET"
    target: str = "/"


@built_once
@dataclass(frozen=True, slots=True)
class Response(Message):
    status: int = 200
    reason: str = ""


@built_once
@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int
    meta: dict[str, Any] = field(default_factory=dict)  # pod, namespace, workload... added by enrichment

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"ip": self.ip, "port": self.port}
        if self.meta:
            rec.update(self.meta)
        return rec


class _Ids:
    """Unique ids without uuid4's cost: a random per-process prefix and a counter."""

    def __init__(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"{self.prefix}-{self.n:x}"


_ids = _Ids()


@built_once
@dataclass(frozen=True, slots=True)
class Pair:
    request: Request
    response: Response
    src: Endpoint  # the client
    dst: Endpoint  # the server
    source: dict[str, Any]  # {"kind": "pcap-file", "file": ...} / {"kind": "openssl", "pid": ...}
    protocol: str = "http/1.1"  # "h2", or "grpc" (HTTP/2 carrying application/grpc)
    headers_incomplete: bool = False  # HTTP/2 joined late or after loss: fields we could not decode left out
    grpc: GrpcCall | None = None
    # Unique per pair. A counter, not uuid4 (~0.1 us): made for every pair, even those filtered later.
    id: str = field(default_factory=_ids.next)

    @property
    def body_bytes(self) -> int:
        return len(self.request.body) + len(self.response.body)

    def to_record(self) -> dict[str, Any]:
        rec = self._record()
        rec["protocol"] = self.protocol
        if self.headers_incomplete:
            rec["headers_incomplete"] = True
        if self.grpc is not None:
            rec["grpc"] = self.grpc.to_record()
        return rec

    def _record(self) -> dict[str, Any]:
        req, resp = self.request, self.response
        rbody, renc = encode_body(req.body)
        sbody, senc = encode_body(resp.body)
        record: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "ts_request": req.ts,
            "ts_response": resp.ts,
            "src": self.src.to_record(),
            "dst": self.dst.to_record(),
            "request": {
                "method": req.method,
                "target": req.target,
                "version": req.version,
                "headers": req.headers,
                "body": rbody,
                "body_encoding": renc,
                "body_size": req.body_size,
                "truncated": req.truncated,
            },
            "response": {
                "status": resp.status,
                "reason": resp.reason,
                "version": resp.version,
                "headers": resp.headers,
                "body": sbody,
                "body_encoding": senc,
                "body_size": resp.body_size,
                "truncated": resp.truncated,
            },
            "source": self.source,
        }
        for half, msg in (("request", req), ("response", resp)):
            if msg.body_incomplete:  # the capture lost part of this body: what it kept is here
                record[half]["body_incomplete"] = True
                record[half]["body_missing_bytes"] = msg.body_missing
        return record

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_record())

    def to_json_line(self) -> bytes:
        """``to_json`` and a newline, made by orjson in the same buffer (no copy of a ~2 KB line)."""
        return orjson.dumps(self.to_record(), option=orjson.OPT_APPEND_NEWLINE)


    @classmethod
    def from_record(cls, rec: Any) -> Pair:
        """The pair a record (v1, as parsed JSON) describes; ``RecordError`` naming the first key that
        is missing or of the wrong type. Keys this version does not know are ignored (the schema's
        rule for readers), so ``to_record`` of the result drops them."""
        return _read_pair(rec, True)


# -- the record's layout (pair.v1.json says the same; a test holds the two together) --------------
# Per object of the record: its required keys, then the optional ones.
RECORD_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pair": (("schema_version", "id", "ts_request", "ts_response", "src", "dst", "request", "response", "source"),
             ("protocol", "headers_incomplete", "grpc")),
    "request": (("method", "target", "version", "headers", "body", "body_encoding", "body_size", "truncated"),
                ("body_incomplete", "body_missing_bytes")),
    "response": (("status", "reason", "version", "headers", "body", "body_encoding", "body_size", "truncated"),
                 ("body_incomplete", "body_missing_bytes")),
    "endpoint": (("ip", "port"), ()),  # plus the enrichment's meta keys, open-ended
    "grpc": (("service", "method", "status", "message", "request_messages", "response_messages",
              "messages_omitted"), ()),
    "source": (("kind",), ()),
}
_REQUIRED = {kind: frozenset(required) for kind, (required, _) in RECORD_KEYS.items()}
PROTOCOLS = ("http/1.1", "h2", "grpc")
BODY_ENCODINGS = ("utf-8", "base64")


class RecordError(ValueError):
    """A record that is not a pair v1; the message names the key (never its value: it may be payload)."""


def _obj(rec: Any, where: str, kind: str) -> dict[str, Any]:
    if not isinstance(rec, dict):
        raise RecordError(f"{where}: missing or not an object")
    if rec.keys() >= _REQUIRED[kind]:  # all there (one C-speed test); else name the first missing
        return rec
    for key in RECORD_KEYS[kind][0]:
        if key not in rec:
            raise RecordError(f"{where}.{key}: missing" if where != "<top>" else f"{key}: missing")
    return rec


def _typed(value: Any, tp: type | tuple[type, ...], where: str, what: str) -> Any:
    # bool is an int in Python; a JSON true where a number belongs is still wrong.
    if not isinstance(value, tp) or (isinstance(value, bool) and tp is not bool):
        raise RecordError(f"{where}: missing or not {what}")
    return value


# What each key of a message holds, in the order checked: (key, type, what, the error's "where", the
# value when absent -- None for a required key, which ``_obj`` found). The ``where`` strings are
# made once here: the processor checks every record it reads, and building them per record
# (f-strings for ~20 keys) was most of that check's cost.
_MESSAGE_TYPES: dict[str, tuple[tuple[str, type, str, str, Any], ...]] = {
    where: tuple((key, tp, what, f"{where}.{key}", absent) for key, tp, what, absent in (
        ("version", str, "a string", None), ("body_size", int, "an integer", None), ("truncated", bool, "a boolean", None),
        ("body_incomplete", bool, "a boolean", False), ("body_missing_bytes", int, "an integer", 0),
        *((("method", str, "a string", None), ("target", str, "a string", None)) if where == "request"
          else (("status", int, "an integer", None), ("reason", str, "a string", None)))))
    for where in ("request", "response")
}
_AT = {where: {key: f"{where}.{key}" for key in ("headers", "body", "body_encoding")} for where in ("request", "response")}


def check_record(rec: Any) -> None:
    """``from_record``'s checks without building the pair or decoding the bodies: for a reader (the
    processor) that reads the record itself and copes with a body that is not valid base64 (the
    schema only says string)."""
    _check_pair(rec)


def _check_pair(rec: Any) -> None:
    if not isinstance(rec, dict):
        raise RecordError("<top>: not an object")
    if rec.get("schema_version") != SCHEMA_VERSION:
        raise RecordError(f"schema_version: expected {SCHEMA_VERSION}, got {rec.get('schema_version')!r}"[:120])
    _obj(rec, "<top>", "pair")
    pid = _typed(rec["id"], str, "id", "a string")
    if not pid:
        raise RecordError("id: missing or not a string")
    _check_endpoint(rec["src"], "src")
    _check_endpoint(rec["dst"], "dst")
    source = rec["source"]
    if not isinstance(source, dict) or not isinstance(source.get("kind"), str):
        raise RecordError("source: expected an object with kind")
    _typed(rec["ts_request"], (int, float), "ts_request", "a number")
    _typed(rec["ts_response"], (int, float), "ts_response", "a number")
    _check_message(rec["request"], "request")
    _check_message(rec["response"], "response")
    if rec.get("protocol", "http/1.1") not in PROTOCOLS:
        raise RecordError(f"protocol: must be one of {', '.join(PROTOCOLS)}")
    if rec.get("grpc") is not None:
        _check_grpc(rec["grpc"])
    _typed(rec.get("headers_incomplete", False), bool, "headers_incomplete", "a boolean")


def _read_pair(rec: Any, bodies: bool) -> Pair:
    _check_pair(rec)
    grpc = _read_grpc(rec["grpc"]) if rec.get("grpc") is not None else None
    request = _read_message(rec["request"], "request", float(rec["ts_request"]), bodies)
    response = _read_message(rec["response"], "response", float(rec["ts_response"]), bodies)
    return Pair(request, response, _read_endpoint(rec["src"]), _read_endpoint(rec["dst"]),  # type: ignore[arg-type]
                rec["source"], rec.get("protocol", "http/1.1"), rec.get("headers_incomplete", False), grpc, rec["id"])


def _check_endpoint(rec: Any, where: str) -> None:
    if not (isinstance(rec, dict) and isinstance(rec.get("ip"), str) and isinstance(rec.get("port"), int)
            and not isinstance(rec["port"], bool)):
        raise RecordError(f"{where}: expected an object with ip and port")


def _read_endpoint(rec: dict[str, Any]) -> Endpoint:
    return Endpoint(rec["ip"], rec["port"], {k: v for k, v in rec.items() if k != "ip" and k != "port"})


def _check_message(rec: Any, where: str) -> None:
    _obj(rec, where, where)
    at = _AT[where]
    headers = _typed(rec["headers"], list, at["headers"], "a list")
    for i, h in enumerate(headers):
        if not (isinstance(h, (list, tuple)) and len(h) == 2 and isinstance(h[0], str) and isinstance(h[1], str)):
            raise RecordError(f"{where}.headers[{i}]: expected [name, value] strings")
    _typed(rec["body"], str, at["body"], "a string")
    if rec["body_encoding"] not in BODY_ENCODINGS:
        raise RecordError(f"{at['body_encoding']}: must be utf-8 or base64")
    for key, tp, what, key_at, absent in _MESSAGE_TYPES[where]:
        value = rec.get(key, absent)
        # the exact type (what JSON gives) first; a subclass passes too, a bool for a number does not
        if type(value) is not tp and (not isinstance(value, tp) or isinstance(value, bool)):
            raise RecordError(f"{key_at}: missing or not {what}")


def _read_message(rec: dict[str, Any], where: str, ts: float, decode: bool) -> Request | Response:
    """A message ``_check_message`` passed."""
    common = (rec["version"], [(h[0], h[1]) for h in rec["headers"]], _decode_body(rec, where, decode),
              rec["body_size"], rec["truncated"], ts)
    incomplete = {"body_incomplete": rec.get("body_incomplete", False), "body_missing": rec.get("body_missing_bytes", 0)}
    if where == "request":
        return Request(*common, **incomplete, method=rec["method"], target=rec["target"])
    return Response(*common, **incomplete, status=rec["status"], reason=rec["reason"])


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


def _check_grpc(rec: Any) -> None:
    _obj(rec, "grpc", "grpc")
    if rec["status"] is not None:
        _typed(rec["status"], int, "grpc.status", "an integer or null")
    _typed(rec["service"], str, "grpc.service", "a string")
    _typed(rec["method"], str, "grpc.method", "a string")
    _typed(rec["message"], str, "grpc.message", "a string")
    _typed(rec["request_messages"], list, "grpc.request_messages", "a list")
    _typed(rec["response_messages"], list, "grpc.response_messages", "a list")
    _typed(rec["messages_omitted"], int, "grpc.messages_omitted", "an integer")


def _read_grpc(rec: dict[str, Any]) -> GrpcCall:
    """A gRPC object ``_check_grpc`` passed."""
    from interceptor.grpc import GrpcCall

    return GrpcCall(rec["service"], rec["method"], rec["status"], rec["message"], rec["request_messages"],
                    rec["response_messages"], rec["messages_omitted"])


def encode_body(body: bytes) -> tuple[str, str]:
    """Text bodies stay readable (utf-8); anything else is base64."""
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"
