"""Which pods' processes the TLS source traces (``tls.include_namespaces``, ``exclude_namespaces``,
``include_pods``, ``exclude_pods``).

A process's pod comes from its cgroup path, where the kubelet puts the pod's UID, and the Kubernetes
index (the API server's pods). A process whose pod the index does not know yet (the watch lags a
pod that just started) is undecided: not traced, and asked again at the next scan. Processes outside
pods (the node's own) are traced only when no include rule is set.
"""

from __future__ import annotations

import threading
from typing import Any

from interceptor.config import TlsConfig
from interceptor.discovery.cgroup import read_proc_cgroup
from interceptor.enrich.enricher import ScopeRules, pod_names
from interceptor.enrich.index import ClusterIndex


class PodScope:
    """``scope(pid) -> True`` (trace), ``False`` (do not), ``None`` (its pod is not known yet)."""

    def __init__(self, cfg: TlsConfig, index: ClusterIndex, lock: threading.Lock | None = None,
                 proc_root: str = "/proc") -> None:
        self.rules = ScopeRules(cfg.include_namespaces, cfg.exclude_namespaces, cfg.include_pods, cfg.exclude_pods)
        self.index = index
        self.lock = lock or threading.Lock()
        self.proc_root = proc_root

    def __call__(self, pid: int) -> bool | None:
        uid = read_proc_cgroup(pid, self.proc_root).pod_uid
        if not uid:
            return self.rules.reason(set(), []) is None
        meta = self.pod_meta(uid)
        if meta is None:
            return None
        return self.rules.reason({meta["namespace"]}, pod_names(meta)) is None

    def pod_meta(self, uid: str) -> dict[str, Any] | None:
        with self.lock:  # the watch thread mutates the index
            pod = self.index.pods.get(uid)
            if pod is None:
                return None
            return {"namespace": pod.namespace, "pod": pod.name, "workload": self.index.workload(pod)[0]}
