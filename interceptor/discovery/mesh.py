"""Service-mesh sidecar detection (pure): Istio/Envoy and Linkerd.

A meshed pod's veth carries mTLS, so the plaintext exists only on the pod's loopback, between the
app and its sidecar. A pod counts as meshed when a sidecar process runs in its namespace (by
``comm`` or argv[0]) or when something listens on a sidecar port (the mesh's own defaults, from
config): either is enough, and the reason is reported so a wrong guess can be seen in ``discover``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SIDECAR_NAMES = {
    "envoy": "istio",
    "pilot-agent": "istio",
    "linkerd2-proxy": "linkerd",
    "linkerd-proxy": "linkerd",
}


@dataclass(frozen=True, slots=True)
class Mesh:
    mesh: str  # "istio" or "linkerd"; "" when not meshed
    reason: str = ""  # "process envoy (pid 42)" / "port 4143"

    def __bool__(self) -> bool:
        return bool(self.mesh)


NO_MESH = Mesh("")


def detect_mesh(
    procs: Iterable[tuple[int, str, str]],
    ports: Iterable[int],
    envoy_ports: Iterable[int] = (15001, 15006),
    linkerd_ports: Iterable[int] = (4140, 4143),
) -> Mesh:
    """``procs`` are (pid, comm, argv0) of the namespace; ``ports`` its listening TCP ports."""
    for pid, comm, argv0 in procs:
        for name in (comm, argv0):
            mesh = SIDECAR_NAMES.get(name)
            if mesh:
                return Mesh(mesh, f"process {name} (pid {pid})")
    listening = set(ports)
    for port in sorted(listening & set(envoy_ports)):
        return Mesh("istio", f"port {port}")
    for port in sorted(listening & set(linkerd_ports)):
        return Mesh("linkerd", f"port {port}")
    return NO_MESH
