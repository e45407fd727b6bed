"""The processor's Kafka clients take security_protocol and SASL from the one config model: the real
`processor consume` command against the SASL_PLAINTEXT listener of the test broker
(tests/fixtures/kafka.py), configured only through the chart's environment variables
(SENSOR__KAFKA__*), detects a pair produced with SASL and writes its detections with SASL; a wrong
password delivers nothing. The one-key rule: processor.bootstrap_servers names its new home."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from confluent_kafka import Producer

from interceptor.config import ConfigError, KafkaConfig, load_config
from interceptor.kafkaclient import client_config, consumer_config
from processor.kafkaio import ensure_topic
from tests.fixtures.kafka import SASL_PASSWORD, SASL_USER, KafkaBroker, read_topic
from tests.processor.helpers import make_pair


def sasl_env(broker: KafkaBroker, password: str) -> dict[str, str]:
    return {"SENSOR__KAFKA__BOOTSTRAP_SERVERS": broker.sasl_bootstrap, "SENSOR__KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "SENSOR__KAFKA__SASL_MECHANISM": "PLAIN", "SENSOR__KAFKA__SASL_USERNAME": SASL_USER,
            "SENSOR__KAFKA__SASL_PASSWORD": password}


def test_every_client_gets_the_security_settings() -> None:
    cfg = load_config(env={"SENSOR__KAFKA__BOOTSTRAP_SERVERS": "k:9093", "SENSOR__KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
                           "SENSOR__KAFKA__SASL_MECHANISM": "SCRAM-SHA-512", "SENSOR__KAFKA__SASL_USERNAME": "u",
                           "SENSOR__KAFKA__SASL_PASSWORD": "p #1", "SENSOR__KAFKA__SSL_CA_LOCATION": "/ca.pem"})
    for conf in (client_config(cfg.kafka), consumer_config(cfg.kafka, "g", 10_000)):
        assert conf["bootstrap.servers"] == "k:9093" and conf["security.protocol"] == "SASL_SSL"
        assert conf["sasl.password"] == "p #1" and conf["ssl.ca.location"] == "/ca.pem"
    with pytest.raises(ConfigError, match="processor.bootstrap_servers: moved to kafka.bootstrap_servers"):
        load_config(env={"SENSOR__PROCESSOR__BOOTSTRAP_SERVERS": "k:9092"})


@pytest.mark.kafka
@pytest.mark.slow
def test_processor_consumes_and_produces_over_sasl(kafka_broker_control: KafkaBroker) -> None:
    tag = uuid.uuid4().hex[:8]
    pairs_t, det_t = f"sasl-pairs-{tag}", f"sasl-det-{tag}"
    good = KafkaConfig(bootstrap_servers=kafka_broker_control.sasl_bootstrap, security_protocol="SASL_PLAINTEXT",
                       sasl_mechanism="PLAIN", sasl_username=SASL_USER, sasl_password=SASL_PASSWORD)
    ensure_topic(good, pairs_t, 1)
    prod = Producer({**client_config(good), "linger.ms": 5})
    for i in range(3):
        prod.produce(pairs_t, make_pair({"email": f"u{i}@example.com"}, target=f"/users/{i}").to_json())
    assert prod.flush(30) == 0
    env = {**os.environ, **sasl_env(kafka_broker_control, SASL_PASSWORD), "SENSOR__PROCESSOR__PAIRS_TOPIC": pairs_t,
           "SENSOR__PROCESSOR__DETECTIONS_TOPIC": det_t, "SENSOR__PROCESSOR__GROUP_ID": f"sasl-{tag}"}
    proc = subprocess.run([sys.executable, "-m", "processor.cli", "consume", "--exit-when-idle", "8", "--stats-interval", "0"],
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(SASL_PLAINTEXT)" in proc.stderr and SASL_PASSWORD not in proc.stderr
    msgs = read_topic(kafka_broker_control.bootstrap, det_t)  # read back on the plaintext listener
    assert len(msgs) == 3
    # the same with a wrong password: authentication fails, nothing is detected or written
    env.update(sasl_env(kafka_broker_control, "not-the-password"))
    env["SENSOR__PROCESSOR__GROUP_ID"] = f"sasl-bad-{tag}"
    env["SENSOR__PROCESSOR__FLUSH_TIMEOUT_S"] = "5"
    bad = subprocess.run([sys.executable, "-m", "processor.cli", "consume", "--exit-when-idle", "5", "--stats-interval", "0"],
                         env=env, capture_output=True, text=True, timeout=180)
    assert "not-the-password" not in bad.stderr
    assert len(read_topic(kafka_broker_control.bootstrap, det_t, timeout_s=5)) == 3
