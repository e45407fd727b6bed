"""Kubernetes context for pairs: pod, namespace, workload, container, service, node.

``start_enrichment(cfg, counters)`` builds the index, starts the watch threads and returns the
``Enricher`` (call ``enrich(pair)``) and the ``KubeWatcher`` (call ``stop()`` at shutdown).
"""

from __future__ import annotations

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.enrich.enricher import Enricher
from interceptor.enrich.index import ClusterIndex
from interceptor.enrich.watch import KubeWatcher, make_api_client, node_name_for

__all__ = ["ClusterIndex", "Enricher", "KubeWatcher", "start_enrichment"]


def start_enrichment(cfg: Config, counters: Counters, api=None) -> tuple[Enricher, KubeWatcher]:
    """Start watching (non-blocking: the first list happens in the background)."""
    kc = cfg.kubernetes
    node = node_name_for(kc, fallback=cfg.node_name)
    index = ClusterIndex(counters, kc.cluster_cidrs, kc.deleted_pod_retention_s, kc.clock_skew_s, kc.max_pods)
    watcher = KubeWatcher(kc, index, counters, api or make_api_client(kc), node)
    enricher = Enricher(index, counters, kc.include_namespaces, kc.exclude_namespaces,
                        kc.include_pods, kc.exclude_pods, in_sync=watcher.in_sync, lock=watcher.lock)
    watcher.start()
    return enricher, watcher
