"""HTTP/1.x framing and pairing from bytes (fed as streams, so every split can be tried)."""

import gzip
import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.http import (
    RequestLine,
    StatusLine,
    ascii_request_line,
    decode_content,
    parse_headers,
    parse_start_line,
    plain_start_line,
)
from interceptor.httpsyntax import (
    HEAD_CRLF,
    content_length,
    decode_text,
    known_fields,
    length_digits,
    plain_fields,
)
from interceptor.pairs import Endpoint
from interceptor.pipeline import Pipeline
from tests.interceptor.packetgen import http_request, http_response

A, B = Endpoint("10.0.0.1", 40000), Endpoint("10.0.0.2", 80)


def make(keep_all: bool = True, **core: object) -> tuple[Pipeline, list, Counters]:
    cfg = Config()
    cfg.filters.keep_all = keep_all
    for k, v in core.items():
        setattr(cfg.core, k, v)
    pairs: list = []
    counters = Counters()
    return Pipeline(cfg, counters, pairs.append), pairs, counters


def exchange(chunks: list[tuple[int, bytes]], keep_all: bool = True, close: bool = True, **core: object):
    """Feed (direction, bytes) chunks of one connection; 0 = client→server."""
    p, pairs, counters = make(keep_all, **core)
    for i, (direction, data) in enumerate(chunks):
        p.feed_stream("c", direction, 100.0 + i * 0.001, data, A, B, {"kind": "openssl"})
    if close:
        p.close()
    return pairs, counters


def test_keep_alive_pairs_in_order() -> None:
    chunks = []
    for i in range(5):
        chunks += [(0, http_request(target=f"/u/{i}")), (1, http_response(body=b'{"n":%d}' % i))]
    pairs, c = exchange(chunks)
    assert [p.request.target for p in pairs] == [f"/u/{i}" for i in range(5)]
    assert [p.response.body for p in pairs] == [b'{"n":%d}' % i for i in range(5)]
    assert pairs[0].src == A and pairs[0].dst == B
    assert c.drops() == {}


def test_client_is_found_from_content_whichever_direction() -> None:
    pairs, _ = exchange([(1, http_request()), (0, http_response())])
    assert pairs[0].src == B and pairs[0].dst == A


def test_pipelined_requests_split_at_every_byte() -> None:
    reqs = b"".join(http_request(target=f"/p/{i}", body=b'{"i":%d}' % i) for i in range(3))
    resps = b"".join(http_response(body=b'{"r":%d}' % i) for i in range(3))
    for cut in range(1, len(reqs)):
        pairs, c = exchange([(0, reqs[:cut]), (0, reqs[cut:]), (1, resps)])
        assert [p.request.target for p in pairs] == ["/p/0", "/p/1", "/p/2"], cut
        assert [p.response.body for p in pairs] == [b'{"r":0}', b'{"r":1}', b'{"r":2}']
    for cut in range(1, len(resps)):
        pairs, _ = exchange([(0, reqs), (1, resps[:cut]), (1, resps[cut:])])
        assert [p.request.body for p in pairs] == [b'{"i":0}', b'{"i":1}', b'{"i":2}'], cut


def test_byte_by_byte() -> None:
    data = http_request(body=b'{"a":"b"}')
    pairs, _ = exchange([(0, bytes([x])) for x in data] + [(1, http_response())])
    assert pairs[0].request.body == b'{"a":"b"}'


def chunked(parts: list[bytes], ext: bool = False, trailers: str = "") -> bytes:
    out = b""
    for part in parts:
        out += f"{len(part):x}{';name=value' if ext else ''}\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n" + trailers.encode() + b"\r\n"


def test_chunked_with_extensions_and_trailers() -> None:
    body = chunked([b'{"a":', b'"x"', b"}"], ext=True, trailers="X-Checksum: abc\r\n")
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    for cut in range(1, len(body)):
        pairs, _ = exchange([(0, http_request()), (1, head + body[:cut]), (1, body[cut:])])
        assert pairs[0].response.body == b'{"a":"x"}', cut
        assert ("X-Checksum", "abc") in pairs[0].response.headers


def test_chunked_request_body() -> None:
    head = b"POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    pairs, _ = exchange([(0, head + chunked([b"{}", b""[:0] or b" "])), (1, http_response())])
    assert pairs[0].request.body == b"{} "


def test_body_delimited_by_close() -> None:
    resp = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + b'{"long":"body"}'
    pairs, _ = exchange([(0, http_request()), (1, resp[:30]), (1, resp[30:])])
    assert pairs[0].response.body == b'{"long":"body"}'
    assert pairs[0].response.version == "HTTP/1.0"


def test_expect_100_continue_interim_response_is_not_the_response() -> None:
    req = http_request(body=b'{"big":1}', headers=[("Expect", "100-continue")])
    head, body = req.split(b"\r\n\r\n", 1)
    pairs, c = exchange([(0, head + b"\r\n\r\n"), (1, b"HTTP/1.1 100 Continue\r\n\r\n"), (0, body),
                         (1, http_response(status=201))])
    assert len(pairs) == 1 and pairs[0].response.status == 201
    assert pairs[0].request.body == b'{"big":1}'
    assert c.get("http.interim_responses") == 1


@pytest.mark.parametrize("status", [204, 304])
def test_responses_without_body(status: int) -> None:
    resp = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\r\n".encode()
    pairs, _ = exchange([(0, http_request()), (1, resp), (0, http_request(target="/2")), (1, http_response())])
    assert [p.response.status for p in pairs] == [status, 200]
    assert pairs[0].response.body == b""


def test_head_response_has_no_body_even_with_content_length() -> None:
    req = b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    pairs, _ = exchange([(0, req), (1, resp), (0, http_request(target="/next")), (1, http_response())])
    assert [(p.request.method, p.response.body) for p in pairs] == [("HEAD", b""), ("POST", b'{"id":1}')]


def test_content_encodings_are_decoded() -> None:
    raw = b'{"email":"a@b.c"}' * 10
    for name, data in [("gzip", gzip.compress(raw)), ("deflate", zlib.compress(raw)),
                       ("deflate", zlib.compress(raw)[2:-4]), ("br", brotli.compress(raw))]:
        pairs, _ = exchange([(0, http_request()), (1, http_response(body=data, headers=[("Content-Encoding", name)]))])
        assert pairs[0].response.body == raw, name
        assert pairs[0].response.body_size == len(raw)


def test_decompression_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"0" * 50_000_000)
    resp = http_response(body=bomb, headers=[("Content-Encoding", "gzip")])
    pairs, c = exchange([(0, http_request()), (1, resp)], max_message_bytes=1_000_000)
    assert pairs == [] and c.dropped("decompression_limit") == 1
    pairs, c = exchange([(0, http_request()), (1, resp)], max_message_bytes=1_000_000, oversize="truncate")
    # the pair bound (1 MB for both bodies) cuts the response to what the request leaves
    assert len(pairs[0].response.body) == 1_000_000 - len(pairs[0].request.body)
    assert pairs[0].response.truncated


def test_decode_content_limit_and_unknown() -> None:
    assert decode_content("gzip", gzip.compress(b"x" * 100), 10) == (b"x" * 10, False)
    with pytest.raises(ValueError):
        decode_content("zstd", b"..", 10)


def test_oversize_message_dropped_or_truncated() -> None:
    big = b'{"x":"' + b"a" * 2000 + b'"}'
    pairs, c = exchange([(0, http_request(body=big)), (1, http_response())], max_message_bytes=1000)
    assert pairs == [] and c.dropped("request_too_large") == 1
    pairs, c = exchange([(0, http_request(body=big)), (1, http_response())], max_message_bytes=1000, oversize="truncate")
    assert pairs[0].request.body == big[:1000] and pairs[0].request.truncated
    assert pairs[0].request.body_size == len(big)


def test_pair_bound() -> None:
    pairs, c = exchange([(0, http_request(body=b"a" * 600)), (1, http_response(body=b"b" * 600))], max_pair_bytes=1000)
    assert pairs == [] and c.dropped("pair_too_large") == 1


def test_response_timeout_drops_the_request() -> None:
    p, pairs, c = make()
    p.feed_stream("c", 0, 10.0, http_request(), A, B, {"kind": "openssl"})
    p.tick(15.0)
    assert c.drops() == {}
    p.tick(21.0)  # default timeout 10 s
    assert c.dropped("response_timeout") == 1
    p.feed_stream("c", 1, 22.0, http_response(), A, B, {"kind": "openssl"})
    assert pairs == [] and c.dropped("response_without_request") == 1


def test_gap_in_request_abandons_it_and_resyncs() -> None:
    p, pairs, c = make()
    src = {"kind": "openssl"}
    p.feed_stream("c", 0, 1.0, http_request(body=b'{"a":1}')[:40], A, B, src)
    p.stream_gap("c", 0)
    p.feed_stream("c", 0, 1.1, b'tail of lost body"}', A, B, src)
    p.feed_stream("c", 1, 1.2, http_response(body=b'{"lost":1}'), A, B, src)
    p.feed_stream("c", 0, 1.3, http_request(target="/after"), A, B, src)
    p.feed_stream("c", 1, 1.4, http_response(body=b'{"ok":1}'), A, B, src)
    assert [(x.request.target, x.response.body) for x in pairs] == [("/after", b'{"ok":1}')]
    assert c.dropped("gap") == 1


def test_gap_in_responses_pairs_with_newest_request() -> None:
    p, pairs, c = make()
    src = {"kind": "openssl"}
    p.feed_stream("c", 0, 1.0, http_request(target="/1"), A, B, src)
    p.feed_stream("c", 1, 1.1, http_response(body=b'{"r":1}')[:20], A, B, src)
    p.stream_gap("c", 1)
    p.feed_stream("c", 0, 1.2, http_request(target="/2"), A, B, src)
    p.feed_stream("c", 1, 1.3, http_response(body=b'{"r":2}'), A, B, src)
    assert [(x.request.target, x.response.body) for x in pairs] == [("/2", b'{"r":2}')]
    assert c.dropped("gap") == 1


def test_non_http_connection_is_ignored() -> None:
    pairs, c = exchange([(0, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 50), (1, b"\x16\x03\x03" * 20)])
    assert pairs == [] and c.get("http.non_http_streams") == 2 and c.drops() == {}


def test_upgrade_is_a_pair_then_parsing_stops() -> None:
    req = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    pairs, c = exchange([(0, req), (1, resp), (0, b"\x81\x05hello"), (1, b"\x81\x02hi")])
    assert [(p.request.target, p.response.status) for p in pairs] == [("/ws", 101)]
    assert c.get("http.upgraded_connections") == 1 and c.get("layer.opaque") == 1 and not c.drops()


def test_start_line_and_header_parsing() -> None:
    assert parse_start_line("GET /a?b=1 HTTP/1.1", None) == RequestLine("GET", "/a?b=1", "HTTP/1.1")
    assert parse_start_line("HTTP/1.0 404 Not Found", None) == StatusLine("HTTP/1.0", 404, "Not Found")
    assert parse_start_line("HTTP/1.1 200", "response") == StatusLine("HTTP/1.1", 200, "")
    assert parse_start_line("get / HTTP/1.1", None) == RequestLine("get", "/", "HTTP/1.1")  # any token (RFC 9110 9.1)
    assert parse_start_line("G@T / HTTP/1.1", None) is None
    assert parse_start_line("GET / HTTP/2.0", None) is None
    assert parse_start_line("GET / HTTP/1.1", "response") is None
    headers, index = parse_headers("A: 1\r\nX-Long: a\r\n  b\r\nA: 2\r\nbroken line\r\nB:  spaced  ")
    assert headers == [("A", "1"), ("X-Long", "a b"), ("A", "2"), ("B", "spaced")]
    assert index == {"a": "1", "x-long": "a b", "b": "spaced"}


def test_stray_crlf_between_messages() -> None:
    pairs, c = exchange([(0, http_request(target="/1") + b"\r\n"), (1, http_response()),
                         (0, http_request(target="/2")), (1, http_response())])
    assert [p.request.target for p in pairs] == ["/1", "/2"] and c.drops() == {}


def test_requests_without_response_are_counted_at_close() -> None:
    pairs, c = exchange([(0, http_request()), (1, http_response()), (0, http_request(target="/x"))])
    assert len(pairs) == 1 and c.dropped("no_response") == 1


def test_both_ends_of_one_tls_connection_yield_one_pair() -> None:
    """Client and server traced on one node: the same exchange comes from both processes."""
    p, pairs, c = make()
    client_src = {"kind": "openssl", "pid": 10}
    server_src = {"kind": "openssl", "pid": 20}
    req, resp = http_request(), http_response()
    assert p.feed_stream(("c", 10), 0, 1.0, req, A, B, client_src)  # the client writes...
    assert not p.feed_stream(("s", 20), 1, 1.0, req, B, A, server_src)  # ...the server reads: a mirror,
    assert not p.feed_stream(("s", 20), 0, 1.1, resp, B, A, server_src)  # its source may stop sending
    assert p.feed_stream(("c", 10), 1, 1.1, resp, A, B, client_src)
    p.close()
    assert len(pairs) == 1 and pairs[0].source["pid"] == 10
    assert c.get("stream.mirrored") == 1 and c.drops() == {}
    # a later connection on other ports is its own
    p.feed_stream(("c", 11), 0, 2.0, req, Endpoint("10.0.0.1", 40001), B, client_src)
    assert ("c", 11) in p.streams


def test_stream_not_http_is_given_up() -> None:
    """Both directions not HTTP (a database protocol over TLS): feed_stream says the bytes are of no
    use, so the TLS source stops copying them. (HTTP/2 is read: tests/interceptor/test_h2_pipeline.py.)"""
    p, pairs, c = make()
    src = {"kind": "openssl", "pid": 10}
    assert p.feed_stream("c", 0, 1.0, b"\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00\x00", A, B, src)
    assert not p.feed_stream("c", 1, 1.1, b"R\x00\x00\x00\x08\x00\x00\x00\x00S\x00\x00\x00\x16", A, B, src)
    assert pairs == [] and c.get("http.non_http_streams") == 2


# The express path's head checks (bytes methods and a name table) must never accept a head the
# regex refuses, and must parse what they accept as the general parser does.
_PIECES = [b"GET", b"POST", b"SUBSCRIBE", b"G@T", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"200", b"404", b"099",
           "\u0661\u0662\u0663".encode(), b" ", b"  ", b"\t", b"/", b"/a?b=1", b"OK", b"\xc3\xa9", b"\xff",
           b"Host", b"Content-Length", b"X_Under", b"X.Dot", b"", b":", b": ", b"x", b"\x00", b"\x7f", b"\x01"]
_EOLS = [b"\r\n", b"\r\n", b"\n", b"\r", b"\r\n ", b"\r\n\t"]


@given(st.lists(st.tuples(st.lists(st.sampled_from(_PIECES), max_size=5), st.sampled_from(_EOLS)), min_size=1,
                max_size=6),
       st.sampled_from([None, "request", "response"]))
@settings(max_examples=800, deadline=None)
def test_express_head_checks_imply_the_regex(lines: list, role: str | None) -> None:
    raw = b"".join(b"".join(pieces) + eol for pieces, eol in lines)
    for eol in _EOLS:  # a head never ends in a line end (the blank line is not part of it)
        raw = raw.removesuffix(eol)
    start_raw = lines[0][0]
    raw = (b"GET / HTTP/1.1" if not start_raw else b"") + raw
    first, crlf, block = decode_text(raw).partition("\r\n")
    start = plain_start_line(first, raw, role)  # (twice: the second answer comes from the table)
    assert plain_start_line(first, raw, role) == start
    fields = plain_fields(block) if crlf else ([], {})
    if start is not None and fields is not None:
        assert HEAD_CRLF.fullmatch(raw) is not None, raw
        assert start == parse_start_line(first, role)
        assert fields == parse_headers(block) == (plain_fields(block) if crlf else ([], {}))  # (from the table)
    if crlf:  # the block table (the raw bytes after the first CRLF) answers what plain_fields does
        raw_block = raw[raw.index(b"\r\n") + 2:]
        once, again = known_fields(raw_block), known_fields(raw_block)  # (the second from the table)
        assert once == again == fields


_LINE_PIECES = [b"GET", b"POST", b"PUT", b"SUBSCRIBE", b"G@T", b"M" * 33, b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2",
                b"HTTP/2.0", b"/", b"/a?b=1", b"*", b"x", b"", b" ", b"~", b"\t", b"\xc3\xa9", b"\x7f"]


@given(st.lists(st.sampled_from(_LINE_PIECES), max_size=7))
@settings(max_examples=600, deadline=None)
def test_ascii_request_line_is_parse_start_line(pieces: list) -> None:
    """The express path's request line from the positions of its two spaces parses what
    ``plain_start_line`` does, for every line that qualifies (printable ASCII, two spaces)."""
    raw = b"".join(pieces)
    line = raw.decode("utf-8", "backslashreplace")
    spaces = [i for i, c in enumerate(raw) if c == 32]
    if len(spaces) != 2 or not all(32 <= c <= 126 for c in raw) or raw.startswith(b"HTTP/1."):
        return
    assert ascii_request_line(line, spaces[0], spaces[1]) == plain_start_line(line, raw, "request")


def test_express_head_checks_take_the_usual_heads() -> None:
    head = "Server: nginx\r\nContent-Type: application/json\r\nContent-Length: 2"
    assert plain_start_line("HTTP/1.1 200 OK", b"HTTP/1.1 200 OK", "response") == StatusLine("HTTP/1.1", 200, "OK")
    assert plain_start_line("HTTP/1.1 200 OK", b"HTTP/1.1 200 OK", "request") is None  # (from the table too)
    for _ in range(2):  # parsed, then from the table of lines met before: the same
        assert plain_fields(head) == (
            [("Server", "nginx"), ("Content-Type", "application/json"), ("Content-Length", "2")],
            {"server": "nginx", "content-type": "application/json", "content-length": "2"})
    assert plain_fields("Host: a\nX: b") is None  # bare LF
    assert plain_fields("Host: a\rb") is None  # bare CR
    assert plain_fields("Host: a\x00") is None  # a control byte
    assert plain_fields("Host: a\tb") is None  # a tab: valid, the regex decides
    assert plain_start_line("GET /a\tb HTTP/1.1", b"GET /a\tb HTTP/1.1", "request") is None
    assert plain_fields("X_Under: 1") is None  # a valid name outside the table's alphabet: the regex decides
    assert plain_fields("A: 1\r\na: 2") is None  # a repeated name: the general path
    assert plain_fields("A: 1\r\n folded") is None
    digits = "HTTP/1.1 \u0661\u0662\u0663 OK"
    assert parse_start_line(digits, None) == StatusLine("HTTP/1.1", 123, "OK")  # int() reads them...
    assert plain_start_line(digits, digits.encode(), "response") is None  # ...HEAD_CRLF does not
    assert [length_digits(v) for v in ("0", "1043", "1" * 18, "1" * 19, "", "+1", "\u0661", "1 ")] == [
        True, True, True, False, False, False, False, False]
    for _ in range(2):  # parsed, then from the table of values met before: the same
        assert [content_length(v) for v in ("0", "1043", "007", "1" * 18, "1" * 19, "", "+1", "\u0661", "1 ")] == [
            0, 1043, 7, int("1" * 18), -1, -1, -1, -1, -1]
