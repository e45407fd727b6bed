"""The map's HTTP face: a JSON API and the web page, on the standard library's threading server.

    GET /api/map?namespace=&type=&sensitivity=   nodes and edges (filtered); flows seen but not read: unread edges
    GET /api/nodes, /api/edges                   the same, one list each
    GET /api/types                               the data-type catalogue with sensitivities
    GET /api/stats                               row counts and consumer counters
    GET /api/coverage                            every flow the agents saw (read or why not), coverage per workload/namespace
    GET /metrics                                 the counters in Prometheus text format
    GET /healthz                                 ok
    GET /                                        the web page (graph + table)

Exposure: ``/api/*`` needs the bearer token (``auth``, interceptor/webauth.py); the page and its
scripts are public and send the token the user gives (``#token=`` in the URL, else a prompt).
``/metrics`` and ``/healthz`` carry counters only. A request whose ``Host`` is not an IP literal,
``localhost`` or a name in ``allowed_hosts`` is refused (421): a DNS-rebinding page cannot talk to
the service under its own name. At most ``max_connections`` at once (more are closed at once,
counted) and every socket times out after ``timeout_s``, so idle or half-sent requests cannot pin
threads.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson

from interceptor.counters import Counters
from interceptor.webauth import UNAUTHORIZED_HEADERS, AuthOutcome, BearerAuth
from processor.coverage import with_unread
from processor.datatypes import TYPES
from processor.mapstore import MapStore
from processor.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from processor.metrics import render as render_metrics

_STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"),
           "/style.css": ("style.css", "text/css; charset=utf-8"),
           # the graph library, vendored (web/vendor/README.md): the page needs nothing from the internet
           "/vendor/cytoscape.min.js": ("vendor/cytoscape.min.js", "text/javascript; charset=utf-8"),
           "/vendor/cytoscape-dagre.min.js": ("vendor/cytoscape-dagre.min.js", "text/javascript; charset=utf-8")}


OPEN_PATHS = frozenset(("/healthz", "/metrics", *_STATIC))  # no personal data: no token needed


def host_allowed(host_header: str | None, allowed: frozenset[str]) -> bool:
    """``Host`` names this service: an IP literal, localhost, or a configured name (``.suffix``
    entries allow subdomains). Anything else is a name some DNS points here: refused."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    host = host.rstrip(".")
    if host == "localhost" or host in allowed:
        return True
    return any(a.startswith(".") and host.endswith(a) for a in allowed)


def _handler(store: MapStore, stats: Callable[[], dict[str, Any]], auth: BearerAuth, allowed_hosts: frozenset[str],
             counters: Counters, timeout_s: float, coverage: Any = None) -> type[BaseHTTPRequestHandler]:
    web = resources.files("processor").joinpath("web")

    class Handler(BaseHTTPRequestHandler):
        server_version = "privacy-map/1"
        timeout = timeout_s  # socket timeout: a client that stops sending frees its thread

        def _refused(self) -> bool:
            """Answer and return True when the request may not be served."""
            if not host_allowed(self.headers.get("Host"), allowed_hosts):
                counters.inc("map.http.rejected.host")
                self._json({"error": "unknown Host (add it to processor.map_allowed_hosts)"}, 421)
                return True
            path = urlparse(self.path).path
            if path in OPEN_PATHS:
                return False
            if auth.check(self.headers.get("Authorization")) is not AuthOutcome.OK:
                self._send(401, b'{"error": "a bearer token is required"}', "application/json", UNAUTHORIZED_HEADERS)
                return True
            return False

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
            pass

        def _send(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, obj: Any, code: int = 200) -> None:
            self._send(code, orjson.dumps(obj), "application/json")

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self._refused():
                return
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            filters = {"namespace": q.get("namespace", ""), "dtype": q.get("type", ""), "sensitivity": q.get("sensitivity", "")}
            try:
                if url.path in _STATIC:
                    name, ctype = _STATIC[url.path]
                    self._send(200, web.joinpath(*name.split("/")).read_bytes(), ctype)
                elif url.path == "/api/map":
                    self._json(with_unread(store.graph(**filters), coverage, **filters))
                elif url.path == "/api/nodes":
                    self._json(with_unread(store.graph(**filters), coverage, **filters)["nodes"])
                elif url.path == "/api/edges":
                    self._json(with_unread(store.graph(**filters), coverage, **filters)["edges"])
                elif url.path == "/api/types":
                    self._json([{"type": t, "sensitivity": s, "category": c, "label": label} for t, (s, c, label) in TYPES.items()])
                elif url.path == "/api/coverage":
                    self._json(coverage.view() if coverage is not None else {"flows": [], "nodes": [], "workloads": [],
                                                                             "namespaces": []})
                elif url.path == "/api/stats":
                    self._json({"store": store.stats(), **stats()})
                elif url.path == "/metrics":
                    self._send(200, render_metrics(stats()), METRICS_CONTENT_TYPE)
                elif url.path == "/healthz":
                    self._send(200, b"ok\n", "text/plain")
                else:
                    self._json({"error": f"no such path: {url.path}"}, 404)
            except BrokenPipeError:
                pass
            except Exception as e:  # a bad request must not kill the server
                self._json({"error": f"{type(e).__name__}: {e}"}, 500)

    return Handler


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` of them: beyond, a connection is
    closed at once (counted) instead of growing threads without end."""

    daemon_threads = True
    request_queue_size = 128  # the backlog: excess connections reach us, to be refused at once

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int,
                 counters: Counters) -> None:
        self.slots = threading.BoundedSemaphore(max_connections)
        self.counters = counters
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.counters.inc("map.http.rejected.busy")
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class MapServer:
    """Serves in a daemon thread; ``port`` is the bound one (listen on port 0 to get a free one)."""

    def __init__(self, store: MapStore, listen: str, stats: Callable[[], dict[str, Any]] | None = None, *,
                 auth: BearerAuth, allowed_hosts: list[str] | None = None, max_connections: int = 64,
                 timeout_s: float = 10.0, counters: Counters | None = None, coverage: Any = None) -> None:
        host, _, port = listen.rpartition(":")
        counters = counters if counters is not None else Counters()
        allowed = frozenset(h.strip().lower().rstrip(".") for h in (allowed_hosts or []) if h.strip())
        handler = _handler(store, stats or dict, auth, allowed, counters, timeout_s, coverage)
        try:
            self.httpd = BoundedHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), handler, max_connections, counters)
        except (OSError, ValueError) as e:
            raise ValueError(f"processor.map_listen: cannot listen on {listen!r}: {e}") from None
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="map-http", daemon=True)

    def start(self) -> MapServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
