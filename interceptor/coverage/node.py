"""Coverage on a node (``interceptor run``): who owns an end of a connection, and the ``/coverage`` API.

Thin adapters around the sans-I/O tracker:

- ``ProcessIndex`` names the local process at an endpoint from /proc (the TCP socket tables of each
  network namespace, then the fd that holds that socket) with its likely TLS library and what the
  TLS source knows of it; rebuilt at most every ``min_rebuild_s`` and only when an endpoint is not
  in it, so a burst of connections costs one scan.
- ``NodeCoverage`` wires the tracker to the TLS source, writes the account (``--coverage PATH``,
  the ``connections`` topic) every tick, and serves ``GET /coverage`` (bearer token) with the
  current interval and the last finished one: what ``interceptor coverage`` prints.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from typing import Any

import orjson

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.coverage.library import MarkerCache, TlsState, library_of
from interceptor.coverage.output import CoverageOutput
from interceptor.coverage.tracker import Attribution
from interceptor.httpapi import ApiRequest, ApiResponse
from interceptor.pairs import Endpoint
from interceptor.tls import procfs

PATH = "/coverage"


class ProcessIndex:
    def __init__(self, counters: Counters, tls: Any = None, proc_root: str = "/proc", min_rebuild_s: float = 0.5,
                 clock: Any = time.monotonic) -> None:
        self.counters = counters
        self.tls = tls  # interceptor.tls.source.TlsSource or None
        self.proc = proc_root
        self.min_rebuild_s = min_rebuild_s
        self.clock = clock
        self.owners: dict[tuple[str, int], int] = {}  # local (ip, port) -> pid
        self.built = -1e9
        self.markers = MarkerCache()
        self.libraries: OrderedDict[int, Any] = OrderedDict()  # pid -> Library (bounded)

    def __call__(self, ep: Endpoint) -> Attribution | None:
        pid = self.owners.get((ep.ip, ep.port))
        if pid is None and self.clock() - self.built >= self.min_rebuild_s:
            self._rebuild()
            pid = self.owners.get((ep.ip, ep.port))
        if pid is None:
            return None
        library = self._library(pid)
        command = procfs.command(pid, self.proc) or ""
        self.counters.inc("coverage.processes_named")
        return Attribution(command, pid, library.name if library else "", self._tls_state(pid))

    def _library(self, pid: int) -> Any:
        lib = self.libraries.get(pid)
        if lib is None:
            lib = library_of(pid, self.markers, self.proc)
            self.libraries[pid] = lib
            if len(self.libraries) > 4096:
                self.libraries.popitem(last=False)
        return lib

    def _tls_state(self, pid: int) -> TlsState:
        if self.tls is None:
            return TlsState(False)
        cfg = self.tls.cfg
        probed = frozenset(lib for lib, on in (("openssl", cfg.openssl), ("go", cfg.gotls), ("gnutls", cfg.gnutls),
                                               ("boringssl", cfg.boringssl), ("nss", cfg.nss)) if on)
        info = self.tls.pids.get(pid)
        if info is None:
            return TlsState(True, probed=probed)
        # The source saw its TLS library but could not probe it: the attach (or the ELF analysis) failed.
        failed = info.ssl_found and not info.keys and not info.excluded
        return TlsState(True, excluded=info.excluded, attached=bool(info.keys), attach_failed=failed, probed=probed)

    def _rebuild(self) -> None:
        """Sockets of every network namespace (one process each), then which process holds each."""
        self.built = self.clock()
        self.counters.inc("coverage.process_scans")
        by_inode: dict[int, tuple[str, int]] = {}
        seen_ns: set[str] = set()
        pids = sorted(procfs.pids(self.proc))
        for pid in pids:
            try:
                ns = os.readlink(f"{self.proc}/{pid}/ns/net")
            except OSError:
                continue
            if ns in seen_ns:
                continue
            seen_ns.add(ns)
            for name in ("tcp", "tcp6"):
                by_inode.update(_sockets(f"{self.proc}/{pid}/net/{name}", name == "tcp6"))
        owners: dict[tuple[str, int], int] = {}
        for pid in pids:
            try:
                fds = os.listdir(f"{self.proc}/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink(f"{self.proc}/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    local = by_inode.get(int(link[8:-1]))
                    if local is not None:
                        owners.setdefault(local, pid)
        self.owners = owners


def _sockets(path: str, v6: bool) -> dict[int, tuple[str, int]]:
    """inode -> local (ip, port) of the connected TCP sockets in one /proc/<pid>/net/tcp[6] table."""
    import socket

    out: dict[int, tuple[str, int]] = {}
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return out
    family = socket.AF_INET6 if v6 else socket.AF_INET
    for line in lines:
        fields = line.split()
        if len(fields) > 9 and fields[3] != b"0A":  # not LISTEN: accepted and connecting sockets
            inode = int(fields[9])
            if inode:
                out[inode] = procfs._addr(fields[1].decode(), family)
    return out


class CoverageApi:
    """``GET /coverage``: the node's account (bearer token, like the other APIs on this port)."""

    def __init__(self, node: NodeCoverage, auth: Any) -> None:
        self.node = node
        self.auth = auth

    def owns(self, path: str) -> bool:
        return path == PATH

    def handle(self, req: ApiRequest) -> ApiResponse:
        from interceptor.webauth import UNAUTHORIZED_HEADERS, AuthOutcome

        if self.auth.check(req.headers.get("Authorization")) is not AuthOutcome.OK:
            return ApiResponse(401, b'{"error": "missing or wrong bearer token"}\n', headers=dict(UNAUTHORIZED_HEADERS))
        if req.method != "GET":
            return ApiResponse(405, b'{"error": "GET only"}\n')
        return ApiResponse(200, orjson.dumps(self.node.document()) + b"\n")


class NodeCoverage:
    """The agent's side of coverage; all calls but ``document`` come from the agent's loop thread."""

    def __init__(self, cfg: Config, counters: Counters, pipeline: Any, tls: Any, output: Any, node: str,
                 path: str | None = None) -> None:
        tracker = pipeline.coverage
        tracker.node = node
        tracker.tls_active = tls is not None
        tracker.grace_s = cfg.coverage.grace_s if tls is not None else 0.0
        tracker.attribute = ProcessIndex(counters, tls, cfg.capture.proc_root)
        self.tracker = tracker
        self.node = node
        kafka = next((s for s in output.sinks if hasattr(s, "publish_side")), None)
        self.output = CoverageOutput(counters, path, kafka, cfg.coverage.topic,
                                     getattr(output.enricher, "name_endpoint", None))
        self.lock = threading.Lock()
        self.current: list[dict[str, Any]] = []
        self.last: list[dict[str, Any]] = []

    def tick(self, now: float) -> None:
        """After the pipeline's tick: publish finished intervals, refresh what the API shows."""
        finished = list(self.tracker.ready)
        self.output.take(self.tracker)
        current = self.tracker.account.flush_view(now, self.node)
        with self.lock:
            if finished:
                self.last = finished
            self.current = current

    def finish(self, now: float) -> dict[str, Any]:
        self.tracker.finish(now)
        self.tick(now)
        return self.output.close()

    def document(self) -> dict[str, Any]:
        with self.lock:
            return {"node": self.node, "current": self.current, "last": self.last}
