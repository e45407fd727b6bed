"""The thin Kafka shell around the pure cores: a consumer-group batch loop with at-least-once commits.

One round: ``consume()`` up to ``batch_size`` messages, hand them to the batch handler, and only
when the handler says its output is safely written (produced and flushed, or stored) commit the
next offsets of exactly those partitions. If the handler fails, the consumer seeks back to the
first offset of the batch in each partition and the batch is retried; nothing is committed past
unwritten work. Rebalances happen only inside ``consume()``, i.e. between rounds, so a round never
commits for partitions it no longer owns; revocation and assignment are counted.
A SIGTERM/SIGINT finishes the round, commits and leaves the group cleanly (fast rebalance).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from interceptor.config import KafkaConfig
from interceptor.counters import Counters
from interceptor.kafkaclient import admin_config, consumer_config

__all__ = ["BatchLoop", "consumer_config", "ensure_topic"]

BatchHandler = Callable[[list[Message]], None]  # raises to say "not written, retry"
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 30.0


def ensure_topic(kafka: KafkaConfig | str, topic: str, partitions: int, timeout_s: float = 30.0) -> None:
    """Create ``topic`` if the broker lacks it (an existing topic is left as it is). ``kafka`` is the
    config section (a plain ``host:port`` string: a PLAINTEXT broker, for scripts and tests)."""
    cfg = KafkaConfig(bootstrap_servers=kafka) if isinstance(kafka, str) else kafka
    admin = AdminClient(admin_config(cfg))
    md = admin.list_topics(timeout=timeout_s)
    if topic in md.topics and md.topics[topic].error is None:
        return
    fut = admin.create_topics([NewTopic(topic, num_partitions=max(1, partitions), replication_factor=-1)])[topic]
    try:
        fut.result(timeout=timeout_s)
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


class BatchLoop:
    def __init__(self, conf: dict[str, Any], topics: list[str], handler: BatchHandler, counters: Counters,
                 batch_size: int = 500, name: str = "processor", log: Callable[[str], None] | None = None) -> None:
        self.consumer = Consumer({**conf, "error_cb": self._on_error})
        self.topics = topics
        self.handler = handler
        self.counters = counters
        self.batch_size = max(1, batch_size)
        self.name = name
        self.stop = threading.Event()
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.assigned: set[tuple[str, int]] = set()
        self.last_assign = 0.0
        self.retry_delay_s = RETRY_INITIAL_S  # doubles while batches keep failing (an outage), up to RETRY_MAX_S

    def _on_error(self, err: KafkaError) -> None:
        self.counters.inc(f"{self.name}.kafka_errors")
        if err.fatal():
            self.log(f"{self.name}: fatal Kafka error: {err}")
            self.stop.set()

    def _on_assign(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        self.counters.inc(f"{self.name}.rebalance.assigned")
        self.assigned |= {(p.topic, p.partition) for p in parts}
        self.last_assign = time.monotonic()  # idle time counts from here: joining a group takes seconds
        self.log(f"{self.name}: assigned {sorted(p.partition for p in parts)}")

    def _on_revoke(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        # Nothing is in flight here: the previous round committed before consume() was called again.
        self.counters.inc(f"{self.name}.rebalance.revoked")
        self.assigned -= {(p.topic, p.partition) for p in parts}
        self.log(f"{self.name}: revoked {sorted(p.partition for p in parts)}")

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())

    def run(self, idle_exit_s: float = 0.0, max_messages: int = 0) -> None:
        """Until stopped (or idle for ``idle_exit_s`` / after ``max_messages``, for batch jobs and tests)."""
        self.consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        last_msg = time.monotonic()
        seen = 0
        try:
            while not self.stop.is_set():
                msgs = self.consumer.consume(self.batch_size, timeout=0.5)
                batch = []
                for m in msgs:
                    err = m.error()
                    if err is None:
                        batch.append(m)
                    elif err.code() != KafkaError._PARTITION_EOF:
                        self.counters.inc(f"{self.name}.consume_errors")
                if not batch:
                    if idle_exit_s and time.monotonic() - max(last_msg, self.last_assign) > idle_exit_s:
                        break
                    continue
                last_msg = time.monotonic()
                self._round(batch)
                seen += len(batch)
                if max_messages and seen >= max_messages:
                    break
        finally:
            self.consumer.close()  # leaves the group: the others get our partitions at once

    def _round(self, batch: list[Message]) -> None:
        try:
            self.handler(batch)
        except Exception as e:  # output not safely written: go back and redo this batch
            self.counters.inc(f"{self.name}.batch_retries")
            self.log(f"{self.name}: batch of {len(batch)} not written ({type(e).__name__}: {e}); retrying")
            for tp in _first_offsets(batch):
                try:
                    self.consumer.seek(tp)
                except KafkaException:
                    pass  # partition no longer ours: its next owner starts from the last commit
            self.stop.wait(self.retry_delay_s)  # backoff: a store or broker outage is not hammered
            self.retry_delay_s = min(self.retry_delay_s * 2, RETRY_MAX_S)
            return
        self.retry_delay_s = RETRY_INITIAL_S
        try:
            self.consumer.commit(offsets=_next_offsets(batch), asynchronous=False)
            self.counters.inc(f"{self.name}.committed", len(batch))
        except KafkaException as e:
            # Output exists but the commit did not land: the next owner redoes it; results are idempotent.
            self.counters.inc(f"{self.name}.commit_failed")
            self.log(f"{self.name}: commit failed: {e}")


def _next_offsets(batch: list[Message]) -> list[TopicPartition]:
    top: dict[tuple[str, int], int] = {}
    for m in batch:
        k = (m.topic(), m.partition())
        top[k] = max(top.get(k, -1), m.offset())
    return [TopicPartition(t, p, o + 1) for (t, p), o in top.items()]


def _first_offsets(batch: list[Message]) -> list[TopicPartition]:
    first: dict[tuple[str, int], int] = {}
    for m in batch:
        k = (m.topic(), m.partition())
        first[k] = min(first.get(k, m.offset()), m.offset())
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]
