"""The pure core of enrichment: an index of pods, services and owners, fed with watch events.

No I/O and no clock: every mutation takes ``now`` (epoch seconds) and lookups take the pair's
capture time. The watch adapter (``watch.py``) is the only thing that talks to the API server.

IP reuse: each IP has a short history of *tenancies* (pod uid, start, end). A pair is attributed
to the pod that held the IP at the pair's time, so a pair captured before a pod died is still
named after it, and a pair captured after its IP went to a new pod is never named after the
old one.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from interceptor.counters import Counters
from interceptor.enrich.objects import (
    OwnerRef,
    PodInfo,
    ServiceInfo,
    controller_of,
    object_key,
    parse_pod,
    parse_service,
)

DEFAULT_INTERNAL_CIDRS = (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
    "127.0.0.0/8", "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128",
)
MAX_TENANCIES_PER_IP = 8  # bounded history per IP


@dataclass(slots=True)
class Tenancy:
    uid: str
    start: float
    end: float | None = None


class ClusterIndex:
    """Maps (IP, port, time) to pod/service/workload metadata."""

    def __init__(
        self,
        counters: Counters | None = None,
        internal_cidrs: list[str] | tuple[str, ...] = (),
        retention_s: float = 120.0,
        clock_skew_s: float = 2.0,
        max_pods: int = 50_000,
        max_services: int = 50_000,
    ) -> None:
        self.counters = counters or Counters()
        self.internal = [ipaddress.ip_network(c, strict=False) for c in internal_cidrs or DEFAULT_INTERNAL_CIDRS]
        self.retention_s = retention_s
        self.clock_skew_s = clock_skew_s
        self.max_pods = max_pods
        self.max_services = max_services
        self.pods: dict[str, PodInfo] = {}
        self.gone: dict[str, float] = {}  # uid -> when it stopped holding its IPs (kept for late pairs)
        self.tenancies: dict[str, list[Tenancy]] = {}
        self.host_ips: dict[str, set[str]] = defaultdict(set)  # node IP -> hostNetwork pod uids
        self.nodes_by_ip: dict[str, str] = {}
        self.services: dict[tuple[str, str], ServiceInfo] = {}
        self.by_cluster_ip: dict[str, tuple[str, str]] = {}
        self.services_by_ns: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.owners: dict[tuple[str, str, str], OwnerRef | None] = {}  # (ns, kind, name) -> its controller
        self._memo: dict[tuple[str, int], dict[str, Any]] = {}

    # ---- feeding -------------------------------------------------------------------------------

    def apply_pod(self, event: str, obj: dict[str, Any], now: float) -> None:
        """A pod watch event (ADDED / MODIFIED / DELETED) or one item of a list."""
        pod = parse_pod(obj)
        self._memo.clear()
        if event == "DELETED" or not pod.running:
            self._end_pod(pod.uid, now, keep=pod)
            return
        old = self.pods.get(pod.uid)
        if old is None and len(self.pods) >= self.max_pods:
            self.counters.drop("k8s_index_full")
            return
        self.pods[pod.uid] = pod
        self.gone.pop(pod.uid, None)
        if old is not None:
            for ip in set(old.ips) - set(pod.ips):
                self._end_tenancy(ip, pod.uid, now)
        if pod.host_ip and pod.node:
            self.nodes_by_ip[pod.host_ip] = pod.node
        if pod.host_network:
            # Its IPs are the node's: shared by every host-network pod, so no tenancy by IP.
            for ip in set(pod.ips) | {pod.host_ip} - {""}:
                self.host_ips[ip].add(pod.uid)
            return
        for ip in pod.ips:
            self._begin_tenancy(ip, pod, now)

    def replace_pods(self, items: list[dict[str, Any]], now: float) -> None:
        """A full list (start, or relist after 410 Gone): pods missing from it have gone."""
        seen = set()
        for obj in items:
            self.apply_pod("ADDED", obj, now)
            seen.add((obj.get("metadata") or {}).get("uid"))
        for uid in [u for u in self.pods if u not in seen]:
            self._end_pod(uid, now)

    def apply_service(self, event: str, obj: dict[str, Any]) -> None:
        svc = parse_service(obj)
        self._memo.clear()
        self._remove_service(svc.key)
        if event == "DELETED":
            return
        if len(self.services) >= self.max_services:
            self.counters.drop("k8s_index_full")
            return
        self.services[svc.key] = svc
        self.services_by_ns[svc.namespace].add(svc.key)
        for ip in svc.cluster_ips:
            self.by_cluster_ip[ip] = svc.key

    def replace_services(self, items: list[dict[str, Any]]) -> None:
        for key in list(self.services):
            self._remove_service(key)
        for obj in items:
            self.apply_service("ADDED", obj)

    def apply_owner(self, kind: str, obj: dict[str, Any]) -> None:
        """A ReplicaSet or Job (fetched by the adapter): remember who controls it."""
        ns, name = object_key(obj)
        self.owners[(ns, kind, name)] = controller_of(obj.get("metadata") or {})
        self._memo.clear()

    def missing_owner(self, pod: PodInfo) -> OwnerRef | None:
        """The pod's ReplicaSet/Job when the index does not know its controller yet."""
        if pod.owner and pod.owner.kind in ("ReplicaSet", "Job"):
            if (pod.namespace, pod.owner.kind, pod.owner.name) not in self.owners:
                return pod.owner
        return None

    def expire(self, now: float) -> None:
        """Forget pods that left more than ``retention_s`` ago (bounded memory)."""
        old = [uid for uid, t in self.gone.items() if now - t > self.retention_s]
        for uid in old:
            self.gone.pop(uid, None)
            self.pods.pop(uid, None)
        for ip in list(self.tenancies):
            kept = [t for t in self.tenancies[ip] if t.end is None or now - t.end <= self.retention_s]
            if kept:
                self.tenancies[ip] = kept
            else:
                del self.tenancies[ip]
        if old:
            self._memo.clear()

    def _begin_tenancy(self, ip: str, pod: PodInfo, now: float) -> None:
        hist = self.tenancies.setdefault(ip, [])
        if hist and hist[-1].uid == pod.uid and hist[-1].end is None:
            return
        start = pod.created or now
        if hist:
            last = hist[-1]
            if last.end is None:  # the IP moved on before we saw the old pod go
                last.end = now
                self.gone.setdefault(last.uid, now)
            start = max(start, last.end)
        hist.append(Tenancy(pod.uid, start))
        del hist[:-MAX_TENANCIES_PER_IP]

    def _end_tenancy(self, ip: str, uid: str, now: float) -> None:
        for t in self.tenancies.get(ip, ()):
            if t.uid == uid and t.end is None:
                t.end = now

    def _end_pod(self, uid: str, now: float, keep: PodInfo | None = None) -> None:
        """The pod left (deleted, finished, or missing from a relist); kept for late pairs."""
        stored = self.pods.get(uid)
        pod = keep or stored
        if pod is None:
            return
        self.pods[uid] = pod
        self.gone.setdefault(uid, now)
        ips = set(pod.ips) | set(stored.ips if stored else ())
        for ip in ips:
            self._end_tenancy(ip, uid, now)
            self.host_ips.get(ip, set()).discard(uid)
        self.host_ips.get(pod.host_ip, set()).discard(uid)

    def _remove_service(self, key: tuple[str, str]) -> None:
        svc = self.services.pop(key, None)
        if svc is None:
            return
        self.services_by_ns[svc.namespace].discard(key)
        for ip in svc.cluster_ips:
            if self.by_cluster_ip.get(ip) == key:
                del self.by_cluster_ip[ip]

    # ---- lookups -------------------------------------------------------------------------------

    def lookup(self, ip: str, port: int, ts: float) -> dict[str, Any]:
        """Endpoint metadata (the pair schema's endpoint fields) for ``ip:port`` at time ``ts``."""
        uid = self._tenant(ip, ts)
        if uid is not None:
            key = (uid, port)
            meta = self._memo.get(key)
            if meta is None:
                if len(self._memo) > 100_000:
                    self._memo.clear()
                meta = self._memo[key] = self._pod_meta(self.pods[uid], port)
            return dict(meta)
        if ip in self.by_cluster_ip:
            svc = self.services[self.by_cluster_ip[ip]]
            return {"service": svc.name, "namespace": svc.namespace}
        if ip in self.host_ips or ip in self.nodes_by_ip:
            return self._host_meta(ip, port)
        if not self._is_internal(ip):
            return {"external": True}
        return {}

    def pod_at(self, ip: str, ts: float) -> PodInfo | None:
        uid = self._tenant(ip, ts)
        return self.pods.get(uid) if uid else None

    def _tenant(self, ip: str, ts: float) -> str | None:
        hist = self.tenancies.get(ip)
        if not hist:
            return None
        for t in reversed(hist):
            if t.start <= ts and (t.end is None or ts < t.end):
                return t.uid if t.uid in self.pods else None
        # No tenancy covers ts: allow a pod that started just after it (clock skew between the
        # API server and this node), never one that had already ended.
        for t in hist:
            if ts < t.start <= ts + self.clock_skew_s:
                return t.uid if t.uid in self.pods else None
        return None

    def _pod_meta(self, pod: PodInfo, port: int) -> dict[str, Any]:
        workload, kind = self.workload(pod)
        meta: dict[str, Any] = {"pod": pod.name, "namespace": pod.namespace, "workload": workload,
                                "workload_kind": kind}
        container = pod.container_for_port(port)
        if container:
            meta["container"] = container
        service = self._service_for(pod, port)
        if service:
            meta["service"] = service
        if pod.node:
            meta["node"] = pod.node
        if pod.host_network:
            meta["host_network"] = True
        return meta

    def _host_meta(self, ip: str, port: int) -> dict[str, Any]:
        """A node IP: name the host-network pod that declares the port, else just the node."""
        for uid in sorted(self.host_ips.get(ip, ())):
            pod = self.pods[uid]
            if any(p == port for c in pod.containers for p, _ in c.ports):
                return self._pod_meta(pod, port)
        meta: dict[str, Any] = {"host_network": True}
        if ip in self.nodes_by_ip:
            meta["node"] = self.nodes_by_ip[ip]
        return meta

    def workload(self, pod: PodInfo) -> tuple[str, str]:
        """Follow the owner chain: ReplicaSet -> Deployment, Job -> CronJob; else the owner itself."""
        owner = pod.owner
        if owner is None:
            return pod.name, "Pod"
        if owner.kind in ("ReplicaSet", "Job"):
            key = (pod.namespace, owner.kind, owner.name)
            if key in self.owners:
                top = self.owners[key]
                return (top.name, top.kind) if top else (owner.name, owner.kind)
            # Owner not fetched (yet): Deployment-made ReplicaSets are "<deployment>-<pod-template-hash>".
            h = pod.labels.get("pod-template-hash")
            if owner.kind == "ReplicaSet" and h and owner.name.endswith("-" + h):
                return owner.name[: -len(h) - 1], "Deployment"
        return owner.name, owner.kind

    def _service_for(self, pod: PodInfo, port: int) -> str | None:
        """A service selecting the pod, preferring one whose target port is ``port``."""
        keys = sorted(self.services_by_ns.get(pod.namespace, ()))
        matches = [self.services[k] for k in keys if self.services[k].selects(pod)]
        for svc in matches:
            if svc.targets_port(pod, port):
                return svc.name
        return matches[0].name if matches else None

    def _is_internal(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return True  # not an IP (unix socket, loopback tap label): not "external"
        return any(addr in net for net in self.internal)
