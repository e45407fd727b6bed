"""The stream's sans-I/O pieces: the per-client queue (loss counted and announced), the fan-out (one
masking per record), the hub's join of pairs and detections, and masking by detections or in full."""

from __future__ import annotations

import time

import orjson

from interceptor.counters import Counters
from interceptor.kfl import compile_query
from interceptor.stream import Fanout, Subscriber
from processor.core import Processor
from processor.hub import Joiner, hub_masker
from processor.streammask import mask_all, mask_record
from tests.processor.helpers import make_pair


def _rec(i: int, email: str = "ann@example.com") -> dict:
    p = make_pair({"user": {"email": email, "age": 41}}, target=f"/u/{i}?token=abc&page=2",
                  req_headers=[("Authorization", "Bearer xyz"), ("Cookie", "sid=s3")], pair_id=f"p-{i}")
    return p.to_record()


def test_subscriber_counts_and_announces_losses() -> None:
    counters = Counters()
    woken = []
    sub = Subscriber(compile_query("response.status == 200"), raw=True, name="t", max_queue=3,
                     wake=lambda: woken.append(1))
    fan = Fanout(counters, mask_all)
    fan.add(sub)
    for i in range(5):
        fan.offer(_rec(i))
    assert counters.dropped("stream_slow_client") == 2 and sub.lost_total == 2
    frames = [orjson.loads(f) for f in sub.take()]
    assert frames[0] == {"notice": "lost", "lost": 2, "lost_total": 2}
    assert [f["id"] for f in frames[1:]] == ["p-0", "p-1", "p-2"]
    fan.offer(_rec(9))
    assert [orjson.loads(f)["id"] for f in sub.take()] == ["p-9"]  # no second notice without new losses
    assert len(woken) == 4 and counters.get("stream.records_sent") == 4


def test_limit_and_redact_and_masked_evaluation() -> None:
    counters = Counters()
    masked_calls = []

    def masker(rec: dict) -> dict:
        masked_calls.append(rec["id"])
        return mask_all(rec)

    fan = Fanout(counters, masker)
    limited = Subscriber(compile_query('limit(2) and redact("request.headers.authorization")'), True, "a")
    probe = Subscriber(compile_query('request.body == r"ann@"'), False, "b")  # masked: cannot probe values
    plain = Subscriber(compile_query("response.status == 200"), False, "c")
    for s in (limited, probe, plain):
        fan.add(s)
    for i in range(3):
        fan.offer(_rec(i))
    frames = [orjson.loads(f) for f in limited.take()]
    assert [f.get("id") for f in frames] == ["p-0", "p-1", None] and frames[2] == {"notice": "limit", "sent": 2}
    assert dict(frames[0]["request"]["headers"])["Authorization"] == "[REDACTED]" and limited.done
    assert probe.take() == []
    got = [orjson.loads(f) for f in plain.take()]
    assert len(got) == 3 and all("ann@example.com" not in orjson.dumps(f).decode() for f in got)
    assert masked_calls == ["p-0", "p-1", "p-2"]  # once per record, shared by the masked clients


def test_mask_by_detections_and_in_full() -> None:
    rec = _rec(1)
    det = Processor().detect(rec).record
    joined = {**rec, "types": det["types"], "detections": det["detections"]}
    m = hub_masker(joined)
    body = orjson.loads(m["request"]["body"])
    assert m["masked"] == "detected" and body == {"user": {"email": "***@*******.***", "age": 41}}
    headers = dict(m["request"]["headers"])
    assert headers["Authorization"] != "Bearer xyz" and headers["Content-Type"] == "application/json"
    full = mask_all(rec)
    assert full["masked"] == "all" and orjson.loads(full["request"]["body"]) == {
        "user": {"email": "***@*******.***", "age": "11"}}
    assert full["request"]["target"] == "/u/1?token=***&page=1"
    assert dict(full["request"]["headers"])["Cookie"] == "***=*1"
    assert rec["request"]["body"] == '{"user": {"email": "ann@example.com", "age": 41}}'  # input untouched
    binary = {**rec, "request": {**rec["request"], "body": "//4=", "body_encoding": "base64"}}
    assert mask_record(binary)["request"]["body"] == ""


def test_joiner_either_order_timeout_and_bounds() -> None:
    counters = Counters()
    j = Joiner(wait_s=1.0, max_pending=2, counters=counters)
    assert j.add_pair({"id": "a"}, now=0.0) == []
    assert j.add_detection({"pair_id": "a", "types": ["email"], "sensitivity": "medium", "detections": []}) == [
        {"id": "a", "types": ["email"], "sensitivity": "medium", "detections": []}]
    assert j.add_detection({"pair_id": "b", "types": [], "detections": []}) == []  # early detection
    assert j.add_pair({"id": "b"}, now=0.1)[0]["types"] == []
    j.add_pair({"id": "c"}, now=0.2)
    j.add_pair({"id": "d"}, now=0.3)
    assert j.add_pair({"id": "e"}, now=0.4) == [{"id": "c"}]  # bound: the oldest goes out unjoined
    assert j.expire(1.2) == [] and j.expire(1.35) == [{"id": "d"}] and j.expire(1.5) == [{"id": "e"}]
    assert counters.get("stream.join_evicted") == 1 and counters.get("stream.join_timeout") == 2
    assert j.add_pair({"no": "id"}, now=2.0) == [] and counters.dropped("stream_bad_pair") == 1
    assert hub_masker({"id": "d", "request": {"body": '{"x": "y"}', "headers": []}})["masked"] == "all"


def test_agent_stage_budget_skips_are_counted_and_told() -> None:
    from interceptor.config import Config
    from interceptor.streamagent import StreamStage

    cfg = Config()
    cfg.stream.max_records_per_s = 1
    counters = Counters()
    stage = StreamStage(cfg, counters, "n1")
    sub = Subscriber(compile_query(""), False, "t")
    stage.fanout.add(sub)
    for i in range(5):
        p = make_pair({"i": i}, pair_id=f"b-{i}")
        stage.publish(p)
    deadline = time.monotonic() + 5
    frames: list[dict] = []
    while time.monotonic() < deadline and not (frames and any(f.get("skipped") for f in frames)):
        frames += [orjson.loads(f) for f in sub.take()]
        time.sleep(0.02)
    stage.close(1.0)
    assert counters.dropped("stream_budget") == 4
    assert [f["id"] for f in frames if "id" in f] == ["b-0"]
    assert sum(f.get("skipped", 0) for f in frames) == 4
