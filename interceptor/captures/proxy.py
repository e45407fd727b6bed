"""The capture API for a cluster-wide entry point (the stream hub): no taps of its own, every request
goes to the agent of the pod's node (``routing.py``); the list merges every agent's.

Same routes, token and answers as an agent's API (``api.py``): ``POST /api/v1/captures`` and
``POST /api/v1/falco`` find the pod's node on the API server and forward; ``GET``/``DELETE``/
``/pcap`` of an id go to the node the id names; ``GET /api/v1/captures`` asks every agent and
lists what answered (``unreachable`` names the others).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from interceptor.captures import falco
from interceptor.captures.api import FALCO, PREFIX, error_response, json_response
from interceptor.captures.manager import node_of
from interceptor.captures.model import RequestError, Target
from interceptor.captures.routing import ClusterRouter, Forwarded
from interceptor.counters import Counters
from interceptor.httpapi import ApiRequest, ApiResponse
from interceptor.webauth import UNAUTHORIZED_HEADERS, AuthOutcome, BearerAuth

_ID_PATH = re.compile(r"^/api/v1/captures/([A-Za-z0-9._~-]+)(/pcap)?$")


class CaptureProxy:
    def __init__(self, router: ClusterRouter, auth: BearerAuth, counters: Counters) -> None:
        self.router = router
        self.auth = auth
        self.counters = counters

    def owns(self, path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/") or path == FALCO

    def handle(self, req: ApiRequest) -> ApiResponse:
        if self.auth.check(req.headers.get("Authorization")) is not AuthOutcome.OK:
            return ApiResponse(401, b'{"error": "missing or wrong bearer token"}\n', headers=dict(UNAUTHORIZED_HEADERS))
        self.counters.inc("captures.proxy.requests")
        try:
            return self._route(req)
        except RequestError as e:
            return error_response(400, str(e))

    def _route(self, req: ApiRequest) -> ApiResponse:
        path = req.path.split("?", 1)[0].rstrip("/")
        if path == PREFIX and req.method == "GET":
            return self._list()
        if path in (PREFIX, FALCO) and req.method == "POST":
            return self._to_pods_node(req, self._targets(path, req.body))
        m = _ID_PATH.match(path)
        if m is None or req.method not in ("GET", "DELETE"):
            return error_response(404 if m is None else 405, "no such route" if m is None else "use GET or DELETE")
        node = node_of(m.group(1))
        if not node:
            return error_response(404, f"{m.group(1)} is not a capture id (<node>~<id>)")
        return _answer(self.router.forward(node, req.method, req.path), node)

    def _targets(self, path: str, body: bytes) -> list[Target]:
        try:
            doc = orjson.loads(body or b"null")
        except orjson.JSONDecodeError as e:
            raise RequestError(f"body: not JSON ({e})") from None
        if path == FALCO:
            return falco.targets(falco.FalcoAlert.parse(doc))
        if not isinstance(doc, dict):
            raise RequestError("body: expected a JSON object with a target")
        return [Target.parse(doc.get("target"))]

    def _to_pods_node(self, req: ApiRequest, targets: list[Target]) -> ApiResponse:
        for target in targets:
            nodes = self.router.nodes_for(target)
            if len(nodes) == 1:
                return _answer(self.router.forward(nodes[0], req.method, req.path, req.body), nodes[0])
            if nodes:
                return error_response(409, f"{target.describe()} has pods on several nodes; name one pod", nodes=nodes)
        return error_response(404, f"no running pod matches {targets[0].describe() if targets else 'the request'} "
                           "in the cluster")

    def _list(self) -> ApiResponse:
        captures: list[Any] = []
        unreachable = []
        for node in sorted(self.router.agents()):
            fwd = self.router.forward(node, "GET", PREFIX)
            body = b"".join(fwd.chunks)
            try:
                doc = orjson.loads(body) if fwd.status == 200 else None
            except orjson.JSONDecodeError:
                doc = None
            if doc is None:
                unreachable.append(node)
                continue
            captures += doc.get("captures") or []
        return json_response(200, {"captures": sorted(captures, key=lambda c: c.get("created") or 0),
                           "unreachable": unreachable})


def _answer(fwd: Forwarded, node: str) -> ApiResponse:
    chunks: Iterator[bytes] = fwd.chunks
    return ApiResponse(fwd.status, content_type=fwd.content_type, chunks=chunks, length=fwd.length,
                       headers={**fwd.headers, "X-Sensor-Node": node})
