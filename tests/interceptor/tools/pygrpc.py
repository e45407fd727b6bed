"""A Python grpcio server and client for the real-traffic tests (run inside a test namespace).

``pygrpc.py server PORT``: service ``acme.v2.Accounts`` with generic handlers on raw bytes (no
codegen): ``Lookup`` (unary: echoes the request message with a status field appended) and
``Statement`` (server streaming: 3 messages). ``pygrpc.py client HOST PORT N``: N Lookup calls
(every other one gzip-compressed), one Statement; prints the truth as JSON like tools/grpcapp.
Messages are protobuf wire format built by hand (field 1 name, 2 email, 3 a number).
"""

from __future__ import annotations

import base64
import json
import sys
from concurrent import futures

import grpc

SERVICE = "acme.v2.Accounts"


def message(name: str, email: str, n: int) -> bytes:
    def text(field: int, s: str) -> bytes:
        raw = s.encode()
        return bytes([field << 3 | 2, len(raw)]) + raw
    return text(1, name) + text(2, email) + bytes([3 << 3, n & 0x7F])


def lookup(request: bytes, context: grpc.ServicerContext) -> bytes:
    return request + message("status", "active", 1)


def statement(request: bytes, context: grpc.ServicerContext):  # noqa: ANN201 - a generator of bytes
    for i in range(3):
        yield message(f"line {i}", f"iban{i}@bank.example", i)


def server(port: int) -> None:
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "Lookup": grpc.unary_unary_rpc_method_handler(lookup),
        "Statement": grpc.unary_stream_rpc_method_handler(statement),
    }
    srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    srv.add_insecure_port(f"[::]:{port}")
    srv.start()
    srv.wait_for_termination()


def client(host: str, port: int, n: int) -> None:
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    calls = []
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        unary = channel.unary_unary(f"/{SERVICE}/Lookup")
        for i in range(n):
            req = message(f"Person {i}", f"person{i}@example.org", i)
            compression = grpc.Compression.Gzip if i % 2 else None
            resp = unary(req, compression=compression, timeout=10)
            calls.append({"path": f"/{SERVICE}/Lookup", "requests": [b64(req)], "responses": [b64(resp)],
                          "code": 0, "message": ""})
        stream = channel.unary_stream(f"/{SERVICE}/Statement")
        req = message("statement", "owner@example.org", 9)
        got = [b64(m) for m in stream(req, timeout=10)]
        calls.append({"path": f"/{SERVICE}/Statement", "requests": [b64(req)], "responses": got, "code": 0,
                      "message": ""})
    json.dump(calls, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]))
    else:
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
