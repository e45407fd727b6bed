"""Where the account's records go: JSON Lines (``replay --coverage``) and the ``connections`` topic.

A thin adapter: records (dicts made by ``account.Aggregate.to_record``) in, bytes out. Endpoints are
named by the Kubernetes enricher when it runs (``name``), the same pod fields as in a pair.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, BinaryIO

import orjson

from interceptor.counters import Counters
from interceptor.coverage.tracker import Tracker

Namer = Callable[[dict[str, Any]], None]  # adds pod fields to an endpoint record in place


class CoverageOutput:
    def __init__(self, counters: Counters, path: str | None = None, kafka: Any = None, topic: str = "",
                 name: Namer | None = None) -> None:
        self.counters = counters
        self.path = path
        self._own = bool(path) and path != "-"
        self._out: BinaryIO | None = None
        if path:
            self._out = open(path, "wb") if self._own else sys.stdout.buffer  # noqa: SIM115
        self.kafka = kafka if topic else None
        self.topic = topic
        self.name = name
        self.written = 0

    def take(self, tracker: Tracker) -> None:
        """Write the records of the intervals the tracker closed."""
        for rec in tracker.drain():
            if self.name is not None:
                self.name(rec["src"])
                self.name(rec["dst"])
            data = orjson.dumps(rec)
            if self._out is not None:
                self._out.write(data + b"\n")
            if self.kafka is not None:
                self.kafka.publish_side(self.topic, rec["dst"].get("ip", "").encode(), data)
            self.written += 1
        self.counters.set_gauge("coverage.records_written", self.written)

    def close(self) -> dict[str, Any]:
        if self._out is not None:
            self._out.flush()
            if self._own:
                self._out.close()
        return {"sink": "coverage", "path": self.path, "topic": self.topic, "records": self.written}
