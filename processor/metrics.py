"""Prometheus text for the processor's counters: ``privacy_<name>_total`` and
``privacy_dropped_total{reason="..."}``; plus a tiny server for ``processor consume --metrics-listen``."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_BAD = re.compile(r"[^a-zA-Z0-9_]")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(snapshot: dict[str, Any]) -> bytes:
    lines = []
    for name, value in sorted(snapshot.get("counts", {}).items()):
        metric = "privacy_" + _BAD.sub("_", name) + "_total"
        lines += [f"# TYPE {metric} counter", f"{metric} {value}"]
    drops = snapshot.get("dropped", {})
    if drops:
        lines.append("# TYPE privacy_dropped_total counter")
        lines += [f'privacy_dropped_total{{reason="{reason}"}} {value}' for reason, value in sorted(drops.items())]
    for name, value in sorted(snapshot.get("gauges", {}).items()):
        metric = "privacy_" + _BAD.sub("_", name)
        lines += [f"# TYPE {metric} gauge", f"{metric} {value}"]
    return ("\n".join(lines) + "\n").encode()


def serve_metrics(listen: str, snapshot: Callable[[], dict[str, Any]]) -> ThreadingHTTPServer:
    """``/metrics`` and ``/healthz`` on ``listen`` in a daemon thread; returns the server (``.server_address``)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/metrics":
                body, ctype, code = render(snapshot()), CONTENT_TYPE, 200
            elif self.path == "/healthz":
                body, ctype, code = b"ok\n", "text/plain", 200
            else:
                body, ctype, code = b"not found\n", "text/plain", 404
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    host, _, port = listen.rpartition(":")
    try:
        httpd = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)
    except (OSError, ValueError) as e:
        raise ValueError(f"--metrics-listen: cannot listen on {listen!r}: {e}") from None
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True).start()
    return httpd
