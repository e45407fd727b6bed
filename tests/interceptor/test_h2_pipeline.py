"""HTTP/2 through the whole core from captured packets and TLS plaintext streams: the layer is
chosen by content, records follow the schema, filters apply, and HTTP/1 is untouched."""

from __future__ import annotations

import json
from importlib import resources

import orjson
from jsonschema import Draft202012Validator

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.pairs import Endpoint
from interceptor.pipeline import Pipeline
from tests.interceptor import packetgen
from tests.interceptor.h2build import (
    PREFACE,
    Side,
    data,
    grpc_message,
    headers,
    request_fields,
    response_fields,
    settings,
)

SCHEMA = Draft202012Validator(json.loads(resources.files("interceptor.schema").joinpath("pair.v1.json").read_text()))


def h2_calls(n: int, grpc: bool = False, path: str = "/api/users") -> tuple[bytes, bytes, list[tuple[bytes, bytes]]]:
    """Client bytes, server bytes and the (request, response) bodies of n exchanges."""
    chunks, bodies = h2_chunks(n, grpc, path)
    return b"".join(c for c, _ in chunks), b"".join(s for _, s in chunks), bodies


def h2_chunks(n: int, grpc: bool = False, path: str = "/api/users") -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """Per exchange: (client bytes, server bytes); and the (request, response) bodies."""
    client, server = Side(), Side()
    chunks = []
    bodies = []
    for i in range(n):
        sid = 1 + 2 * i
        if not i:
            cbytes, sbytes = PREFACE + settings(), settings() + settings()
        if grpc:
            req = grpc_message(b"\x0a\x05alice\x12\x0ba@b.example")
            resp = grpc_message(b"\x08" + bytes([i]))
            fields = request_fields("/acme.v1.Users/Get", content_type="application/grpc", extra=[("te", "trailers")])
            cbytes += headers(sid, client.block(fields)) + data(sid, req, end_stream=True)
            sbytes += (headers(sid, server.block(response_fields(200, "application/grpc"))) + data(sid, resp)
                       + headers(sid, server.block([("grpc-status", "0")]), end_stream=True))
        else:
            req, resp = f'{{"email":"u{i}@x.io"}}'.encode(), f'{{"id":{i}}}'.encode()
            cbytes += headers(sid, client.block(request_fields(f"{path}/{i}"))) + data(sid, req, end_stream=True)
            sbytes += headers(sid, server.block(response_fields())) + data(sid, resp, end_stream=True)
        bodies.append((req, resp))
        chunks.append((cbytes, sbytes))
        cbytes = sbytes = b""
    return chunks, bodies


def packets(cbytes: bytes, sbytes: bytes, handshake: bool = True, mss: int = 1400) -> list[tuple[float, bytes]]:
    conn = packetgen.Conn()
    if handshake:
        conn.handshake()
    conn.request(cbytes, mss)
    conn.response(sbytes, mss)
    conn.close()
    return conn.frames


def run(records: list[tuple[float, bytes]], keep_all: bool = True) -> tuple[list, Counters]:
    cfg = Config()
    cfg.filters.keep_all = keep_all
    pairs, counters = packetgen.replay(records, cfg)
    return pairs, counters  # type: ignore[return-value]


def test_prior_knowledge_from_packets() -> None:
    cbytes, sbytes, bodies = h2_calls(5)
    pairs, counters = run(packets(cbytes, sbytes, mss=100))
    assert [(p.request.body, p.response.body) for p in pairs] == bodies
    for p in pairs:
        rec = orjson.loads(p.to_json())
        SCHEMA.validate(rec)
        assert rec["protocol"] == "h2" and rec["request"]["version"] == "HTTP/2" and "headers_incomplete" not in rec
        assert (rec["src"]["port"], rec["dst"]["port"]) == (40000, 8080)
    assert counters.get("h2.connections") == 1 and not counters.drops()


def test_grpc_record_and_default_filters() -> None:
    cbytes, sbytes, _ = h2_calls(3, grpc=True)
    pairs, counters = run(packets(cbytes, sbytes), keep_all=False)  # application/grpc passes by default
    assert len(pairs) == 3
    rec = orjson.loads(pairs[2].to_json())
    SCHEMA.validate(rec)
    assert rec["protocol"] == "grpc"
    g = rec["grpc"]
    assert (g["service"], g["method"], g["status"]) == ("acme.v1.Users", "Get", 0)
    assert g["request_messages"] == [{"1": "alice", "2": "a@b.example"}] and g["response_messages"] == [{"1": 2}]


def test_grpc_messages_decoded_only_for_pairs_that_pass() -> None:
    """Protobuf work happens when a record is built: a call the filters drop decodes nothing."""
    cbytes, sbytes, _ = h2_calls(3, grpc=True)
    cfg = Config()
    cfg.filters.drop_urls = ["/acme.v1.Users/Get"]
    pairs, counters = packetgen.replay(packets(cbytes, sbytes), cfg)
    assert pairs == [] and counters.dropped("filtered_url") == 3
    assert counters.get("grpc.calls") == 3 and counters.get("grpc.messages") == 0
    kept, counters = run(packets(cbytes, sbytes), keep_all=False)
    assert len(kept) == 3 and counters.get("grpc.messages") == 0  # paired, not yet made into records
    assert kept[0].grpc.status == 0 and counters.get("grpc.messages") == 0  # the status needs no decoding
    kept[0].to_json()
    kept[0].to_json()  # a second sink: decoded once
    assert counters.get("grpc.messages") == 2 and kept[0].grpc.response_messages == [{"1": 0}]


def test_filters_see_pseudo_headers() -> None:
    client, server = Side(), Side()
    c = PREFACE + headers(1, client.block(request_fields("/healthz", "GET")), end_stream=True)
    c += headers(3, client.block(request_fields("/x", "GET")), end_stream=True)
    s = headers(1, server.block(response_fields(200)), end_stream=True)
    s += headers(3, server.block(response_fields(404)), end_stream=True)
    pairs, counters = run(packets(c, s), keep_all=False)  # :path /healthz, :status 404
    assert pairs == [] and counters.dropped("filtered_url") == 1 and counters.dropped("filtered_status") == 1


def test_joined_mid_connection_from_packets() -> None:
    chunks, bodies = h2_chunks(6)
    conn = packetgen.Conn()
    conn.handshake()
    for i, (c, s) in enumerate(chunks):
        if i == 2:
            start = len(conn.frames)  # the capture starts here: the first 2 exchanges were before it
        conn.request(c, 50)  # small segments: the first one seen starts inside a frame
        conn.response(s, 50)
    conn.close()
    pairs, counters = run(conn.frames[start + 1:])
    assert counters.get("h2.connections_joined_late") == 1
    got = {(p.request.body, p.response.body) for p in pairs}
    assert got and got <= set(bodies)
    for p in pairs:
        rec = orjson.loads(p.to_json())
        SCHEMA.validate(rec)
        assert rec.get("headers_incomplete") is True  # :path was indexed before we joined


def test_tls_plaintext_stream_with_the_preface() -> None:
    cbytes, sbytes, bodies = h2_calls(3, grpc=True)
    pairs: list = []
    counters = Counters()
    pipe = Pipeline(Config(), counters, pairs.append)
    a, b = Endpoint("10.0.0.1", 40000), Endpoint("10.0.0.2", 443)
    src = {"kind": "openssl", "pid": 7}
    assert pipe.feed_stream("c1", 0, 1.0, cbytes[:30], a, b, src)
    assert pipe.feed_stream("c1", 0, 1.01, cbytes[30:], a, b, src)
    assert pipe.feed_stream("c1", 1, 1.02, sbytes, a, b, src)
    pipe.stream_close("c1", 2.0)
    assert [p.grpc.request_messages for p in pairs] == [[{"1": "alice", "2": "a@b.example"}]] * 3
    assert pairs[0].source == src and pairs[0].src.port == 40000


def test_http1_flows_unchanged_next_to_h2() -> None:
    cbytes, sbytes, _ = h2_calls(2)
    h1 = packetgen.Conn(client=("10.0.0.3", 40001))
    h1.handshake()
    h1.request(packetgen.http_request())
    h1.response(packetgen.http_response())
    h1.close()
    pairs, counters = run(packets(cbytes, sbytes) + h1.frames)
    assert sorted(p.to_record()["protocol"] for p in pairs) == ["h2", "h2", "http/1.1"]


def test_upgrade_h2c_after_the_101() -> None:
    client, server = Side(), Side()
    up = (b"GET /start?x=1 HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
          b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    switched = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
    s1 = settings() + headers(1, server.block(response_fields())) + data(1, b'{"stream":1}', end_stream=True)
    c2 = PREFACE + settings() + headers(3, client.block(request_fields("/next"))) + data(3, b'{"q":3}', True)
    s2 = headers(3, server.block(response_fields())) + data(3, b'{"stream":3}', end_stream=True)
    conn = packetgen.Conn()
    conn.handshake()
    conn.request(up)
    conn.response(switched + s1)  # the 101 and the first HTTP/2 frames in one segment
    conn.request(c2)
    conn.response(s2)
    conn.close()
    pairs, counters = run(conn.frames)
    got = [(p.protocol, p.request.method, p.request.target, p.response.body) for p in pairs]
    # The 101 is a pair of its own (as for WebSocket); the upgrading request's answer is stream 1.
    assert got == [("http/1.1", "GET", "/start?x=1", b""), ("h2", "GET", "/start?x=1", b'{"stream":1}'),
                   ("h2", "POST", "/next", b'{"stream":3}')]
    assert pairs[1].request.header("upgrade") == "h2c" and pairs[1].request.version == "HTTP/2"
    assert counters.get("h2.upgrades") == 1 and not counters.drops()


def test_websocket_upgrade_still_a_pair_of_its_own() -> None:
    conn = packetgen.Conn()
    conn.handshake()
    conn.request(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    conn.response(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello")
    conn.close()
    pairs, counters = run(conn.frames)
    assert [(p.protocol, p.response.status) for p in pairs] == [("http/1.1", 101)]
    assert counters.get("h2.upgrades") == 0
