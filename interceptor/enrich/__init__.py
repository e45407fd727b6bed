"""Kubernetes context for pairs: pod, namespace, workload, container, service, node.

``start_enrichment(cfg, counters)`` builds the index, starts the watch threads and returns the
``Enricher`` (call ``enrich(pair)``) and the ``KubeWatcher`` (call ``stop()`` at shutdown).

The Kubernetes client (``interceptor.enrich.watch``) is imported only when a watch starts (or
``KubeWatcher`` is asked for): the agent's capture API reads this package's pod model on every
start, and importing the client (pydantic, requests, urllib3...) was ~1.2G instructions, ~0.6 s, of
an agent's start with ``kubernetes.enabled`` off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.enrich.enricher import Enricher
from interceptor.enrich.index import ClusterIndex

if TYPE_CHECKING:
    from interceptor.enrich.watch import KubeWatcher

__all__ = ["ClusterIndex", "Enricher", "KubeWatcher", "start_enrichment"]


def __getattr__(name: str) -> Any:
    if name == "KubeWatcher":
        from interceptor.enrich.watch import KubeWatcher

        return KubeWatcher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def start_enrichment(cfg: Config, counters: Counters, api=None) -> tuple[Enricher, KubeWatcher]:
    """Start watching (non-blocking: the first list happens in the background)."""
    from interceptor.enrich.watch import KubeWatcher, make_api_client, node_name_for

    kc = cfg.kubernetes
    node = node_name_for(kc, fallback=cfg.node_name)
    index = ClusterIndex(counters, kc.cluster_cidrs, kc.deleted_pod_retention_s, kc.clock_skew_s, kc.max_pods)
    watcher = KubeWatcher(kc, index, counters, api or make_api_client(kc), node)
    enricher = Enricher(index, counters, kc.include_namespaces, kc.exclude_namespaces,
                        kc.include_pods, kc.exclude_pods, in_sync=watcher.in_sync, lock=watcher.lock)
    watcher.start()
    return enricher, watcher
