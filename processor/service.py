"""The two services as batch handlers for ``kafkaio.BatchLoop``: the detector (pairs -> detections)
and the map (detections -> store). Each is a few lines around a pure core."""

from __future__ import annotations

import sys
import time
from typing import Any

import orjson
from confluent_kafka import KafkaError, Message, Producer

from interceptor.config import KafkaConfig, ProcessorConfig
from interceptor.counters import Counters
from interceptor.kafkaclient import detections_producer_config
from processor.core import Poison, Processor
from processor.mapstore import MapStore
from processor.templating import Templater


class _RateLog:
    """At most one line per reason per interval: poison floods must not flood the log."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self.last: dict[str, float] = {}

    def __call__(self, reason: str, line: str) -> None:
        now = time.monotonic()
        if now - self.last.get(reason, -1e9) >= self.interval_s:
            self.last[reason] = now
            print(line, file=sys.stderr, flush=True)


class DetectService:
    """Batch handler: detect every pair, produce its result keyed by flow edge, flush; raise if not delivered."""

    def __init__(self, cfg: ProcessorConfig, counters: Counters, producer: Producer | None = None,
                 kafka: KafkaConfig | None = None) -> None:
        self.cfg = cfg
        self.counters = counters
        self.core = Processor(cfg, counters, full_schema=cfg.full_schema_check)
        self.producer = producer or Producer(detections_producer_config(kafka or KafkaConfig()))
        self.failed = 0
        self.rlog = _RateLog()

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.failed += 1
            self.counters.inc("processor.delivery_failed")
        else:
            self.counters.inc("processor.produced")

    def __call__(self, batch: list[Message]) -> None:
        self.failed = 0
        for m in batch:
            try:
                res = self.core.handle(m.value() or b"")
            except Poison as e:
                self.counters.drop(f"processor.{e.reason}")
                self.rlog(e.reason, f"processor: skipped {m.topic()}[{m.partition()}]@{m.offset()}: {e}")
                continue
            except Exception as e:  # a detector bug must not stop the stream; counted, visible
                self.counters.drop("processor.internal_error")
                self.rlog("internal", f"processor: internal error on {m.topic()}[{m.partition()}]@{m.offset()}: {type(e).__name__}: {e}")
                continue
            self._produce(res.key, res.value, res.record["pair_id"])
        left = self.producer.flush(self.cfg.flush_timeout_s)
        if left or self.failed:
            raise RuntimeError(f"{left} detections undelivered, {self.failed} failed")

    def _produce(self, key: bytes, value: bytes, pair_id: str) -> None:
        while True:
            try:
                self.producer.produce(self.cfg.detections_topic, value=value, key=key,
                                      headers=[("pair_id", pair_id.encode()), ("schema", b"detections.v1")],
                                      on_delivery=self._delivered)
                self.producer.poll(0)
                return
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.2)


REQUIRED = ("pair_id", "edge", "src", "dst")


class MapService:
    """Batch handler: decode detections records and apply them to the store in one transaction."""

    def __init__(self, store: MapStore, counters: Counters) -> None:
        self.store = store
        self.counters = counters
        self.rlog = _RateLog()
        self._last_prune = time.monotonic()
        # Each detector instance learns URL templates on its own share of the traffic; the map sees
        # all of it, learns once more on the already-templated paths, and folds stored edges into a
        # template as soon as one is learned (see MapStore.compact).
        self.templater = Templater()
        self._collapses = 0

    def __call__(self, batch: list[Message]) -> None:
        records, where = [], []
        for m in batch:
            rec = parse_detections(m.value() or b"")
            if isinstance(rec, str):
                self.counters.drop(f"map.{rec}")
                self.rlog(rec, f"map: skipped {m.topic()}[{m.partition()}]@{m.offset()}: {rec}")
                continue
            records.append(rec)
            where.append(f"{m.topic()}[{m.partition()}]@{m.offset()}")
        self.apply_records(records, where)  # raises (store outage) -> the loop retries the batch

    def _rejected(self, where: list[str] | None) -> Any:
        def on_reject(i: int, reason: str) -> None:
            # A poison record: counted, logged once per kind without its payload, skipped for good.
            self.counters.drop("map.store_rejected")
            at = where[i] if where is not None and i < len(where) else f"record {i}"
            self.rlog("store_rejected", f"map: skipped {at}: the store refused it ({reason})")
        return on_reject

    def apply_records(self, records: list[dict[str, Any]], where: list[str] | None = None) -> None:
        kept, kept_where = [], []
        for i, rec in enumerate(records):
            try:
                kept.append(self.retemplate(rec))
                kept_where.append(where[i] if where is not None and i < len(where) else f"record {i}")
            except (KeyError, TypeError, AttributeError, ValueError) as e:
                self._rejected(where)(i, type(e).__name__)
        records = kept
        new = self.store.apply_many(records, self._rejected(kept_where))
        self.counters.inc("map.applied", new)
        self.counters.inc("map.duplicates", len(records) - new)
        if self.templater.collapses != self._collapses:
            self._collapses = self.templater.collapses
            self.counters.inc("map.edges_merged", self.store.compact(self.templater.lookup))
        if time.monotonic() - self._last_prune > 3600:
            self._last_prune = time.monotonic()
            self.store.prune_seen()


    def retemplate(self, rec: dict[str, Any]) -> dict[str, Any]:
        path = rec.get("path_template") or "/"
        new = self.templater.template(rec["dst"]["id"], path)
        if new != path:
            rec["path_template"] = new
            rec["edge"] = f"{rec['src']['id']}|{rec['dst']['id']}|{rec.get('method', '')}|{new}"
        return rec


def parse_detections(raw: bytes) -> dict[str, Any] | str:
    """The record, or the drop reason."""
    try:
        rec = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "invalid_json"
    if not isinstance(rec, dict) or rec.get("schema_version") != 1 or any(k not in rec for k in REQUIRED):
        return "schema_mismatch"
    if not isinstance(rec["src"], dict) or not isinstance(rec["dst"], dict) or "id" not in rec["src"] or "id" not in rec["dst"]:
        return "schema_mismatch"
    return rec
