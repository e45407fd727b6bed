"""Small real programs for the live-capture tests, run as separate processes inside namespaces.

``server PORT``: an HTTP/1.1 keep-alive JSON server (stdlib).
``proxy LISTEN TARGET_PORT KEY NAME``: a sidecar stand-in. It renames itself (``comm``) to NAME,
  accepts on LISTEN, XORs every byte with KEY both ways and forwards to 127.0.0.1:TARGET_PORT, so the
  veth carries only opaque bytes while the pod's loopback carries plaintext HTTP.
``client HOST PORT N TAG [KEY]``: N JSON POSTs on one keep-alive connection (XOR-encoded with KEY
  when given); prints one JSON line per exchange it completed (its own record: the truth).
"""

from __future__ import annotations

import ctypes
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from interceptor.demo.apps import pump, xor


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - stdlib hook name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        out = json.dumps({"ok": True, "echo": json.loads(body or b"{}")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


def serve(port: int) -> None:
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


def proxy(listen: int, target: int, key: int, name: str) -> None:
    libc = ctypes.CDLL(None)
    libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME: what ps and /proc/<pid>/comm show
    srv = socket.create_server(("0.0.0.0", listen), reuse_port=False)
    while True:
        conn, _ = srv.accept()
        up = socket.create_connection(("127.0.0.1", target))
        threading.Thread(target=pump, args=(conn, up, key), daemon=True).start()
        threading.Thread(target=pump, args=(up, conn, key), daemon=True).start()


def _read_response(sock: socket.socket, buf: bytearray, key: int) -> tuple[int, bytes]:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += xor(chunk, key)
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(v) for k, _, v in (ln.partition(":") for ln in lines[1:]) if k.lower() == "content-length")
    body = bytearray(rest)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        body += xor(chunk, key)
    buf[:] = body[length:]
    return status, bytes(body[:length])


def client(host: str, port: int, n: int, tag: str, key: int) -> None:
    sock = socket.create_connection((host, port), timeout=10)
    buf = bytearray()
    for i in range(n):
        body = json.dumps({"tag": tag, "i": i, "email": f"user{i}@example.com"}).encode()
        req = (f"POST /api/{tag}/{i} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        sock.sendall(xor(req, key))
        status, resp = _read_response(sock, buf, key)
        print(json.dumps({"i": i, "status": status, "target": f"/api/{tag}/{i}"}), flush=True)
    sock.close()


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "server":
        serve(int(args[0]))
    elif mode == "proxy":
        proxy(int(args[0]), int(args[1]), int(args[2]), args[3])
    elif mode == "client":
        client(args[0], int(args[1]), int(args[2]), args[3], int(args[4]) if len(args) > 4 else 0)
    else:
        raise SystemExit(f"unknown mode {mode}")
