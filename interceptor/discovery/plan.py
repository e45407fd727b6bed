"""The tap plan (pure): which interface to capture for each namespace, and why others are skipped.

Soveren's rule: a meshed pod is tapped on **its own loopback** (plaintext between app and sidecar)
and not on its veth (mTLS only); any other pod on the **host-side end of its veth**. The host
namespace itself is not tapped (hostNetwork pods are out of scope, as in Soveren). Interface
include/exclude globs apply to host-side interface names; namespace include/exclude globs match a
namespace's inode, ``net:[inode]``, ``ip netns``/CNI names or pod UID.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from interceptor.config import CaptureConfig
from interceptor.discovery.scan import Namespace

KIND_VETH = "pcap-veth"
KIND_LOOPBACK = "pcap-loopback"


@dataclass(frozen=True, slots=True)
class TapSpec:
    kind: str  # pcap-veth (host side) or pcap-loopback (inside the pod's namespace)
    interface: str
    netns: str  # the pod's namespace, ``net:[inode]``, for attribution
    ns_path: str  # namespace to open the handle in; "" = the agent's own (host)
    pod_uid: str = ""
    names: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.interface, self.netns)

    def source(self, node: str) -> dict[str, str]:
        return {"kind": self.kind, "interface": self.interface, "netns": self.netns, "node": node}

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "interface": self.interface, "netns": self.netns,
                "in_netns": bool(self.ns_path), "pod_uid": self.pod_uid, "names": list(self.names)}


@dataclass(frozen=True, slots=True)
class Skip:
    netns: str
    interface: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"netns": self.netns, "interface": self.interface, "reason": self.reason}


def _matches(patterns: list[str], values: list[str]) -> bool:
    return any(fnmatchcase(v, p) for p in patterns for v in values)


def namespace_skip(ns: Namespace, cfg: CaptureConfig) -> str | None:
    """Why capture.include/exclude_namespaces leave ``ns`` out, or None when it is selected."""
    labels = ns.labels()
    if cfg.include_namespaces and not _matches(cfg.include_namespaces, labels):
        return "namespace not included"
    if _matches(cfg.exclude_namespaces, labels):
        return "namespace excluded"
    return None


def plan_taps(spaces: list[Namespace], cfg: CaptureConfig) -> tuple[list[TapSpec], list[Skip]]:
    taps: list[TapSpec] = []
    skips: list[Skip] = []
    for ns in spaces:
        if ns.is_host:
            continue
        skip = namespace_skip(ns, cfg)
        if skip:
            skips.append(Skip(ns.id, "", skip))
            continue
        if ns.error:
            skips.append(Skip(ns.id, "", ns.error))
            continue
        common = {"netns": ns.id, "pod_uid": ns.pod_uid, "names": tuple(ns.names)}
        if ns.mesh:
            lo = next((lk for lk in ns.links if lk.loopback), None)
            if lo is None or not lo.up:
                skips.append(Skip(ns.id, "lo", f"meshed ({ns.mesh.reason}) but loopback is down"))
                continue
            taps.append(TapSpec(KIND_LOOPBACK, lo.name, ns_path=ns.ns_path, **common))
            for pod_if, host_if in ns.host_peers.items():
                skips.append(Skip(ns.id, host_if, f"meshed ({ns.mesh.reason}): {pod_if} carries mTLS"))
            continue
        if not ns.host_peers:
            skips.append(Skip(ns.id, "", "no veth to the host namespace"))
            continue
        for _pod_if, host_if in sorted(ns.host_peers.items()):
            if cfg.include_interfaces and not _matches(cfg.include_interfaces, [host_if]):
                skips.append(Skip(ns.id, host_if, "interface not included"))
            elif _matches(cfg.exclude_interfaces, [host_if]):
                skips.append(Skip(ns.id, host_if, "interface excluded"))
            else:
                taps.append(TapSpec(KIND_VETH, host_if, ns_path="", **common))
    return taps, skips
