"""The thin I/O adapter: list + watch pods and services with the official client, feed the index.

One thread per resource. Each loop lists (paginated) and then watches from the list's
resourceVersion; a watch that ends is resumed from the last resourceVersion seen (bookmarks keep
it fresh); ``410 Gone`` triggers a relist. Any error marks the loop out of sync and waits with
exponential backoff and jitter on an Event, so an unreachable API server costs no CPU and stops
nothing else: the enricher keeps answering from the index, marking pairs ``meta_stale``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from interceptor.config import ConfigError, KubernetesConfig
from interceptor.counters import Counters
from interceptor.enrich.index import ClusterIndex
from interceptor.enrich.objects import OwnerRef, parse_pod

log = logging.getLogger(__name__)
LIST_PAGE = 500
EXPIRE_EVERY_S = 10.0


def _unblock(resp: Any) -> None:
    """Wake a thread blocked reading a watch response.

    ``resp.close()`` from another thread blocks on the SSL object the reader holds; a plain
    socket-level shutdown does not, and makes the blocked read return at once.
    """
    sock = getattr(getattr(resp, "connection", None), "sock", None)
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class Gone(Exception):
    """410: the resourceVersion is too old; relist."""


def make_api_client(cfg: KubernetesConfig) -> k8s.ApiClient:
    """From ``kubeconfig`` when set, else the in-cluster service account."""
    if cfg.kubeconfig:
        conf = k8s.Configuration()
        try:
            k8s_config.load_kube_config(config_file=cfg.kubeconfig, client_configuration=conf)
        except Exception as e:  # noqa: BLE001 - the client raises many kinds; name the key
            raise ConfigError(f"kubernetes.kubeconfig: cannot load {cfg.kubeconfig}: {e}") from None
    else:
        conf = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=conf)
        except k8s_config.ConfigException as e:
            raise ConfigError(f"kubernetes.kubeconfig: empty and not in a cluster: {e}") from None
    conf.retries = 1  # our loops back off; urllib3's immediate retries would only add load
    return k8s.ApiClient(conf)


def node_name_for(cfg: KubernetesConfig, fallback: str = "", env: dict[str, str] | None = None) -> str:
    """``kubernetes.node_name``, else the top-level ``node_name``, else env NODE_NAME (downward API)."""
    node = cfg.node_name or fallback or (env if env is not None else os.environ).get("NODE_NAME", "")
    if cfg.scope == "node" and not node:
        raise ConfigError("kubernetes.node_name: empty and NODE_NAME not set (or set kubernetes.scope: cluster)")
    return node


class _Resource:
    """How to list/watch/apply one kind."""

    def __init__(self, name: str, call: Callable[..., Any], field_selector: str,
                 replace: Callable[[list[dict[str, Any]], float], None],
                 apply: Callable[[str, dict[str, Any], float], None]) -> None:
        self.name = name
        self.call = call
        self.field_selector = field_selector
        self.replace = replace
        self.apply = apply


class KubeWatcher:
    """Owns the watch threads; ``in_sync()`` tells the enricher whether its answers are current."""

    def __init__(self, cfg: KubernetesConfig, index: ClusterIndex, counters: Counters,
                 api: k8s.ApiClient, node_name: str = "") -> None:
        self.cfg = cfg
        self.index = index
        self.counters = counters
        self.lock = threading.Lock()  # guards the index; shared with the Enricher
        self._stop = threading.Event()
        self._core = k8s.CoreV1Api(api)
        self._apps = k8s.AppsV1Api(api)
        self._batch = k8s.BatchV1Api(api)
        self._threads: list[threading.Thread] = []
        self._responses: dict[str, Any] = {}
        self._synced: dict[str, bool] = {}
        self._last_expire = 0.0
        self.last_error = ""
        pod_selector = f"spec.nodeName={node_name}" if cfg.scope == "node" and node_name else ""
        self.resources = [
            _Resource("pods", self._core.list_pod_for_all_namespaces, pod_selector,
                      self._replace_pods, self._apply_pod),
            _Resource("services", self._core.list_service_for_all_namespaces, "",
                      lambda items, now: self.index.replace_services(items),
                      lambda ev, obj, now: self.index.apply_service(ev, obj)),
        ]

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        for res in self.resources:
            self._synced[res.name] = False
            t = threading.Thread(target=self._run, args=(res,), name=f"k8s-watch-{res.name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every thread within ``timeout`` in total: open watches are woken (and a watch opened
        while stopping closes itself, see ``_watch``); nothing is counted or logged as an error."""
        self._stop.set()
        for resp in list(self._responses.values()):
            _unblock(resp)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def in_sync(self) -> bool:
        return bool(self._synced) and all(self._synced.values())

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.in_sync() and time.monotonic() < deadline and not self._stop.is_set():
            self._stop.wait(0.05)
        return self.in_sync()

    # ---- one resource's loop ---------------------------------------------------------------------

    def _run(self, res: _Resource) -> None:
        backoff = self.cfg.backoff_initial_s
        rv: str | None = None
        listed_at = 0.0
        while not self._stop.is_set():
            started = time.monotonic()
            events = 0
            try:
                resync_due = self.cfg.resync_s > 0 and time.monotonic() - listed_at > self.cfg.resync_s
                if rv is None or resync_due:
                    rv = self._list(res)
                    listed_at = time.monotonic()
                for event in self._watch(res, rv):
                    events += 1
                    rv = self._handle(res, event) or rv
            except Gone:
                self.counters.inc(f"k8s.{res.name}.relist_gone")
                rv = None
                self._stop.wait(self.cfg.backoff_initial_s)  # relist soon, but never in a tight loop
                continue
            except Exception as e:  # noqa: BLE001 - any failure: out of sync, back off, retry
                if self._stop.is_set():  # our own stop() woke the read: not a lost watch
                    break
                if self._synced.get(res.name):
                    log.warning("kubernetes %s watch lost (%s: %s); pairs are marked meta_stale until it "
                                "is back", res.name, type(e).__name__, str(e)[:200])
                self._synced[res.name] = False
                self.counters.inc(f"k8s.{res.name}.errors")
                self.counters.set_gauge(f"k8s.{res.name}.last_error_at", time.time())
                self.last_error = f"{res.name}: {type(e).__name__}: {e}"[:300]
            else:
                if events or time.monotonic() - started > 1.0:
                    backoff = self.cfg.backoff_initial_s
                    self.counters.inc(f"k8s.{res.name}.watch_resumed")
                    continue
                # A watch that ended at once with nothing: do not loop hot on it.
                self.counters.inc(f"k8s.{res.name}.watch_empty")
            self._stop.wait(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, self.cfg.backoff_max_s)

    def _list(self, res: _Resource) -> str:
        """Paginated list; replaces the index's view of this kind; returns the resourceVersion."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": LIST_PAGE, "_preload_content": False,
                                      "_request_timeout": self.cfg.request_timeout_s}
            if token:
                kwargs["_continue"] = token
            body = json.loads(self._call(res, kwargs).data)
            items.extend(body.get("items") or [])
            meta = body.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                break
        now = time.time()
        with self.lock:
            res.replace(items, now)
        self.counters.inc(f"k8s.{res.name}.lists")
        if res.name == "pods":
            # Owners first (ReplicaSet -> Deployment, Job -> CronJob): a replay waiting for the sync
            # must not enrich pairs before the index can name the workload.
            self._resolve_owners(items)
        self._synced[res.name] = True
        return meta.get("resourceVersion") or ""

    @staticmethod
    def _call(res: _Resource, kwargs: dict[str, Any]) -> Any:
        """One list or watch request; 410 Gone (resourceVersion too old) becomes Gone: relist."""
        if res.field_selector:
            kwargs["field_selector"] = res.field_selector
        try:
            return res.call(**kwargs)
        except ApiException as e:
            if e.status == 410:
                raise Gone() from None
            raise

    def _watch(self, res: _Resource, rv: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "watch": True, "resource_version": rv, "allow_watch_bookmarks": True,
            "timeout_seconds": int(self.cfg.watch_timeout_s), "_preload_content": False,
            "_request_timeout": (self.cfg.request_timeout_s, self.cfg.watch_timeout_s + 30),
        }
        resp = self._call(res, kwargs)
        self._responses[res.name] = resp
        self._synced[res.name] = True  # connected and resuming from a known resourceVersion
        try:
            if self._stop.is_set():  # stop() ran while this watch was being opened: it missed it
                return
            for line in iter_resp_lines(resp):
                if self._stop.is_set():
                    return
                yield json.loads(line)
        finally:
            self._responses.pop(res.name, None)
            resp.release_conn()

    def _handle(self, res: _Resource, event: dict[str, Any]) -> str | None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise RuntimeError(f"watch error: {obj.get('message')}")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            return rv
        now = time.time()
        with self.lock:
            res.apply(kind or "", obj, now)
            if now - self._last_expire > EXPIRE_EVERY_S:
                self._last_expire = now
                self.index.expire(now)
        self.counters.inc(f"k8s.{res.name}.events")
        if res.name == "pods" and kind != "DELETED":
            self._resolve_owners([obj])
        return rv

    # ---- pods and their owners -------------------------------------------------------------------

    def _replace_pods(self, items: list[dict[str, Any]], now: float) -> None:
        self.index.replace_pods(items, now)

    def _apply_pod(self, event: str, obj: dict[str, Any], now: float) -> None:
        self.index.apply_pod(event, obj, now)

    def _resolve_owners(self, objs: list[dict[str, Any]]) -> None:
        """GET each unknown ReplicaSet/Job once, to learn its Deployment/CronJob.

        Runs outside the index lock: a slow API server must never hold up ``Enricher.enrich``.
        """
        wanted: dict[tuple[str, str, str], OwnerRef] = {}
        with self.lock:
            for obj in objs:
                pod = parse_pod(obj)
                owner = self.index.missing_owner(pod)
                if owner is not None:
                    wanted[(pod.namespace, owner.kind, owner.name)] = owner
        for (ns, kind, _), owner in wanted.items():
            if self._stop.is_set():
                return
            fetched = self._fetch_owner(ns, owner)
            if fetched is None:
                return  # API server trouble: do not queue up more timeouts; retried later
            with self.lock:
                self.index.apply_owner(kind, fetched)

    def _fetch_owner(self, ns: str, owner: OwnerRef) -> dict[str, Any] | None:
        read = (self._apps.read_namespaced_replica_set if owner.kind == "ReplicaSet"
                else self._batch.read_namespaced_job)
        try:
            resp = read(owner.name, ns, _preload_content=False, _request_timeout=self.cfg.request_timeout_s)
            self.counters.inc("k8s.owner_fetches")
            return json.loads(resp.data)
        except ApiException as e:
            self.counters.inc("k8s.owner_fetch_errors")
            if e.status in (403, 404):  # no RBAC or already gone: remember, do not ask again
                return {"metadata": {"namespace": ns, "name": owner.name}}
            return None
        except Exception:  # noqa: BLE001 - unreachable: retried on the pod's next event or relist
            self.counters.inc("k8s.owner_fetch_errors")
            return None
