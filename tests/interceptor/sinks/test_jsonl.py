"""JSONL sink: records are whole lines, and a live file is flushed at least once a second."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from interceptor.counters import Counters
from interceptor.sinks import jsonl
from interceptor.sinks.jsonl import JsonlSink
from tests.interceptor.sinks.pairgen import make_pairs


def test_poll_flushes_within_the_interval(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    sink = JsonlSink(str(out), Counters())
    for pair in make_pairs(3, body_bytes=100):
        sink.publish(pair)
    sink.poll()  # less than a second since the sink opened: still buffered
    assert out.read_bytes() == b""
    time.sleep(jsonl.FLUSH_INTERVAL_S + 0.05)
    sink.poll()
    lines = out.read_bytes().splitlines()
    assert len(lines) == 3 and all(orjson.loads(line)["request"] for line in lines)
    sink.close()
