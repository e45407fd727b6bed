"""The whole core from captured frames: TCP conversations in, pairs and counters out."""

import random

import pytest

from interceptor.capture import packets
from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.pipeline import Pipeline
from tests.interceptor.packetgen import Conn, http_request, http_response, keep_all_config, replay


def conversation(n: int = 3, **kw: object) -> Conn:
    conn = Conn(**kw).handshake()  # type: ignore[arg-type]
    for i in range(n):
        conn.request(http_request(target=f"/r/{i}", body=b'{"i":%d}' % i))
        conn.response(http_response(body=b'{"o":%d}' % i))
    return conn.close()


@pytest.mark.parametrize("linktype", [packets.LINKTYPE_ETHERNET, packets.LINKTYPE_LINUX_SLL,
                                      packets.LINKTYPE_LINUX_SLL2, packets.LINKTYPE_RAW])
def test_all_link_types_ipv4_and_ipv6(linktype: int) -> None:
    for client, server in [(("10.0.0.1", 1234), ("10.0.0.2", 80)), (("fd00::1", 1234), ("fd00::2", 8443))]:
        conn = conversation(client=client, server=server, linktype=linktype)
        pairs, c = replay(conn.frames, linktype=linktype)
        assert [p.request.target for p in pairs] == ["/r/0", "/r/1", "/r/2"]
        assert (pairs[0].src.ip, pairs[0].dst.port) == (client[0], server[1])
        assert c.drops() == {}


def test_vlan_tagged_frames() -> None:
    pairs, _ = replay(conversation(vlan=100).frames)
    assert len(pairs) == 3


def test_reordered_duplicated_segments_within_a_direction() -> None:
    conn = Conn().handshake()
    body = b'{"data":"' + b"x" * 5000 + b'"}'
    conn.request(http_request(body=body), mss=500)
    conn.response(http_response(body=body), mss=700)
    frames = conn.close().frames
    rng = random.Random(7)
    for _ in range(20):
        middle = rng.sample(frames[3:-3], len(frames) - 6)
        middle += rng.sample(middle, 5)  # duplicates
        shuffled = frames[:3] + middle + frames[-3:]
        pairs, c = replay(shuffled)
        assert len(pairs) == 1 and pairs[0].request.body == body and pairs[0].response.body == body
        assert c.drops() == {}


def test_response_captured_before_its_request_is_held_back() -> None:
    """Two taps, or per-direction queues read out of step: the response overtakes the request."""
    conn = Conn().handshake()
    req1 = conn.request(http_request(method="GET", target="/first", body=b""))
    resp1 = conn.response(http_response(status=204, body=b"", length=False))
    req2 = conn.request(b"HEAD /second HTTP/1.1\r\nHost: x\r\n\r\n")
    resp2 = conn.response(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n")
    frames = conn.frames[:3] + resp1 + req1 + resp2 + req2
    pairs, c = replay(frames, config=keep_all_config())
    assert [(p.request.target, p.response.status) for p in pairs] == [("/first", 204), ("/second", 200)]
    assert c.get("tcp.deferred_segments") == 2 and c.drops() == {}


def test_deferred_segments_released_when_the_peer_never_comes() -> None:
    conn = Conn().handshake()
    conn.request(http_request(target="/lost"))  # never captured
    conn.response(http_response())
    conn.request(http_request(target="/ok"))
    conn.response(http_response(body=b'{"ok":1}'))
    frames = conn.frames[:3] + conn.frames[4:]
    pairs, c = replay(frames)
    assert [p.request.target for p in pairs] == ["/ok"]
    assert c.get("tcp.deferred_released_unmet") >= 1


def test_capture_starting_mid_connection_resyncs() -> None:
    conn = Conn().handshake()
    conn.request(http_request(target="/0", body=b'{"a":"' + b"y" * 3000 + b'"}'), mss=1000)
    conn.response(http_response())
    conn.request(http_request(target="/1"))
    conn.response(http_response())
    frames = conn.close().frames[4:]  # miss the handshake and the first segment
    pairs, c = replay(frames)
    assert [p.request.target for p in pairs] == ["/1"]
    assert c.get("flows.midstream") == 1


def test_sequence_wrap_around_inside_a_body() -> None:
    conn = Conn(cseq=0xFFFFFF00, sseq=0xFFFFFFF0).handshake()
    body = b'{"k":"' + b"z" * 4000 + b'"}'
    conn.request(http_request(body=body), mss=512)
    conn.response(http_response(body=body), mss=512)
    pairs, c = replay(conn.close().frames)
    assert pairs[0].request.body == body and pairs[0].response.body == body


def test_lost_segment_gives_up_and_resyncs_with_counted_gap() -> None:
    conn = Conn().handshake()
    body = b'{"k":"' + b"q" * 4000 + b'"}'
    seg = conn.request(http_request(target="/damaged", body=body), mss=1000)
    conn.response(http_response())
    conn.request(http_request(target="/fine"))
    conn.response(http_response())
    frames = [f for f in conn.close().frames if f is not seg[2]]
    pairs, c = replay(frames)  # core.on_gap: partial (the default): the damaged body is flagged
    assert [p.request.target for p in pairs] == ["/damaged", "/fine"]
    damaged = pairs[0].request
    assert damaged.body_incomplete and damaged.body_missing == 1000 and len(damaged.body) == len(body) - 1000
    assert damaged.body == (http_request(target="/damaged", body=body)[:2000] + http_request(
        target="/damaged", body=body)[3000:]).split(b"\r\n\r\n", 1)[1]
    assert not pairs[1].request.body_incomplete and c.get("tcp.gaps") == 1 and c.drops() == {}
    record = pairs[0].to_record()["request"]
    assert record["body_incomplete"] is True and record["body_missing_bytes"] == 1000
    assert "body_incomplete" not in pairs[1].to_record()["request"]
    pairs, c = replay(frames, config=keep_all_config(on_gap="drop"))
    assert [p.request.target for p in pairs] == ["/fine"] and c.dropped("body_incomplete") == 1


def test_rst_ends_the_flow() -> None:
    conn = Conn().handshake()
    conn.request(http_request())
    conn.response(http_response())
    conn.request(http_request(target="/unanswered"))
    pairs, c = replay(conn.reset().frames, close=False)
    assert len(pairs) == 1 and c.dropped("connection_reset") == 1


def test_idle_flows_expire_and_requests_time_out() -> None:
    cfg = keep_all_config(flow_idle_timeout_s=30.0, response_timeout_s=5.0)
    pairs: list = []
    c = Counters()
    p = Pipeline(cfg, c, pairs.append)  # type: ignore[arg-type]
    conn = Conn(ts=100.0).handshake()
    conn.request(http_request())
    for ts, f in conn.frames:
        p.feed_packet(ts, f, 1)
    p.tick(106.0)
    assert c.dropped("response_timeout") == 1 and len(p.flows) == 1
    p.tick(140.0)
    assert len(p.flows) == 0 and c.get("flows.idle_expired") == 1


def test_flow_table_limit() -> None:
    cfg = keep_all_config(max_flows=5)
    frames = []
    for i in range(10):
        frames += conversation(1, client=("10.0.0.1", 2000 + i)).frames[:-3]  # left open
    pairs, c = replay(frames, config=cfg, close=False)
    assert len(pairs) == 5 and c.dropped("flow_table_full") > 0


def test_memory_budget_bounds_partial_bodies() -> None:
    cfg = keep_all_config(max_buffered_bytes=50_000)
    frames = []
    for i in range(10):  # ten uploads in flight at once, 20 KB each: more than the budget
        conn = Conn(client=("10.0.0.1", 3000 + i)).handshake()
        conn.request(http_request(body=b"a" * 20_000)[:-1])
        frames += conn.frames
    pairs: list = []
    c = Counters()
    p = Pipeline(cfg, c, pairs.append)  # type: ignore[arg-type]
    for ts, f in frames:
        p.feed_packet(ts, f, 1)
        assert p.budget.used <= 50_000
    p.close()
    assert c.dropped("memory_budget") >= 7  # the uploads that did not fit
    assert p.budget.used == 0


def test_non_http_flow_is_ignored_cheaply() -> None:
    """TLS records choose the TLS handshake layer (its hellos' facts only; these are cut short)."""
    conn = Conn().handshake()
    conn.request(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(200))
    conn.response(b"\x16\x03\x03\x00\x7a\x02" + bytes(200))
    pairs, c = replay(conn.close().frames)
    assert pairs == [] and c.drops() == {} and c.get("layer.tls") == 1
    assert c.get("layer.tls.hellos") + c.get("layer.tls.hellos_unread") == 2
    assert c.get("http.non_http_streams") == 0
    conn = Conn().handshake()  # a database protocol: the HTTP/1 reader gives it up
    conn.request(b"\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00database\x00x\x00\x00" + bytes(8))
    pairs, c = replay(conn.close().frames)
    assert pairs == [] and c.drops() == {} and c.get("http.non_http_streams") == 1 and c.get("layer.tls") == 0


def test_filters_apply_by_default() -> None:
    conn = Conn().handshake()
    conn.request(http_request(method="GET", target="/healthz", body=b""))
    conn.response(http_response())
    conn.request(http_request(target="/html", content_type="text/html"))
    conn.response(http_response(content_type="text/html"))
    conn.request(http_request(target="/err"))
    conn.response(http_response(status=503))
    conn.request(http_request(target="/ok"))
    conn.response(http_response())
    pairs, c = replay(conn.close().frames, config=Config())
    assert [p.request.target for p in pairs] == ["/ok"]
    assert c.drops() == {"filtered_url": 1, "filtered_content_type": 1, "filtered_status": 1}


def test_garbage_never_raises() -> None:
    rng = random.Random(3)
    frames = conversation(5).frames
    c = Counters()
    p = Pipeline(keep_all_config(), c, lambda pair: None)  # type: ignore[arg-type]
    for _ in range(3000):
        ts, f = rng.choice(frames)
        f = bytearray(f)
        for _ in range(rng.randint(1, 8)):
            f[rng.randrange(len(f))] = rng.randrange(256)
        p.feed_packet(ts, bytes(f[: rng.randint(0, len(f))]), rng.choice([1, 113, 276, 101]))
    p.close()
    assert c.get("packets") == 3000 and c.dropped("internal_error") == 0
