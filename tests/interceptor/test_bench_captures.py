"""bench/replay.py's synthetic captures stay valid input: every exchange pairs, every open flow is
tracked (a small version of what the benchmark measures, so the bench cannot rot silently)."""

from __future__ import annotations

from pathlib import Path

from bench.replay import run_core, synth_keepalive, synth_open_flows
from interceptor.capture.pcapfile import CaptureReader
from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.pipeline import Pipeline


def test_synthetic_keepalive_pairs_exactly(tmp_path: Path) -> None:
    path = tmp_path / "ka.pcap"
    info = synth_keepalive(path, 600, 3)
    out = run_core(path)
    assert out["pairs"] == info["exchanges"] == 600
    assert out["drops"] == {}


def test_synthetic_open_flows_are_tracked(tmp_path: Path) -> None:
    path = tmp_path / "open.pcap"
    synth_open_flows(path, 300)
    counters = Counters()
    pipe = Pipeline(Config(), counters, lambda p: None)
    with CaptureReader(path) as reader:
        for ts, lt, frame in reader:
            pipe.feed_packet(ts, frame, lt)
    assert len(pipe.flows) == 300
    assert counters.get("http.requests") == 300 and not counters.drops()
