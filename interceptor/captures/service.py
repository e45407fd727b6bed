"""Wires the capture feature into the agent: manager + API + routing, and the TLS plaintext tee.

``CaptureService.from_agent`` is all the agent calls; the API is mounted on the metrics port. The
TLS source is given ``PlaintextTee`` instead of the pipeline: every call goes on to the pipeline
unchanged, and records of processes in a captured pod's network namespace are also written to that
capture. Such a stream is never muted in the kernel while captured (the pipeline's "no use to me"
answer is overridden), so the capture gets its plaintext even where pairs do not.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Any

from interceptor.captures.api import CaptureApi
from interceptor.captures.manager import CaptureManager
from interceptor.captures.model import Target
from interceptor.captures.plaintext import Address
from interceptor.captures.resolve import Resolution, resolve
from interceptor.captures.routing import ClusterRouter, workload_of
from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.discovery.netns import netns_id
from interceptor.discovery.plan import namespace_skip
from interceptor.discovery.scan import scan
from interceptor.webauth import BearerAuth, load_token

log = logging.getLogger(__name__)
MAX_PID_CACHE = 50_000


class PlaintextTee:
    """Stands in for the pipeline in front of the TLS source (the same three calls)."""

    def __init__(self, pipeline: Any, manager: CaptureManager, proc_root: str = "/proc") -> None:
        self.pipeline = pipeline
        self.manager = manager
        self.proc_root = proc_root
        self._netns: dict[int, int | None] = {}  # pid -> netns inode
        self._conn_ns: dict[Hashable, int] = {}  # stream -> netns inode, while captured

    def _inode(self, conn_id: Hashable, source: dict[str, Any]) -> int | None:
        pid = source.get("pid")
        if not isinstance(pid, int):
            return None
        if pid not in self._netns:
            if len(self._netns) >= MAX_PID_CACHE:
                self._netns.clear()
            self._netns[pid] = netns_id(pid, self.proc_root)
        return self._netns[pid]

    def feed_stream(self, conn_id: Hashable, direction: int, ts: float, data: bytes, a: Any, b: Any,
                    source: dict[str, Any]) -> bool:
        useful = self.pipeline.feed_stream(conn_id, direction, ts, data, a, b, source)
        if not any(c.synth is not None for c in list(self.manager.captures.values())):
            return useful  # no capture wants plaintext: the hot path pays one check
        inode = self._inode(conn_id, source)
        if inode is None or not self.manager.wants_netns(inode):
            return useful
        self._conn_ns[conn_id] = inode
        self.manager.plaintext(inode, conn_id, ts, direction, data, Address(a.ip, a.port), Address(b.ip, b.port))
        return True

    def stream_gap(self, conn_id: Hashable, direction: int) -> None:
        self.pipeline.stream_gap(conn_id, direction)
        inode = self._conn_ns.get(conn_id)
        if inode is not None:
            self.manager.plaintext_gap(inode, conn_id, direction)

    def stream_close(self, conn_id: Hashable, ts: float) -> None:
        self.pipeline.stream_close(conn_id, ts)
        inode = self._conn_ns.pop(conn_id, None)
        if inode is not None:
            self.manager.plaintext_close(inode, conn_id, ts)

    def __getattr__(self, name: str) -> Any:  # anything else the TLS source asks of the pipeline
        return getattr(self.pipeline, name)


class CaptureService:
    def __init__(self, cfg: Config, counters: Counters, node: str, index: Any = None, index_lock: Any = None,
                 tls_available: Any = lambda: False) -> None:
        self.cfg = cfg
        self.index = index
        self.index_lock = index_lock
        self.node = node
        self.manager = CaptureManager(cfg, counters, node, lambda: scan(cfg.capture), tls_available)
        token = load_token(cfg.auth, service="captures")
        router = ClusterRouter(cfg, node, token, counters)
        self.api = CaptureApi(cfg, counters, self.manager, BearerAuth(token, counters), self.resolve, router)

    def resolve(self, target: Target, pods: list[Any] | None = None) -> Resolution:
        """Against the index, or against ``pods`` (asked of the API server) when given. Namespaces
        that capture.include/exclude_namespaces leave out are not captured either."""
        spaces = [ns for ns in scan(self.cfg.capture) if namespace_skip(ns, self.cfg.capture) is None]
        if pods is not None:
            return resolve(target, pods, workload_of, spaces, self.node)
        if self.index is None:
            return resolve(target, [], _no_workload, spaces, self.node)
        with self.index_lock:  # the watch thread mutates the index
            pods = [p for uid, p in self.index.pods.items() if uid not in self.index.gone]
            return resolve(target, pods, self.index.workload, spaces, self.node)

    def start(self) -> CaptureService:
        self.manager.start_thread()
        return self

    def close(self) -> None:
        self.manager.close()


def _no_workload(pod: Any) -> tuple[str, str]:
    return ("", "")
