"""Test pairs built directly from the record types (no capture needed), varied enough to exercise
keys, headers, truncation flags and binary bodies."""

from __future__ import annotations

import random
import time

import orjson

from interceptor.pairs import Endpoint, Pair, Request, Response

SOURCES = ["pcap-veth", "pcap-loopback", "openssl", "gotls"]


def make_pair(i: int, body_bytes: int = 600, rng: random.Random | None = None) -> Pair:
    """Pair number ``i``: a JSON POST with personal-looking data and a JSON answer."""
    rng = rng or random.Random(i)
    body = orjson.dumps({
        "seq": i,
        "name": f"User {rng.randrange(10**6)}",
        "email": f"user{rng.randrange(10**6)}@example.com",
        "phone": f"+1-555-{rng.randrange(10**4):04d}",
        "note": "".join(rng.choice("abcdefghij klmnop") for _ in range(max(0, body_bytes - 120))),
    })
    binary = i % 17 == 5
    resp_body = bytes(rng.randrange(256) for _ in range(64)) if binary else b'{"ok":true,"id":%d}' % i
    now = time.time()
    req = Request(version="HTTP/1.1", headers=[("host", "users.shop"), ("content-type", "application/json")],
                  body=body, body_size=len(body), truncated=i % 11 == 3, ts=now, method="POST",
                  target=f"/api/v1/users/{i % 7}?trace={i}")
    resp = Response(version="HTTP/1.1", headers=[("content-type", "application/octet-stream" if binary
                                                   else "application/json")],
                    body=resp_body, body_size=len(resp_body), truncated=i % 13 == 4, ts=now + 0.001,
                    status=200, reason="OK")
    return Pair(request=req, response=resp, src=Endpoint("10.1.0.7", 40000 + i % 1000),
                dst=Endpoint("10.1.0.9", 8080 + i % 3), source={"kind": SOURCES[i % len(SOURCES)]})


def make_pairs(n: int, start: int = 0, body_bytes: int = 600) -> list[Pair]:
    return [make_pair(i, body_bytes) for i in range(start, start + n)]
