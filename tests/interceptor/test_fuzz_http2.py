"""Fuzzing the HTTP/2 layer with hypothesis, like test_fuzz does the HTTP/1 core: valid frames,
corrupted frames and garbage, cut anywhere, with gaps, on both directions.

Properties: nothing escapes ``receive``/``gap``/``expire``/``close``; open streams stay within
``max_streams``; the byte budget stays within its limit and is back to 0 after ``close``; every
exchange it emits carries a status the server really sent.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interceptor.counters import Counters
from interceptor.http2 import PREFACE, H2Limits, Http2Connection
from interceptor.reassembly import Budget
from tests.interceptor.h2build import (
    Side,
    continuation,
    control_frames,
    data,
    grpc_message,
    headers,
    request_fields,
    response_fields,
    rst,
)
from tests.interceptor.h2build import (
    settings as settings_frame,
)

CLIENT, SERVER = Side(), Side()
PIECES = [
    PREFACE, settings_frame(), settings_frame(header_table_size=100), control_frames(), rst(1), rst(3),
    headers(1, CLIENT.block(request_fields("/a"))), headers(3, CLIENT.block(request_fields("/b", extra=[("x", "y" * 90)]))),
    headers(5, CLIENT.block(request_fields("/c", content_type="application/grpc")), end_headers=False),
    continuation(5, b"\x82"), continuation(7, b"\x84", end_headers=False),
    headers(1, SERVER.block(response_fields(200)), end_stream=True), headers(3, SERVER.block(response_fields(404))),
    headers(5, SERVER.block(response_fields(200, "application/grpc", [("grpc-status", "0")])), end_stream=True),
    data(1, b"x" * 40, end_stream=True), data(3, b"y" * 3000, pad=20), data(5, grpc_message(b"\x0a\x01z")),
    data(5, grpc_message(b"\x0a\x01z", compress=True), end_stream=True), data(9, b"", end_stream=True),
    headers(1, b"\xff\xff\xff\xff\x0f"), headers(2, b"\x82"), b"\x00\x00\x05\x01\x0d\x00\x00\x00\x01\x10",
    b"\xff\xff\xff\x00\x00\x00\x00\x00\x01", b"\x00" * 9, b"PRI * HTTP/2.0\r\n",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 1), st.one_of(st.sampled_from(PIECES), st.binary(max_size=64)),
                          st.integers(0, 40), st.integers(0, 30)), max_size=40),
       st.booleans())
def test_http2_layer_survives_anything(steps: list[tuple[int, bytes, int, int]], joined: bool) -> None:
    counters = Counters()
    budget = Budget(64 * 1024)
    layer = Http2Connection(H2Limits(16 * 1024, 2048, truncate=False, max_streams=4), counters, budget,
                            joined_late=joined)
    ts = 0.0
    statuses = {"200", "404"}
    for direction, piece, cut, action in steps:
        ts += 0.01
        if action == 0:
            layer.gap(direction)
        raw = piece[cut:] if action == 1 else piece
        for ex in layer.receive(direction, raw, ts):
            assert ex.response.header(":status") in statuses
        if action == 2:
            layer.expire(ts, 0.05)
        assert len(layer.streams) <= 4
        assert 0 <= budget.used <= budget.limit
        assert all(len(r.buf) <= 9 + 2048 + len(PREFACE) + 64 * 1024 for r in layer.readers)
    layer.close("end_of_capture")
    assert budget.used == 0 and not layer.streams
