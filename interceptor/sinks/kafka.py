"""Kafka sink: publishes pair records to a topic with confluent-kafka, and accounts for every one.

Every pair handed to ``publish`` ends up in exactly one of: delivered (the broker acknowledged
it), dropped with a reason (``Counters.drop``), still in the producer's queue, or waiting in the
disk spool. ``accounting()`` shows the sum; after ``close()`` nothing is left in the queue:

    accepted + spool_recovered == delivered + sum(dropped) + in_flight + spool_pending

Capture is never blocked: a full in-memory buffer (librdkafka's queue, ``kafka.buffer_bytes``)
sends pairs to the disk spool when there is one, or drops them (``kafka_queue_full``). While the
broker is down new pairs go straight to the spool, which is replayed in order when it is back.
See docs/kafka.md for the message format (value, key, headers) and the settings.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from functools import partial
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from interceptor.config import ConfigError, KafkaConfig
from interceptor.counters import Counters
from interceptor.kafkaclient import client_config
from interceptor.pairs import SCHEMA_VERSION, Pair
from interceptor.sinks.spool import KafkaHeaders, Spool, SpoolRecord

log = logging.getLogger(__name__)

HEARTBEAT_SCHEMA = "sensor-heartbeat.v1"
# Bytes a record adds beyond key and value (headers, framing): the size pre-check leaves room.
RECORD_OVERHEAD = 512
# Delivery failures worth another try later: with a spool they go back to disk, not to the floor.
RETRIABLE = {"kafka_timeout", "kafka_broker_down", "kafka_purged"}

C_ACCEPTED = "sink.kafka.accepted"
C_DELIVERED = "sink.kafka.delivered"
C_SPOOLED = "sink.kafka.spooled"
C_RESPOOLED = "sink.kafka.respooled"
C_REPLAYED = "sink.kafka.replayed"
C_RECOVERED = "sink.kafka.spool_recovered"
C_HB_SENT = "sink.kafka.heartbeats_delivered"
C_HB_FAILED = "sink.kafka.heartbeats_failed"
DROP_REASONS = (
    "kafka_queue_full", "kafka_too_large", "kafka_unknown_topic", "kafka_timeout", "kafka_auth",
    "kafka_broker_down", "kafka_purged", "kafka_error", "kafka_encode", "kafka_spool_full",
    "kafka_spool_corrupt",
)


_REASONS_BY_NAME = {
    "kafka_too_large": ["MSG_SIZE_TOO_LARGE", "_MSG_SIZE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"],
    "kafka_unknown_topic": ["UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_TOPIC", "_UNKNOWN_PARTITION",
                            "TOPIC_AUTHORIZATION_FAILED", "INVALID_TOPIC_EXCEPTION"],
    "kafka_timeout": ["_MSG_TIMED_OUT", "_TIMED_OUT", "REQUEST_TIMED_OUT"],
    "kafka_auth": ["_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED", "_SSL",
                   "ILLEGAL_SASL_STATE", "UNSUPPORTED_SASL_MECHANISM"],
    "kafka_broker_down": ["_TRANSPORT", "_ALL_BROKERS_DOWN", "_RESOLVE", "NOT_ENOUGH_REPLICAS",
                          "NOT_LEADER_FOR_PARTITION", "LEADER_NOT_AVAILABLE"],
    "kafka_purged": ["_PURGE_QUEUE", "_PURGE_INFLIGHT"],
}
# Codes by name, skipping names a given confluent-kafka version does not have.
_REASON_BY_CODE = {getattr(KafkaError, name): reason for reason, names in _REASONS_BY_NAME.items()
                   for name in names if hasattr(KafkaError, name)}


def classify(err: KafkaError) -> str:
    """A drop reason for a librdkafka error (a counter name: few, stable, documented)."""
    return _REASON_BY_CODE.get(err.code(), "kafka_error")


class RepeatFilter(logging.Filter):
    """Lets one copy of a log line through per ``every_s``: librdkafka repeats a refused connection
    every reconnect backoff, which would flood the log while the broker is down."""

    def __init__(self, every_s: float = 30.0) -> None:
        super().__init__()
        self.every_s = every_s
        self.last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text, now = record.getMessage(), time.monotonic()
        if now - self.last.get(text, -self.every_s) < self.every_s:
            return False
        if len(self.last) > 1000:
            self.last.clear()
        self.last[text] = now
        return True


rdkafka_log = logging.getLogger("librdkafka")
rdkafka_log.addFilter(RepeatFilter())


# -- message key: decides the partition, so which consumer sees an endpoint's traffic ------------

def _destination(pair: Pair) -> str:
    """The server: namespace/workload when enrichment named it (stable across pod restarts), else ip:port."""
    meta = pair.dst.meta
    if meta.get("workload") and meta.get("namespace"):
        return f"{meta['namespace']}/{meta['workload']}:{pair.dst.port}"
    return f"{pair.dst.ip}:{pair.dst.port}"


def key_endpoint(pair: Pair) -> bytes:
    """destination + method + path without the query: one endpoint's traffic on one partition."""
    path = pair.request.target.split("?", 1)[0]
    return f"{_destination(pair)} {pair.request.method} {path}".encode()


def key_destination(pair: Pair) -> bytes:
    return _destination(pair).encode()


def key_none(pair: Pair) -> None:
    return None


KEYS = {"endpoint": key_endpoint, "destination": key_destination, "none": key_none}


# -- librdkafka configuration ------------------------------------------------------------------

def security_config(cfg: KafkaConfig) -> dict[str, Any]:
    """bootstrap, TLS and SASL settings: the one client configuration (interceptor/kafkaclient.py)."""
    return client_config(cfg)


def producer_config(cfg: KafkaConfig, node: str, max_message_bytes: int | None = None) -> dict[str, Any]:
    """The producer's settings, derived from the config section; ``kafka.extra`` wins.

    ``max_message_bytes`` is the effective cap (a topic's own limit may be lower than the config's):
    a batch larger than the topic allows is refused whole, small pairs in it too.
    """
    limit = max_message_bytes or cfg.max_message_bytes
    conf = security_config(cfg)
    conf.update({
        "client.id": f"privacy-sensor-{node}" if node else "privacy-sensor",
        "compression.type": cfg.compression,
        "linger.ms": cfg.linger_ms,
        "batch.size": max(1, min(cfg.batch_size, limit - RECORD_OVERHEAD)),
        "message.max.bytes": limit,
        # The buffer is budgeted in bytes; the message-count cap is set out of the way.
        "queue.buffering.max.kbytes": max(1, cfg.buffer_bytes // 1024),
        "queue.buffering.max.messages": 10_000_000,
        "message.timeout.ms": max(1, int(cfg.delivery_timeout_s * 1000)),
        "acks": "all",
        "enable.idempotence": cfg.idempotence,
        "reconnect.backoff.max.ms": max(100, cfg.reconnect_backoff_max_ms),
        "statistics.interval.ms": 1000,  # broker state and queue bytes, served by poll()
    })
    conf.update(cfg.extra)
    return conf


class KafkaSink:
    """The ``kafka`` sink (see the module docstring for the accounting it guarantees)."""

    def __init__(self, config: KafkaConfig, counters: Counters, node: str = "") -> None:
        if not config.bootstrap_servers:
            raise ConfigError("kafka.bootstrap_servers: empty; set it (host:port[,host:port]) to publish to Kafka")
        self.config = config
        self.counters = counters
        self.node = node or os.environ.get("NODE_NAME", "") or socket.gethostname()
        self.topic = config.topic
        self._key = KEYS[config.key]
        self._header_cache: dict[tuple[Any, bool, bool], KafkaHeaders] = {}
        self.side_topics: list[str] = []  # topics of publish_side (created like the heartbeat's)
        self._in_flight = 0  # pairs handed to librdkafka whose delivery report has not come yet
        self._publishes = 0
        self.broker_up: bool | None = None  # from the 1 s statistics; None until the first
        self.stats: dict[str, Any] = {}  # the last librdkafka statistics (tx bytes for the bench)
        self.errors: dict[str, str] = {}  # reason -> last error text, for the report
        self._logged: dict[str, float] = {}
        self._closed = False
        self.max_message_bytes = config.max_message_bytes  # lowered to the topic's limit if that is lower
        self._producer = self._make_producer()  # first, so a bad setting fails before any network wait
        self._next_topic_try = 0.0
        self._topics_ready = self._ensure_topics(wait_s=5.0)
        if self.max_message_bytes < config.max_message_bytes:
            self._producer = self._make_producer()  # batches must fit the topic's smaller limit
        self.spool: Spool | None = None
        if config.spool_dir:
            self.spool = Spool(config.spool_dir, config.spool_bytes, config.spool_segment_bytes, counters)
            counters.inc(C_RECOVERED, self.spool.recovered)
            if self.spool.recovered:
                log.info("kafka: %d pairs waiting in the spool %s from an earlier run", self.spool.recovered,
                         config.spool_dir)
        self._replay_bytes = 0  # spooled bytes now in the producer queue
        self._retry: deque[SpoolRecord] = deque()  # replays that failed for a passing reason
        self._next_heartbeat = time.monotonic()  # the first heartbeat says "started"

    def _make_producer(self) -> Producer:
        conf = producer_config(self.config, self.node, self.max_message_bytes)
        conf.update(error_cb=self._on_error, stats_cb=self._on_stats, logger=rdkafka_log)
        try:
            return Producer(conf)
        except KafkaException as e:
            raise ConfigError(f"kafka: invalid producer setting: {e.args[0].str()}") from None

    # -- the hot path ---------------------------------------------------------------------------

    def publish(self, pair: Pair) -> None:
        """Take one pair: into the producer queue, the spool, or a counted drop. Never raises."""
        self.counters.inc(C_ACCEPTED)
        try:
            value = pair.to_json()
            key = self._key(pair)
            headers = self._headers(pair)
        except Exception as e:  # a record that cannot be encoded must not stop capture
            self._drop("kafka_encode", f"pair {getattr(pair, 'id', '?')}: {e}")
            return
        if len(value) + len(key or b"") + RECORD_OVERHEAD > self.max_message_bytes:
            self._drop("kafka_too_large", f"pair {pair.id}: {len(value)} bytes; the limit is {self.max_message_bytes}"
                       f" (kafka.max_message_bytes {self.config.max_message_bytes}, and the topic's max.message.bytes)")
            return
        if self.spool is not None and (self.spool_pending or self.broker_up is False):
            self._to_spool(key, value, headers, C_SPOOLED)  # keep the order: behind what waits on disk
            return
        self._produce(key, value, headers)
        self._publishes += 1
        if self._publishes & 1023 == 0:
            self._producer.poll(0)  # serve delivery reports: they hold queue space until served

    def _produce(self, key: bytes | None, value: bytes, headers: KafkaHeaders) -> None:
        try:
            self._producer.produce(self.topic, value, key, headers=headers, on_delivery=self._on_delivery)
        except BufferError:
            self._producer.poll(0)
            if self.spool is not None:
                self._to_spool(key, value, headers, C_SPOOLED)
            else:
                self._drop("kafka_queue_full", f"in-memory buffer full (kafka.buffer_bytes={self.config.buffer_bytes})")
            return
        except KafkaException as e:
            self._drop(classify(e.args[0]), e.args[0].str())
            return
        self._in_flight += 1

    def publish_side(self, topic: str, key: bytes, value: bytes) -> None:
        """A record of another stream (the coverage account) on ``topic``: best effort, counted
        (``sink.kafka.side_sent`` / ``dropped.kafka_side_failed``), never spooled."""
        if topic not in self.side_topics:  # once per topic: made like the heartbeat's (kafka.create_topics)
            self.side_topics.append(topic)
            self._topics_ready = self._ensure_topics(wait_s=2.0)
        try:
            self._producer.produce(topic, value, key, on_delivery=self._on_side)
        except (BufferError, KafkaException):
            self.counters.drop("kafka_side_failed")

    def _on_side(self, err: KafkaError | None, msg: Any) -> None:
        if err is None:
            self.counters.inc("sink.kafka.side_sent")
        else:
            self.counters.drop("kafka_side_failed")

    def _headers(self, pair: Pair) -> KafkaHeaders:
        """Routing facts a consumer can read without parsing the value (a few combinations, cached)."""
        ck = (pair.source.get("kind", ""), pair.request.truncated, pair.response.truncated)
        headers = self._header_cache.get(ck)
        if headers is None:
            headers = [
                ("schema_version", b"%d" % SCHEMA_VERSION),
                ("source", str(ck[0]).encode()),
                ("node", self.node.encode()),
                ("truncated_request", b"1" if ck[1] else b"0"),
                ("truncated_response", b"1" if ck[2] else b"0"),
            ]
            if len(self._header_cache) < 256:
                self._header_cache[ck] = headers
        return headers

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        self._in_flight -= 1
        if err is None:
            self.counters.inc(C_DELIVERED)
            return
        self._failed(err, msg)

    def _on_replay_delivery(self, rec: SpoolRecord, err: KafkaError | None, msg: Any) -> None:
        """A pair read from the spool: acknowledged on disk once delivered or dropped for good.

        One that failed for a passing reason stays unacknowledged in its segment (so a restart
        finds it once, not twice) and waits in ``_retry`` to go first at the next replay.
        """
        assert self.spool is not None
        self._replay_bytes -= len(rec.value)
        self._in_flight -= 1
        if err is None:
            self.counters.inc(C_DELIVERED)
        elif classify(err) in RETRIABLE:
            self.errors[classify(err)] = err.str()
            self._retry.append(rec)
            return
        else:
            self._drop(classify(err), f"topic {msg.topic()}: {err.str()}")
        self.spool.ack(rec.segment)

    def _failed(self, err: KafkaError, msg: Any) -> None:
        """A pair the broker did not take: back to the spool if worth retrying, else a counted drop."""
        reason = classify(err)
        if reason in RETRIABLE and self.spool is not None:
            self.errors[reason] = err.str()
            self._to_spool(msg.key(), msg.value(), list(msg.headers() or []), C_RESPOOLED)
            return
        self._drop(reason, f"topic {msg.topic()}: {err.str()}")

    def _to_spool(self, key: bytes | None, value: bytes, headers: KafkaHeaders, counter: str) -> None:
        assert self.spool is not None
        try:
            ok = self.spool.append(key, value, headers)
        except OSError as e:
            self._drop("kafka_spool_full", f"spool {self.config.spool_dir}: {e}")
            return
        if ok:
            self.counters.inc(counter)
        else:
            self._drop("kafka_spool_full", f"spool {self.config.spool_dir} full (kafka.spool_bytes={self.config.spool_bytes})")

    def _drop(self, reason: str, text: str) -> None:
        self.counters.drop(reason)
        self.errors[reason] = text
        self._log_rate_limited(reason, f"kafka: pair dropped ({reason}): {text}")

    # -- housekeeping ---------------------------------------------------------------------------

    def poll(self) -> None:
        """Delivery reports, statistics, spool replay, topic creation retries, heartbeats."""
        self._producer.poll(0)
        now = time.monotonic()
        if not self._topics_ready and now >= self._next_topic_try:
            self._topics_ready = self._ensure_topics(wait_s=0.5)
        if self.spool is not None:
            self._replay()
            self.spool.flush()
        if self.config.heartbeat_topic and now >= self._next_heartbeat:
            self._next_heartbeat = now + max(0.1, self.config.heartbeat_interval_s)
            self._heartbeat()
        self.counters.set_gauge("sink.kafka.in_flight", self._in_flight)
        self.counters.set_gauge("sink.kafka.buffer_bytes", self.stats.get("msg_size", 0))
        if self.spool is not None:
            self.counters.set_gauge("sink.kafka.spool_bytes", self.spool.bytes)
            self.counters.set_gauge("sink.kafka.spool_pending", self.spool_pending)

    def _replay(self) -> None:
        """Move spooled pairs, oldest first, into the producer queue while the broker is up.

        While it is down one record at a time is in the queue: it makes librdkafka keep trying to
        connect, and it is the first to go when the broker is back.
        """
        spool = self.spool
        assert spool is not None
        window = self.config.spool_replay_bytes if self.broker_up else 1
        while self._replay_bytes < window:
            from_retry = bool(self._retry)
            rec = self._retry[0] if from_retry else spool.peek()
            if rec is None:
                break
            cb = partial(self._on_replay_delivery, rec)
            try:
                self._producer.produce(self.topic, rec.value, rec.key, headers=rec.headers, on_delivery=cb)
            except BufferError:
                return  # the queue is full of fresher pairs; try again at the next poll
            except KafkaException as e:
                self._taken(from_retry)
                self._drop(classify(e.args[0]), e.args[0].str())
                spool.ack(rec.segment)
                continue
            self._taken(from_retry)
            self._in_flight += 1
            self._replay_bytes += len(rec.value)

    def _taken(self, from_retry: bool) -> None:
        if from_retry:
            self._retry.popleft()
        else:
            assert self.spool is not None
            self.spool.take()
            self.counters.inc(C_REPLAYED)

    @property
    def spool_pending(self) -> int:
        """Pairs on disk waiting for the broker (including replays that failed and wait to go again)."""
        return self.spool.pending + len(self._retry) if self.spool is not None else 0

    def _on_error(self, err: KafkaError) -> None:
        """Client-wide trouble (connection refused, authentication, all brokers down): logged, kept."""
        reason = classify(err)
        self.errors[reason] = err.str()
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self.broker_up = False
        self.counters.inc(f"sink.kafka.errors.{reason}")
        self._log_rate_limited("client." + reason, f"kafka: {self.config.bootstrap_servers}: {err.str()}")

    def _on_stats(self, raw: str) -> None:
        self.stats = orjson.loads(raw)
        brokers = self.stats.get("brokers", {}).values()
        self.broker_up = any(b.get("state") == "UP" for b in brokers)

    def _log_rate_limited(self, what: str, text: str, every_s: float = 30.0) -> None:
        now = time.monotonic()
        if now - self._logged.get(what, -every_s) >= every_s:
            self._logged[what] = now
            log.warning("%s", text)

    # -- topics ---------------------------------------------------------------------------------

    def _ensure_topics(self, wait_s: float) -> bool:
        """Create the topics if configured, or check the pairs topic exists. True when settled."""
        self._next_topic_try = time.monotonic() + 10.0
        try:
            admin = AdminClient({**security_config(self.config), "log_level": 0})  # errors come back in futures
        except KafkaException as e:
            raise ConfigError(f"kafka: invalid client setting: {e.args[0].str()}") from None
        if not self.config.create_topics:
            try:
                md = admin.list_topics(self.topic, timeout=wait_s)
            except KafkaException as e:
                self.errors["kafka_broker_down"] = e.args[0].str()
                return False
            t = md.topics.get(self.topic)
            if t is None or t.error is not None:
                text = (f"topic '{self.topic}' does not exist on {self.config.bootstrap_servers} and "
                        "kafka.create_topics is false: pairs will be dropped as kafka_unknown_topic")
                self.errors["kafka_unknown_topic"] = text
                log.error("kafka: %s", text)
                return True
            self._learn_topic_limit(admin, wait_s)
            return True
        wanted = [NewTopic(self.topic, num_partitions=max(1, self.config.partitions), replication_factor=-1,
                           config={"max.message.bytes": str(self.config.max_message_bytes)})]
        if self.config.heartbeat_topic:
            wanted.append(NewTopic(self.config.heartbeat_topic, num_partitions=1, replication_factor=-1))
        wanted += [NewTopic(t, num_partitions=1, replication_factor=-1) for t in self.side_topics]
        futures = admin.create_topics(wanted, operation_timeout=wait_s, request_timeout=wait_s)
        settled = True
        for name, fut in futures.items():
            try:
                fut.result(timeout=wait_s + 1)
                log.info("kafka: created topic %s on %s", name, self.config.bootstrap_servers)
            except KafkaException as e:
                err = e.args[0]
                if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                settled = False
                self.errors["topic_create"] = f"topic {name}: {err.str()}"
                self._log_rate_limited("topic_create", f"kafka: cannot create topic {name} on "
                                       f"{self.config.bootstrap_servers}: {err.str()} (retrying)")
            except Exception as e:  # a timeout of the future itself
                settled = False
                self.errors["topic_create"] = f"topic {name}: {e!r}"
        if settled:
            self._learn_topic_limit(admin, wait_s)
        return settled

    def _learn_topic_limit(self, admin: AdminClient, wait_s: float) -> None:
        """An existing topic may allow less than kafka.max_message_bytes: check pairs against its limit."""
        resource = ConfigResource(ResourceType.TOPIC, self.topic)
        try:
            entries = admin.describe_configs([resource], request_timeout=wait_s)[resource].result(timeout=wait_s + 1)
            limit = int(entries["max.message.bytes"].value)
        except Exception as e:  # no limit learned: the broker's refusals are still counted
            log.info("kafka: cannot read max.message.bytes of topic %s: %s", self.topic, e)
            return
        if limit < self.max_message_bytes:
            log.warning("kafka: topic %s allows %d-byte messages, less than kafka.max_message_bytes %d: larger "
                        "pairs are dropped as kafka_too_large", self.topic, limit, self.config.max_message_bytes)
            self.max_message_bytes = limit

    # -- heartbeat ------------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        body = {
            "schema": HEARTBEAT_SCHEMA,
            "ts": time.time(),
            "node": self.node,
            "pid": os.getpid(),
            "topic": self.topic,
            "sink": self.accounting(),
            "counters": self.counters.snapshot(),
        }
        try:
            self._producer.produce(self.config.heartbeat_topic, orjson.dumps(body), self.node.encode(),
                                   on_delivery=self._on_heartbeat)
        except (BufferError, KafkaException):
            self.counters.inc(C_HB_FAILED)

    def _on_heartbeat(self, err: KafkaError | None, msg: Any) -> None:
        self.counters.inc(C_HB_SENT if err is None else C_HB_FAILED)

    # -- accounting and shutdown ----------------------------------------------------------------

    def accounting(self) -> dict[str, Any]:
        """Where every accepted pair is now; ``balanced`` says the books add up."""
        c = self.counters
        dropped = {r: n for r in DROP_REASONS if (n := c.dropped(r))}
        pending = self.spool_pending
        inputs = c.get(C_ACCEPTED) + c.get(C_RECOVERED)
        outputs = c.get(C_DELIVERED) + sum(dropped.values()) + self._in_flight + pending
        return {
            "accepted": c.get(C_ACCEPTED),
            "spool_recovered": c.get(C_RECOVERED),
            "delivered": c.get(C_DELIVERED),
            "dropped": dropped,
            "in_flight": self._in_flight,
            "spool_pending": pending,
            "spool_bytes": self.spool.bytes if self.spool is not None else 0,
            "spooled": c.get(C_SPOOLED),
            "respooled": c.get(C_RESPOOLED),
            "replayed": c.get(C_REPLAYED),
            "balanced": inputs == outputs,
        }

    def close(self, timeout_s: float | None = None) -> dict[str, Any]:
        """Flush within the deadline; what is still queued then goes to the spool or is counted as
        dropped (``kafka_purged``), so ``in_flight`` is 0 in the report."""
        if self._closed:
            return self.report()
        deadline = time.monotonic() + (self.config.flush_timeout_s if timeout_s is None else timeout_s)
        while self.spool_pending and self.broker_up and time.monotonic() < deadline:
            self.poll()  # drain the spool while the broker takes it
            self._producer.flush(min(0.2, max(0.0, deadline - time.monotonic())))
        wait = max(0.0, deadline - time.monotonic())
        if self.spool is not None and self.broker_up is False:
            wait = min(wait, 1.0)  # the broker is down: the queue goes to disk, no use waiting for it
        left = self._producer.flush(wait)
        if not left and self.config.heartbeat_topic:
            self._heartbeat()  # the final counters
            left = self._producer.flush(max(0.0, min(2.0, deadline - time.monotonic())))
        if left:
            log.warning("kafka: %d messages not delivered within the %.1fs flush deadline", left,
                        timeout_s if timeout_s is not None else self.config.flush_timeout_s)
            self._producer.purge(in_queue=True, in_flight=True, blocking=True)
            self._producer.flush(1.0)  # serve the purge reports: they spool or count each pair
        if self.spool is not None:
            self.spool.close()
        self._closed = True
        report = self.report()
        log.info("kafka: closed: %s", report)
        return report

    def report(self) -> dict[str, Any]:
        return {"sink": "kafka", "bootstrap": self.config.bootstrap_servers, "topic": self.topic,
                **self.accounting(), "errors": dict(self.errors)}
