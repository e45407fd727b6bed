"""gRPC pairs in the processor: endpoints named /{package.Service}/{Method}, personal data found in
the values of schema-less decoded messages (numeric keys), HTTP/2 pseudo-headers not reported."""

from __future__ import annotations

import orjson

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.pairs import Endpoint
from interceptor.pipeline import Pipeline
from processor.core import Processor
from tests.interceptor.h2build import (
    PREFACE,
    Side,
    data,
    grpc_message,
    headers,
    request_fields,
    response_fields,
)


def grpc_pair_json() -> bytes:
    client, server = Side(), Side()
    msg = b"\x0a\x08Jane Doe\x12\x10jane@example.com\x1a\x0c+14155552671"
    c = PREFACE + headers(1, client.block(request_fields("/acme.v1.Users/Create", content_type="application/grpc",
                                                         extra=[("te", "trailers")])))
    c += data(1, grpc_message(msg), end_stream=True)
    s = headers(1, server.block(response_fields(200, "application/grpc"))) + data(1, grpc_message(b"\x08\x07"))
    s += headers(1, server.block([("grpc-status", "0")]), end_stream=True)
    pairs: list = []
    pipe = Pipeline(Config(), Counters(), pairs.append)
    a, b = Endpoint("10.1.0.1", 40000, {"namespace": "shop", "workload": "web"}), Endpoint("10.1.0.2", 50051)
    pipe.feed_stream("x", 0, 1.0, c, a, b, {"kind": "gotls", "pid": 1})
    pipe.feed_stream("x", 1, 1.1, s, a, b, {"kind": "gotls", "pid": 1})
    [pair] = pairs
    return pair.to_json()


def test_grpc_endpoint_and_values() -> None:
    res = Processor().handle(grpc_pair_json())
    rec = orjson.loads(res.value)
    assert rec["path_template"] == "/acme.v1.Users/Create" and rec["protocol"] == "grpc"
    assert res.key.decode().endswith("|POST|/acme.v1.Users/Create")
    found = {(d["type"], d["part"], d["path"]) for d in rec["detections"]}
    assert ("email", "request", "[].2") in found and ("phone", "request", "[].3") in found
    assert not any(d["where"] == "header" for d in rec["detections"])  # :authority, :path... not reported


def test_http1_records_still_read() -> None:
    from tests.processor.helpers import make_pair

    rec = orjson.loads(Processor().handle(make_pair({"email": "jane@example.com"}).to_json()).value)
    assert rec["protocol"] == "http/1.1" and rec["types"] == ["email"]
