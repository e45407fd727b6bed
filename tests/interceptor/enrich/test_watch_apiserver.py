"""Enrichment against a real kube-apiserver: list+watch, owners, IP reuse, an API server outage."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from interceptor.config import KubernetesConfig
from interceptor.counters import Counters
from interceptor.enrich import ClusterIndex, Enricher, KubeWatcher
from tests.interceptor.enrich.k8sobjects import make_pair

pytestmark = [pytest.mark.slow, pytest.mark.k8s]

NODE = "node-a"


def wait_for(cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def api(kube_apiserver):
    from kubernetes import client

    c = kube_apiserver.api_client()
    yield client.CoreV1Api(c), client.AppsV1Api(c)
    c.close()


@pytest.fixture
def ns(api) -> Iterator[str]:
    core, _ = api
    name = f"shop-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)  # stays Terminating (no controller-manager); etcd is per session


def create_pod(core, ns: str, name: str, ip: str, node: str = NODE, labels: dict | None = None,
               owner: dict | None = None, ports: list[int] | None = None) -> dict:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if owner:
        meta["ownerReferences"] = [owner]
    body = {"metadata": meta, "spec": {"nodeName": node, "containers": [
        {"name": "app", "image": "example/app:1", "ports": [{"containerPort": p} for p in ports or [8080]]},
        {"name": "metrics-sidecar", "image": "example/side:1", "ports": [{"containerPort": 9102}]}]}}
    pod = core.create_namespaced_pod(ns, body)
    # No kubelet: give the pod its IP the way a kubelet would, by a status patch.
    core.patch_namespaced_pod_status(name, ns, {"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "192.168.50.10"}})
    return pod


def owner_ref(obj, kind: str, api_version: str) -> dict:
    return {"apiVersion": api_version, "kind": kind, "name": obj.metadata.name, "uid": obj.metadata.uid,
            "controller": True}


def deployment_with_rs(apps, ns: str, deploy: str, rs_name: str, labels: dict) -> Any:
    tmpl = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "example/app:1"}]}}
    d = apps.create_namespaced_deployment(ns, {"metadata": {"name": deploy}, "spec": {
        "replicas": 0, "selector": {"matchLabels": labels}, "template": tmpl}})
    return apps.create_namespaced_replica_set(ns, {"metadata": {
        "name": rs_name, "labels": labels, "ownerReferences": [owner_ref(d, "Deployment", "apps/v1")]},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": tmpl}})


@pytest.fixture
def watcher(kube_apiserver) -> Iterator[tuple[KubeWatcher, Enricher, Counters]]:
    cfg = KubernetesConfig(enabled=True, kubeconfig=kube_apiserver.kubeconfig, backoff_initial_s=0.2,
                           backoff_max_s=2.0, exclude_namespaces=[])
    counters = Counters()
    index = ClusterIndex(counters)
    w = KubeWatcher(cfg, index, counters, kube_apiserver.api_client(), node_name=NODE)
    enr = Enricher(index, counters, in_sync=w.in_sync, lock=w.lock)
    w.start()
    assert w.wait_synced(30), "watch never synced"
    yield w, enr, counters
    w.stop()


def lookup(w: KubeWatcher, ip: str, port: int, ts: float | None = None) -> dict:
    with w.lock:
        return w.index.lookup(ip, port, time.time() if ts is None else ts)


def test_pods_owners_services_from_the_api_server(api, ns, watcher):
    core, apps = api
    w, enr, counters = watcher
    rs = deployment_with_rs(apps, ns, "billing", "legacy-billing-rs", {"app": "billing"})
    create_pod(core, ns, "billing-1", "10.244.1.10", labels={"app": "billing"},
               owner=owner_ref(rs, "ReplicaSet", "apps/v1"))
    create_pod(core, ns, "client", "10.244.1.11")
    create_pod(core, ns, "elsewhere", "10.244.2.20", node="node-b")  # not this node: not watched
    svc = core.create_namespaced_service(ns, {"metadata": {"name": "billing-api"}, "spec": {
        "selector": {"app": "billing"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    cluster_ip = svc.spec.cluster_ip

    meta = wait_for(lambda: (m := lookup(w, "10.244.1.10", 8080)).get("workload") == "billing"
                    and "service" in m and m, what="billing pod enriched with its Deployment and service")
    # The ReplicaSet name carries no pod-template-hash: the Deployment came from the owner GET.
    assert meta == {"pod": "billing-1", "namespace": ns, "workload": "billing", "workload_kind": "Deployment",
                    "container": "app", "service": "billing-api", "node": NODE}
    assert lookup(w, "10.244.1.10", 9102)["container"] == "metrics-sidecar"
    wait_for(lambda: lookup(w, cluster_ip, 80).get("service"), what="ClusterIP known")
    assert lookup(w, cluster_ip, 80) == {"service": "billing-api", "namespace": ns}
    assert lookup(w, "10.244.2.20", 8080) == {}  # another node's pod: internal, unknown here
    assert counters.get("k8s.owner_fetches") >= 1

    pair = enr.enrich(make_pair(("10.244.1.11", 41000), (cluster_ip, 80), time.time()))
    assert pair is not None
    assert pair.src.to_record()["pod"] == "client" and pair.src.meta["workload_kind"] == "Pod"
    assert pair.dst.meta["service"] == "billing-api" and "meta_stale" not in pair.dst.meta
    ext = enr.enrich(make_pair(("10.244.1.11", 41001), ("93.184.216.34", 443), time.time()))
    assert ext is not None and ext.dst.meta == {"external": True}


def test_reused_pod_ip_is_not_attributed_to_the_old_pod(api, ns, watcher):
    core, _ = api
    w, _, _ = watcher
    create_pod(core, ns, "old", "10.244.1.50")
    wait_for(lambda: lookup(w, "10.244.1.50", 8080).get("pod") == "old", what="old pod")
    t_old = time.time()
    time.sleep(0.2)
    core.delete_namespaced_pod("old", ns, grace_period_seconds=0)
    wait_for(lambda: "pod" not in lookup(w, "10.244.1.50", 8080), what="old pod gone")
    time.sleep(1.1)  # the new pod's creationTimestamp (1 s resolution) is after the old one's end
    create_pod(core, ns, "new", "10.244.1.50")
    wait_for(lambda: lookup(w, "10.244.1.50", 8080).get("pod") == "new", what="new pod")
    assert lookup(w, "10.244.1.50", 8080, ts=t_old)["pod"] == "old"  # a pair captured back then
    assert lookup(w, "10.244.1.50", 8080)["pod"] == "new"


def test_api_server_restart_mid_watch_resumes_and_stays_idle(kube_apiserver, api, ns, watcher):
    core, _ = api
    w, enr, counters = watcher
    create_pod(core, ns, "before", "10.244.1.60")
    wait_for(lambda: lookup(w, "10.244.1.60", 8080).get("pod") == "before", what="pod before outage")
    proc = psutil.Process()
    kube_apiserver.stop_apiserver()
    wait_for(lambda: not w.in_sync(), timeout=30, what="watch noticing the outage")
    cpu0, t0 = sum(proc.cpu_times()[:2]), time.monotonic()
    time.sleep(8)
    cpu = sum(proc.cpu_times()[:2]) - cpu0
    outage = time.monotonic() - t0
    # Meanwhile pairs still flow, with what is known, marked stale.
    pair = enr.enrich(make_pair(("10.244.1.60", 40000), ("10.244.1.99", 8080), time.time()))
    assert pair is not None and pair.src.meta["pod"] == "before" and pair.src.meta["meta_stale"] is True
    print(f"\nCPU during a {outage:.1f} s API server outage: {cpu:.3f} s "
          f"({100 * cpu / outage:.1f} %), errors={counters.get('k8s.pods.errors')}")
    assert cpu < 0.05 * outage, f"watch loop used {cpu:.2f} s CPU in {outage:.1f} s of outage"
    assert counters.get("k8s.pods.errors") <= 12  # backoff: a handful of attempts, not a spin

    kube_apiserver.start_apiserver()
    create_pod(core, ns, "after", "10.244.1.61")
    wait_for(lambda: lookup(w, "10.244.1.61", 8080).get("pod") == "after", timeout=40, what="pod after restart")
    wait_for(w.in_sync, what="in sync again")
    pair = enr.enrich(make_pair(("10.244.1.61", 40000), ("10.244.1.60", 8080), time.time()))
    assert pair is not None and "meta_stale" not in pair.src.meta and pair.dst.meta["pod"] == "before"
    print(f"resumed: watch_resumed={counters.get('k8s.pods.watch_resumed')} "
          f"relists_after_410={counters.get('k8s.pods.relist_gone')} lists={counters.get('k8s.pods.lists')} "
          f"apiserver start {kube_apiserver.start_seconds:.1f} s")


def test_watch_resumes_from_its_resource_version_without_relisting(kube_apiserver, api, ns):
    core, _ = api
    cfg = KubernetesConfig(enabled=True, kubeconfig=kube_apiserver.kubeconfig, watch_timeout_s=1,
                           exclude_namespaces=[])
    counters = Counters()
    w = KubeWatcher(cfg, ClusterIndex(counters), counters, kube_apiserver.api_client(), node_name=NODE)
    w.start()
    try:
        assert w.wait_synced(30)
        # The server ends each watch after 1 s: wait until two were resumed (not a fixed 3.5 s).
        wait_for(lambda: counters.get("k8s.pods.watch_resumed") >= 2, what="two resumed watches")
        create_pod(core, ns, "late", "10.244.1.70")
        wait_for(lambda: lookup(w, "10.244.1.70", 8080).get("pod") == "late", what="pod after resumed watches")
        assert counters.get("k8s.pods.watch_resumed") >= 2
        assert counters.get("k8s.pods.lists") == 1 and counters.get("k8s.pods.errors") == 0
    finally:
        w.stop()


def test_start_enrichment_from_config_file_excludes_kube_system(kube_apiserver, api, ns, tmp_path):
    from interceptor.config import load_config
    from interceptor.enrich import start_enrichment

    core, _ = api
    create_pod(core, ns, "shop-api", "10.244.1.80")
    create_pod(core, "kube-system", f"coredns-{ns}", "10.244.1.81")
    p = tmp_path / "config.yaml"
    p.write_text(f"kubernetes:\n  enabled: true\n  kubeconfig: {kube_apiserver.kubeconfig}\n")
    cfg = load_config(p, env={})
    counters = Counters()
    old = os.environ.get("NODE_NAME")
    os.environ["NODE_NAME"] = NODE  # the downward API's env, as in the chart
    try:
        enricher, watcher = start_enrichment(cfg, counters)
    finally:
        if old is None:
            os.environ.pop("NODE_NAME")
        else:
            os.environ["NODE_NAME"] = old
    try:
        assert watcher.wait_synced(30)
        wait_for(lambda: lookup(watcher, "10.244.1.81", 53).get("namespace") == "kube-system", what="dns pod")
        kept = enricher.enrich(make_pair(("10.244.1.80", 40000), ("8.8.8.8", 443), time.time()))
        assert kept is not None and kept.src.meta["pod"] == "shop-api" and kept.dst.meta == {"external": True}
        assert enricher.enrich(make_pair(("10.244.1.80", 40000), ("10.244.1.81", 53), time.time())) is None
        assert counters.dropped("enrich_excluded_namespace") == 1
    finally:
        watcher.stop()


def test_sync_waits_for_owners_and_stop_is_quick_and_quiet(kube_apiserver, api, ns, caplog):
    """A replay waits for the sync before enriching: the sync includes the owner look-ups, so a pod
    of a CronJob's Job is named after the CronJob at once. stop() returns at once, without a
    "watch lost" line or an error counted."""
    import logging

    from kubernetes import client

    core, _ = api
    batch = client.BatchV1Api(kube_apiserver.api_client())
    tmpl = {"spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": "example/report:1"}]}}
    cj = batch.create_namespaced_cron_job(ns, {"metadata": {"name": "nightly-report"}, "spec": {
        "schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": tmpl}}}})
    job = batch.create_namespaced_job(ns, {"metadata": {"name": "nightly-report-29001",
                                                        "ownerReferences": [owner_ref(cj, "CronJob", "batch/v1")]},
                                           "spec": {"template": tmpl}})
    create_pod(core, ns, "nightly-report-29001-x7k2p", "10.244.1.77", owner=owner_ref(job, "Job", "batch/v1"))
    cfg = KubernetesConfig(enabled=True, kubeconfig=kube_apiserver.kubeconfig, backoff_initial_s=0.2,
                           backoff_max_s=2.0, exclude_namespaces=[])
    for _ in range(3):  # the race showed in 5 of 6 replays: a few fresh starts
        counters = Counters()
        w = KubeWatcher(cfg, ClusterIndex(counters), counters, kube_apiserver.api_client(), node_name=NODE)
        w.start()
        assert w.wait_synced(30)
        meta = lookup(w, "10.244.1.77", 8080)  # right after the sync, no waiting
        assert (meta.get("workload"), meta.get("workload_kind")) == ("nightly-report", "CronJob"), meta
        wait_for(lambda: w._responses, what="watches open")  # noqa: B023 - this iteration's watcher
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="interceptor.enrich.watch"):
            started = time.monotonic()
            w.stop()
            took = time.monotonic() - started
        assert took < 2.0, took
        assert not [r for r in caplog.records if "watch lost" in r.getMessage()]
        assert not {k: v for k, v in counters.counts.items() if k.endswith(".errors")}
