"""JSON Lines sink: one pair record per line, to a file or stdout."""

from __future__ import annotations

import sys
import time
from typing import Any, BinaryIO

from interceptor.counters import Counters
from interceptor.pairs import Pair

FLUSH_INTERVAL_S = 1.0  # `tail -f` on a live run's file sees pairs within about a second


class JsonlSink:
    def __init__(self, path: str, counters: Counters) -> None:
        self.path = path
        self.counters = counters
        self._own = path != "-"
        self._out: BinaryIO = open(path, "wb", buffering=1 << 20) if self._own else sys.stdout.buffer  # noqa: SIM115
        self._flushed_at = time.monotonic()

    def publish(self, pair: Pair) -> None:
        self._out.write(pair.to_json() + b"\n")
        self.counters.inc("sink.jsonl.written")

    def poll(self) -> None:
        # Called by the agent's housekeeping and replay's loop: the 1 MiB buffer stays for speed,
        # but is emptied at least once a second so a live file can be followed.
        now = time.monotonic()
        if now - self._flushed_at >= FLUSH_INTERVAL_S:
            self._flushed_at = now
            self._out.flush()

    def close(self, timeout_s: float = 0.0) -> dict[str, Any]:
        self._out.flush()
        if self._own:
            self._out.close()
        return {"sink": "jsonl", "path": self.path, "written": self.counters.get("sink.jsonl.written")}
