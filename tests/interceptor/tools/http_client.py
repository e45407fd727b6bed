"""HTTP clients that record what they sent and received: the ground truth of a real capture.

Run in a test namespace as ``python3 http_client.py LIBRARY HOST PORT < PLAN_JSON``; prints a JSON list
of exchanges ``{"method", "target", "status", "req_body", "resp_body"}`` (bodies base64, response
bodies as the client library delivered them, i.e. decoded). PLAN_JSON is a list of
``{"method", "path", "body"?, "headers"?}``. LIBRARY:

- ``requests``: one ``requests.Session`` (keep-alive; gzip decoded by requests/urllib3).
- ``httpclient``: one ``http.client.HTTPConnection`` reused for every request (reconnects by itself
  when the server closes, e.g. HTTP/1.0).
- ``pipeline``: a raw socket that writes every request in one ``sendall`` (HTTP pipelining), then
  reads the responses in order with ``http.client.HTTPResponse``.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import sys
from typing import Any


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _record(method: str, path: str, status: int, req_body: bytes, resp_body: bytes) -> dict[str, Any]:
    return {"method": method, "target": path, "status": status, "req_body": _b64(req_body),
            "resp_body": _b64(resp_body)}


def run_requests(host: str, port: int, plan: list[dict]) -> list[dict]:
    import requests

    out = []
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with requests.Session() as s:
        for step in plan:
            body = step.get("body", "").encode()
            r = s.request(step["method"], f"http://{netloc}{step['path']}", data=body or None,
                          headers=step.get("headers"), timeout=10)
            out.append(_record(step["method"], step["path"], r.status_code, body, r.content))
    return out


def run_httpclient(host: str, port: int, plan: list[dict]) -> list[dict]:
    out = []
    conn = http.client.HTTPConnection(host, port, timeout=10)
    for step in plan:
        body = step.get("body", "").encode()
        conn.request(step["method"], step["path"], body=body or None, headers=step.get("headers") or {})
        r = conn.getresponse()
        data = r.read()
        out.append(_record(step["method"], step["path"], r.status, body, data))
        if r.will_close:
            conn.close()
    conn.close()
    return out


class _SharedFile:
    """Lets several HTTPResponse objects read one buffered stream in turn (pipelining)."""

    def __init__(self, f: Any) -> None:
        self.f = f

    def makefile(self, *args: Any, **kw: Any) -> Any:
        return self

    def readline(self, *a: Any) -> bytes:
        return self.f.readline(*a)

    def read(self, *a: Any) -> bytes:
        return self.f.read(*a)

    def readinto(self, b: Any) -> int:
        return self.f.readinto(b)

    def close(self) -> None:  # each response "closes" its file; the stream must stay open
        pass


def run_pipeline(host: str, port: int, plan: list[dict]) -> list[dict]:
    wire = b""
    for step in plan:
        body = step.get("body", "").encode()
        head = f"{step['method']} {step['path']} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        for k, v in (step.get("headers") or {}).items():
            head += f"{k}: {v}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        wire += head.encode() + b"\r\n" + body
    out = []
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(wire)  # every request in one write: they share TCP segments
        shared = _SharedFile(sock.makefile("rb"))
        for step in plan:
            r = http.client.HTTPResponse(shared, method=step["method"])  # type: ignore[arg-type]
            r.begin()
            data = r.read()
            out.append(_record(step["method"], step["path"], r.status, step.get("body", "").encode(), data))
    return out


RUNNERS = {"requests": run_requests, "httpclient": run_httpclient, "pipeline": run_pipeline}


def main() -> None:
    lib, host, port, plan = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.load(sys.stdin)
    json.dump(RUNNERS[lib](host, port, plan), sys.stdout)


if __name__ == "__main__":
    main()
