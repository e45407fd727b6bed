"""The capture API's routes, independent of the HTTP server that carries them (the metrics port).

``POST /api/v1/captures`` (target, duration, filter, snaplen, byte cap → 201 and the status with its
id), ``GET /api/v1/captures`` (this agent's), ``GET /api/v1/captures/{id}`` (state, packets, bytes,
drops), ``GET /api/v1/captures/{id}/pcap`` (the pcapng, also while running), ``DELETE
/api/v1/captures/{id}`` (stop a running capture; remove a finished one), ``POST /api/v1/falco``
(Falco's JSON alert / falcosidekick's webhook). Every route needs ``Authorization: Bearer``.
Requests for pods or captures on another node are forwarded to that node's agent (``routing.py``).
Errors are JSON ``{"error": "..."}`` with one line that names the problem.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from interceptor.captures import falco
from interceptor.captures.manager import CaptureManager, CaptureRefused, node_of
from interceptor.captures.model import CaptureRequest, RequestError, Target, Trigger
from interceptor.captures.resolve import Resolution
from interceptor.captures.routing import FORWARDED_HEADER, ClusterRouter, Forwarded
from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.httpapi import ApiRequest, ApiResponse
from interceptor.webauth import UNAUTHORIZED_HEADERS, AuthOutcome, BearerAuth

log = logging.getLogger(__name__)
PREFIX = "/api/v1/captures"
FALCO = "/api/v1/falco"
_ID_PATH = re.compile(r"^/api/v1/captures/([A-Za-z0-9._~-]+)(/pcap)?$")
FILE_CHUNK = 256 * 1024


def json_response(status: int, doc: Any) -> ApiResponse:
    return ApiResponse(status, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")


def error_response(status: int, message: str, **extra: Any) -> ApiResponse:
    return json_response(status, {"error": message, **extra})


Resolver = Callable[[Target, "list[Any] | None"], Resolution]  # (target, pods instead of the index's)


class CaptureApi:
    def __init__(self, cfg: Config, counters: Counters, manager: CaptureManager, auth: BearerAuth,
                 resolver: Resolver, router: ClusterRouter | None, clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.counters = counters
        self.manager = manager
        self.auth = auth
        self.resolver = resolver
        self.router = router
        self.clock = clock
        self.dedup = falco.Dedup(cfg.captures.falco_dedup_window_s)
        self._falco_lock = threading.Lock()  # one alert at a time: duplicates must see each other

    def owns(self, path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/") or path == FALCO

    def handle(self, req: ApiRequest) -> ApiResponse:
        if self.auth.check(req.headers.get("Authorization")) is not AuthOutcome.OK:
            return ApiResponse(401, b'{"error": "missing or wrong bearer token"}\n', headers=dict(UNAUTHORIZED_HEADERS))
        self.counters.inc("captures.api.requests")
        try:
            return self._route(req)
        except RequestError as e:
            self.counters.inc("captures.api.bad_request")
            return error_response(400, str(e))
        except CaptureRefused as e:
            return error_response(e.status, str(e), reason=e.reason)

    def _route(self, req: ApiRequest) -> ApiResponse:
        path = req.path.split("?", 1)[0].rstrip("/") or "/"
        if path == FALCO:
            return self._falco(req) if req.method == "POST" else error_response(405, "use POST")
        if path == PREFIX:
            if req.method == "POST":
                return self._create(req)
            if req.method == "GET":
                return json_response(200, {"node": self.manager.node, "captures": self.manager.list()})
            return error_response(405, "use GET or POST")
        m = _ID_PATH.match(path)
        if m is None:
            return error_response(404, "no such route")
        cap_id, pcap = m.group(1), bool(m.group(2))
        node = node_of(cap_id)
        if node and node != self.manager.node:
            return self._forward_or(req, node, lambda: error_response(404, f"capture {cap_id} is on node {node}"))
        if pcap:
            return self._download(cap_id) if req.method == "GET" else error_response(405, "use GET")
        if req.method == "GET":
            status = self.manager.get(cap_id)
            return json_response(200, status) if status else error_response(404, f"no capture {cap_id}")
        if req.method == "DELETE":
            cap = self.manager.stop(cap_id)
            return json_response(200, self.manager.get(cap_id) or {"id": cap_id, "removed": True}) if cap else \
                error_response(404, f"no capture {cap_id}")
        return error_response(405, "use GET or DELETE")

    # -- create -----------------------------------------------------------------------------------
    def _body(self, req: ApiRequest) -> Any:
        try:
            return orjson.loads(req.body or b"null")
        except orjson.JSONDecodeError as e:
            raise RequestError(f"body: not JSON ({e})") from None

    def _create(self, req: ApiRequest) -> ApiResponse:
        doc = self._body(req)
        who = req.peer
        if isinstance(doc, dict) and isinstance(doc.get("requested_by"), str):
            who = f"{doc['requested_by'][:200]} from {req.peer}"
        reason = doc.get("reason", "") if isinstance(doc, dict) else ""
        trigger = Trigger("api", who, reason=str(reason)[:500])
        request = CaptureRequest.parse(doc, self.cfg.captures, trigger)
        resolution = self._resolve(request.target)
        if resolution.local:
            cap = self.manager.start(request, resolution.local)
            return json_response(201, cap.status())
        return self._elsewhere(req, request.target, resolution)

    def _resolve(self, target: Target) -> Resolution:
        """The index first; pods it does not know (not synced yet, or no index in this process) are
        asked of the API server and matched to this node's namespaces by IP."""
        resolution = self.resolver(target, None)
        if resolution.local or resolution.remote_nodes or self.router is None or target.container_id:
            return resolution
        pods = self.router.pods_for(target)
        if not pods:
            return resolution
        found = self.resolver(target, pods)
        self.counters.inc("captures.resolved_from_api")
        return found

    def _elsewhere(self, req: ApiRequest, target: Target, resolution: Resolution) -> ApiResponse:
        """No local pod: forward to the one node that has them, or say where they are."""
        nodes = resolution.remote_nodes
        if len(nodes) == 1:
            return self._forward_or(req, nodes[0], lambda: error_response(404, f"{target.describe()} is on node {nodes[0]}"))
        if nodes:
            return error_response(409, f"{target.describe()} has pods on several nodes; ask each node's agent or name one pod",
                          nodes=nodes)
        self.counters.inc("captures.refused.not_found")
        return error_response(404, f"no running pod matches {target.kind} {target.describe()} on node {self.manager.node}"
                      + (" or elsewhere in the cluster" if self.router and self.router.core else ""))

    def _may_forward(self, req: ApiRequest) -> bool:
        return self.router is not None and not req.headers.get(FORWARDED_HEADER)

    def _forward_or(self, req: ApiRequest, node: str, otherwise: Callable[[], ApiResponse]) -> ApiResponse:
        if not self._may_forward(req):
            return otherwise()
        assert self.router is not None
        fwd: Forwarded = self.router.forward(node, req.method, req.path, req.body or None)
        return ApiResponse(fwd.status, content_type=fwd.content_type, chunks=fwd.chunks, length=fwd.length,
                           headers={**fwd.headers, "X-Sensor-Node": node})

    def _download(self, cap_id: str) -> ApiResponse:
        found = self.manager.file_for(cap_id)
        if found is None:
            return error_response(404, f"no capture file for {cap_id}")
        path, length = found
        return ApiResponse(200, content_type="application/vnd.tcpdump.pcap", chunks=_read(path, length),
                           length=length,
                           headers={"Content-Disposition": f'attachment; filename="{path.name}"'})

    # -- Falco ------------------------------------------------------------------------------------
    def _falco(self, req: ApiRequest) -> ApiResponse:
        alert = falco.FalcoAlert.parse(self._body(req))
        self.counters.inc("captures.falco.alerts")
        rule = falco.match_rule(alert, self.cfg.captures.falco_rules)
        if rule is None:
            self.counters.inc("captures.falco.ignored")
            return json_response(200, {"action": "ignored", "reason": "no captures.falco_rules entry matches rule "
                                                             f"{alert.rule!r} at priority {alert.priority}"})
        candidates = falco.targets(alert)
        if not candidates:
            self.counters.inc("captures.falco.no_target")
            return error_response(422, "the alert names no pod (k8s.ns.name + k8s.pod.name, container.id or fd.*ip)")
        bpf = falco.render_filter(rule.bpf_filter, alert)
        now = self.clock()
        with self._falco_lock:
            for target in candidates:
                running = self.dedup.running_capture(alert.rule, target, now)
                if running and self.manager.extend(running, now + rule.duration_s):
                    return json_response(200, {"action": "extended", "capture": self.manager.get(running)})
            for target in candidates:
                resolution = self._resolve(target)
                if not resolution.local:
                    continue
                pods = resolution.local
                if rule.target == "workload" and pods[0].workload:
                    wl = Target(namespace=pods[0].namespace, workload=pods[0].workload)
                    pods = self._resolve(wl).local or pods
                request = CaptureRequest(target, min(rule.duration_s, self.cfg.captures.max_duration_s), bpf,
                                         self.cfg.captures.snaplen, self.cfg.captures.max_bytes,
                                         falco.trigger(alert, req.peer), self.cfg.captures.plaintext)
                cap = self.manager.start(request, pods)
                self.dedup.remember(alert.rule, target, cap.id, now)
                self.counters.inc("captures.falco.started")
                return json_response(201, {"action": "started", "capture": cap.status()})
        # Not on this node: the pod's node decides (it keeps its own duplicate window).
        if self._may_forward(req):
            assert self.router is not None
            for target in candidates:
                nodes = self._resolve(target).remote_nodes
                if len(nodes) == 1:
                    return self._forward_or(req, nodes[0], lambda: error_response(404, "not here"))
        self.counters.inc("captures.falco.not_found")
        return error_response(404, f"the alert's pod ({candidates[0].describe()}) is not on node {self.manager.node}")


def _read(path: Path, length: int) -> Iterator[bytes]:
    """The first ``length`` bytes of the file (whole blocks: a running capture's file is still growing)."""
    with open(path, "rb") as f:
        left = length
        while left > 0:
            chunk = f.read(min(FILE_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
