"""The pair record: one HTTP request (HTTP/1.x, HTTP/2, gRPC), its response, and where they were seen.

This is the data model the whole system shares, from the HTTP parser to the Kafka sink to the
processor. Its JSON form is specified by ``schema/pair.v1.json``; ``Pair.to_record`` is the one
place that produces it.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from interceptor.grpc import GrpcCall

SCHEMA_VERSION = 1

Headers = list[tuple[str, str]]


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of header ``name`` (lower-case), or None."""
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


@dataclass(slots=True)
class Message:
    """What request and response share: headers in wire order, the decoded body, timing."""

    version: str
    headers: Headers
    body: bytes
    body_size: int  # decoded entity size as seen on the wire, even when ``body`` was truncated
    truncated: bool
    ts: float  # first byte of the message
    wire_bytes: int = 0  # head + framed body as captured, for accounting
    index: dict[str, str] | None = None  # lower-case header name -> first value, when the parser built it
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


@dataclass(slots=True)
class Request(Message):
    method: str = "GET"
    target: str = "/"


@dataclass(slots=True)
class Response(Message):
    status: int = 200
    reason: str = ""


@dataclass(slots=True)
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


@dataclass(slots=True)
class Pair:
    request: Request
    response: Response
    src: Endpoint  # the client
    dst: Endpoint  # the server
    source: dict[str, Any]  # {"kind": "pcap-file", "file": ...} / {"kind": "openssl", "pid": ...}
    _id: str = ""
    protocol: str = "http/1.1"  # "h2", or "grpc" (HTTP/2 carrying application/grpc)
    headers_incomplete: bool = False  # HTTP/2 joined late or after loss: fields we could not decode left out
    grpc: GrpcCall | None = None

    @property
    def id(self) -> str:
        """Unique per pair; made when first asked for (most pairs are filtered before that)."""
        if not self._id:
            self._id = _ids.next()
        return self._id

    @id.setter
    def id(self, value: str) -> None:
        self._id = value

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


def encode_body(body: bytes) -> tuple[str, str]:
    """Text bodies stay readable (utf-8); anything else is base64."""
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"
