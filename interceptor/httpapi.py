"""Routes mounted on the agent's HTTP port (metrics server) beside /metrics and the probes.

An API object answers ``owns(path)`` and ``handle(ApiRequest) -> ApiResponse`` with no knowledge of
the HTTP server; ``serve`` is the thin adapter for ``http.server`` handlers: it reads a bounded
body, calls the API and writes the answer, streaming bodies given as chunks (capture downloads).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Protocol

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive (the stdlib's message object)
    body: bytes = b""
    peer: str = ""


@dataclass
class ApiResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterator[bytes] | None = None  # a streamed body of ``length`` bytes (None: until the end)
    length: int | None = None


class HttpApi(Protocol):
    def owns(self, path: str) -> bool: ...

    def handle(self, req: ApiRequest) -> ApiResponse: ...


def serve(handler: BaseHTTPRequestHandler, api: HttpApi) -> None:
    length = handler.headers.get("Content-Length") or "0"
    if not length.isdigit() or int(length) > MAX_BODY:
        _write(handler, ApiResponse(413, b'{"error": "body missing a length or larger than 1 MiB"}\n'))
        return
    body = handler.rfile.read(int(length)) if int(length) else b""
    req = ApiRequest(handler.command, handler.path, handler.headers, body, handler.client_address[0])
    _write(handler, api.handle(req))


def _write(handler: BaseHTTPRequestHandler, resp: ApiResponse) -> None:
    handler.send_response(resp.status)
    handler.send_header("Content-Type", resp.content_type)
    for name, value in resp.headers.items():
        handler.send_header(name, value)
    length = len(resp.body) if resp.chunks is None else resp.length
    if length is not None:
        handler.send_header("Content-Length", str(length))
    else:
        handler.close_connection = True  # the end of the body is the end of the connection
    handler.end_headers()
    try:
        if resp.chunks is None:
            handler.wfile.write(resp.body)
            return
        for chunk in resp.chunks:
            handler.wfile.write(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client went away mid-download
    finally:
        close = getattr(resp.chunks, "close", None)
        if close is not None:
            close()
