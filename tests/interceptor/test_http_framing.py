"""Framing that cannot be fooled (RFC 9112 6.3): length-header games an attacker plays to smuggle a
request past a sensor, sent as TCP conversations cut into small segments. A refused message is
counted by its reason and never emitted; what a strict server would have answered stays paired."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.interceptor.packetgen import Conn, keep_all_config, replay

SMUGGLED = b"GET /admin/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def run(client: bytes, server: bytes, seed: int = 0) -> tuple[list, object]:
    rng = random.Random(seed)
    conn = Conn().handshake()
    i = 0
    while i < len(client):
        n = rng.randint(1, 9)
        conn.request(client[i : i + n], mss=n)
        i += n
    conn.response(server)
    return replay(conn.close().frames, keep_all_config())


def smuggle(headers: bytes) -> bytes:
    body = SMUGGLED
    return b"POST /upload HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + body


def test_conflicting_content_lengths_are_refused() -> None:
    pairs, c = run(smuggle(b"Content-Length: 0\r\nContent-Length: %d\r\n" % len(SMUGGLED)), BAD)
    assert [p.request.target for p in pairs] == []  # type: ignore[attr-defined]
    assert c.dropped("conflicting_content_length") == 1  # type: ignore[attr-defined]


def test_same_content_length_twice_is_one_length() -> None:
    n = len(SMUGGLED)
    pairs, c = run(smuggle(b"Content-Length: %d\r\nContent-Length: %d\r\n" % (n, n)), OK)
    assert [(p.request.target, p.request.body) for p in pairs] == [("/upload", SMUGGLED)]  # type: ignore[attr-defined]


def test_length_games_are_framing_errors() -> None:
    n = len(SMUGGLED)
    for headers, reason in [
        (b"Content-Length: +0_%d\r\n" % n, "bad_content_length"),
        (b"Content-Length: 0x%x\r\n" % n, "bad_content_length"),
        (b"Content-Length: -1\r\n", "bad_content_length"),
        (b"Content-Length: \r\n", "bad_content_length"),
        (b"Content-Length: 1 1\r\n", "bad_content_length"),
        (b"Transfer-Encoding: xchunked\r\n", "bad_transfer_encoding"),
        (b"Transfer-Encoding: chunkedchunked\r\n", "bad_transfer_encoding"),
        (b"Transfer-Encoding: chunked, gzip\r\n", "bad_transfer_encoding"),
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "bad_transfer_encoding"),
        (b"Transfer-Encoding: identity\r\nContent-Length: 0\r\n", "transfer_encoding_with_content_length"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", "transfer_encoding_with_content_length"),
        (b"Transfer-Encoding: magic, chunked\r\n", "unknown_transfer_coding"),
        (b"Content-Length : 0\r\n", "http_parse_error"),
        (b"Content@Length: 0\r\n", "http_parse_error"),
        (b"Content\x01Length: 0\r\n", "http_parse_error"),
        (b"X: a\rContent-Length: 0\r\n", "http_parse_error"),
        (b"X: a\r\n Content-Length: 0\r\n", "http_parse_error"),
    ]:
        pairs, c = run(smuggle(headers), BAD)
        assert pairs == [], headers
        assert c.dropped(reason) == 1, (headers, c.drops())  # type: ignore[attr-defined]


def test_whitespace_line_after_the_request_line_is_refused() -> None:
    pairs, c = run(b"POST /a HTTP/1.1\r\n Content-Length: 3\r\nHost: x\r\n\r\nabc", BAD)
    assert pairs == [] and c.dropped("http_parse_error") == 1  # type: ignore[attr-defined]


def test_bad_chunk_sizes_are_refused() -> None:
    for line in (b"2;\r\n", b"a \r\n", b"0x2\r\n", b"-2\r\n", b"1" * 17 + b"\r\n"):
        head = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        pairs, c = run(head + line + b"ab\r\n0\r\n\r\n", BAD)
        assert pairs == [] and c.dropped("chunked_framing_error") == 1, (line, c.drops())  # type: ignore[attr-defined]
    pairs, c = run(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"2 ; name=\"q v\"\r\nab\r\n0\r\n\r\n", OK)
    assert [p.request.body for p in pairs] == [b"ab"]  # type: ignore[attr-defined]


def test_accepted_as_rfc_9112_allows() -> None:
    req = b"PURGE-ALL /x HTTP/1.1\nHost: x\nX: a\n folded\nContent-Length: 2\n\nhi"
    pairs, c = run(req, OK)
    assert [(p.request.method, p.request.headers, p.request.body) for p in pairs] == [  # type: ignore[attr-defined]
        ("PURGE-ALL", [("Host", "x"), ("X", "a folded"), ("Content-Length", "2")], b"hi")]
    te = b"POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    pairs, c = run(te, OK)
    assert [p.request.body for p in pairs] == [b"hi"] and not c.drops()  # type: ignore[attr-defined]


def test_connect_and_upgrade_exchanges_are_pairs() -> None:
    pairs, _ = run(b"CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n\x00\x01binary",
                   b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01")
    assert [(p.request.method, p.response.status) for p in pairs] == [("CONNECT", 200)]  # type: ignore[attr-defined]
    pairs, _ = run(b"PROPPATCH /dav HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", OK)  # method cut after 8 bytes
    assert [p.request.method for p in pairs] == ["PROPPATCH"]  # type: ignore[attr-defined]


def test_non_utf8_bytes_are_shown_not_mangled() -> None:
    pairs, _ = run("GET /naïve/ü HTTP/1.1\r\nHost: x\r\nX-Name: Zoë\r\n\r\n".encode(), OK)
    assert [p.request.target for p in pairs] == ["/naïve/ü"]  # type: ignore[attr-defined]
    assert pairs[0].request.headers[1] == ("X-Name", "Zoë")  # type: ignore[attr-defined]
    pairs, _ = run(b"GET /a\xff\xfeb HTTP/1.1\r\nHost: x\r\n\r\n", OK)
    assert [p.request.target for p in pairs] == ["/a\\xff\\xfeb"]  # type: ignore[attr-defined]


LENGTH_HEADERS = st.sampled_from([
    b"Content-Length: %d", b"Content-Length: +%d", b"Content-Length: %d, %d", b"Content-Length:%d ",
    b"Transfer-Encoding: chunked", b"Transfer-Encoding: xchunked", b"Transfer-Encoding: chunked, identity",
    b"Transfer-Encoding: identity", b"Content-Length: 0%d", b"Content-Length : %d", b"Transfer-Encoding:\tchunked",
])


@settings(max_examples=200, deadline=None)
@given(headers=st.lists(LENGTH_HEADERS, min_size=0, max_size=3), n=st.integers(0, 60), seed=st.integers(0, 99))
def test_fuzz_length_header_games_never_frame_the_smuggled_request(headers: list[bytes], n: int, seed: int) -> None:
    """Whatever the length fields say, the request hidden in the body is never a pair of its own
    (the server answers only one request), and nothing raises."""
    fields = b"".join((h % ((n,) * h.count(b"%d")) if b"%d" in h else h) + b"\r\n" for h in headers)
    body = b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n" if any(b"chunked" in h for h in headers) else SMUGGLED
    pairs, c = run(b"POST /upload HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n" + body, OK, seed)
    assert all(p.request.target == "/upload" for p in pairs)  # type: ignore[attr-defined]
    assert len(pairs) <= 1
