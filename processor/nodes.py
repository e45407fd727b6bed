"""Names the two ends of a flow as map nodes: a workload when the pod metadata says which, an
external host by its Host header, else the bare IP address."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=4096)  # a few hosts carry all the traffic; parsing one as an IP (a raise) costs ~15 us
def _host_name(host: str | None) -> str | None:
    if not host:
        return None
    name = host.strip().lower()
    if name.startswith("["):  # [v6]:port
        return None
    name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    return None if not name or _is_ip(name) else name[:253]


def node_of(ep: dict[str, Any], host_header: str | None) -> dict[str, Any]:
    """``{"id", "kind", "name", "namespace", "ip"}``. Kinds: workload, pod, service, external, ip.

    The id is what the map keys nodes by: ``ns/workload`` for a workload (so its pods merge),
    ``ext:host`` for an external host named by the request, ``ip:addr`` when nothing better is known.
    """
    ip = str(ep.get("ip", ""))
    ns = str(ep.get("namespace", "") or "")
    if ep.get("workload"):
        return {"id": f"{ns}/{ep['workload']}", "kind": "workload", "name": str(ep["workload"]), "namespace": ns,
                "workload_kind": str(ep.get("workload_kind", "")), "ip": ip}
    if ep.get("pod"):
        return {"id": f"{ns}/{ep['pod']}", "kind": "pod", "name": str(ep["pod"]), "namespace": ns, "ip": ip}
    if ep.get("service"):
        return {"id": f"{ns}/{ep['service']}", "kind": "service", "name": str(ep["service"]), "namespace": ns, "ip": ip}
    host = _host_name(host_header)
    if host and (ep.get("external") or not _cluster_local(host)):
        return {"id": f"ext:{host}", "kind": "external", "name": host, "namespace": "", "ip": ip}
    if host:  # an in-cluster service name without pod metadata
        short = host.split(".")[0]
        parts = host.split(".")
        hns = parts[1] if len(parts) > 2 and parts[2] == "svc" else ns
        return {"id": f"{hns}/{short}" if hns else f"svc:{short}", "kind": "service", "name": short, "namespace": hns, "ip": ip}
    return {"id": f"ip:{ip}", "kind": "ip", "name": ip, "namespace": ns, "ip": ip}


def _cluster_local(host: str) -> bool:
    return ".svc" in host or host.endswith(".cluster.local") or "." not in host
