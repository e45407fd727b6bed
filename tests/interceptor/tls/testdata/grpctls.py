"""grpcio over TLS (BoringSSL inside the wheel's cygrpc .so) for the TLS source tests.

``grpctls.py server CERT KEY [ADDR]``: listens on ADDR (127.0.0.1:0), prints ``LISTEN <port>``, serves ``/probe.Echo/Echo`` (unary, raw
bytes: the reply is ``ok:`` + the request reversed). ``grpctls.py client PORT CERT SIZES [HOST]``: prints
``READY`` once grpcio is loaded and waits for a line on stdin (a test sees the process attached
first), then makes one call per size (comma-separated) on one channel and prints one JSON line:
what it sent and received, base64. ``grpctls.py bench PORT CERT N SIZE`` (bench/tls.py): after
the stdin line, N calls of SIZE bytes on one channel, a line per call, then ``ELAPSED <seconds>``.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from concurrent import futures

import grpc

METHOD = "/probe.Echo/Echo"


def reply(request: bytes, context: grpc.ServicerContext) -> bytes:
    return b"ok:" + request[::-1]


def server(cert: str, key: str, addr: str) -> None:
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler("probe.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(reply)})
    srv.add_generic_rpc_handlers((handler,))
    with open(cert, "rb") as c, open(key, "rb") as k:
        creds = grpc.ssl_server_credentials([(k.read(), c.read())])
    port = srv.add_secure_port(addr, creds)
    srv.start()
    print(f"LISTEN {port}", flush=True)
    srv.wait_for_termination()


def client(port: int, cert: str, sizes: list[int], host: str) -> None:
    with open(cert, "rb") as c:
        creds = grpc.ssl_channel_credentials(root_certificates=c.read())
    print("READY", flush=True)
    sys.stdin.readline()
    calls = []
    options = [("grpc.ssl_target_name_override", "localhost")]
    with grpc.secure_channel(f"{host}:{port}", creds, options=options) as channel:
        echo = channel.unary_unary(METHOD)
        for i, size in enumerate(sizes):
            req = (f"{i}:" + "card 4111 1111 1111 1111 jane@example.com " * (size // 42 + 1))[:size].encode()
            resp = echo(req, timeout=20)
            calls.append({"request": base64.b64encode(req).decode(), "response": base64.b64encode(resp).decode()})
    print(json.dumps(calls), flush=True)


def bench(port: int, cert: str, n: int, size: int) -> None:
    with open(cert, "rb") as c:
        creds = grpc.ssl_channel_credentials(root_certificates=c.read())
    options = [("grpc.ssl_target_name_override", "localhost")]
    with grpc.secure_channel(f"127.0.0.1:{port}", creds, options=options) as channel:
        echo = channel.unary_unary(METHOD)
        sys.stdin.readline()  # the probes are on (HPACK state needs the connection from its start)
        echo(b"warm", timeout=20)  # the connection and the handshake are not timed
        req = (b'{"email":"jane@example.com","card":"4111 1111 1111 1111"}' * (size // 56 + 1))[:size]
        start = time.perf_counter()
        for i in range(n):
            print(f"OK {i} {len(echo(req, timeout=20))}")
        print("ELAPSED", time.perf_counter() - start, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "bench":
        bench(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1] == "server":
        server(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1:0")
    else:
        client(int(sys.argv[2]), sys.argv[3], [int(s) for s in sys.argv[4].split(",")],
               sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1")
