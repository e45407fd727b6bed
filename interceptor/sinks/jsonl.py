"""JSON Lines sink: one pair record per line, to a file or stdout."""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

from interceptor.counters import Counters
from interceptor.pairs import Pair


class JsonlSink:
    def __init__(self, path: str, counters: Counters) -> None:
        self.path = path
        self.counters = counters
        self._own = path != "-"
        self._out: BinaryIO = open(path, "wb", buffering=1 << 20) if self._own else sys.stdout.buffer  # noqa: SIM115

    def publish(self, pair: Pair) -> None:
        self._out.write(pair.to_json() + b"\n")
        self.counters.inc("sink.jsonl.written")

    def poll(self) -> None:
        pass

    def close(self, timeout_s: float = 0.0) -> dict[str, Any]:
        self._out.flush()
        if self._own:
            self._out.close()
        return {"sink": "jsonl", "path": self.path, "written": self.counters.get("sink.jsonl.written")}
