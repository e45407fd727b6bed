"""The post-pair stages alone: each stage from a pair, and the list the pipeline runs."""

from __future__ import annotations

from pathlib import Path

import orjson

from interceptor.app import Output
from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.pairs import Endpoint, Pair, Request, Response
from interceptor.pipeline import Pipeline
from interceptor.sinks.jsonl import JsonlSink
from interceptor.stages import Bounds, Callback, Emitted, Filters, Publish, Stages


def pair(req_body: bytes = b"{}", resp_body: bytes = b'{"a":1}', ctype: str = "application/json") -> Pair:
    req = Request("HTTP/1.1", [("Content-Type", ctype)], req_body, len(req_body), False, 1.0, method="POST")
    resp = Response("HTTP/1.1", [("Content-Type", ctype)], resp_body, len(resp_body), False, 1.1, status=200)
    return Pair(req, resp, Endpoint("10.0.0.1", 40000), Endpoint("10.0.0.2", 80), {"kind": "test"})


def test_bounds_truncate_the_response_first_or_drop() -> None:
    cfg, c = Config(), Counters()
    cfg.core.max_pair_bytes = 10
    cfg.core.oversize = "truncate"
    out = Bounds(cfg.core, c).pair(pair(b"12345678", b"abcdefgh"))
    assert out is not None and out.request.body == b"12345678" and out.response.body == b"ab"
    assert out.response.truncated and not out.request.truncated
    cfg.core.oversize = "drop"
    assert Bounds(cfg.core, c).pair(pair(b"12345678", b"abcdefgh")) is None
    assert c.drops() == {"pair_too_large": 1}
    assert Bounds(cfg.core, c).pair(pair(b"1", b"2")) is not None


def test_filters_stop_a_pair_with_its_reason() -> None:
    c = Counters()
    stage = Filters(Config().filters, c)
    assert stage.pair(pair(ctype="image/png")) is None
    assert sum(c.drops().values()) == 1
    assert stage.pair(pair()) is not None


def test_stages_run_in_order_and_stop_at_none(tmp_path: Path) -> None:
    c = Counters()
    seen: list[Pair] = []
    out = tmp_path / "pairs.jsonl"
    sink = JsonlSink(str(out), c)
    stages = Stages([Filters(Config().filters, c), Emitted(c), Publish([sink]), Callback(seen.append)])
    assert "Filters -> Emitted -> Publish -> Callback" in repr(stages)
    stages.pair(pair(ctype="image/png"))
    kept = pair()
    assert stages.pair(kept) is kept
    sink.close(1.0)
    assert seen == [kept] and c.get("pairs.emitted") == 1
    lines = out.read_bytes().splitlines()
    assert len(lines) == 1 and orjson.loads(lines[0])["request"]["method"] == "POST"


def test_output_stages_end_the_pipeline_list(tmp_path: Path) -> None:
    cfg, c = Config(), Counters()
    output = Output(cfg, c, [JsonlSink(str(tmp_path / "p.jsonl"), c)])
    pipe = Pipeline(cfg, c, output.stages)
    names = [type(s).__name__ for s in pipe.stages.stages]
    assert names == ["Bounds", "Filters", "Emitted", "Publish"]  # Kubernetes off: no Enrich
    fn_pipe = Pipeline(cfg, c, lambda p: None)
    assert [type(s).__name__ for s in fn_pipe.stages.stages][-1] == "Callback"
    output.close(1.0)
