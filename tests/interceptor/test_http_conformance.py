"""Conformance with strict parsers' verdicts: nodejs/llhttp's test messages and the requests
nodejs/http-parser's test.c refuses (extracted into tests/interceptor/data/llhttp_cases.json by
tests/interceptor/tools/extract_parser_cases.py), each
sent as a TCP conversation cut at random segment sizes and replayed through the whole pipeline.

A message llhttp accepts must come out exactly (method, target, status, fields, body); a message it
refuses must not come out and must be counted. Where RFC 9110/9112 let a recipient accept what
llhttp refuses, we accept, and the case is listed in RFC_ACCEPTS with the section that allows it.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from interceptor.httpsyntax import decode_text
from tests.interceptor.packetgen import Conn, keep_all_config, replay

DATA = json.loads((Path(__file__).parent / "data" / "llhttp_cases.json").read_text())
CASES = [c for c in DATA["cases"] if c["outcome"] != "incomplete"]
INTERIM = re.compile(r"1(?!01)[0-9][0-9]")
# Why a message another parser refuses is still one here (the counters name every refusal).
REFUSALS = {"http_parse_error", "bad_content_length", "conflicting_content_length", "bad_transfer_encoding",
            "unknown_transfer_coding", "transfer_encoding_with_content_length", "chunked_framing_error",
            "header_too_large", "head_incomplete_at_close", "incomplete_at_close"}
# llhttp refuses these, RFC 9112 lets a recipient accept them (and what we emit is what was sent).
# Keyed by llhttp's reason; the messages llhttp completed before must still come out exactly.
RFC_ACCEPTS = {
    "Missing expected CR after response line": "RFC 9112 2.2: a recipient may accept a bare LF as line end",
    "Missing expected CR after header value": "RFC 9112 2.2 (bare LF)",
    "Expected CRLF after version": "RFC 9112 2.2 (bare LF)",
    "Invalid method for HTTP/x.x request": "RFC 9110 9.1: a method is any token (llhttp knows a list)",
    "Expected space after method": "RFC 9110 9.1: any token (MKCOLA)",
    # Not RFC 3986, but what nginx, Go and Node (lenient) serve, and what issue 14 asks us to keep readable.
    "Invalid char in url path": "UTF-8 in the target, emitted as its text",
}
# Valid for llhttp, but not HTTP/1.x: ICE and RTSP protocols, HTTP/0.9 without a version.
NOT_HTTP = ("SOURCE request with ICE", "ANNOUNCE request with RTSP", "OPTIONS request with RTSP", "No HTTP version")
UPGRADE = re.compile(r'code=2[23] reason="Pause on (CONNECT|PRI)/Upgrade"')
CLOSED = "code=5 "  # data after `Connection: close`: the server closes, it answers nothing more
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def case_id(case: dict[str, Any]) -> str:
    return f"{case['source'].rsplit('/', 1)[-1]}:{case['title']}"


def segments(data: bytes, rng: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = rng.choice([1, 2, 3, 7, 8, 9, 50, 1400])
        out.append(data[i : i + n])
        i += n
    return out


def conversation(case: dict[str, Any], rng: random.Random) -> tuple[list[tuple[float, bytes]], int]:
    """The case's bytes on their side, answered (or asked) by the other side; returns the frames and
    how many exchanges a strict peer completed."""
    raw = case["raw"].encode("latin-1")
    upgrade = bool(case["error"] and UPGRADE.search(case["error"]))
    complete = len(case["messages"])
    conn = Conn().handshake()
    if case["type"] == "request":
        for piece in segments(raw, rng):
            conn.request(piece, mss=len(piece))
        for i in range(complete):
            last = i == complete - 1
            if upgrade and last:
                method = case["messages"][-1]["method"]
                conn.response(b"HTTP/1.1 200 Connection established\r\n\r\n" if method == "CONNECT" else
                              b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n")
            else:
                conn.response(OK)
        if case["outcome"] == "invalid" and not upgrade and not case["error"].startswith(CLOSED):
            conn.response(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    else:
        asks = sum(not INTERIM.fullmatch(m.get("status_code", "")) for m in case["messages"])
        asks += (1 if case["outcome"] == "invalid" and not upgrade else 0)
        for _ in range(asks):
            conn.request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        for piece in segments(raw, rng):
            conn.response(piece, mss=len(piece))
    return conn.close().frames, complete


def fold(value: str) -> str:
    return re.sub(r"\r?\n[ \t]+", " ", value).strip(" \t")


def expected_fields(message: dict[str, Any]) -> list[tuple[str, str]]:
    return [(decode_text(n.encode("latin-1")), decode_text(fold(v).encode("latin-1"))) for n, v in message["headers"]]


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_llhttp_case(case: dict[str, Any]) -> None:
    for seed in range(3):
        rng = random.Random(f"{case_id(case)}/{seed}")
        frames, complete = conversation(case, rng)
        pairs, counters = replay(frames, keep_all_config())
        got = [p.request if case["type"] == "request" else p.response for p in pairs]  # type: ignore[attr-defined]
        drops = counters.drops()  # type: ignore[attr-defined]
        want = [m for m in case["messages"] if not INTERIM.fullmatch(m.get("status_code", ""))]
        if case["title"] in NOT_HTTP:
            assert got == []
            continue
        accepted = case["error"] and any(f'reason="{r}"' in case["error"] for r in RFC_ACCEPTS)
        if accepted:
            assert len(got) >= len(want), (case["error"], got, drops)
            got = got[: len(want)]
        assert len(got) == len(want), (case["error"], got, drops)
        for msg, exp in zip(got, want, strict=True):
            if case["type"] == "request":
                assert (msg.method, msg.target) == (exp["method"], decode_text(exp["url"].encode("latin-1")))
            else:
                assert msg.status == int(exp["status_code"])
                assert msg.reason == decode_text(exp["status"].encode("latin-1")), (msg.reason, exp)
            assert msg.headers == expected_fields(exp), (msg.headers, exp["headers"])
            assert msg.body == exp["body"].encode("latin-1")
        if case["outcome"] == "invalid" and not UPGRADE.search(case["error"] or "") and not accepted:
            refused = set(drops) & (REFUSALS | ({"no_response"} if case["error"].startswith(CLOSED) else set()))
            refused = refused or counters.get("http.non_http_streams")  # type: ignore[attr-defined]
            assert refused, (case["error"], drops)
