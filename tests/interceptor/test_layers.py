"""The protocol layers and their choice, from bytes: one function picks the layer by content, the
TLS handshake layer reads real hellos (Python's ssl, in memory), HTTP/1 tunnels switch to opaque,
and eBPF plaintext streams go through the same layers (ALPN h2 from the packet view's handshake
picks HTTP/2 for a stream met after its preface)."""

from __future__ import annotations

import ssl

import pytest

from interceptor.capture.packets import TCP_ACK, TCP_FIN, TCP_SYN
from interceptor.config import Config
from interceptor.connection import Connection, Plaintext
from interceptor.conversation import Context, Conversation
from interceptor.counters import Counters
from interceptor.h2conversation import H2Conversation, h2_limits
from interceptor.http import Limits
from interceptor.layers import Kind, Opaque, TlsHandshake, choose
from interceptor.pairs import Endpoint, Pair
from interceptor.pipeline import Pipeline
from interceptor.reassembly import Budget
from tests.interceptor import packetgen
from tests.interceptor.coverage.test_hello import cert, handshake  # noqa: F401 - the fixture is used by name
from tests.interceptor.h2build import PREFACE, settings
from tests.interceptor.test_h2_pipeline import h2_chunks

C, S = 1000, 5000
ENDS = (Endpoint("10.0.0.1", 40000), Endpoint("10.0.0.2", 443))


def test_one_function_chooses_by_content() -> None:
    assert choose(PREFACE, synced=True) is Kind.H2
    assert choose(PREFACE[:6], synced=True) is Kind.H2  # the preface cut by a small first segment
    assert choose(settings(), synced=True) is Kind.H2  # a server speaking first (grpc-core)
    assert choose(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", synced=True) is Kind.TLS
    assert choose(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", synced=True, tls=False) is Kind.HTTP1  # plaintext
    assert choose(b"GET / HTTP/1.1\r\n", synced=True) is Kind.HTTP1
    assert choose(b"ody of something", synced=False) is Kind.UNDECIDED  # mid-way: HTTP/1 searches
    assert choose(b"\x00\x00\x05\x00\x00\x00\x00\x00\x03abcde", synced=True, alpn="h2", tls=False) is Kind.H2_JOINED


def connection() -> tuple[Connection, list[Pair], Counters, Budget]:
    counters, budget, pairs = Counters(), Budget(1 << 24), []
    ctx = Context(Limits(1 << 20, 65536, False), counters, budget, 30.0, 64, pairs.append)
    conn = Connection((b"\x0a\0\0\x01", 40000), ENDS, {"kind": "test"}, 0.0, ctx, h2_limits(Config()), 64,
                      synced=True)
    conn.receive(0, C, 0, TCP_SYN, b"", 0.0)
    conn.receive(1, S, C + 1, TCP_SYN | TCP_ACK, b"", 0.01)
    return conn, pairs, counters, budget


def send(conn: Connection, seqs: list[int], direction: int, data: bytes, ts: float, mss: int) -> None:
    for i in range(0, len(data), mss):
        conn.receive(direction, seqs[direction], seqs[1 - direction], TCP_ACK, data[i:i + mss], ts)
        seqs[direction] += len(data[i:i + mss])


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_layer_reads_the_hellos_of_a_real_handshake(cert: tuple[str, str], version: ssl.TLSVersion) -> None:  # noqa: F811
    client_hello, server_flight = handshake(cert, "api.example.com", ["h2", "http/1.1"], version)
    conn, pairs, counters, budget = connection()
    seqs = [C + 1, S + 1]
    send(conn, seqs, 0, client_hello, 0.1, 100)  # the hello cut into small segments
    layer = conn.layer
    assert type(layer) is TlsHandshake and not layer.dead
    assert layer.hellos[0] is not None and layer.hellos[0].sni == "api.example.com"
    assert layer.hellos[0].alpn == ("h2", "http/1.1")
    send(conn, seqs, 1, server_flight, 0.2, 1400)
    assert layer.dead and budget.used == 0  # both read: nothing more is reassembled or kept
    # TLS 1.2 answers ALPN in clear; 1.3 encrypts the answer (and the client offered two).
    assert conn.alpn == ("h2" if version is ssl.TLSVersion.TLSv1_2 else "")
    send(conn, seqs, 0, b"\x17\x03\x03\x00\x20" + bytes(32), 0.3, 1400)  # application data: not read
    conn.receive(0, seqs[0], seqs[1], TCP_ACK | TCP_FIN, b"", 0.4)
    conn.receive(1, seqs[1], seqs[0] + 1, TCP_ACK | TCP_FIN, b"", 0.5)
    assert conn.over and pairs == [] and not counters.drops()
    assert counters.get("layer.tls") == 1 and counters.get("layer.tls.hellos") == 2


def test_tls_joined_mid_connection_reads_no_hello() -> None:
    counters, budget = Counters(), Budget(1 << 20)
    ctx = Context(Limits(1 << 20, 65536, False), counters, budget, 30.0, 64, lambda p: None)
    conn = Connection((b"\x0a\0\0\x01", 40000), ENDS, {"kind": "test"}, 0.0, ctx, h2_limits(Config()), 64,
                      synced=False)
    conn.receive(0, C, S, TCP_ACK, b"\x17\x03\x03\x00\x20" + bytes(32), 0.1)
    assert type(conn.layer) is TlsHandshake and counters.get("layer.tls.hellos_unread") == 1 and budget.used == 0


def test_connect_tunnel_is_a_pair_then_opaque() -> None:
    conn, pairs, counters, _ = connection()
    seqs = [C + 1, S + 1]
    send(conn, seqs, 0, b"CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n", 0.1, 1400)
    send(conn, seqs, 1, b"HTTP/1.1 200 Connection established\r\n\r\n", 0.2, 1400)
    assert [(p.request.method, p.response.status) for p in pairs] == [("CONNECT", 200)]
    assert type(conn.layer) is Opaque and conn.layer.dead and conn.layer.pairs == 1
    send(conn, seqs, 0, b"\x16\x03\x01\x00\x05hello", 0.3, 1400)  # the tunnel's TLS: not read
    conn.receive(0, seqs[0], seqs[1], TCP_ACK | TCP_FIN, b"", 0.4)
    assert conn.over and counters.get("layer.opaque") == 1 and not counters.drops()


def test_plaintext_streams_choose_the_same_layers() -> None:
    counters, budget, pairs = Counters(), Budget(1 << 24), []
    ctx = Context(Limits(1 << 20, 65536, False), counters, budget, 30.0, 64, pairs.append)
    h1 = Plaintext(ctx, h2_limits(Config()), ENDS, {"kind": "openssl"})
    assert h1.receive(0, packetgen.http_request(), 1.0) and h1.receive(1, packetgen.http_response(), 1.1)
    assert type(h1.layer) is Conversation and len(pairs) == 1
    h2 = Plaintext(ctx, h2_limits(Config()), ENDS, {"kind": "openssl"})
    chunks, bodies = h2_chunks(2)
    for c, s in chunks:
        h2.receive(0, c, 2.0)
        h2.receive(1, s, 2.1)
    assert type(h2.layer) is H2Conversation and [p.response.body for p in pairs[1:]] == [b for _, b in bodies]


def test_alpn_h2_from_the_packets_picks_http2_for_a_stream_met_late(cert: tuple[str, str]) -> None:  # noqa: F811
    """The eBPF source attached after the connection's preface: its plaintext starts inside HTTP/2.
    The packet view of the same connection read ALPN h2 in the ServerHello (TLS 1.2)."""
    client_hello, server_flight = handshake(cert, "api.example.com", ["h2"], ssl.TLSVersion.TLSv1_2)
    chunks, bodies = h2_chunks(4)
    late = chunks[1:]  # the first exchange (and the preface) came before the stream was traced

    def run(with_packets: bool) -> tuple[list[Pair], Counters]:
        pairs: list[Pair] = []
        counters = Counters()
        cfg = Config()
        cfg.filters.keep_all = True  # (joined late, the content-type is an HPACK entry never seen)
        pipe = Pipeline(cfg, counters, pairs.append)
        if with_packets:
            conn = packetgen.Conn(server=("10.0.0.2", 443)).handshake()
            conn.request(client_hello)
            conn.response(server_flight)
            for ts, frame in conn.frames:
                pipe.feed_packet(ts, frame, 1)
        src = {"kind": "openssl", "pid": 7}
        for c, s in late:
            pipe.feed_stream("c1", 0, 2.0, c, *ENDS, src)
            pipe.feed_stream("c1", 1, 2.1, s, *ENDS, src)
        pipe.close()
        return pairs, counters

    pairs, counters = run(with_packets=True)
    assert counters.get("stream.alpn_from_packets") == 1 and counters.get("h2.connections_joined_late") == 1
    got = [(p.protocol, p.response.body) for p in pairs]
    assert got and all(proto == "h2" for proto, _ in got) and {b for _, b in got} <= {b for _, b in bodies[1:]}
    pairs, counters = run(with_packets=False)  # without the handshake's word, the frames are not HTTP/1
    assert pairs == [] and counters.get("http.non_http_streams") >= 1


def test_a_layer_alone_gives_pairs_as_events() -> None:
    """Fed bytes, a layer hands back its pairs in ``events``; it never calls up (emit is not called)."""

    def no_callback(pair: Pair) -> None:
        raise AssertionError("a layer called up")

    ctx = Context(Limits(1 << 20, 65536, False), Counters(), Budget(1 << 24), 30.0, 64, no_callback)
    h1 = Conversation(ctx, ENDS, {"kind": "test"}, synced=True)
    h1.set_client(0)
    h1.parsers[0].data(packetgen.http_request(), 0.1)
    h1.parsers[1].data(packetgen.http_response(), 0.2)
    assert [(type(e), e.request.target) for e in h1.events] == [(Pair, "/api/users")]  # type: ignore[union-attr]
    h2 = H2Conversation(ctx, h2_limits(Config()), ENDS, {"kind": "test"}, joined_late=False)
    (c, s), = h2_chunks(1)[0]
    h2.parsers[0].data(c, 0.1)
    h2.parsers[1].data(s, 0.2)
    assert [(type(e), e.protocol) for e in h2.events] == [(Pair, "h2")]  # type: ignore[union-attr]
