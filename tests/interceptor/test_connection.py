"""One TCP connection alone, from segments (no pipeline, no flow table): both directions'
reassembly, the ACK gate between them, and when it says it is over."""

from __future__ import annotations

from interceptor.capture.packets import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN
from interceptor.config import Config
from interceptor.connection import Connection
from interceptor.conversation import Context
from interceptor.counters import Counters
from interceptor.h2conversation import h2_limits
from interceptor.http import Limits
from interceptor.pairs import Endpoint, Pair
from interceptor.reassembly import Budget
from tests.interceptor.packetgen import http_request, http_response

C, S = 1000, 5000  # initial sequence numbers of the client and the server
REQ, RESP = http_request(), http_response()


def connection() -> tuple[Connection, list[Pair], Counters, Budget]:
    counters, budget, pairs = Counters(), Budget(1 << 24), []
    ctx = Context(Limits(1 << 20, 65536, False), counters, budget, 30.0, 64, pairs.append)
    endpoints = (Endpoint("10.0.0.1", 40000), Endpoint("10.0.0.2", 80))
    conn = Connection((b"\x0a\0\0\x01", 40000), endpoints, {"kind": "test"}, 0.0, ctx, h2_limits(Config()), 64,
                      synced=True)
    conn.receive(0, C, 0, TCP_SYN, b"", 0.0)
    conn.receive(1, S, C + 1, TCP_SYN | TCP_ACK, b"", 0.01)
    return conn, pairs, counters, budget


def test_an_exchange_pairs_and_both_fins_end_it() -> None:
    conn, pairs, _, budget = connection()
    conn.receive(0, C + 1, S + 1, TCP_ACK, REQ, 0.1)
    conn.receive(1, S + 1, C + 1 + len(REQ), TCP_ACK, RESP, 0.2)
    assert len(pairs) == 1 and pairs[0].request.target == "/api/users"
    conn.receive(0, C + 1 + len(REQ), S + 1 + len(RESP), TCP_ACK | TCP_FIN, b"", 0.3)
    assert not conn.over
    conn.receive(1, S + 1 + len(RESP), C + 2 + len(REQ), TCP_ACK | TCP_FIN, b"", 0.4)
    assert conn.over and conn.reason == "no_response" and budget.used == 0
    assert conn.spans() == ((C, C + 1 + len(REQ)), (S, S + 1 + len(RESP)))


def test_a_response_acknowledging_unseen_request_bytes_waits_for_them() -> None:
    """The second tap delivered the response before the request: it is held, not paired early."""
    conn, pairs, counters, budget = connection()
    conn.receive(1, S + 1, C + 1 + len(REQ), TCP_ACK, RESP, 0.2)
    assert pairs == [] and counters.get("tcp.deferred_segments") == 1 and budget.used == len(RESP)
    conn.receive(0, C + 1, S + 1, TCP_ACK, REQ, 0.1)
    assert len(pairs) == 1 and budget.used == 0
    assert pairs[0].response.ts >= pairs[0].request.ts  # released at the time of what released it


def test_held_segments_are_released_when_the_wait_is_over() -> None:
    conn, pairs, counters, _ = connection()
    conn.receive(1, S + 1, C + 1 + len(REQ), TCP_ACK, RESP, 0.2)
    conn.release_stale(0.25, 1.0)
    assert conn.deferred[1]  # not yet
    conn.release_stale(5.0, 1.0)
    assert not conn.deferred[1] and counters.get("tcp.deferred_released_unmet") == 1
    assert pairs == []  # its request never came: nothing to pair it with


def test_reset_ends_it_and_counts_the_unanswered_request() -> None:
    conn, pairs, counters, budget = connection()
    conn.receive(0, C + 1, S + 1, TCP_ACK, REQ, 0.1)
    conn.receive(1, S + 1, C + 1 + len(REQ), TCP_ACK | TCP_RST, b"", 0.2)
    assert conn.over and conn.reason == "connection_reset" and pairs == []
    assert counters.drops() == {"connection_reset": 1} and budget.used == 0
