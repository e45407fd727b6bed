"""One discovery pass over the node: namespaces, their processes, containers, interfaces, mesh.

Sources, all local (no Kubernetes API): psutil and /proc for processes and namespaces,
``/run/netns`` for named namespaces (CNI and ``ip netns``), rtnetlink inside each namespace (a
helper thread after ``setns``, no process spawned) for interfaces and addresses, and the host's own
rtnetlink dump to find the host-side peer of each pod veth.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from dataclasses import dataclass, field

from interceptor.config import CaptureConfig
from interceptor.discovery.cgroup import ContainerRef
from interceptor.discovery.mesh import NO_MESH, Mesh, detect_mesh
from interceptor.discovery.netlink import Link, list_links
from interceptor.discovery.netns import NetnsError, netns_id, path_netns_id, run_in_netns
from interceptor.discovery.procs import ProcInfo, group_by_netns, listening_ports

NETNS_DIRS = ("/run/netns", "/var/run/netns")


@dataclass(slots=True)
class Namespace:
    """A network namespace on the node: a pod, or the host itself."""

    netns: int
    ns_path: str  # what to open to enter it
    is_host: bool = False
    names: list[str] = field(default_factory=list)  # ``ip netns`` / CNI names
    procs: list[ProcInfo] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    host_peers: dict[str, str] = field(default_factory=dict)  # pod interface -> host-side veth
    ports: list[int] = field(default_factory=list)
    mesh: Mesh = NO_MESH
    error: str = ""  # why the interfaces could not be read (namespace vanished mid-scan)

    @property
    def id(self) -> str:
        return f"net:[{self.netns}]"

    @property
    def containers(self) -> list[ContainerRef]:
        seen: dict[str, ContainerRef] = {}
        for p in self.procs:
            c = p.container
            if c.container_id and not c.sandbox_helper:
                seen.setdefault(c.container_id, c)
        return list(seen.values())

    @property
    def pod_uid(self) -> str:
        uids = Tally(p.container.pod_uid for p in self.procs if p.container.pod_uid)
        return uids.most_common(1)[0][0] if uids else ""

    def labels(self) -> list[str]:
        """Everything include/exclude patterns may name: inode, ``net:[inode]``, names, pod UID."""
        out = [str(self.netns), self.id, *self.names]
        if self.pod_uid:
            out.append(self.pod_uid)
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "netns": self.id,
            "host": self.is_host,
            "names": self.names,
            "pod_uid": self.pod_uid,
            "containers": [c.to_dict() for c in self.containers],
            "processes": [p.to_dict() for p in self.procs],
            "interfaces": [lk.to_dict() for lk in self.links],
            "host_peers": self.host_peers,
            "listening_ports": self.ports,
            "mesh": self.mesh.mesh,
            "mesh_reason": self.mesh.reason,
            "error": self.error,
        }


def named_namespaces(dirs: tuple[str, ...] = NETNS_DIRS) -> dict[int, list[str]]:
    """Inode -> names of the bind mounts in /run/netns (what ``ip netns list`` shows)."""
    out: dict[int, list[str]] = {}
    seen_dirs: set[str] = set()
    for d in dirs:
        real = os.path.realpath(d)
        if real in seen_dirs or not os.path.isdir(real):
            continue
        seen_dirs.add(real)
        for name in sorted(os.listdir(real)):
            ino = path_netns_id(os.path.join(real, name))
            if ino is not None:
                out.setdefault(ino, []).append(name)
    return out


def host_peer(pod_link: Link, host_by_index: dict[int, Link]) -> Link | None:
    """The host end of a pod veth: the host veth at the pod link's IFLA_LINK index whose own
    IFLA_LINK points back at the pod link (the cross-check rules out an index that merely exists
    in the host because the peer really lives in a third namespace)."""
    if pod_link.kind != "veth" or pod_link.peer_netnsid is None:
        return None
    cand = host_by_index.get(pod_link.peer_index)
    if cand is None or cand.kind != "veth" or cand.peer_index != pod_link.index or cand.peer_netnsid is None:
        return None
    return cand


def _read_links(ns: Namespace) -> None:
    try:
        ns.links = run_in_netns(ns.ns_path, list_links)
    except (NetnsError, OSError) as e:
        ns.error = f"interfaces unreadable: {e}"


def scan(cfg: CaptureConfig, netns_dirs: tuple[str, ...] = NETNS_DIRS) -> list[Namespace]:
    """Every namespace on the node with its processes, interfaces, host peers and mesh status.

    The host namespace is the agent's own (it runs with hostNetwork) and comes first.
    """
    host_ino = netns_id("self", cfg.proc_root)
    names = named_namespaces(netns_dirs)
    groups = group_by_netns(cfg.proc_root)
    spaces: dict[int, Namespace] = {}
    for ino, grp in groups.items():
        path = f"{cfg.proc_root}/{grp.pid}/ns/net"
        if ino in names:
            path = os.path.join(_first_dir(netns_dirs), names[ino][0])
        spaces[ino] = Namespace(ino, path, ino == host_ino, names.get(ino, []), grp.procs)
    for ino, ns_names in names.items():
        if ino not in spaces:
            spaces[ino] = Namespace(ino, os.path.join(_first_dir(netns_dirs), ns_names[0]), ino == host_ino, ns_names)
    host_links = list_links()
    host_by_index = {lk.index: lk for lk in host_links}
    for ns in spaces.values():
        if ns.is_host:
            ns.links = host_links
            continue
        _read_links(ns)
        for lk in ns.links:
            peer = host_peer(lk, host_by_index)
            if peer is not None:
                ns.host_peers[lk.name] = peer.name
        if ns.procs:
            ns.ports = sorted(listening_ports(ns.procs[0].pid, cfg.proc_root))
        ns.mesh = detect_mesh(
            ((p.pid, p.name, p.argv0) for p in ns.procs), ns.ports, cfg.envoy_ports, cfg.linkerd_ports
        )
    return sorted(spaces.values(), key=lambda n: (not n.is_host, n.netns))


def _first_dir(dirs: tuple[str, ...]) -> str:
    for d in dirs:
        if os.path.isdir(d):
            return d
    return dirs[0]
