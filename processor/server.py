"""The map's HTTP face: a JSON API and the web page, on the standard library's threading server.

    GET /api/map?namespace=&type=&sensitivity=   nodes and edges (filtered)
    GET /api/nodes, /api/edges                   the same, one list each
    GET /api/types                               the data-type catalogue with sensitivities
    GET /api/stats                               row counts and consumer counters
    GET /metrics                                 the counters in Prometheus text format
    GET /healthz                                 ok
    GET /                                        the web page (graph + table)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson

from processor.datatypes import TYPES
from processor.mapstore import MapStore
from processor.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from processor.metrics import render as render_metrics

_STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"),
           "/style.css": ("style.css", "text/css; charset=utf-8"),
           # the graph library, vendored (web/vendor/README.md): the page needs nothing from the internet
           "/vendor/cytoscape.min.js": ("vendor/cytoscape.min.js", "text/javascript; charset=utf-8"),
           "/vendor/cytoscape-dagre.min.js": ("vendor/cytoscape-dagre.min.js", "text/javascript; charset=utf-8")}


def _handler(store: MapStore, stats: Callable[[], dict[str, Any]]) -> type[BaseHTTPRequestHandler]:
    web = resources.files("processor").joinpath("web")

    class Handler(BaseHTTPRequestHandler):
        server_version = "privacy-map/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
            pass

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, obj: Any, code: int = 200) -> None:
            self._send(code, orjson.dumps(obj), "application/json")

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            filters = {"namespace": q.get("namespace", ""), "dtype": q.get("type", ""), "sensitivity": q.get("sensitivity", "")}
            try:
                if url.path in _STATIC:
                    name, ctype = _STATIC[url.path]
                    self._send(200, web.joinpath(*name.split("/")).read_bytes(), ctype)
                elif url.path == "/api/map":
                    self._json(store.graph(**filters))
                elif url.path == "/api/nodes":
                    self._json(store.graph(**filters)["nodes"])
                elif url.path == "/api/edges":
                    self._json(store.graph(**filters)["edges"])
                elif url.path == "/api/types":
                    self._json([{"type": t, "sensitivity": s, "category": c, "label": label} for t, (s, c, label) in TYPES.items()])
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


class MapServer:
    """Serves in a daemon thread; ``port`` is the bound one (listen on port 0 to get a free one)."""

    def __init__(self, store: MapStore, listen: str, stats: Callable[[], dict[str, Any]] | None = None) -> None:
        host, _, port = listen.rpartition(":")
        try:
            self.httpd = ThreadingHTTPServer((host or "0.0.0.0", int(port)), _handler(store, stats or dict))
        except (OSError, ValueError) as e:
            raise ValueError(f"processor.map_listen: cannot listen on {listen!r}: {e}") from None
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="map-http", daemon=True)

    def start(self) -> MapServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
