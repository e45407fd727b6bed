"""The sink protocol every output implements, and the JSON Lines writer's error."""

from __future__ import annotations

from typing import Any, Protocol

from interceptor.pairs import Pair


class Sink(Protocol):
    """Accepts pairs without blocking capture; counts what it could not deliver."""

    def publish(self, pair: Pair) -> None:
        """Take one pair. Never raises on delivery trouble: count a drop instead."""

    def poll(self) -> None:
        """Housekeeping called regularly from the main loop (delivery reports, spool replay)."""

    def close(self, timeout_s: float) -> dict[str, Any]:
        """Flush within ``timeout_s``; return a report of what was delivered and what was not."""


class WriteFailed(OSError):
    """A flush of interceptor/sinks/jsonl.py that failed part-way: ``lost`` lines did not go out.

    Here, not in jsonl.py: that module is compiled (mypyc), and mypyc does not compile a subclass
    of ``OSError``; an interpreted exception class raised and caught by compiled code works."""

    def __init__(self, error: OSError, lost: int) -> None:
        super().__init__(error.errno, error.strerror or str(error))
        self.lost = lost
