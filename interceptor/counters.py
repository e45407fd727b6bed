"""One counters object that every stage reports to: what it saw, what it emitted, what it dropped and why."""

from __future__ import annotations

import threading
from collections import defaultdict

from interceptor.hotcounts import NAMES as HOT_NAMES
from interceptor.hotcounts import HotCounts

DROP_PREFIX = "dropped."
HOT = frozenset(HOT_NAMES)


class Counters:
    """Named monotonically increasing counts plus a few gauges.

    Drops are counted as ``dropped.<reason>`` so that a reader can list every drop reason
    without knowing them in advance. Incrementing is a plain dict update; the few counts taken
    for every packet or pair are native ints instead (``hot``, ``hotcounts.HOT_NAMES``), which
    every read shows under their names: ``counts`` is the dict with them written in. A lock
    guards only snapshots taken from other threads (metrics endpoint, heartbeat).
    """

    def __init__(self) -> None:
        self._counts: defaultdict[str, int] = defaultdict(int)
        self.hot = HotCounts()
        self.gauges: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def counts(self) -> defaultdict[str, int]:
        """Every count by name, the hot ones included as of now. (Written to in place by the colder
        paths; a hot name is counted only through ``hot``, ``inc`` or ``add_snapshot``.)"""
        counts = self._counts
        self.hot.show(counts)
        return counts

    def inc(self, name: str, n: int = 1) -> None:
        if name in HOT:
            self.hot.add(name, n)
        else:
            self._counts[name] += n

    def drop(self, reason: str, n: int = 1) -> None:
        self._counts[DROP_PREFIX + reason] += n

    def set_gauge(self, name: str, value: float) -> None:
        self.gauges[name] = value

    def get(self, name: str) -> int:
        return self.counts.get(name, 0)

    def dropped(self, reason: str) -> int:
        return self._counts.get(DROP_PREFIX + reason, 0)

    def drops(self) -> dict[str, int]:
        """Drop counts by reason."""
        return {k[len(DROP_PREFIX):]: v for k, v in list(self._counts.items()) if k.startswith(DROP_PREFIX)}

    def add_snapshot(self, snap: dict[str, object]) -> None:
        """Add another process's ``snapshot()`` (a replay worker's) to these counts: counts and
        drops summed, gauges summed (flows, bytes: each worker holds its own)."""
        for name, n in (snap.get("counts") or {}).items():  # type: ignore[attr-defined]
            self.inc(name, n)
        for reason, n in (snap.get("dropped") or {}).items():  # type: ignore[attr-defined]
            self._counts[DROP_PREFIX + reason] += n
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
