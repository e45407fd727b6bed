"""The Kafka sink against a real broker (scripts/kafka.sh): what arrives, and the books when it does not.

Every test uses its own topic. Tests that SIGKILL the broker restart it before they end, so the
session's broker is up for the next test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from interceptor.config import KafkaConfig
from interceptor.counters import Counters
from interceptor.pairs import Pair
from interceptor.schema import validate_pair
from interceptor.sinks.kafka import KafkaSink, key_endpoint
from tests.fixtures.kafka import SASL_PASSWORD, SASL_USER, KafkaBroker, free_port, read_topic
from tests.interceptor.sinks.pairgen import make_pair, make_pairs

pytestmark = [pytest.mark.slow, pytest.mark.kafka]
ROOT = Path(__file__).resolve().parents[3]


def topic_name(what: str) -> str:
    return f"t-{what}-{uuid.uuid4().hex[:8]}"


def config(bootstrap: str, topic: str, **kw: object) -> KafkaConfig:
    base: dict[str, object] = {"bootstrap_servers": bootstrap, "topic": topic, "partitions": 3,
                               "heartbeat_topic": topic + "-hb", "heartbeat_interval_s": 0.5,
                               "linger_ms": 20, "flush_timeout_s": 30.0}
    base.update(kw)
    return KafkaConfig(**base)  # type: ignore[arg-type]


def poll_until(sink: KafkaSink, cond: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sink.poll()
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def publish_all(sink: KafkaSink, pairs: list[Pair], every: int = 100) -> None:
    for i, p in enumerate(pairs):
        sink.publish(p)
        if i % every == 0:
            sink.poll()


def ids_read(bootstrap: str, topic: str) -> list[str]:
    return [orjson.loads(m.value)["id"] for m in read_topic(bootstrap, topic)]


def assert_balanced(report: dict[str, object], counters: Counters) -> None:
    assert report["balanced"], report
    assert report["in_flight"] == 0, report
    dropped = sum(counters.drops().values())
    assert report["accepted"] + report["spool_recovered"] == (  # type: ignore[operator]
        report["delivered"] + dropped + report["spool_pending"]), report


# -- what arrives -------------------------------------------------------------------------------

def test_pairs_arrive_valid_with_keys_and_headers(kafka_broker: str) -> None:
    topic = topic_name("roundtrip")
    counters = Counters()
    sink = KafkaSink(config(kafka_broker, topic), counters, node="node-a")
    pairs = make_pairs(400)
    publish_all(sink, pairs)
    report = sink.close(30)
    assert report["delivered"] == 400 and not report["dropped"], report
    assert_balanced(report, counters)

    sent = {p.id: p for p in pairs}
    msgs = read_topic(kafka_broker, topic)
    assert sorted(orjson.loads(m.value)["id"] for m in msgs) == sorted(sent)
    by_key: dict[bytes | None, set[int]] = {}
    for m in msgs:
        record = orjson.loads(m.value)
        validate_pair(record)  # the JSON Schema is the contract
        pair = sent[record["id"]]
        assert record == orjson.loads(pair.to_json())
        assert m.key == key_endpoint(pair)
        assert m.headers["schema_version"] == b"1"
        assert m.headers["node"] == b"node-a"
        assert m.headers["source"] == pair.source["kind"].encode()
        assert m.headers["truncated_request"] == (b"1" if pair.request.truncated else b"0")
        assert m.headers["truncated_response"] == (b"1" if pair.response.truncated else b"0")
        by_key.setdefault(m.key, set()).add(m.partition)
    assert all(len(parts) == 1 for parts in by_key.values())  # one endpoint, one partition
    assert len({m.partition for m in msgs}) > 1  # and the endpoints spread over the partitions

    # An independent consumer: kcat (librdkafka's CLI, another process) sees the same records.
    out = subprocess.run(["kcat", "-C", "-b", kafka_broker, "-t", topic, "-e", "-q", "-J"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    envelopes = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(envelopes) == 400
    for env in envelopes:
        record = json.loads(env["payload"])
        validate_pair(record)
        assert env["key"] == key_endpoint(sent[record["id"]]).decode()
    assert sorted(json.loads(e["payload"])["id"] for e in envelopes) == sorted(sent)

    beats = [orjson.loads(m.value) for m in read_topic(kafka_broker, topic + "-hb")]
    assert beats and beats[-1]["schema"] == "sensor-heartbeat.v1" and beats[-1]["node"] == "node-a"
    assert beats[-1]["sink"]["delivered"] == 400  # the final heartbeat, sent on close
    assert beats[-1]["counters"]["counts"]["sink.kafka.accepted"] == 400


def test_one_megabyte_body_fits(kafka_broker: str) -> None:
    """The default bounds (1 MB bodies) fit the producer, topic and broker limits."""
    topic = topic_name("big")
    counters = Counters()
    sink = KafkaSink(config(kafka_broker, topic), counters)
    big = make_pair(1, body_bytes=1_000_000)
    assert len(big.to_json()) > 1_000_000
    sink.publish(big)
    report = sink.close(30)
    assert report["delivered"] == 1, report
    (msg,) = read_topic(kafka_broker, topic)
    validate_pair(orjson.loads(msg.value))


# -- the broker dies mid-stream -----------------------------------------------------------------

def kill_mid_stream(broker: KafkaBroker, sink: KafkaSink, pairs: list[Pair], down_at: int) -> None:
    """Publish the first ``down_at`` pairs, SIGKILL the broker, publish the rest, restart it."""
    publish_all(sink, pairs[:down_at])
    broker.kill()
    publish_all(sink, pairs[down_at:], every=50)
    broker.start()


def test_broker_killed_large_buffer_loses_nothing(kafka_broker_control: KafkaBroker) -> None:
    broker = kafka_broker_control
    topic = topic_name("kill-big")
    counters = Counters()
    sink = KafkaSink(config(broker.bootstrap, topic), counters)
    pairs = make_pairs(3000)
    kill_mid_stream(broker, sink, pairs, 1000)
    report = sink.close(60)
    assert report["delivered"] == 3000 and not report["dropped"], report
    assert_balanced(report, counters)
    got = ids_read(broker.bootstrap, topic)
    assert set(got) == {p.id for p in pairs}
    assert len(got) == 3000  # the idempotent producer wrote no duplicates on its retries


def test_broker_killed_tiny_buffer_counts_every_drop(kafka_broker_control: KafkaBroker) -> None:
    broker = kafka_broker_control
    topic = topic_name("kill-tiny")
    counters = Counters()
    sink = KafkaSink(config(broker.bootstrap, topic, buffer_bytes=64 * 1024), counters)
    pairs = make_pairs(2000)
    kill_mid_stream(broker, sink, pairs, 300)
    report = sink.close(60)
    assert_balanced(report, counters)
    assert report["dropped"].get("kafka_queue_full", 0) > 0, report  # type: ignore[union-attr]
    assert report["delivered"] + sum(report["dropped"].values()) == 2000  # type: ignore[union-attr,operator]
    got = ids_read(broker.bootstrap, topic)
    assert len(set(got)) == report["delivered"]


def test_broker_killed_tiny_buffer_with_spool_loses_nothing(kafka_broker_control: KafkaBroker,
                                                            tmp_path: Path) -> None:
    broker = kafka_broker_control
    topic = topic_name("kill-spool")
    counters = Counters()
    sink = KafkaSink(config(broker.bootstrap, topic, buffer_bytes=64 * 1024, spool_dir=str(tmp_path / "spool"),
                            delivery_timeout_s=5.0), counters)
    pairs = make_pairs(2000)
    kill_mid_stream(broker, sink, pairs, 300)
    assert poll_until(sink, lambda: sink.spool_pending == 0, 60)
    report = sink.close(60)
    assert report["delivered"] == 2000 and not report["dropped"], report
    assert report["spooled"] > 0, report
    assert_balanced(report, counters)
    assert set(ids_read(broker.bootstrap, topic)) == {p.id for p in pairs}
    assert not list((tmp_path / "spool").glob("*.seg"))  # delivered segments are deleted


SPOOLER = textwrap.dedent("""
    import json, sys, time
    from interceptor.config import KafkaConfig
    from interceptor.counters import Counters
    from interceptor.sinks.kafka import KafkaSink
    from tests.interceptor.sinks.pairgen import make_pairs
    bootstrap, topic, spool_dir, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    cfg = KafkaConfig(bootstrap_servers=bootstrap, topic=topic, partitions=1, heartbeat_topic="",
                      spool_dir=spool_dir)
    sink = KafkaSink(cfg, Counters())
    deadline = time.monotonic() + 30
    while sink.broker_up is not False and time.monotonic() < deadline:
        sink.poll(); time.sleep(0.05)  # the first statistics tell that the broker is down
    pairs = make_pairs(n)
    for p in pairs:
        sink.publish(p)
    sink.poll()  # hands the spool's buffer to the OS
    print(json.dumps({"ids": [p.id for p in pairs], **sink.accounting()}), flush=True)
    time.sleep(120)  # killed here
""")


def test_spool_survives_a_killed_interceptor(kafka_broker_control: KafkaBroker, tmp_path: Path) -> None:
    """Broker down: an interceptor spools to disk and is SIGKILLed; the next one replays in order."""
    broker = kafka_broker_control
    topic = topic_name("spool-restart")
    broker.create_topic(topic, partitions=1)
    spool_dir = tmp_path / "spool"
    broker.kill()
    try:
        proc = subprocess.Popen([sys.executable, "-c", SPOOLER, broker.bootstrap, topic, str(spool_dir), "500"],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            first = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        finally:
            proc.kill()
            proc.wait(10)
        # All on disk; one of them is also in the producer queue as the probe that finds the broker.
        assert first["spooled"] == 500 and first["spool_pending"] + first["in_flight"] == 500, first
    finally:
        broker.start()

    counters = Counters()
    sink = KafkaSink(config(broker.bootstrap, topic, spool_dir=str(spool_dir), create_topics=False,
                            heartbeat_topic=""), counters)
    assert sink.accounting()["spool_recovered"] == 500
    assert poll_until(sink, lambda: sink.spool_pending == 0, 60)
    report = sink.close(30)
    assert report["delivered"] == 500 and not report["dropped"], report
    assert_balanced(report, counters)
    assert ids_read(broker.bootstrap, topic) == first["ids"]  # one partition: the original order


# -- clear errors, counted, no crash ------------------------------------------------------------

def test_oversized_pair_is_dropped_and_counted(kafka_broker: str) -> None:
    topic = topic_name("oversize")
    counters = Counters()
    sink = KafkaSink(config(kafka_broker, topic, max_message_bytes=200_000), counters)
    sink.publish(make_pair(1, body_bytes=300_000))
    sink.publish(make_pair(2))
    report = sink.close(30)
    assert report["dropped"] == {"kafka_too_large": 1} and report["delivered"] == 1, report
    assert "kafka.max_message_bytes" in report["errors"]["kafka_too_large"]  # type: ignore[index]
    assert_balanced(report, counters)


def test_topic_limit_below_the_config_is_learned(kafka_broker_control: KafkaBroker) -> None:
    """An existing topic allows less than kafka.max_message_bytes: the sink learns the topic's limit,
    so the large pair is dropped and counted, and its batch-mates are not refused with it."""
    topic = topic_name("topic-limit")
    kafka_broker_control.create_topic(topic, partitions=1, max_message_bytes=50_000)
    counters = Counters()
    sink = KafkaSink(config(kafka_broker_control.bootstrap, topic, create_topics=False, heartbeat_topic="",
                            compression="none"), counters)
    assert sink.max_message_bytes == 50_000
    sink.publish(make_pair(1, body_bytes=100_000))
    for p in make_pairs(100, start=2):  # 100 KB together: more than one 50 KB batch
        sink.publish(p)
    report = sink.close(30)
    assert report["dropped"] == {"kafka_too_large": 1} and report["delivered"] == 100, report
    assert "limit is 50000" in report["errors"]["kafka_too_large"]  # type: ignore[index]
    assert_balanced(report, counters)


def test_unknown_topic_without_auto_create(kafka_broker: str) -> None:
    topic = topic_name("missing")
    counters = Counters()
    sink = KafkaSink(config(kafka_broker, topic, create_topics=False, heartbeat_topic="",
                            extra={"topic.metadata.propagation.max.ms": "1000"}), counters)
    assert "does not exist" in sink.errors["kafka_unknown_topic"]  # said at start, before any pair
    for p in make_pairs(20):
        sink.publish(p)
    poll_until(sink, lambda: sink.accounting()["in_flight"] == 0, 20)
    report = sink.close(10)
    assert report["dropped"] == {"kafka_unknown_topic": 20}, report
    assert_balanced(report, counters)


def test_wrong_bootstrap_address(tmp_path: Path) -> None:
    counters = Counters()
    nobody = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    sink = KafkaSink(config(nobody, "pairs", delivery_timeout_s=2.0), counters)
    assert time.monotonic() - started < 15  # the start does not hang on a dead address
    for p in make_pairs(30):
        sink.publish(p)
    poll_until(sink, lambda: sink.accounting()["in_flight"] == 0, 15)
    report = sink.close(2)
    assert report["delivered"] == 0
    assert sum(report["dropped"].values()) == 30, report  # type: ignore[union-attr]
    assert report["dropped"].get("kafka_timeout", 0) > 0  # type: ignore[union-attr]
    assert any("refused" in text.lower() or "down" in text.lower() for text in report["errors"].values()), report
    assert_balanced(report, counters)


# -- security -----------------------------------------------------------------------------------

def sasl(kafka_broker_control: KafkaBroker, topic: str, password: str, **kw: object) -> KafkaConfig:
    return config(kafka_broker_control.sasl_bootstrap, topic, security_protocol="SASL_PLAINTEXT",
                  sasl_mechanism="PLAIN", sasl_username=SASL_USER, sasl_password=password, **kw)


def test_sasl_plain_publishes(kafka_broker_control: KafkaBroker) -> None:
    topic = topic_name("sasl")
    counters = Counters()
    sink = KafkaSink(sasl(kafka_broker_control, topic, SASL_PASSWORD), counters)
    for p in make_pairs(50):
        sink.publish(p)
    report = sink.close(30)
    assert report["delivered"] == 50, report
    assert len(read_topic(kafka_broker_control.bootstrap, topic)) == 50


def test_sasl_wrong_password_is_a_counted_auth_error(kafka_broker_control: KafkaBroker) -> None:
    topic = topic_name("sasl-bad")
    kafka_broker_control.create_topic(topic)
    counters = Counters()
    sink = KafkaSink(sasl(kafka_broker_control, topic, "wrong", create_topics=False, heartbeat_topic="",
                          delivery_timeout_s=3.0), counters)
    for p in make_pairs(10):
        sink.publish(p)
    poll_until(sink, lambda: sink.accounting()["in_flight"] == 0, 15)
    report = sink.close(2)
    assert report["delivered"] == 0
    assert "authentication" in report["errors"].get("kafka_auth", "").lower(), report  # type: ignore[union-attr]
    assert sum(report["dropped"].values()) == 10, report  # type: ignore[union-attr]
    assert_balanced(report, counters)


def test_close_with_broker_down_spools_the_queue_fast(kafka_broker: str, tmp_path: Path) -> None:
    """Shutdown while Kafka is unreachable: nothing waits for the full deadline, nothing is lost;
    the next run (here pointed at a live broker) delivers it all."""
    spool = str(tmp_path / "spool")
    counters = Counters()
    sink = KafkaSink(config(f"127.0.0.1:{free_port()}", "pairs", spool_dir=spool, heartbeat_topic=""), counters)
    pairs = make_pairs(60)
    publish_all(sink, pairs[:30], every=10)
    poll_until(sink, lambda: sink.broker_up is False, 10)
    publish_all(sink, pairs[30:], every=10)
    started = time.monotonic()
    report = sink.close(30)
    assert time.monotonic() - started < 10
    assert report["spool_pending"] == 60 and report["delivered"] == 0 and not report["dropped"], report
    assert_balanced(report, counters)

    topic = topic_name("spool-move")
    counters = Counters()
    sink = KafkaSink(config(kafka_broker, topic, spool_dir=spool, heartbeat_topic=""), counters)
    assert poll_until(sink, lambda: sink.spool_pending == 0, 30)
    report = sink.close(30)
    assert report["delivered"] == 60 and report["spool_recovered"] == 60, report
    assert sorted(ids_read(kafka_broker, topic)) == sorted(p.id for p in pairs)  # the probe not twice
