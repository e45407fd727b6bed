"""One counters object that every stage reports to: what it saw, what it emitted, what it dropped and why."""

from __future__ import annotations

import threading
from collections import defaultdict

DROP_PREFIX = "dropped."


class Counters:
    """Named monotonically increasing counts plus a few gauges.

    Drops are counted as ``dropped.<reason>`` so that a reader can list every drop reason
    without knowing them in advance. Incrementing is a plain dict update (hot path); a lock
    guards only snapshots taken from other threads (metrics endpoint, heartbeat).
    """

    def __init__(self) -> None:
        self.counts: defaultdict[str, int] = defaultdict(int)
        self.gauges: dict[str, float] = {}
        self._lock = threading.Lock()

    def inc(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def drop(self, reason: str, n: int = 1) -> None:
        self.counts[DROP_PREFIX + reason] += n

    def set_gauge(self, name: str, value: float) -> None:
        self.gauges[name] = value

    def get(self, name: str) -> int:
        return self.counts.get(name, 0)

    def dropped(self, reason: str) -> int:
        return self.counts.get(DROP_PREFIX + reason, 0)

    def drops(self) -> dict[str, int]:
        """Drop counts by reason."""
        return {k[len(DROP_PREFIX):]: v for k, v in list(self.counts.items()) if k.startswith(DROP_PREFIX)}

    def add_snapshot(self, snap: dict[str, object]) -> None:
        """Add another process's ``snapshot()`` (a replay worker's) to these counts: counts and
        drops summed, gauges summed (flows, bytes: each worker holds its own)."""
        for name, n in (snap.get("counts") or {}).items():  # type: ignore[attr-defined]
            self.counts[name] += n
        for reason, n in (snap.get("dropped") or {}).items():  # type: ignore[attr-defined]
            self.counts[DROP_PREFIX + reason] += n
        for name, value in (snap.get("gauges") or {}).items():  # type: ignore[attr-defined]
            self.gauges[name] = self.gauges.get(name, 0) + value

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            counts = dict(self.counts)
            gauges = dict(self.gauges)
        return {
            "counts": {k: v for k, v in sorted(counts.items()) if not k.startswith(DROP_PREFIX)},
            "dropped": {k[len(DROP_PREFIX):]: v for k, v in sorted(counts.items()) if k.startswith(DROP_PREFIX)},
            "gauges": gauges,
        }
