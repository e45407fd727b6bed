"""Helpers of the HTTP/2 and gRPC real-traffic tests: the Go gRPC program (built once, module
downloads cached), tshark's view of an HTTP/2 capture, and the comparisons.

A ``Call`` is what a gRPC client recorded (tools/grpcapp, tools/pygrpc.py); an ``H2Stream`` is what
tshark dissected for one stream (``-d tcp.port==P,http2``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interceptor import protobuf
from tests.interceptor.tools.realtraffic import GO, GO_CACHE, TOOLS
from tests.interceptor.tools.realtraffic import _body as body_of

GRPCAPP = TOOLS / "grpcapp"
GOMODCACHE = GO_CACHE / "gomod"  # Go module downloads, kept between runs (CI does not download again)


def go_toolchain() -> str | None:
    if GO.exists():
        return str(GO)
    return shutil.which("go")


def grpcapp_binary() -> Path | None:
    """tools/grpcapp built once (cached by a hash of main.go, go.mod and go.sum), or None without Go."""
    go = go_toolchain()
    if go is None:
        return None
    digest = hashlib.sha256(b"".join((GRPCAPP / f).read_bytes() for f in ("main.go", "go.mod", "go.sum")))
    binary = GO_CACHE / f"grpcapp-{digest.hexdigest()[:12]}"
    if not binary.exists():
        GO_CACHE.mkdir(parents=True, exist_ok=True)
        tmp = binary.with_suffix(f".{os.getpid()}.tmp")  # two pytest processes may build at once (scripts/test.sh)
        env = {**os.environ, "GOCACHE": str(GO_CACHE / "gocache"), "GOMODCACHE": str(GOMODCACHE),
               "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
        subprocess.run(["nice", go, "build", "-o", str(tmp), "."], check=True, env=env, cwd=GRPCAPP,
                       capture_output=True, timeout=900)
        tmp.replace(binary)
    return binary


@dataclass
class Call:
    path: str
    requests: list[bytes]
    responses: list[bytes]
    code: int
    message: str


def calls_of(stdout: str) -> list[Call]:
    return [Call(c["path"], [base64.b64decode(m) for m in c["requests"]],
                 [base64.b64decode(m) for m in c["responses"]], c["code"], c["message"])
            for c in json.loads(stdout)]


def grpc_framed(messages: list[bytes]) -> bytes:
    """The uncompressed gRPC body of these messages."""
    return b"".join(b"\x00" + len(m).to_bytes(4, "big") + m for m in messages)


def assert_grpc_calls(calls: list[Call], records: list[dict[str, Any]]) -> None:
    """One pair per call, in order (one connection, calls made one after the other), with the
    client's status and every message decoded as the client's own bytes decode."""
    records = sorted(records, key=lambda r: r["ts_request"])
    assert [r["request"]["target"] for r in records] == [c.path for c in calls]
    for call, rec in zip(calls, records, strict=True):
        g = rec["grpc"]
        assert rec["protocol"] == "grpc" and not rec.get("headers_incomplete")
        assert f"/{g['service']}/{g['method']}" == call.path
        assert (g["status"], g["message"]) == (call.code, call.message)
        assert g["request_messages"] == [protobuf.decode(m) for m in call.requests]
        assert g["response_messages"] == [protobuf.decode(m) for m in call.responses]
        if rec["request"]["headers"] and ["grpc-encoding", "gzip"] not in rec["request"]["headers"]:
            assert body_of(rec["request"]) == grpc_framed(call.requests)  # byte-exact when uncompressed



# -- tshark ---------------------------------------------------------------------------------------
@dataclass
class H2Stream:
    conn: int  # tcp.stream
    stream_id: int
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    request_data: bytes = b""
    response_data: bytes = b""

    def header(self, name: str, response: bool = False) -> str | None:
        for k, v in self.response_headers if response else self.request_headers:
            if k == name:
                return v
        return None


class _Repeated(list):  # type: ignore[type-arg]
    """Values of a key tshark's JSON repeats (one per frame, one per header field)."""


def _pairs_hook(items: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in items:
        if k not in out:
            out[k] = v
        elif isinstance(out[k], _Repeated):
            out[k].append(v)
        else:
            out[k] = _Repeated([out[k], v])
    return out


def _many(v: Any) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def tshark_h2(capture: Path, port: int, decode_as: bool = True) -> list[H2Stream]:
    """Every HTTP/2 stream tshark dissects in ``capture`` with ``-d tcp.port==PORT,http2`` (or, with
    ``decode_as`` off, as tshark finds it: an HTTP/1 ``Upgrade: h2c`` switches it to HTTP/2)."""
    argv = ["tshark", "-r", str(capture), "-o", "tcp.reassemble_out_of_order:TRUE",
            *(["-d", f"tcp.port=={port},http2"] if decode_as else []), "-Y", "http2", "-T", "json"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    if res.returncode != 0:
        raise AssertionError(f"tshark failed: {res.stderr[-1000:]}")
    streams: dict[tuple[int, int], H2Stream] = {}
    for pkt in json.loads(res.stdout or "[]", object_pairs_hook=_pairs_hook):
        layers = pkt["_source"]["layers"]
        tcp = layers["tcp"]
        conn, from_client = int(tcp["tcp.stream"]), int(tcp["tcp.dstport"]) == port
        for h2 in _many(layers.get("http2")):
            for frame in _many(h2.get("http2.stream")):
                if not isinstance(frame, dict) or "http2.type" not in frame:
                    continue
                sid = int(frame["http2.streamid"])
                if sid == 0:
                    continue
                s = streams.setdefault((conn, sid), H2Stream(conn, sid))
                ftype = int(frame["http2.type"])
                if ftype == 0 and "http2.data.data" in frame:
                    raw = bytes.fromhex(frame["http2.data.data"].replace(":", ""))
                    whole = "http2.body.reassembled.data" in frame.get("http2.body.fragments", {})
                    # A body of several DATA frames: the last one shows it reassembled, whole.
                    if from_client:
                        s.request_data = raw if whole else s.request_data + raw
                    else:
                        s.response_data = raw if whole else s.response_data + raw
                elif ftype in (1, 9):
                    fields = [(h["http2.header.name"], h.get("http2.header.value", ""))
                              for h in _many(frame.get("http2.header")) if isinstance(h, dict)]
                    (s.request_headers if from_client else s.response_headers).extend(fields)
    return list(streams.values())
