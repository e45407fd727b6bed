"""Which pods a capture target names, on this node and elsewhere (pure: index pods + discovery in).

Two views meet here: the Kubernetes index (names, workloads, labels, IPs, the node) and discovery's
view of this node (network namespaces with their addresses, processes' containers and pod UIDs
from cgroups). A pod is *local* when a discovered namespace holds one of its IPs or carries its UID;
an index pod on another node is *remote* (the request is forwarded there). Without the index, IP and
container-id targets still resolve from discovery alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from interceptor.captures.model import PodView, Target
from interceptor.discovery.scan import Namespace
from interceptor.enrich.objects import PodInfo

WorkloadOf = Callable[[PodInfo], tuple[str, str]]


@dataclass
class Resolution:
    local: list[PodView] = field(default_factory=list)
    remote_nodes: list[str] = field(default_factory=list)  # nodes holding matching pods we cannot tap
    index_matches: int = 0  # pods the index matched (0 with no index)


def _ips(ns: Namespace) -> set[str]:
    return {a.split("/", 1)[0] for lk in ns.links if not lk.loopback for a in lk.addresses}


def _matches(target: Target, pod: PodInfo, workload_of: WorkloadOf) -> bool:
    if not pod.running or pod.host_network:
        return False  # a host-network pod shares the node's interfaces: not a pod capture
    if target.ip:
        return target.ip in pod.ips
    if pod.namespace != target.namespace:
        return False
    if target.pod:
        return pod.name == target.pod
    if target.workload:
        return workload_of(pod)[0] == target.workload
    if target.selector:
        return all(pod.labels.get(k) == v for k, v in target.selector)
    return False


def _view(ns: Namespace, pod: PodInfo | None, workload_of: WorkloadOf, node: str) -> PodView:
    containers = [c.name for c in pod.containers] if pod else []
    containers += [f"{c.runtime or 'container'}://{c.container_id}" for c in ns.containers]
    workload, kind = workload_of(pod) if pod else ("", "")
    return PodView(
        namespace=pod.namespace if pod else "", name=pod.name if pod else "", uid=pod.uid if pod else ns.pod_uid,
        workload=workload, workload_kind=kind, node=(pod.node if pod else "") or node,
        ips=pod.ips if pod else tuple(sorted(_ips(ns))), containers=tuple(containers),
        netns=ns.id, ns_path=ns.ns_path, mesh=ns.mesh.mesh if ns.mesh else "", netns_inode=ns.netns,
    )


def resolve(target: Target, pods: Iterable[PodInfo], workload_of: WorkloadOf, spaces: list[Namespace],
            node: str) -> Resolution:
    """The local pods (with their namespaces) and the other nodes that hold pods of ``target``."""
    spaces = [ns for ns in spaces if not ns.is_host and not ns.error]
    by_ip = {ip: ns for ns in spaces for ip in _ips(ns)}
    by_uid = {ns.pod_uid: ns for ns in spaces if ns.pod_uid}
    out = Resolution()
    seen: set[int] = set()
    if target.container_id:
        for ns in spaces:
            if any(c.container_id.startswith(target.container_id) for c in ns.containers):
                pod = next((p for p in pods if p.uid == ns.pod_uid), None) if ns.pod_uid else None
                out.local.append(_view(ns, pod, workload_of, node))
        return out
    for pod in pods:
        if not _matches(target, pod, workload_of):
            continue
        out.index_matches += 1
        elsewhere = bool(pod.node) and pod.node != node
        ns = None if elsewhere else by_uid.get(pod.uid) or next((by_ip[ip] for ip in pod.ips if ip in by_ip), None)
        if ns is not None and ns.netns not in seen:
            seen.add(ns.netns)
            out.local.append(_view(ns, pod, workload_of, node))
        elif elsewhere and pod.node not in out.remote_nodes:
            out.remote_nodes.append(pod.node)
    if target.ip and not out.local and target.ip in by_ip:
        out.local.append(_view(by_ip[target.ip], None, workload_of, node))  # no index, or not in it yet
    return out
