"""The pure index: fed with API-shaped dicts, asked (ip, port, time)."""

from __future__ import annotations

import jsonschema
import orjson

from interceptor.counters import Counters
from interceptor.enrich import ClusterIndex, Enricher
from interceptor.schema import __file__ as schema_pkg
from tests.interceptor.enrich.k8sobjects import make_pair, owned, pod, service

T0 = 1_700_000_000.0


def test_pod_deployment_container_service_node():
    idx = ClusterIndex()
    idx.apply_pod("ADDED", pod("web-7d9f-abcde", ip="10.1.0.5", labels={"app": "web", "pod-template-hash": "7d9f"},
                               owner=("ReplicaSet", "web-7d9f"), created=T0,
                               containers=[("app", [8080]), ("sidecar", [9901])]), T0 + 1)
    idx.apply_service("ADDED", service("web", selector={"app": "web"}, ports=[(80, 8080)]))
    idx.apply_service("ADDED", service("web-admin", selector={"app": "web"}, cluster_ip="10.96.0.11",
                                       ports=[(9901, "p9901")]))
    meta = idx.lookup("10.1.0.5", 8080, T0 + 5)
    # The RS was never fetched: the pod-template-hash naming rule gives the Deployment.
    assert meta == {"pod": "web-7d9f-abcde", "namespace": "shop", "workload": "web",
                    "workload_kind": "Deployment", "container": "app", "service": "web", "node": "node-a"}
    side = idx.lookup("10.1.0.5", 9901, T0 + 5)
    assert side["container"] == "sidecar" and side["service"] == "web-admin"  # named target port
    assert idx.lookup("10.96.0.10", 80, T0 + 5) == {"service": "web", "namespace": "shop"}


def test_owner_chain_from_fetched_owners():
    idx = ClusterIndex()
    idx.apply_pod("ADDED", pod("a", ip="10.1.0.6", owner=("ReplicaSet", "legacy-rs"), created=T0), T0)
    idx.apply_pod("ADDED", pod("b", ip="10.1.0.7", owner=("Job", "report-28391"), created=T0), T0)
    idx.apply_pod("ADDED", pod("c", ip="10.1.0.8", owner=("StatefulSet", "db"), created=T0), T0)
    idx.apply_pod("ADDED", pod("d", ip="10.1.0.9", created=T0), T0)
    assert idx.lookup("10.1.0.6", 1, T0)["workload_kind"] == "ReplicaSet"  # unknown yet, no hash label
    idx.apply_owner("ReplicaSet", owned("ReplicaSet", "legacy-rs", "shop", ("Deployment", "billing")))
    idx.apply_owner("Job", owned("Job", "report-28391", "shop", ("CronJob", "report")))
    assert (idx.lookup("10.1.0.6", 1, T0)["workload"], idx.lookup("10.1.0.6", 1, T0)["workload_kind"]) == \
        ("billing", "Deployment")
    assert idx.lookup("10.1.0.7", 1, T0)["workload"] == "report"
    assert idx.lookup("10.1.0.7", 1, T0)["workload_kind"] == "CronJob"
    assert idx.lookup("10.1.0.8", 1, T0)["workload_kind"] == "StatefulSet"
    assert idx.lookup("10.1.0.9", 1, T0)["workload_kind"] == "Pod"


def test_reused_ip_goes_to_the_pod_that_held_it_at_the_time():
    idx = ClusterIndex(retention_s=60)
    idx.apply_pod("ADDED", pod("old", ip="10.1.0.5", created=T0), T0)
    idx.apply_pod("DELETED", pod("old", ip="10.1.0.5", created=T0), T0 + 10)
    # The new pod was created in the same second the old one went (1 s timestamp resolution).
    idx.apply_pod("ADDED", pod("new", ip="10.1.0.5", created=T0 + 10), T0 + 10.5)
    assert idx.lookup("10.1.0.5", 8080, T0 + 9.9)["pod"] == "old"  # captured before it died
    assert idx.lookup("10.1.0.5", 8080, T0 + 10.2)["pod"] == "new"
    assert idx.lookup("10.1.0.5", 8080, T0 + 100)["pod"] == "new"
    # The new pod shows up before the old one's DELETED event: the IP moved, the old tenancy ends.
    idx.apply_pod("ADDED", pod("newer", ip="10.1.0.5", created=T0 + 200), T0 + 201)
    assert idx.lookup("10.1.0.5", 8080, T0 + 202)["pod"] == "newer"
    assert idx.lookup("10.1.0.5", 8080, T0 + 150)["pod"] == "new"
    # Retention: the old pods are forgotten, the current one stays.
    idx.expire(T0 + 400)
    assert "old" not in {p.name for p in idx.pods.values()}
    assert idx.lookup("10.1.0.5", 8080, T0 + 402)["pod"] == "newer"


def test_finished_pod_no_longer_owns_its_ip_and_relist_ends_missing_pods():
    idx = ClusterIndex()
    idx.apply_pod("ADDED", pod("job-x", ip="10.1.0.20", created=T0), T0)
    idx.apply_pod("MODIFIED", pod("job-x", ip="10.1.0.20", created=T0, phase="Succeeded"), T0 + 5)
    assert idx.lookup("10.1.0.20", 80, T0 + 4)["pod"] == "job-x"
    assert "pod" not in idx.lookup("10.1.0.20", 80, T0 + 6)
    idx.apply_pod("ADDED", pod("a", ip="10.1.0.21", created=T0), T0)
    idx.replace_pods([pod("b", ip="10.1.0.22", created=T0)], T0 + 20)  # "a" vanished while we were away
    assert "pod" not in idx.lookup("10.1.0.21", 80, T0 + 21)
    assert idx.lookup("10.1.0.22", 80, T0 + 21)["pod"] == "b"


def test_clock_skew_tolerance_never_reaches_an_ended_pod():
    idx = ClusterIndex(clock_skew_s=2)
    idx.apply_pod("ADDED", pod("p", ip="10.1.0.30", created=T0 + 100), T0 + 100)
    assert idx.lookup("10.1.0.30", 80, T0 + 99)["pod"] == "p"  # 1 s before its creationTimestamp
    assert "pod" not in idx.lookup("10.1.0.30", 80, T0 + 90)


def test_host_network_and_external():
    idx = ClusterIndex()
    idx.apply_pod("ADDED", pod("node-exporter-x", ns="monitoring", ip="192.168.5.10", host_network=True,
                               owner=("DaemonSet", "node-exporter"), containers=[("exp", [9100])]), T0)
    m = idx.lookup("192.168.5.10", 9100, T0)
    assert m["pod"] == "node-exporter-x" and m["host_network"] is True and m["workload_kind"] == "DaemonSet"
    assert idx.lookup("192.168.5.10", 22, T0) == {"host_network": True, "node": "node-a"}
    assert idx.lookup("8.8.8.8", 443, T0) == {"external": True}
    assert idx.lookup("10.200.3.4", 80, T0) == {}  # internal, not on this node: unknown, not external
    assert ClusterIndex(internal_cidrs=["10.244.0.0/16"]).lookup("10.200.3.4", 80, T0) == {"external": True}


def test_enricher_fills_meta_marks_stale_and_excludes():
    counters = Counters()
    idx = ClusterIndex(counters)
    idx.apply_pod("ADDED", pod("client", ip="10.1.0.2", created=T0), T0)
    idx.apply_pod("ADDED", pod("api", ip="10.1.0.3", created=T0, labels={"app": "api"}), T0)
    idx.apply_pod("ADDED", pod("dns", ns="kube-system", ip="10.1.0.4", created=T0), T0)
    idx.apply_service("ADDED", service("api", selector={"app": "api"}))
    synced = [True]
    enr = Enricher(idx, counters, exclude_namespaces=["kube-system"], exclude_pods=["shop/debug-*"],
                   in_sync=lambda: synced[0])
    out = enr.enrich(make_pair(("10.1.0.2", 40000), ("10.1.0.3", 8080), T0 + 1))
    assert out is not None
    rec = out.to_record()
    assert rec["src"]["pod"] == "client" and rec["dst"]["service"] == "api" and "meta_stale" not in rec["dst"]
    schema = orjson.loads(open(schema_pkg.replace("__init__.py", "pair.v1.json"), "rb").read())
    jsonschema.validate(orjson.loads(out.to_json()), schema)
    assert enr.enrich(make_pair(("10.1.0.2", 40000), ("10.1.0.4", 53), T0 + 1)) is None
    assert counters.dropped("enrich_excluded_namespace") == 1
    idx.apply_pod("ADDED", pod("debug-1", ip="10.1.0.9", created=T0), T0)
    assert enr.enrich(make_pair(("10.1.0.9", 40000), ("10.1.0.3", 8080), T0 + 1)) is None
    assert counters.dropped("enrich_excluded_pod") == 1
    synced[0] = False  # API server unreachable: pairs still flow, marked
    out = enr.enrich(make_pair(("10.1.0.2", 40000), ("10.1.0.3", 8080), T0 + 2))
    assert out is not None and out.dst.meta["meta_stale"] is True and out.dst.meta["pod"] == "api"
    assert counters.get("enrich.meta_stale") == 1
    jsonschema.validate(orjson.loads(out.to_json()), schema)


def test_include_namespaces():
    counters = Counters()
    idx = ClusterIndex(counters)
    idx.apply_pod("ADDED", pod("a", ns="shop", ip="10.1.0.2", created=T0), T0)
    idx.apply_pod("ADDED", pod("b", ns="other", ip="10.1.0.3", created=T0), T0)
    enr = Enricher(idx, counters, include_namespaces=["shop"])
    assert enr.enrich(make_pair(("10.1.0.3", 1), ("10.1.0.2", 2), T0)) is not None
    assert enr.enrich(make_pair(("10.1.0.3", 1), ("8.8.8.8", 2), T0)) is None
    assert counters.dropped("enrich_not_included_namespace") == 1
