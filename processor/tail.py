"""``processor tail 'QUERY'``: a client of the live stream (the hub, or one node's agent with ``--node``).

Prints one JSON line per record (``--compact``: one short line: time, source -> destination, method,
target, status, data types), notices and errors on stderr. The token comes from ``--token``,
``$SENSOR_STREAM_TOKEN``, or the configured ``auth`` section (token / token_file).
"""

from __future__ import annotations

import os
import ssl
import sys
import time
from typing import Any, TextIO
from urllib.parse import quote

import orjson
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import connect

from interceptor.config import Config

AGENT_PORT = 18954


def stream_url(hub: str, node: str | None, query: str) -> str:
    if node:
        host = node if ":" in node.rsplit("]", 1)[-1] else f"{node}:{AGENT_PORT}"
        base = host if "://" in host else f"ws://{host}"
        return f"{base.rstrip('/')}/ws?q={quote(query)}"
    base = hub if "://" in hub else f"ws://{hub}"
    if not base.rstrip("/").endswith(("/api/wsFull", "/ws")):
        base = base.rstrip("/") + "/api/wsFull"
    return f"{base}?q={quote(query)}"


def client_token(cfg: Config, explicit: str | None) -> str:
    if explicit:
        return explicit
    env = os.environ.get("SENSOR_STREAM_TOKEN")
    if env:
        return env
    a = cfg.auth
    if a.raw_token or a.token:
        return a.raw_token or a.token
    for path in (a.raw_token_file, a.token_file):
        if path:
            try:
                return open(path).read().strip()
            except OSError:
                pass
    return ""


def compact(rec: dict[str, Any]) -> str:
    def end(e: dict[str, Any]) -> str:
        ns, name = e.get("namespace"), e.get("workload") or e.get("pod")
        return f"{ns}/{name}" if ns and name else f"{e.get('ip')}:{e.get('port')}"

    req, resp = rec.get("request", {}), rec.get("response", {})
    ts = time.strftime("%H:%M:%S", time.localtime(rec.get("ts_request", 0)))
    types = rec.get("types")
    tail = f" [{', '.join(types)}] {rec.get('sensitivity', '')}" if types else ""
    return (f"{ts} {end(rec.get('src', {}))} -> {end(rec.get('dst', {}))} {req.get('method', '')} "
            f"{req.get('target', '')} {resp.get('status', '')}{tail}")


def tail(url: str, token: str, as_compact: bool, count: int, out: TextIO = sys.stdout,
         cafile: str | None = None, timeout_s: float = 0.0) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ctx = ssl.create_default_context(cafile=cafile) if url.startswith("wss://") else None
    try:
        with connect(url, additional_headers=headers, ssl=ctx, open_timeout=10) as ws:
            n = 0
            deadline = time.monotonic() + timeout_s if timeout_s else None
            while count <= 0 or n < count:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return 0
                try:
                    msg = ws.recv(timeout=left)
                except TimeoutError:
                    return 0
                doc = orjson.loads(msg)
                if "error" in doc:
                    print(f"processor tail: query error at column {doc.get('position', 0) + 1}: {doc['error']}",
                          file=sys.stderr)
                    return 2
                if "notice" in doc:
                    print(f"processor tail: {orjson.dumps(doc).decode()}", file=sys.stderr)
                    continue
                out.write((compact(doc) if as_compact else orjson.dumps(doc).decode()) + "\n")
                out.flush()
                n += 1
    except InvalidStatus as e:
        print(f"processor tail: {url.split('?')[0]}: HTTP {e.response.status_code} "
              f"{e.response.body.decode(errors='replace').strip()}", file=sys.stderr)
        return 1
    except (OSError, InvalidURI, InvalidHandshake) as e:  # refused, TLS mismatch, not a websocket server
        print(f"processor tail: {url.split('?')[0]}: {e}", file=sys.stderr)
        return 1
    except ConnectionClosed as e:
        if e.rcvd is not None and e.rcvd.code not in (1000, 1001):
            print(f"processor tail: closed by the server: {e.rcvd.code} {e.rcvd.reason}", file=sys.stderr)
            return 1
    return 0
