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


def test_the_buffer_is_bounded_and_counts_what_went_out(tmp_path: Path) -> None:
    out, c = tmp_path / "pairs.jsonl", Counters()
    sink = JsonlSink(str(out), c)
    pairs = make_pairs(1200, body_bytes=1000)  # ~1.4 KB lines: more than one buffer's worth
    for pair in pairs:
        sink.publish(pair)
    went_out = out.read_bytes()  # no poll yet: only full buffers were written
    assert 0 < len(went_out) <= jsonl.BUFFER_BYTES + 4096 and went_out.endswith(b"\n")
    assert c.get("sink.jsonl.written") == went_out.count(b"\n")
    report = sink.close()
    assert report["written"] == c.get("sink.jsonl.written") == 1200 == len(out.read_bytes().splitlines())


def test_a_failed_write_counts_every_pair_it_lost() -> None:
    c = Counters()
    sink = JsonlSink("/dev/full", c)
    for pair in make_pairs(5, body_bytes=100):
        sink.publish(pair)
    report = sink.close()
    assert report["error"] == "--out /dev/full: write failed: No space left on device"
    assert c.dropped("sink_write_error") == 5 and c.get("sink.jsonl.written") == 0
