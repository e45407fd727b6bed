"""Fills a pair's ``src.meta`` / ``dst.meta`` from the cluster index and applies namespace/pod rules.

Called by the agent between the pipeline and the sink. Never blocks on the API server: it reads
the in-memory index only. When the watch is not in sync (API server unreachable, relisting), the
pair still goes out with what is known and ``meta_stale: true`` on both endpoints.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from fnmatch import fnmatchcase
from typing import Any

from interceptor.counters import Counters
from interceptor.enrich.index import ClusterIndex
from interceptor.pairs import Endpoint, Pair


class Enricher:
    """``enrich(pair) -> pair | None``: None when namespace/pod rules exclude the pair (counted)."""

    def __init__(
        self,
        index: ClusterIndex,
        counters: Counters,
        include_namespaces: list[str] | None = None,
        exclude_namespaces: list[str] | None = None,
        include_pods: list[str] | None = None,
        exclude_pods: list[str] | None = None,
        in_sync: Callable[[], bool] = lambda: True,
        lock: threading.Lock | None = None,
    ) -> None:
        self.index = index
        self.counters = counters
        self.include_ns = set(include_namespaces or ())
        self.exclude_ns = set(exclude_namespaces or ())
        self.include_pods = list(include_pods or ())  # globs on "namespace/pod" or "namespace/workload"
        self.exclude_pods = list(exclude_pods or ())
        self.in_sync = in_sync
        self._lock: AbstractContextManager[Any] = lock or nullcontext()

    def enrich(self, pair: Pair) -> Pair | None:
        ts = pair.request.ts
        with self._lock:  # the watch thread mutates the index
            src = self.index.lookup(pair.src.ip, pair.src.port, ts)
            dst = self.index.lookup(pair.dst.ip, pair.dst.port, ts)
        reason = self._excluded(src, dst)
        if reason:
            self.counters.drop(reason)
            return None
        stale = not self.in_sync()
        for ep, meta in ((pair.src, src), (pair.dst, dst)):
            self._fill(ep, meta, stale)
        self.counters.inc("enrich.pairs")
        if stale:
            self.counters.inc("enrich.meta_stale")
        if "pod" in dst or "service" in dst:
            self.counters.inc("enrich.dst_known")
        return pair

    def _fill(self, ep: Endpoint, meta: dict[str, Any], stale: bool) -> None:
        ep.meta.update(meta)
        if stale:
            ep.meta["meta_stale"] = True

    def _excluded(self, src: dict[str, Any], dst: dict[str, Any]) -> str | None:
        namespaces = {m["namespace"] for m in (src, dst) if "namespace" in m}
        if namespaces & self.exclude_ns:
            return "enrich_excluded_namespace"
        if self.include_ns and not namespaces & self.include_ns:
            return "enrich_not_included_namespace"
        names = [n for m in (src, dst) for n in _names(m)]
        if self.exclude_pods and any(fnmatchcase(n, pat) for n in names for pat in self.exclude_pods):
            return "enrich_excluded_pod"
        if self.include_pods and not any(fnmatchcase(n, pat) for n in names for pat in self.include_pods):
            return "enrich_not_included_pod"
        return None


def _names(meta: dict[str, Any]) -> list[str]:
    ns = meta.get("namespace")
    if not ns:
        return []
    return [f"{ns}/{meta[k]}" for k in ("pod", "workload") if k in meta]
