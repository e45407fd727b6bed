"""Cluster routing (I/O adapter): which node holds a pod this agent does not see, and that node's agent.

A request can reach any agent. When the target is not on this node, the pod's node comes from the
API server (one GET or list, on demand: the agent's own index watches only its node's pods), and
the agent there from ``captures.peers`` (node → host:port, e.g. a ConfigMap) or else from the API
server: the pod of ``captures.agent_selector`` on that node, whose IP is the node's (hostNetwork),
at ``captures.agent_port``. The request is forwarded with the same bearer token (one Secret for
all agents) and ``X-Sensor-Forwarded-By``, so a forwarded request is never forwarded again.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from interceptor.captures.model import Target
from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.enrich.index import ClusterIndex
from interceptor.enrich.objects import PodInfo, parse_pod
from interceptor.webauth import ApiToken, auth_header

log = logging.getLogger(__name__)
FORWARDED_HEADER = "X-Sensor-Forwarded-By"
CHUNK = 256 * 1024


@dataclass
class Forwarded:
    """A peer agent's answer, streamed back as is."""

    status: int
    content_type: str
    length: int | None
    chunks: Iterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)


class ClusterRouter:
    def __init__(self, cfg: Config, node: str, token: ApiToken, counters: Counters, core: Any = None) -> None:
        self.cfg = cfg
        self.ccfg = cfg.captures
        self.node = node
        self.token = token
        self.counters = counters
        self._core = core

    @property
    def core(self) -> Any:
        if self._core is None and self.cfg.kubernetes.enabled:
            from kubernetes import client as k8s

            from interceptor.enrich.watch import make_api_client

            self._core = k8s.CoreV1Api(make_api_client(self.cfg.kubernetes))
        return self._core

    # -- where ------------------------------------------------------------------------------------
    def nodes_for(self, target: Target) -> list[str]:
        """Nodes (other than this one) running pods of ``target``, from the API server."""
        return sorted({p.node for p in self.pods_for(target) if p.node and p.node != self.node})

    def pods_for(self, target: Target) -> list[PodInfo]:
        """The running pods of ``target`` anywhere in the cluster, asked of the API server."""
        if self.core is None:
            return []
        try:
            pods = [parse_pod(obj) for obj in self._pods(target)]
        except Exception as e:  # noqa: BLE001 - API errors of every kind: no routing, said why
            self.counters.inc("captures.routing.api_error")
            log.warning("capture routing: API server lookup for %s failed: %s", target.describe(), e)
            return []
        return [p for p in pods if p.running and not p.host_network
                and (not target.workload or workload_of(p)[0] == target.workload)]

    def _pods(self, target: Target) -> list[dict[str, Any]]:
        timeout = self.cfg.kubernetes.request_timeout_s
        if target.pod:
            try:
                resp = self.core.read_namespaced_pod(target.pod, target.namespace, _preload_content=False,
                                                     _request_timeout=timeout)
            except Exception as e:  # noqa: BLE001
                if getattr(e, "status", None) == 404:
                    return []
                raise
            return [json.loads(resp.data)]
        if target.ip:
            resp = self.core.list_pod_for_all_namespaces(field_selector=f"status.podIP={target.ip}",
                                                         _preload_content=False, _request_timeout=timeout)
        elif target.selector or target.workload:
            selector = ",".join(f"{k}={v}" for k, v in target.selector)
            resp = self.core.list_namespaced_pod(target.namespace, label_selector=selector,
                                                 _preload_content=False, _request_timeout=timeout)
        else:
            return []  # a container id names no pod the API server can find
        return list(json.loads(resp.data).get("items") or [])

    def agent_address(self, node: str) -> str | None:
        if node in self.ccfg.peers:
            return self.ccfg.peers[node]
        if self.core is None:
            return None
        try:
            resp = self.core.list_pod_for_all_namespaces(
                label_selector=self.ccfg.agent_selector, field_selector=f"spec.nodeName={node}",
                _preload_content=False, _request_timeout=self.cfg.kubernetes.request_timeout_s)
            items = json.loads(resp.data).get("items") or []
        except Exception as e:  # noqa: BLE001
            self.counters.inc("captures.routing.api_error")
            log.warning("capture routing: cannot list the agents on node %s: %s", node, e)
            return None
        return next(iter(self._addresses(items).values()), None)

    def _addresses(self, items: list[dict[str, Any]]) -> dict[str, str]:
        """node -> address of the running agent pods among ``items`` (hostNetwork: the node's IP)."""
        out = {}
        for obj in items:
            pod = parse_pod(obj)
            if pod.running and pod.ips and pod.node:
                ip = pod.ips[0]
                out[pod.node] = f"[{ip}]:{self.ccfg.agent_port}" if ":" in ip else f"{ip}:{self.ccfg.agent_port}"
        return out

    def agents(self) -> dict[str, str]:
        """Every agent: node -> address (``captures.peers``, else the agent pods on the API server)."""
        if self.ccfg.peers or self.core is None:
            return dict(self.ccfg.peers)
        try:
            resp = self.core.list_pod_for_all_namespaces(label_selector=self.ccfg.agent_selector,
                                                         _preload_content=False,
                                                         _request_timeout=self.cfg.kubernetes.request_timeout_s)
            items = json.loads(resp.data).get("items") or []
        except Exception as e:  # noqa: BLE001
            self.counters.inc("captures.routing.api_error")
            log.warning("capture routing: cannot list the agents: %s", e)
            return {}
        return self._addresses(items)

    # -- forwarding -------------------------------------------------------------------------------
    def forward(self, node: str, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> Forwarded:
        address = self.agent_address(node)
        if address is None:
            self.counters.inc("captures.routing.no_agent")
            msg = json.dumps({"error": f"no agent found for node {node} (captures.peers or "
                                       f"captures.agent_selector {self.ccfg.agent_selector!r})"}).encode()
            return Forwarded(502, "application/json", len(msg), iter([msg]))
        headers = {**auth_header(self.token), FORWARDED_HEADER: self.node}
        if body is not None:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(f"http://{address}{path}", data=body, method=method, headers=headers)
        self.counters.inc("captures.routing.forwarded")
        log.info("capture routing: %s %s -> node %s (%s)", method, path, node, address)
        try:
            resp = urllib.request.urlopen(req, timeout=self.ccfg.forward_timeout_s)  # noqa: S310 - http to a peer
        except urllib.error.HTTPError as e:
            resp = e
        except (urllib.error.URLError, OSError) as e:
            self.counters.inc("captures.routing.failed")
            msg = json.dumps({"error": f"agent of node {node} at {address} unreachable: {e}"}).encode()
            return Forwarded(502, "application/json", len(msg), iter([msg]))
        length = resp.headers.get("Content-Length")
        return Forwarded(resp.status if hasattr(resp, "status") else resp.code,
                         resp.headers.get("Content-Type", "application/octet-stream"),
                         int(length) if length and length.isdigit() else None, _chunks(resp),
                         {k: v for k, v in resp.headers.items() if k.lower() == "content-disposition"})


def workload_of(pod: PodInfo) -> tuple[str, str]:
    """A pod's workload without the owner objects (ReplicaSet names carry the Deployment's)."""
    return ClusterIndex().workload(pod)


def _chunks(resp: Any) -> Iterator[bytes]:
    try:
        while True:
            chunk = resp.read(CHUNK)
            if not chunk:
                return
            yield chunk
    finally:
        resp.close()
