"""The chart against the real test API server: server-side dry run, a real install, and the
enrichment watch running with the chart's own ServiceAccount (proves the ClusterRole suffices)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from interceptor.config import KubernetesConfig
from interceptor.counters import Counters
from interceptor.enrich import ClusterIndex, KubeWatcher
from tests.helm.test_chart import CHART

pytestmark = [pytest.mark.slow, pytest.mark.k8s]
NS = "privacy-sensor"


def helm(helm_bin: str, kube, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HELM_CACHE_HOME=str(tmp_path / "cache"), HELM_CONFIG_HOME=str(tmp_path / "config"),
               HELM_DATA_HOME=str(tmp_path / "data"), KUBECONFIG=kube.kubeconfig)
    return subprocess.run([helm_bin, *args], env=env, capture_output=True, text=True, timeout=120)


def test_dry_run_server_then_install_and_watch_with_the_charts_service_account(helm_bin, kube_apiserver, tmp_path):
    from kubernetes import client

    r = helm(helm_bin, kube_apiserver, tmp_path, "install", "t", str(CHART), "-n", NS, "--create-namespace",
             "--dry-run=server", "--set", "interceptor.securityMode=capabilities")
    assert r.returncode == 0, r.stderr
    assert "kind: DaemonSet" in r.stdout
    r = helm(helm_bin, kube_apiserver, tmp_path, "install", "t", str(CHART), "-n", NS, "--create-namespace")
    assert r.returncode == 0, r.stderr
    try:
        admin = kube_apiserver.api_client()
        core, apps = client.CoreV1Api(admin), client.AppsV1Api(admin)
        ds = apps.read_namespaced_daemon_set("t-privacy-sensor-interceptor", NS)
        assert ds.spec.template.spec.host_network and ds.spec.template.spec.host_pid
        # A token of the chart's ServiceAccount (TokenRequest; signed by the API server's SA key).
        tok = core.create_namespaced_service_account_token("t-privacy-sensor", NS, {"spec": {
            "audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 600}}).status.token
        conf = client.Configuration()
        conf.host = kube_apiserver.url
        conf.ssl_ca_cert = str(kube_apiserver.workdir / "ca.crt")
        conf.api_key = {"authorization": f"Bearer {tok}"}
        sa_client = client.ApiClient(conf)
        with pytest.raises(client.ApiException) as e:
            client.CoreV1Api(sa_client).list_secret_for_all_namespaces()
        assert e.value.status == 403  # read-only on what enrichment needs, nothing else

        # A pod owned by a ReplicaSet owned by a Deployment: the watch and the owner GET must work.
        labels = {"app": "pay"}
        tmpl = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
        d = apps.create_namespaced_deployment(NS, {"metadata": {"name": "pay"}, "spec": {
            "replicas": 0, "selector": {"matchLabels": labels}, "template": tmpl}})
        rs = apps.create_namespaced_replica_set(NS, {"metadata": {"name": "pay-rs", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "pay", "uid": d.metadata.uid,
             "controller": True}]}, "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": tmpl}})
        core.create_namespaced_pod(NS, {"metadata": {"name": "pay-1", "labels": labels, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "pay-rs", "uid": rs.metadata.uid,
             "controller": True}]}, "spec": {"nodeName": "node-sa", "containers": [{"name": "c", "image": "x"}]}})
        core.patch_namespaced_pod_status("pay-1", NS, {"status": {"phase": "Running", "podIP": "10.244.9.9",
                                                                  "podIPs": [{"ip": "10.244.9.9"}]}})
        counters = Counters()
        w = KubeWatcher(KubernetesConfig(enabled=True), ClusterIndex(counters), counters, sa_client,
                        node_name="node-sa")
        w.start()
        try:
            assert w.wait_synced(30)
            deadline = time.monotonic() + 20
            meta: dict = {}
            while time.monotonic() < deadline:
                with w.lock:
                    meta = w.index.lookup("10.244.9.9", 80, time.time())
                if meta.get("workload_kind") == "Deployment":
                    break
                time.sleep(0.1)
            assert meta.get("workload") == "pay" and meta.get("workload_kind") == "Deployment", meta
            assert counters.get("k8s.owner_fetch_errors") == 0 and counters.get("k8s.pods.errors") == 0
        finally:
            w.stop()
    finally:
        helm(helm_bin, kube_apiserver, tmp_path, "uninstall", "t", "-n", NS)
