"""An nginx (Debian's nginx-light) configured for the real-capture tests, run in a namespace.

Serves static JSON files (ETag → 304 on ``If-None-Match``; gzip on for JSON, which nginx sends
chunked), ``/nocontent`` → 204, ``/json`` → a fixed JSON body, and proxies ``/echo`` to a Python
echo server on the namespace's loopback (so ``Expect: 100-continue`` gets nginx's interim 100).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.interceptor.tools.echo_server import json_doc

STATIC_SIZES = (200, 1000, 5000, 40000)


def available() -> bool:
    return shutil.which("nginx") is not None


def static_body(size: int) -> bytes:
    return json_doc(size)


def write_config(workdir: Path, port: int, upstream_port: int) -> list[str]:
    """Write nginx.conf and the static files under ``workdir``; return the argv to run nginx."""
    root = workdir / "www"
    (root / "static").mkdir(parents=True, exist_ok=True)
    for size in STATIC_SIZES:
        (root / "static" / f"doc{size}.json").write_bytes(static_body(size))
    for d in ("client_body", "proxy", "logs"):
        (workdir / d).mkdir(exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ application/json json; }}
    default_type application/octet-stream;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    gzip on;
    gzip_min_length 100;
    gzip_types application/json;
    gzip_http_version 1.0;
    client_max_body_size 10m;
    server {{
        listen {port};
        listen [::]:{port};
        root {root};
        location /static/ {{ etag on; if_modified_since before; }}
        location = /nocontent {{ return 204; }}
        location = /json {{ default_type application/json; return 200 '{{"ok":true,"user":"jane@example.com"}}'; }}
        location /echo {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
""")
    return ["nginx", "-p", str(workdir), "-c", str(conf)]
