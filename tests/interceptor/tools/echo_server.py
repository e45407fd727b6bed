"""A JSON HTTP server built on the standard library's ``http.server`` (run in a test namespace).

Run as ``python3 echo_server.py PORT MODE``; MODE picks the response framing so the real-capture
tests exercise each one with a server implementation that is not ours:

- ``keepalive``: HTTP/1.1, ``Content-Length``, persistent connections; handles
  ``Expect: 100-continue`` (the stdlib sends the interim 100 itself).
- ``chunked``: HTTP/1.1, ``Transfer-Encoding: chunked`` written in uneven chunks (one with an
  extension) plus a trailer.
- ``http10``: HTTP/1.0 without ``Content-Length``: the body ends when the server closes.

Routes: ``GET /json/<n>`` → a deterministic JSON document of about n bytes; ``POST|PUT /echo...``
→ the request body echoed back as ``application/json``; ``GET /nocontent`` → 204;
``GET /etag`` → 304 when ``If-None-Match: "v1"`` is sent, else 200 with that ETag.
"""

from __future__ import annotations

import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def json_doc(n: int) -> bytes:
    """About ``n`` bytes of JSON with personal-looking data; the same for the same n."""
    items = []
    i = 0
    while sum(len(x) for x in items) + 2 < n:
        items.append(f'{{"id":{i},"email":"user{i}@example.com","phone":"+1-202-555-{i % 10000:04d}"}}')
        i += 1
    return ("[" + ",".join(items) + "]").encode()


class Handler(BaseHTTPRequestHandler):
    mode = "keepalive"

    def log_message(self, fmt: str, *args: object) -> None:  # keep the test log quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json", extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        no_body = status in (204, 304) or self.command == "HEAD"
        if self.mode == "chunked" and not no_body:
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Checksum")
            self.end_headers()
            self._write_chunked(body)
            return
        if self.mode != "http10" or no_body:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not no_body:
            self.wfile.write(body)

    def _write_chunked(self, body: bytes) -> None:
        sizes = [1, 7, 100, 4096]
        pos, k = 0, 0
        while pos < len(body):
            chunk = body[pos:pos + sizes[k % len(sizes)]]
            ext = ";name=value" if k == 1 else ""
            self.wfile.write(b"%x%s\r\n%s\r\n" % (len(chunk), ext.encode(), chunk))
            pos += len(chunk)
            k += 1
        self.wfile.write(b"0\r\nX-Checksum: %d\r\n\r\n" % (sum(body) & 0xFFFF))

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self.path.startswith("/json/"):
            self._send(200, json_doc(int(self.path.split("/")[2].split("?")[0])))
        elif self.path == "/nocontent":
            self._send(204, b"")
        elif self.path == "/etag":
            if self.headers.get("If-None-Match") == '"v1"':
                self._send(304, b"", extra={"ETag": '"v1"'})
            else:
                self._send(200, b'{"v":1}', extra={"ETag": '"v1"'})
        else:
            self._send(404, b'{"error":"not found"}')

    do_HEAD = do_GET  # noqa: N815 - _send omits the body for HEAD

    def do_POST(self) -> None:  # noqa: N802
        self._send(200, self._body())

    do_PUT = do_POST  # noqa: N815


class DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main() -> None:
    port, mode = int(sys.argv[1]), sys.argv[2]
    Handler.mode = mode
    Handler.protocol_version = "HTTP/1.0" if mode == "http10" else "HTTP/1.1"
    DualStackServer(("::", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
