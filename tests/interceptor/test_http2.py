"""The HTTP/2 layer alone, from bytes: frames, HPACK, streams, joins, loss and bounds."""

from __future__ import annotations

import gzip
import random

import pytest
from hpack import Decoder as HyperDecoder
from hpack import Encoder, NeverIndexedHeaderTuple

from interceptor.counters import Counters
from interceptor.hpack_decoder import Decoder, HpackError
from interceptor.http2 import PREFACE, Exchange, H2Limits, Http2Connection
from interceptor.reassembly import Budget
from tests.interceptor.h2build import (
    Side,
    continuation,
    control_frames,
    data,
    goaway,
    grpc_message,
    headers,
    push_promise,
    request_fields,
    response_fields,
    rst,
    settings,
)

C, S = 0, 1  # direction 0 carries the client's bytes in these tests


def limits(**kw: int | bool) -> H2Limits:
    base = {"max_message_bytes": 1 << 20, "max_header_bytes": 16 << 10, "truncate": False}
    base.update(kw)
    return H2Limits(**base)  # type: ignore[arg-type]


class Conn:
    """A layer plus its counters, budget and both endpoints' encoders."""

    def __init__(self, joined_late: bool = False, **kw: int | bool) -> None:
        self.counters = Counters()
        self.budget = Budget(8 << 20)
        self.layer = Http2Connection(limits(**kw), self.counters, self.budget, joined_late=joined_late)
        self.client, self.server = Side(), Side()
        self.events: list[Exchange] = []
        self.ts = 1000.0

    def feed(self, direction: int, raw: bytes, chunk: int = 0) -> list[Exchange]:
        got = []
        step = chunk or len(raw) or 1
        for i in range(0, len(raw), step):
            self.ts += 0.001
            got += self.layer.receive(direction, raw[i:i + step], self.ts)
        self.events += got
        return got

    def start(self) -> None:
        self.feed(C, PREFACE + settings(initial_window_size=65535))
        self.feed(S, settings(max_concurrent_streams=100) + settings())

    def request(self, sid: int, body: bytes = b"", **kw: object) -> bytes:
        block = self.client.block(request_fields(**kw))  # type: ignore[arg-type]
        if not body:
            return headers(sid, block, end_stream=True)
        return headers(sid, block) + data(sid, body, end_stream=True)

    def response(self, sid: int, body: bytes = b"", status: int = 200, trailers: list | None = None,
                 **kw: object) -> bytes:
        out = headers(sid, self.server.block(response_fields(status, **kw)), end_stream=not body and not trailers)  # type: ignore[arg-type]
        if body:
            out += data(sid, body, end_stream=not trailers)
        if trailers:
            out += headers(sid, self.server.block(trailers), end_stream=True)
        return out

    def drops(self) -> dict[str, int]:
        return self.counters.drops()


def test_one_exchange_every_field() -> None:
    c = Conn()
    c.start()
    c.feed(C, c.request(1, b'{"email":"a@b.c"}', path="/v1/users?x=1"))
    [ex] = c.feed(S, c.response(1, b'{"id":7}', status=201))
    assert ex.stream_id == 1 and not ex.headers_incomplete and ex.grpc is None
    req, resp = ex.request, ex.response
    assert (req.method, req.target, req.version, req.body) == ("POST", "/v1/users?x=1", "HTTP/2", b'{"email":"a@b.c"}')
    assert req.headers[:3] == [(":method", "POST"), (":scheme", "http"), (":path", "/v1/users?x=1")]
    assert req.header(":authority") == "svc:8080" and req.content_type == "application/json"
    assert (resp.status, resp.body, resp.body_size, resp.truncated) == (201, b'{"id":7}', 8, False)
    assert req.ts < resp.ts
    assert c.layer.client == C and not c.drops() and c.budget.used == 0


def test_byte_at_a_time_gives_the_same() -> None:
    whole, bytewise = Conn(), Conn()
    for c, chunk in ((whole, 0), (bytewise, 1)):
        c.feed(C, PREFACE + settings(), chunk)
        c.feed(C, c.request(1, b"x" * 300) + c.request(3, b"yy"), chunk)
        c.feed(S, settings() + c.response(3, b"three") + c.response(1, b"one"), chunk)
    key = [(e.stream_id, e.request.body, e.response.body, e.response.headers) for e in whole.events]
    assert key == [(e.stream_id, e.request.body, e.response.body, e.response.headers) for e in bytewise.events]
    assert [e.stream_id for e in whole.events] == [3, 1]


def test_concurrent_streams_paired_by_id() -> None:
    c = Conn()
    c.start()
    ids = list(range(1, 80, 2))
    req_frames = [c.request(sid, f"req{sid}".encode(), path=f"/p/{sid}") for sid in ids]
    c.feed(C, b"".join(req_frames))
    order = ids[:]
    random.Random(5).shuffle(order)
    c.feed(S, b"".join(c.response(sid, f"resp{sid}".encode()) for sid in order))
    got = {e.request.target: e.response.body for e in c.events}
    assert got == {f"/p/{sid}": f"resp{sid}".encode() for sid in ids}
    assert [e.stream_id for e in c.events] == order


def test_data_frames_interleaved_across_streams() -> None:
    c = Conn()
    c.start()
    b1, b3 = c.client.block(request_fields(path="/a")), c.client.block(request_fields(path="/b"))
    c.feed(C, headers(1, b1) + headers(3, b3) + data(1, b"a1") + data(3, b"b1") + data(1, b"a2", end_stream=True)
           + data(3, b"b2", end_stream=True))
    c.feed(S, c.response(1, b"A") + c.response(3, b"B"))
    assert {e.request.target: e.request.body for e in c.events} == {"/a": b"a1a2", "/b": b"b1b2"}


def test_continuation_joins_the_block() -> None:
    c = Conn()
    c.start()
    extra = [(f"x-h{i}", "v" * 50) for i in range(20)]
    block = c.client.block(request_fields(extra=extra))
    third = len(block) // 3
    c.feed(C, headers(1, block[:third], end_headers=False) + continuation(1, block[third:2 * third], end_headers=False)
           + continuation(1, block[2 * third:]) + data(1, b"body", end_stream=True))
    [ex] = c.feed(S, c.response(1, b"ok"))
    assert ex.request.headers[-20:] == extra and ex.request.body == b"body"


def test_frame_interleaving_a_header_block_is_a_protocol_error() -> None:
    c = Conn()
    c.start()
    block = c.client.block(request_fields())
    c.feed(C, headers(1, block[:5], end_headers=False) + data(3, b"x") + continuation(1, block[5:]))
    assert c.counters.get("h2.protocol_errors") >= 1
    assert c.layer.readers[C].decoder.joined_late  # the block was lost: so was the table


def test_padding_and_priority_removed() -> None:
    c = Conn()
    c.start()
    block = c.client.block(request_fields())
    c.feed(C, headers(1, block, pad=17, priority=True) + data(1, b"pad", pad=200) + data(1, b"ded", pad=0)
           + data(1, b"", end_stream=True, pad=3))
    [ex] = c.feed(S, headers(1, c.server.block(response_fields()), pad=1) + data(1, b"r", end_stream=True, pad=9))
    assert ex.request.body == b"padded" and ex.response.body == b"r"
    assert ex.request.wire_bytes == 6


def test_bad_padding_is_a_protocol_error_not_a_crash() -> None:
    c = Conn()
    c.start()
    c.feed(C, headers(1, c.client.block(request_fields())))
    bad = bytearray(data(1, b"abc", pad=2))
    bad[9] = 40  # pad length beyond the frame
    c.feed(C, bytes(bad))
    assert c.counters.get("h2.protocol_errors") == 1 and c.drops() == {"h2_protocol_error": 1}


def test_control_and_unknown_frames_change_nothing() -> None:
    c = Conn()
    c.start()
    unknown = b"\x00\x00\x03\x0b\x00\x00\x00\x00\x00abc"  # extension frame type 0x0b
    c.feed(C, control_frames() + unknown + c.request(1, b"q") + control_frames())
    [ex] = c.feed(S, control_frames() + c.response(1, b"r") + goaway(1))
    assert ex.request.body == b"q" and ex.response.body == b"r" and not c.drops()


def test_push_promise_keeps_the_table_in_step() -> None:
    c = Conn()
    c.start()
    c.feed(C, c.request(1))
    promised = c.server.block([(":method", "GET"), (":path", "/style.css"), ("x-pushed", "1")])
    c.feed(S, push_promise(1, 2, promised) + headers(2, c.server.block(response_fields())) + data(2, b"css", True))
    [ex] = c.feed(S, c.response(1, b"page", extra=[("x-pushed", "1")]))  # indexed from the promise
    assert ex.response.header("x-pushed") == "1" and not ex.headers_incomplete
    assert c.counters.get("h2.push_promises") == 1 and c.counters.get("h2.pushed_streams") == 1


def test_rst_mid_stream_drops_only_that_stream() -> None:
    c = Conn()
    c.start()
    c.feed(C, c.request(1, b"a") + headers(3, c.client.block(request_fields())) + data(3, b"part"))
    c.feed(C, rst(3))
    c.feed(C, data(3, b"late", end_stream=True))  # after the reset: not followed
    [ex] = c.feed(S, c.response(1, b"one") + c.response(3, b"never"))
    assert ex.stream_id == 1
    assert c.drops() == {"h2_stream_reset": 1, "response_without_request": 1}
    assert c.budget.used == 0


def test_reset_after_the_response_ended_changes_nothing() -> None:
    c = Conn()
    c.start()
    c.feed(C, headers(1, c.client.block(request_fields())) + data(1, b"streaming"))
    [ex] = c.feed(S, c.response(1, b"early answer"))  # the server answered before the request ended
    c.feed(C, rst(1, code=0))
    assert ex.request.body == b"streaming" and not c.drops()


def test_trailers_appended_and_trailers_only() -> None:
    c = Conn()
    c.start()
    c.feed(C, c.request(1, b"x") + c.request(3, b"y"))
    [ex] = c.feed(S, c.response(1, b"body", trailers=[("x-checksum", "abc"), ("x-server-timing", "5")]))
    assert ex.response.headers[-2:] == [("x-checksum", "abc"), ("x-server-timing", "5")]
    only = headers(3, c.server.block(response_fields(200, "application/grpc", [("grpc-status", "5")])), end_stream=True)
    [ex3] = c.feed(S, only)
    assert ex3.response.body == b"" and ex3.response.header("grpc-status") == "5"


def test_interim_headers_replaced_by_the_final_ones() -> None:
    c = Conn()
    c.start()
    c.feed(C, c.request(1, b"big", extra=[("expect", "100-continue")]))
    c.feed(S, headers(1, c.server.block([(":status", "100")])))
    [ex] = c.feed(S, c.response(1, b"done"))
    assert ex.response.status == 200 and ex.response.header(":status") == "200"
    assert c.counters.get("h2.interim_responses") == 1


def test_content_encoding_removed_like_http1() -> None:
    c = Conn()
    c.start()
    body = b'{"name":"Ada"}' * 50
    c.feed(C, c.request(1, gzip.compress(body), extra=[("content-encoding", "gzip")]))
    [ex] = c.feed(S, c.response(1, gzip.compress(body), extra=[("content-encoding", "gzip")]))
    assert ex.request.body == body and ex.response.body == body and ex.response.body_size == len(body)


# -- bounds ---------------------------------------------------------------------------------------
def test_message_bound_drop_and_truncate() -> None:
    for truncate in (False, True):
        c = Conn(max_message_bytes=100, truncate=truncate)
        c.start()
        c.feed(C, c.request(1, b"q"))
        got = c.feed(S, c.response(1, b"z" * 500))
        if truncate:
            assert got[0].response.body == b"z" * 100 and got[0].response.truncated and got[0].response.body_size == 500
        else:
            assert not got and c.drops() == {"response_too_large": 1}
        assert c.budget.used == 0


def test_header_block_bound_costs_the_table() -> None:
    c = Conn(max_header_bytes=200)
    c.start()
    c.feed(C, c.request(1, b"q", extra=[("cookie", "c" * 400)]))
    assert c.drops() == {"header_too_large": 1}
    assert c.layer.readers[C].decoder.joined_late  # the skipped block's insertions are unknown
    # The connection stays usable: the next request is decoded from the static table and literals.
    c.feed(C, c.request(3, b"r"))
    [ex] = c.feed(S, c.response(1, b"lost") + c.response(3, b"R"))
    assert ex.stream_id == 3 and ex.response.body == b"R"


def test_header_block_bound_across_continuations() -> None:
    c = Conn(max_header_bytes=300)
    c.start()
    block = c.client.block(request_fields(extra=[("x-big", "b" * 500)]), huffman=False)
    c.feed(C, headers(1, block[:200], end_headers=False) + continuation(1, block[200:400], end_headers=False)
           + continuation(1, block[400:]) + data(1, b"x", end_stream=True))
    assert c.drops() == {"header_too_large": 1} and not c.layer.streams


def test_stream_count_bound() -> None:
    c = Conn(max_streams=3)
    c.start()
    c.feed(C, b"".join(c.request(sid, b"q") for sid in (1, 3, 5, 7, 9)))
    assert c.drops() == {"h2_too_many_streams": 2}
    c.feed(S, b"".join(c.response(sid, b"r") for sid in (1, 3, 5, 7, 9)))
    assert len(c.events) == 3  # the refused streams' headers were still decoded: the table is in step
    assert c.drops()["response_without_request"] == 2


def test_memory_budget_shared() -> None:
    c = Conn()
    c.budget = c.layer.budget = Budget(1000)
    c.start()
    c.feed(C, headers(1, c.client.block(request_fields())) + data(1, b"a" * 800))
    c.feed(C, headers(3, c.client.block(request_fields())) + data(3, b"b" * 800, end_stream=True))
    c.feed(S, c.response(3, b"r"))
    assert c.drops() == {"memory_budget": 1}
    c.feed(C, data(1, b"", end_stream=True))
    c.feed(S, c.response(1, b"r"))
    assert len(c.events) == 1 and c.budget.used == 0


def test_timeout_and_close_count_each_stream_once() -> None:
    c = Conn()
    c.start()
    c.feed(C, c.request(1, b"a") + c.request(3, b"b") + headers(5, c.client.block(request_fields())))
    c.feed(S, headers(3, c.server.block(response_fields())))
    c.layer.expire(c.ts + 60, 10.0)
    assert c.drops() == {"response_timeout": 2}  # 1 and 5 had no response begun; 3 is answering
    c.layer.close("end_of_capture")
    assert c.drops() == {"response_timeout": 2, "incomplete_at_close": 1} and c.budget.used == 0


# -- joining late, loss ---------------------------------------------------------------------------
def _grpc_like_connection(c: Conn, n: int) -> list[bytes]:
    """n calls on one connection: the same custom headers each time (indexed after the first)."""
    frames = []
    for i in range(n):
        sid = 1 + 2 * i
        fields = request_fields("/pkg.Users/Get", extra=[("x-tenant", "acme"), ("user-agent", f"c/{i}")])
        frames.append(headers(sid, c.client.block(fields)) + data(sid, f"q{i}".encode(), end_stream=True))
    return frames


def test_join_mid_connection_marks_and_learns() -> None:
    c = Conn()
    frames = _grpc_like_connection(c, 6)
    late = Conn(joined_late=True)
    late.client, late.server = c.client, c.server
    # The capture starts inside the third request's frames: the first two are never seen.
    start = frames[2][7:]
    late.feed(C, start + b"".join(frames[3:]))
    for i in range(2, 6):
        late.feed(S, late.response(1 + 2 * i, f"r{i}".encode(), extra=[("x-tenant", "acme")]))
    got = {e.stream_id: e for e in late.events}
    assert sorted(got) == [7, 9, 11]  # stream 5's headers were cut
    for ex in got.values():
        # :path, content-type, x-tenant were indexed before we joined: left out, marked.
        assert ex.headers_incomplete and ex.request.method == "POST"
        assert ex.request.target == "" and ex.request.header("x-tenant") is None
        assert ex.request.header(":scheme") == "http"  # static table
    # A new value under a static-table name is a literal whatever came before: exact.
    assert [got[s].request.header("user-agent") for s in (7, 9, 11)] == ["c/3", "c/4", "c/5"]
    # The response side's x-tenant was first sent after the join (in the response to stream 5,
    # whose request we lost): learned there, decoded exactly from the dynamic table afterwards.
    assert [got[s].response.header("x-tenant") for s in (7, 9, 11)] == ["acme"] * 3
    assert late.counters.get("h2.resyncs") >= 1 and late.counters.get("h2.headers_incomplete") == 3


def test_literals_learned_after_a_join_decode_exactly() -> None:
    enc = Encoder()
    enc.encode([("x-old", "before")])  # an insertion we never see
    dec = Decoder(joined_late=True)
    block1 = enc.encode([(":method", "GET"), ("x-new", "after"), ("x-old", "before")])
    first = dec.decode(block1)
    assert first.headers == [(":method", "GET"), ("x-new", "after")] and first.unknown == 1
    second = dec.decode(enc.encode([("x-new", "after"), (":method", "GET")]))
    assert second.headers == [("x-new", "after"), (":method", "GET")] and second.unknown == 0


def test_gap_poisons_the_direction_never_wrong_headers() -> None:
    c = Conn()
    c.start()
    c.feed(C, c.request(1, b"a", extra=[("x-user", "alice")]))
    c.feed(S, c.response(1, b"A"))
    lost = c.request(3, b"b", extra=[("x-user", "bob")])  # inserts x-user: bob, never seen
    c.layer.gap(C)
    after = headers(5, c.client.block(request_fields(extra=[("x-user", "bob")]))) + data(5, b"c", end_stream=True)
    assert lost  # encoded (the encoder's table moved on) but not fed
    c.feed(C, after)
    [ex] = c.feed(S, c.response(5, b"C"))
    # Before the gap index 62 was "x-user: alice"; now it is "bob": an observer that kept its
    # table would have said alice. Ours says nothing about x-user and marks the pair.
    assert ex.request.header("x-user") is None and ex.headers_incomplete
    assert c.counters.get("h2.hpack_state_lost") == 1


def test_gap_inside_a_frame_resyncs_on_frame_boundaries() -> None:
    c = Conn()
    c.start()
    c.feed(C, headers(1, c.client.block(request_fields())) + data(1, b"x" * 1000)[:300])
    c.layer.gap(C)
    assert c.drops() == {"gap": 1}
    tail = data(1, b"x" * 1000)[700:]  # the rest of the cut frame, then new streams
    c.feed(C, tail + c.request(3, b"three"))
    [ex] = c.feed(S, c.response(1, b"one") + c.response(3, b"3"))
    assert ex.stream_id == 3 and ex.request.body == b"three"


# -- HPACK ---------------------------------------------------------------------------------------
def _fields(rng: random.Random) -> list[tuple[str, str]]:
    names = [":method", ":path", "content-type", "x-a", "x-b", "cookie", "user-agent", "x-long"]
    out = []
    for _ in range(rng.randint(1, 8)):
        name = rng.choice(names)
        value = rng.choice(["GET", "/", "v", "application/json", "x" * rng.randint(0, 300), str(rng.random())])
        out.append((name, value))
    return out


def test_hpack_matches_python_hyper_on_a_synced_stream() -> None:
    """Differential: every block of a long stream (eviction, Huffman on and off, never-indexed,
    table size updates) decodes to what hpack.Decoder gives."""
    rng = random.Random(13)
    enc, theirs, ours = Encoder(), HyperDecoder(), Decoder()
    for i in range(400):
        if i % 97 == 50:
            enc.header_table_size = rng.choice([0, 256, 4096])  # emitted as a size update
        fields: list = _fields(rng)
        if i % 7 == 0:
            fields.append(NeverIndexedHeaderTuple("authorization", "secret"))
        block = enc.encode(fields, huffman=bool(i % 2))
        want = [(n, v) for n, v in theirs.decode(block)]
        got = ours.decode(block)
        assert got.headers == want and got.unknown == 0, i
    assert ours.size <= ours.max_size


def test_hpack_errors_are_errors() -> None:
    with pytest.raises(HpackError):
        Decoder().decode(b"\x80")  # index 0
    with pytest.raises(HpackError):
        Decoder().decode(b"\xff\x00")  # dynamic index 127+0 on an empty table, synced: impossible
    with pytest.raises(HpackError):
        Decoder().decode(b"\x40\x85ab")  # string runs past the block
    with pytest.raises(HpackError):
        Decoder().decode(b"\x40\x81\xff\x00")  # Huffman EOS inside a string
    assert Decoder(joined_late=True).decode(b"\xff\x00").unknown == 1


def test_frames_counted_in_batches_and_at_close() -> None:
    from interceptor.http2 import FRAMES_FLUSH

    c = Conn()
    c.start()  # 3 frames: the client's SETTINGS, the server's two
    rounds = FRAMES_FLUSH // 3
    for _ in range(rounds):
        c.feed(C, control_frames())  # 5 frames each
    sent = 3 + 5 * rounds
    assert c.counters.get("h2.frames") + c.layer.frames == sent and c.counters.get("h2.frames") >= FRAMES_FLUSH
    assert c.layer.frames < FRAMES_FLUSH
    c.layer.close()
    assert c.counters.get("h2.frames") == sent and c.layer.frames == 0


def test_huffman_code_matches_python_hyper() -> None:
    """Our Huffman decoder (the RFC's table, not hpack's module) against hpack's on every symbol,
    random strings, and malformed input: the same bytes or both an error."""
    from hpack.exceptions import HPACKDecodingError
    from hpack.huffman import HuffmanEncoder
    from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
    from hpack.huffman_table import decode_huffman as theirs

    from interceptor.hpack_decoder import HUFFMAN_LENGTHS, decode_huffman

    assert list(HUFFMAN_LENGTHS) == list(REQUEST_CODES_LENGTH)
    enc = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)
    rng = random.Random(7)
    samples = [bytes([b]) for b in range(256)] + [bytes(range(256))]
    samples += [bytes(rng.randrange(256) for _ in range(rng.randrange(40))) for _ in range(500)]
    for raw in samples:
        assert decode_huffman(enc.encode(raw)) == raw == theirs(enc.encode(raw))
    for _ in range(3000):  # random bytes: a valid code or not, padding right or wrong, EOS inside
        junk = enc.encode(bytes(rng.randrange(256) for _ in range(rng.randrange(4))))
        junk += bytes(rng.randrange(256) for _ in range(rng.randrange(5))) + b"\xff" * rng.randrange(3)
        try:
            want: bytes | None = theirs(junk)
        except HPACKDecodingError:
            want = None
        try:
            got: bytes | None = decode_huffman(junk)
        except HpackError:
            got = None
        assert got == want, junk
    for bad in (b"\xff", b"\x1f\xff", b"\xff\xff\xff\xfc", b"\x00"):  # padding 8 ones, EOS, 0-bit padding
        with pytest.raises(HpackError):
            decode_huffman(bad)


def test_non_ascii_digits_are_not_a_status() -> None:
    """str.isdigit holds for "²": a :status or grpc-status of such digits is no number, not a crash."""
    from interceptor.grpc import _status

    block = b"\x08\x03" + "\u00b2\u00b2\u00b2".encode("latin-1")  # :status (name 8), a raw 3-byte value
    got = Decoder().decode(block)
    assert got.headers == [(":status", "\u00b2\u00b2\u00b2")] and got.status is None
    assert [_status(t) for t in ("0", "14", "\u00b2", "\u0663", "", None, "-1")] == [0, 14, None, None, None, None, None]


def test_trailers_joined_once_per_repeated_blocks() -> None:
    """Calls whose response headers and trailers repeat share one joined list and index; a new
    header block before the same trailers gets its own, correct join."""
    c = Conn()
    c.start()
    trailers = [("grpc-status", "0"), ("grpc-message", "")]
    for sid in (1, 3, 5):
        c.feed(C, c.request(sid, grpc_message(b"\x08\x01"), path="/a.B/C", content_type="application/grpc"))
        c.feed(S, c.response(sid, grpc_message(b"\x08\x02"), content_type="application/grpc", trailers=trailers))
    for sid, status in ((7, 201), (9, 200), (11, 201), (13, 200)):  # known blocks alternating before one trailer block
        c.feed(C, c.request(sid, grpc_message(b"\x08\x01"), path="/a.B/C", content_type="application/grpc"))
        c.feed(S, c.response(sid, grpc_message(b"\x08\x02"), status=status, content_type="application/grpc",
                             trailers=trailers))
    first, second, third, other, *alternating = (e.response for e in c.events)
    assert [(r.status, r.header(":status"), r.header("grpc-status"), len(r.headers)) for r in alternating] == [
        (200, "200", "0", 4), (201, "201", "0", 4), (200, "200", "0", 4)]
    assert alternating[0].index is alternating[2].index  # each base keeps its join while the other is used
    # the first call's blocks insert into the table (other bytes); the next two repeat them exactly
    assert first.headers == second.headers == third.headers and first.index == second.index
    assert second.index is third.index and second.headers is not third.headers  # each pair's own list
    assert [v for n, v in other.headers if n == ":status"] == ["201"] and other.index is not first.index
    assert other.header(":status") == "201" and other.header("grpc-status") == "0" and other.status == 201
    assert [n for n, _ in first.headers][-2:] == ["grpc-status", "grpc-message"]


def test_hpack_table_size_update_evicts() -> None:
    enc, dec = Encoder(), Decoder()
    dec.decode(enc.encode([("x-a", "1" * 100), ("x-b", "2" * 100)]))
    assert len(dec.entries) == 2
    enc.header_table_size = 150
    dec.decode(enc.encode([(":method", "GET")]))
    assert len(dec.entries) == 1 and dec.entries[0][0] == "x-b" and dec.max_size == 150


# -- gRPC -----------------------------------------------------------------------------------------
def _pb_user(name: str, email: str) -> bytes:
    n, e = name.encode(), email.encode()
    return b"\x0a" + bytes([len(n)]) + n + b"\x12" + bytes([len(e)]) + e + b"\x18\x2a"


def test_grpc_unary_with_compression_and_status() -> None:
    c = Conn()
    c.start()
    grpc_req = [("te", "trailers"), ("grpc-encoding", "gzip")]
    c.feed(C, headers(1, c.client.block(request_fields("/acme.v1.Users/Create", extra=grpc_req,
                                                        content_type="application/grpc")))
           + data(1, grpc_message(_pb_user("Ada", "ada@example.com"), compress=True), end_stream=True))
    body = grpc_message(_pb_user("Ada", "ada@example.com"))
    [ex] = c.feed(S, c.response(1, body, content_type="application/grpc",
                                trailers=[("grpc-status", "0"), ("grpc-message", "all%20good")]))
    g = ex.grpc
    assert g is not None and (g.service, g.method, g.status, g.message) == ("acme.v1.Users", "Create", 0, "all good")
    want = {"1": "Ada", "2": "ada@example.com", "3": 42}
    assert g.request_messages == [want] and g.response_messages == [want] and g.messages_omitted == 0


def test_grpc_server_streaming_bounded() -> None:
    c = Conn(grpc_max_messages=5, max_message_bytes=2000)
    c.start()
    c.feed(C, c.request(1, grpc_message(b"\x08\x01"), path="/acme.Feed/Watch", content_type="application/grpc"))
    stream = b"".join(grpc_message(_pb_user(f"u{i}", f"u{i}@x.io")) for i in range(200))
    [ex] = c.feed(S, c.response(1, stream, content_type="application/grpc", trailers=[("grpc-status", "0")]))
    assert ex.response.truncated and len(ex.response.body) == 2000 and ex.response.body_size == len(stream)
    assert ex.grpc is not None and len(ex.grpc.response_messages) == 5
    assert ex.grpc.response_messages[4] == {"1": "u4", "2": "u4@x.io", "3": 42}
    # 2000 bytes: 10 messages of 20 bytes, 81 of 22 and the start of one more; 5 kept, 87 past the bound
    assert ex.grpc.messages_omitted == 87 and c.counters.get("grpc.messages_over_bound") == 87
    assert not c.drops() and c.counters.get("grpc.streams_cut") == 1


def test_grpc_trailers_only_error() -> None:
    c = Conn()
    c.start()
    c.feed(C, c.request(1, grpc_message(b""), path="/acme.Users/Get", content_type="application/grpc"))
    only = response_fields(200, "application/grpc", [("grpc-status", "7"), ("grpc-message", "denied")])
    [ex] = c.feed(S, headers(1, c.server.block(only), end_stream=True))
    assert ex.grpc is not None and (ex.grpc.status, ex.grpc.message) == (7, "denied")
    assert ex.grpc.request_messages == [{}] and ex.grpc.response_messages == []


def test_h2c_upgrade_makes_the_http1_request_stream_1() -> None:
    from interceptor.pairs import Request

    c = Conn()
    req = Request("HTTP/1.1", [("Host", "svc"), ("Upgrade", "h2c")], b"", 0, False, 999.0, method="GET", target="/up")
    c.layer.upgraded(req, C)
    c.feed(C, PREFACE + settings())
    [ex] = c.feed(S, settings() + c.response(1, b"upgraded answer"))
    assert (ex.request.method, ex.request.target, ex.response.body) == ("GET", "/up", b"upgraded answer")


def test_grpc_told_by_its_framing_when_the_content_type_was_lost() -> None:
    c = Conn()
    frames = []
    for sid in (1, 3):
        fields = request_fields("/acme.Users/Get", content_type="application/grpc")
        frames.append(headers(sid, c.client.block(fields)) + data(sid, grpc_message(_pb_user("Bo", "bo@x.io")), True))
    late = Conn(joined_late=True)
    late.client, late.server = c.client, c.server
    late.feed(C, frames[1])
    [ex] = late.feed(S, late.response(3, grpc_message(b"\x08\x01"), content_type="application/grpc"))
    assert ex.headers_incomplete and ex.request.content_type == ""
    assert ex.grpc is not None and ex.grpc.service == "" and ex.grpc.request_messages == [
        {"1": "Bo", "2": "bo@x.io", "3": 42}]


def test_resync_point_on_short_buffers() -> None:
    from interceptor.http2 import resync_point

    assert [resync_point(b"\x00" * n, 0) for n in range(9)] == [-1] * 9
    assert resync_point(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00", 0) == 0  # an empty SETTINGS, exactly


def test_partial_frames_count_against_the_budget() -> None:
    c = Conn()
    c.budget = c.layer.budget = Budget(5000)
    c.start()
    big = headers(1, c.client.block(request_fields(extra=[("x-big", "b" * 8000)]), huffman=False))
    c.feed(C, big[:3000])  # a header block frame waiting for its rest holds 3000 bytes
    assert c.budget.used == 3000
    c.feed(C, big[3000:6000])  # 6000 would not fit: dropped, counted, the direction resyncs
    assert c.drops() == {"memory_budget": 1} and c.budget.used == 0
    c.feed(C, big[6000:] + c.request(3, b"q"))
    [ex] = c.feed(S, c.response(3, b"r"))
    assert ex.stream_id == 3 and c.budget.used == 0
    c.layer.close()
    assert c.budget.used == 0
