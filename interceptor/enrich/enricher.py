"""Fills a pair's ``src.meta`` / ``dst.meta`` from the cluster index and applies namespace/pod rules.

Called by the agent between the pipeline and the sink. Never blocks on the API server: it reads
the in-memory index only. When the watch is not in sync (API server unreachable, relisting), the
pair still goes out with what is known and ``meta_stale: true`` on both endpoints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from fnmatch import fnmatchcase
from typing import Any

from interceptor.counters import Counters
from interceptor.enrich.index import ClusterIndex
from interceptor.pairs import Endpoint, Pair


class ScopeRules:
    """Namespace and pod rules (the ``kubernetes.*`` keys for pairs, the ``tls.*`` ones for traced
    processes): namespaces by name, pods by globs on ``namespace/pod`` or ``namespace/workload``."""

    def __init__(self, include_namespaces: list[str] | None = None, exclude_namespaces: list[str] | None = None,
                 include_pods: list[str] | None = None, exclude_pods: list[str] | None = None) -> None:
        self.include_ns = set(include_namespaces or ())
        self.exclude_ns = set(exclude_namespaces or ())
        self.include_pods = list(include_pods or ())
        self.exclude_pods = list(exclude_pods or ())

    def reason(self, namespaces: set[str], names: list[str]) -> str | None:
        """Why something in ``namespaces`` named ``names`` is out of scope, or None when it is in."""
        if namespaces & self.exclude_ns:
            return "excluded_namespace"
        if self.include_ns and not namespaces & self.include_ns:
            return "not_included_namespace"
        if self.exclude_pods and any(fnmatchcase(n, pat) for n in names for pat in self.exclude_pods):
            return "excluded_pod"
        if self.include_pods and not any(fnmatchcase(n, pat) for n in names for pat in self.include_pods):
            return "not_included_pod"
        return None


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
        self.rules = ScopeRules(include_namespaces, exclude_namespaces, include_pods, exclude_pods)
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
        # A new pair with new endpoints: the parser's endpoints are shared by a connection's pairs.
        pair = pair.replace(src=_named(pair.src, src, stale), dst=_named(pair.dst, dst, stale))
        self.counters.inc("enrich.pairs")
        if stale:
            self.counters.inc("enrich.meta_stale")
        if "pod" in dst or "service" in dst:
            self.counters.inc("enrich.dst_known")
        return pair

    def name_endpoint(self, rec: dict[str, Any]) -> None:
        """Pod fields for an endpoint record of the coverage account (``ip``, ``port``), in place."""
        with self._lock:
            meta = self.index.lookup(rec["ip"], rec.get("port", 0), time.time())
        rec.update(meta)

    def _excluded(self, src: dict[str, Any], dst: dict[str, Any]) -> str | None:
        namespaces = {m["namespace"] for m in (src, dst) if "namespace" in m}
        reason = self.rules.reason(namespaces, [n for m in (src, dst) for n in pod_names(m)])
        return f"enrich_{reason}" if reason else None


def _named(ep: Endpoint, meta: dict[str, Any], stale: bool) -> Endpoint:
    """``ep`` with the cluster's names for it (and ``meta_stale`` when the index was not in sync)."""
    named = {**ep.meta, **meta}
    if stale:
        named["meta_stale"] = True
    return Endpoint(ep.ip, ep.port, named)


def pod_names(meta: dict[str, Any]) -> list[str]:
    """``namespace/pod`` and ``namespace/workload`` of an endpoint's metadata (what pod rules match)."""
    ns = meta.get("namespace")
    if not ns:
        return []
    return [f"{ns}/{meta[k]}" for k in ("pod", "workload") if k in meta]
