"""Small immutable views of the Kubernetes objects the index needs, parsed from the API's JSON.

The watch adapter hands raw dicts (the API's own JSON, not the client's model classes: cheaper,
and the pure index can be fed the same dicts in tests). Parsing keeps only what enrichment reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TERMINAL_PHASES = ("Succeeded", "Failed")  # the kubelet has released the pod's IP


def parse_time(value: str | None) -> float | None:
    """RFC 3339 API timestamp (``2024-05-01T10:00:00Z``) to epoch seconds."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class OwnerRef:
    kind: str
    name: str


def controller_of(meta: dict[str, Any]) -> OwnerRef | None:
    """The controlling owner reference (``controller: true``), else the first owner, else None."""
    refs = meta.get("ownerReferences") or []
    for ref in refs:
        if ref.get("controller"):
            return OwnerRef(ref.get("kind", ""), ref.get("name", ""))
    if refs:
        return OwnerRef(refs[0].get("kind", ""), refs[0].get("name", ""))
    return None


@dataclass(frozen=True, slots=True)
class ContainerPorts:
    name: str
    ports: tuple[tuple[int, str], ...]  # (containerPort, port name); hostPort listed as well


@dataclass(frozen=True, slots=True)
class PodInfo:
    uid: str
    name: str
    namespace: str
    node: str
    ips: tuple[str, ...]
    host_ip: str
    host_network: bool
    labels: dict[str, str] = field(hash=False, compare=False)
    containers: tuple[ContainerPorts, ...]
    owner: OwnerRef | None
    created: float  # creationTimestamp, epoch seconds
    phase: str

    @property
    def running(self) -> bool:
        """Holds its IP: not finished (a terminal pod's IP may already belong to another pod)."""
        return self.phase not in TERMINAL_PHASES

    def container_for_port(self, port: int) -> str | None:
        """The container that declares ``port``; the only container when there is just one."""
        for c in self.containers:
            if any(p == port for p, _ in c.ports):
                return c.name
        if len(self.containers) == 1:
            return self.containers[0].name
        return None

    def port_by_name(self, name: str) -> int | None:
        for c in self.containers:
            for p, pname in c.ports:
                if pname == name:
                    return p
        return None


def parse_pod(obj: dict[str, Any]) -> PodInfo:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ips = [x.get("ip", "") for x in status.get("podIPs") or [] if x.get("ip")]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    containers = []
    for c in spec.get("containers") or []:
        ports: list[tuple[int, str]] = []
        for p in c.get("ports") or []:
            if p.get("containerPort"):
                ports.append((int(p["containerPort"]), p.get("name") or ""))
            if p.get("hostPort") and p.get("hostPort") != p.get("containerPort"):
                ports.append((int(p["hostPort"]), p.get("name") or ""))
        containers.append(ContainerPorts(c.get("name", ""), tuple(ports)))
    return PodInfo(
        uid=meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}",
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        node=spec.get("nodeName") or "",
        ips=tuple(ips),
        host_ip=status.get("hostIP") or "",
        host_network=bool(spec.get("hostNetwork")),
        labels=dict(meta.get("labels") or {}),
        containers=tuple(containers),
        owner=controller_of(meta),
        created=parse_time(meta.get("creationTimestamp")) or 0.0,
        phase=status.get("phase") or "",
    )


@dataclass(frozen=True, slots=True)
class ServicePort:
    port: int
    target: int | str  # number, or a named container port


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    name: str
    namespace: str
    cluster_ips: tuple[str, ...]
    selector: dict[str, str] = field(hash=False, compare=False)
    ports: tuple[ServicePort, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def selects(self, pod: PodInfo) -> bool:
        """A service without a selector selects nothing by labels (its endpoints are manual)."""
        if pod.namespace != self.namespace or not self.selector:
            return False
        return all(pod.labels.get(k) == v for k, v in self.selector.items())

    def targets_port(self, pod: PodInfo, port: int) -> bool:
        for sp in self.ports:
            target = pod.port_by_name(sp.target) if isinstance(sp.target, str) else sp.target
            if target == port:
                return True
        return False


def parse_service(obj: dict[str, Any]) -> ServiceInfo:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ips = [ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None"]
    ports = []
    for p in spec.get("ports") or []:
        target = p.get("targetPort", p.get("port"))
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        ports.append(ServicePort(int(p.get("port") or 0), target if target is not None else 0))
    return ServiceInfo(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        cluster_ips=tuple(ips),
        selector=dict(spec.get("selector") or {}),
        ports=tuple(ports),
    )


def object_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace", ""), meta.get("name", ""))
