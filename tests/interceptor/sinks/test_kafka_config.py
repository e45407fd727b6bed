"""The Kafka sink's pure parts: keys, producer settings, error classes, the config section."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from interceptor.config import ConfigError, KafkaConfig, load_config
from interceptor.counters import Counters
from interceptor.pairs import Endpoint
from interceptor.sinks.kafka import KafkaSink, classify, key_destination, key_endpoint, producer_config
from tests.interceptor.sinks.pairgen import make_pair


def test_endpoint_key_ignores_the_query_and_keeps_method_and_path() -> None:
    a, b = make_pair(0), make_pair(7)  # same path /api/v1/users/0, different query and client
    a, b = a.replace(dst=Endpoint("10.1.0.9", 8080)), b.replace(dst=Endpoint("10.1.0.9", 8080))
    assert key_endpoint(a) == key_endpoint(b) == b"10.1.0.9:8080 POST /api/v1/users/0"
    assert key_destination(a) == b"10.1.0.9:8080"


def test_key_prefers_the_workload_when_enrichment_named_it() -> None:
    p = make_pair(1).replace(dst=Endpoint("10.1.0.9", 8080, {"namespace": "shop", "workload": "users"}))
    assert key_destination(p) == b"shop/users:8080"
    assert key_endpoint(p) == b"shop/users:8080 POST /api/v1/users/1"


def test_producer_settings_follow_the_config_and_extra_wins() -> None:
    cfg = KafkaConfig(bootstrap_servers="b:9092", buffer_bytes=64 << 20, compression="lz4",
                      security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="u",
                      sasl_password="p", ssl_ca_location="/ca.pem", extra={"linger.ms": "5", "acks": "1"})
    conf = producer_config(cfg, "node-1")
    assert conf["queue.buffering.max.kbytes"] == 65536
    assert conf["compression.type"] == "lz4"
    assert conf["message.max.bytes"] == 5_000_000
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512" and conf["ssl.ca.location"] == "/ca.pem"
    assert conf["linger.ms"] == "5" and conf["acks"] == "1"
    assert conf["client.id"] == "privacy-sensor-node-1"


def test_error_classes() -> None:
    assert classify(KafkaError(KafkaError._MSG_TIMED_OUT)) == "kafka_timeout"
    assert classify(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)) == "kafka_too_large"
    assert classify(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)) == "kafka_unknown_topic"
    assert classify(KafkaError(KafkaError.SASL_AUTHENTICATION_FAILED)) == "kafka_auth"
    assert classify(KafkaError(KafkaError._PURGE_QUEUE)) == "kafka_purged"


def test_config_section_from_yaml(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("kafka:\n  bootstrap_servers: 127.0.0.1:9092\n  key: destination\n  spool_dir: /var/spool/s\n"
                 "  extra:\n    socket.keepalive.enable: 'true'\n")
    cfg = load_config(f, env={"SENSOR__KAFKA__BUFFER_BYTES": "1048576"}).kafka
    assert (cfg.key, cfg.spool_dir, cfg.buffer_bytes) == ("destination", "/var/spool/s", 1048576)
    f.write_text("kafka:\n  key: workload\n")
    with pytest.raises(ConfigError, match="kafka.key"):
        load_config(f, env={})


def test_empty_bootstrap_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="kafka.bootstrap_servers"):
        KafkaSink(KafkaConfig(), Counters())


def test_invalid_librdkafka_setting_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="kafka: invalid .*ssl.bogus"):
        KafkaSink(KafkaConfig(bootstrap_servers="127.0.0.1:1", extra={"ssl.bogus": "1"}), Counters())
    with pytest.raises(ConfigError, match="kafka: invalid producer setting.*-5"):
        KafkaSink(KafkaConfig(bootstrap_servers="127.0.0.1:1", create_topics=False,
                              extra={"linger.ms": "-5"}), Counters())
