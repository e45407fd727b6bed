"""The verdict of each connection through the real pipeline, and the bounded account."""

from __future__ import annotations

import ssl

import orjson

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.coverage.account import Account, Connection
from interceptor.pairs import Endpoint
from interceptor.pipeline import Pipeline
from interceptor.schema import validate_connections
from tests.interceptor.coverage.test_hello import cert, handshake  # noqa: F401 - the fixture
from tests.interceptor.coverage.test_sniff import pg_startup
from tests.interceptor.packetgen import LINKTYPE_ETHERNET, Conn, http_request, http_response


def run(conns: list[Conn], cfg: Config | None = None, before_close=None) -> tuple[Pipeline, list[dict]]:
    cfg = cfg or Config()
    cfg.filters.keep_all = True
    pipeline = Pipeline(cfg, Counters(), lambda pair: None)
    frames = sorted((f for c in conns for f in c.frames), key=lambda f: f[0])
    for ts, data in frames:
        pipeline.feed_packet(ts, data, LINKTYPE_ETHERNET)
    if before_close:
        before_close(pipeline)
    pipeline.close()
    pipeline.coverage.finish(pipeline.now)
    return pipeline, pipeline.coverage.drain()


def tls_conn(cert, port: int = 443, sni: str = "api.example.com", **kw) -> Conn:  # noqa: F811
    c = Conn(server=("10.0.0.9", port), **kw).handshake()
    ch, sh = handshake(cert, sni, ["h2", "http/1.1"], ssl.TLSVersion.TLSv1_3)
    c.request(ch)
    c.response(sh)
    c.request(b"\x17\x03\x03\x00\x20" + bytes(32))  # application data: opaque
    c.close()
    return c


def test_verdicts_of_one_capture(cert) -> None:  # noqa: F811
    http = Conn(client=("10.0.0.1", 40001)).handshake()
    http.request(http_request())
    http.response(http_response())
    http.close()
    pg = Conn(client=("10.0.0.1", 40002), server=("10.0.0.3", 5432)).handshake()
    pg.request(pg_startup())
    pg.response(b"R\x00\x00\x00\x08\x00\x00\x00\x00")
    pg.close()
    mid = Conn(client=("10.0.0.1", 40003), server=("10.0.0.4", 6379))
    mid.request(b"\x00\x01\x02 opaque middle of something")
    refused = Conn(client=("10.0.0.1", 40004), server=("10.0.0.5", 9))
    refused._emit(True, refused.cseq, 0x02, b"", 0)
    refused.reset(from_client=False)
    tls = tls_conn(cert, client=("10.0.0.1", 40005))
    pipeline, records = run([http, pg, mid, refused, tls])
    by_verdict = {r["verdict"]: r for r in records}
    assert set(by_verdict) == {"inspected", "other-protocol", "joined-mid-stream", "unknown", "tls-unread"}
    insp = by_verdict["inspected"]
    assert (insp["protocol"], insp["pairs"], insp["source"], insp["dst"]) == ("http/1.1", 1, "pcap-file",
                                                                              {"ip": "10.0.0.2", "port": 8080})
    assert insp["bytes"] == len(http_request()) + len(http_response())
    assert by_verdict["other-protocol"]["protocol"] == "postgresql"
    assert by_verdict["unknown"]["reason"] == "no_payload"
    unread = by_verdict["tls-unread"]
    assert (unread["sni"], unread["alpn"], unread["tls_version"], unread["reason"]) == (
        "api.example.com", "h2,http/1.1", "TLS1.3", "no_plaintext_source")
    assert sum(r["connections"] for r in records) == 5 == pipeline.counters.get("flows")
    for r in records:
        validate_connections(r)
    text = b"".join(orjson.dumps(r) for r in records)
    assert b"opaque" not in text and b"user" not in text  # no payload in the account


def test_decrypted_when_a_tls_source_gave_the_plaintext(cert) -> None:  # noqa: F811
    conn = tls_conn(cert, client=("10.0.0.1", 40010))

    def stream(pipeline: Pipeline, close: bool = False) -> None:  # the eBPF view, server side: one exchange
        ends = (Endpoint("10.0.0.9", 443), Endpoint("10.0.0.1", 40010), {"kind": "openssl", "pid": 7})
        pipeline.feed_stream(("openssl", 7, 1), 1, pipeline.now, http_request(), *ends)
        pipeline.feed_stream(("openssl", 7, 1), 0, pipeline.now, http_response(), *ends)
        if close:  # SSL_free before the packets' FIN was seen
            pipeline.stream_close(("openssl", 7, 1), pipeline.now)

    cfg = Config()
    _, records = run([conn], cfg, before_close=None)
    assert records[0]["verdict"] == "tls-unread"
    # The stream arrives first (while the packets are still in flight) ...
    pipeline = Pipeline(cfg, Counters(), lambda pair: None)
    stream(pipeline)
    for ts, data in conn.frames:
        pipeline.feed_packet(ts, data, LINKTYPE_ETHERNET)
    pipeline.close()
    pipeline.coverage.finish(pipeline.now)
    (rec,) = pipeline.coverage.drain()
    assert (rec["verdict"], rec["source"], rec["library"], rec["sni"]) == ("tls-decrypted", "openssl", "openssl",
                                                                          "api.example.com")
    assert rec["pairs"] == 1  # read from the plaintext, the stream ending after the packets
    # The stream ends before the packets do: its pairs wait for the connection's record.
    pipeline = Pipeline(cfg, Counters(), lambda pair: None)
    stream(pipeline, close=True)
    for ts, data in conn.frames:
        pipeline.feed_packet(ts, data, LINKTYPE_ETHERNET)
    pipeline.close()
    pipeline.coverage.finish(pipeline.now)
    (rec,) = pipeline.coverage.drain()
    assert (rec["verdict"], rec["pairs"], rec["connections"]) == ("tls-decrypted", 1, 1)
    # ... or after them, within the grace the agent gives
    pipeline = Pipeline(cfg, Counters(), lambda pair: None)
    pipeline.coverage.grace_s = 2.0
    for ts, data in conn.frames:
        pipeline.feed_packet(ts, data, LINKTYPE_ETHERNET)
    pipeline.tick(pipeline.now + 0.5)
    stream(pipeline)
    pipeline.close()
    pipeline.coverage.finish(pipeline.now)
    (rec,) = pipeline.coverage.drain()
    assert rec["verdict"] == "tls-decrypted" and rec["connections"] == 1 and rec["pairs"] == 1


def test_segments_after_a_close_belong_to_their_connection(cert) -> None:  # noqa: F811
    """Java's case: the client closes (RST), the server's last records are still on the wire."""
    c = Conn(client=("10.0.0.1", 40020), server=("10.0.0.9", 8443)).handshake()
    ch, sh = handshake(cert, "late.example", [], ssl.TLSVersion.TLSv1_3)
    c.request(ch)
    c.response(sh)
    c.reset(from_client=True)
    c.response(b"\x17\x03\x03\x00\x13" + bytes(19))
    c.response(b"\x15\x03\x03\x00\x02\x01\x00")
    pipeline, records = run([c])
    assert [r["connections"] for r in records] == [1]
    assert records[0]["verdict"] == "tls-unread" and records[0]["sni"] == "late.example"
    assert records[0]["bytes"] == len(ch) + len(sh) + 24 + 7  # the tail is counted too
    assert pipeline.counters.get("coverage.segments_after_close") == 2
    assert pipeline.counters.get("flows.midstream") == 0
    # A new connection on the same addresses (a SYN) is a new one again.
    c2 = Conn(client=("10.0.0.1", 40020), server=("10.0.0.9", 8443), ts=c.ts + 1).handshake()
    c2.request(http_request())
    c2.close()
    _, records = run([c, c2])
    assert sum(r["connections"] for r in records) == 2


def test_account_is_bounded_and_still_adds_up() -> None:
    counters = Counters()
    account = Account(counters, max_keys=3, start=1.0)
    for i in range(10):
        account.add(Connection(Endpoint("10.1.0.1", 5000 + i), Endpoint(f"10.2.0.{i}", 443), "tls-unread", "tls",
                               bytes=100, sni=f"s{i}.example"))
    records = account.flush(61.0, node="n1")
    assert len(records) == 4  # three keys and one overflow
    assert sum(r["connections"] for r in records) == 10 and sum(r["bytes"] for r in records) == 1000
    overflow = [r for r in records if r["src"]["ip"] == "(overflow)"]
    assert overflow[0]["connections"] == 7 and counters.get("coverage.keys_overflow") == 7
    assert records[0]["interval_start"] == 1.0 and records[0]["interval_end"] == 61.0 and records[0]["node"] == "n1"
    assert counters.get("coverage.connections.tls-unread") == 10
    assert account.flush(62.0) == [] and account.start == 62.0


def test_prometheus_families_by_verdict(cert) -> None:  # noqa: F811
    from prometheus_client import CollectorRegistry, generate_latest

    from interceptor.metrics import SensorCollector

    pipeline, _ = run([tls_conn(cert, client=("10.0.0.1", 40030))])
    registry = CollectorRegistry()
    registry.register(SensorCollector(pipeline.counters))
    text = generate_latest(registry).decode()
    assert 'interceptor_coverage_connections_total{verdict="tls-unread"} 1.0' in text
    assert 'interceptor_coverage_bytes_total{verdict="tls-unread"}' in text
