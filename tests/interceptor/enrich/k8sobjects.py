"""Builders for the API's JSON shapes, shared by the pure index tests and the API-server tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from interceptor.pairs import Endpoint, Pair, Request, Response


def ts_str(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, ns: str = "shop", ip: str | None = None, node: str = "node-a", uid: str | None = None,
        labels: dict[str, str] | None = None, owner: tuple[str, str] | None = None, created: float = 0.0,
        containers: list[tuple[str, list[int]]] | None = None, host_network: bool = False,
        host_ip: str = "192.168.5.10", phase: str = "Running") -> dict[str, Any]:
    """A pod as the API returns it (status included when ``ip`` is given)."""
    meta: dict[str, Any] = {"name": name, "namespace": ns, "uid": uid or f"uid-{ns}-{name}",
                            "labels": labels or {}, "creationTimestamp": ts_str(created)}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                                    "uid": f"uid-{owner[1]}", "controller": True}]
    spec = {"nodeName": node, "hostNetwork": host_network, "containers": [
        {"name": c, "image": "example/app:1", "ports": [{"containerPort": p, "name": f"p{p}"} for p in ports]}
        for c, ports in (containers or [("app", [8080])])]}
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": phase}}
    if ip:
        obj["status"].update({"podIP": ip, "podIPs": [{"ip": ip}], "hostIP": host_ip})
    return obj


def service(name: str, ns: str = "shop", selector: dict[str, str] | None = None, cluster_ip: str = "10.96.0.10",
            ports: list[tuple[int, int | str]] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": selector or {}, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                     "ports": [{"port": p, "targetPort": t, "protocol": "TCP"} for p, t in (ports or [(80, 8080)])]}}


def owned(kind: str, name: str, ns: str, owner: tuple[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                                    "uid": f"uid-{owner[1]}", "controller": True}]
    return {"metadata": meta}


def make_pair(src: tuple[str, int], dst: tuple[str, int], ts: float) -> Pair:
    req = Request(version="HTTP/1.1", headers=[("content-type", "application/json")], body=b"{}", body_size=2,
                  truncated=False, ts=ts, method="POST", target="/api/users")
    resp = Response(version="HTTP/1.1", headers=[("content-type", "application/json")], body=b"{}", body_size=2,
                    truncated=False, ts=ts + 0.01, status=200, reason="OK")
    return Pair(request=req, response=resp, src=Endpoint(*src), dst=Endpoint(*dst), source={"kind": "pcap-veth", "interface": "veth-test"})
