"""Pair records for processor tests, built with the interceptor's own record type."""

from __future__ import annotations

import json
import time
from typing import Any

from interceptor.pairs import Endpoint, Pair, Request, Response


def make_pair(body: Any = None, *, method: str = "POST", target: str = "/users/1", src: dict | None = None, dst: dict | None = None,
              req_headers: list[tuple[str, str]] | None = None, resp_body: Any = None, host: str | None = "api.internal",
              content_type: str = "application/json", status: int = 200, pair_id: str | None = None) -> Pair:
    def enc(b: Any) -> bytes:
        if b is None:
            return b""
        if isinstance(b, bytes):
            return b
        if isinstance(b, str):
            return b.encode()
        return json.dumps(b).encode()

    rb, sb = enc(body), enc(resp_body)
    headers = [("Content-Type", content_type)] + ([("Host", host)] if host else []) + list(req_headers or [])
    now = time.time()
    src_ep = dict(src or {"ip": "10.0.0.1", "port": 40000, "namespace": "shop", "workload": "frontend", "pod": "frontend-7d9"})
    dst_ep = dict(dst or {"ip": "10.0.0.2", "port": 8080, "namespace": "shop", "workload": "orders", "pod": "orders-5f1"})
    p = Pair(
        Request("HTTP/1.1", headers, rb, len(rb), False, now, method=method, target=target),
        Response("HTTP/1.1", [("Content-Type", "application/json")], sb, len(sb), False, now + 0.01, status=status),
        Endpoint(src_ep.pop("ip"), src_ep.pop("port"), src_ep),
        Endpoint(dst_ep.pop("ip"), dst_ep.pop("port"), dst_ep),
        {"kind": "pcap-file", "file": "test"},
    )
    return p.replace(id=pair_id) if pair_id else p
