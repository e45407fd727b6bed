"""The pair record: one HTTP request (HTTP/1.x, HTTP/2, gRPC), its response, and where they were seen.

This is the one data model the whole system shares, from the HTTP parser to the Kafka sink to the
processor. Every type here is frozen: a pair is built once, complete, and a stage that changes it
(truncation, enrichment) builds a new one with ``dataclasses.replace`` -- so no pair, and no
endpoint shared by the pairs of one connection, is changed behind another stage's back.

Its JSON form: ``Pair.to_record`` is the one place that produces it, ``Pair.from_record`` the one
place that reads it back (and checks it: the processor's record check is ``from_record``).
``schema/pair.v1.json`` describes the same record; tests/interceptor/test_pair_model.py checks
that its keys and required lists are the ones declared in interceptor/pairrecord.py (``RECORD_KEYS``).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

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


def _read_pair(rec: Any, bodies: bool) -> Pair:
    check_record(rec)
    grpc = _read_grpc(rec["grpc"]) if rec.get("grpc") is not None else None
    request = _read_message(rec["request"], "request", float(rec["ts_request"]), bodies)
    response = _read_message(rec["response"], "response", float(rec["ts_response"]), bodies)
    return Pair(request, response, _read_endpoint(rec["src"]), _read_endpoint(rec["dst"]),  # type: ignore[arg-type]
                rec["source"], rec.get("protocol", "http/1.1"), rec.get("headers_incomplete", False), grpc, rec["id"])


def _read_endpoint(rec: dict[str, Any]) -> Endpoint:
    return Endpoint(rec["ip"], rec["port"], {k: v for k, v in rec.items() if k != "ip" and k != "port"})


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
