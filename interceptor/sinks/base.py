"""The sink protocol every output implements."""

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
