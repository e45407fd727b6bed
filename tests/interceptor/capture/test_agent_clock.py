"""The agent's pipeline clock: while it reads a backlog (behind its traffic) a request does not
expire by the wall clock before its response, still in the kernel's buffer, is read; once the taps
are empty the wall clock expires what waits."""

from __future__ import annotations

import time
from typing import Any

from interceptor.agent import Agent, capture_clock
from interceptor.counters import Counters
from interceptor.pairs import Pair
from tests.interceptor.packetgen import Conn, http_request, http_response, keep_all_config


class Collect:
    """A sink keeping what it is given (the Sink protocol)."""

    def __init__(self) -> None:
        self.pairs: list[Pair] = []

    def publish(self, pair: Pair) -> None:
        self.pairs.append(pair)

    def poll(self) -> None:
        pass

    def close(self, timeout_s: float) -> dict[str, Any]:
        return {"sink": "collect", "published": len(self.pairs)}


def _agent() -> tuple[Agent, Counters, Collect]:
    cfg: Any = keep_all_config()
    cfg.metrics.listen = ""
    counters = Counters()
    sink = Collect()
    return Agent(cfg, counters, [sink], "test-node"), counters, sink


def _run(reading: bool) -> tuple[Counters, Collect]:
    agent, counters, sink = _agent()
    wall = time.time()
    conn = Conn(ts=wall - 20)  # 20 s behind: a starved agent reading the kernel's buffer
    conn.handshake()
    conn.request(http_request("GET", "/api/orders/1", b""))
    for ts, frame in conn.frames:
        agent.pipeline.feed_packet(ts, frame, conn.linktype)
    # The loop's last turn read packets (reading) or found the taps empty; a second later the
    # once-a-second housekeeping runs: 21 s after the request by the wall clock, past
    # core.response_timeout_s (10 s), not yet core.flow_idle_timeout_s (60 s).
    agent.taps.last_turn = len(conn.frames) if reading else 0
    agent.housekeeping(wall + 1)
    start = len(conn.frames)
    conn.response(http_response(200, b'{"order":1}'))
    for ts, frame in conn.frames[start:]:
        agent.pipeline.feed_packet(ts, frame, conn.linktype)
    agent.pipeline.close(wall + 2)
    agent.output.close(1.0)
    return counters, sink


def test_behind_its_traffic_the_request_waits_for_its_response_in_the_backlog() -> None:
    counters, sink = _run(reading=True)
    assert counters.dropped("response_timeout") == 0
    assert [(p.request.target, p.response.status) for p in sink.pairs] == [("/api/orders/1", 200)]


def test_with_the_taps_empty_the_wall_clock_expires_a_request_waiting_too_long() -> None:
    counters, sink = _run(reading=False)
    assert counters.dropped("response_timeout") == 1
    assert sink.pairs == []  # its response, read later, answers no request left
    assert counters.dropped("response_without_request") == 1


def test_capture_clock() -> None:
    assert capture_clock(100.0, 40.0, reading=True) == 40.0
    assert capture_clock(100.0, 40.0, reading=False) == 100.0
    assert capture_clock(100.0, 0.0, reading=True) == 100.0  # nothing read yet: no capture time
