"""End to end: `interceptor replay` with Kubernetes enrichment from a real kube-apiserver names both
ends of every pair with pod, namespace and workload. Needs root (tcpdump on loopback)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interceptor.enrich.test_watch_apiserver import api, create_pod, deployment_with_rs, owner_ref  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.k8s]
REPO = Path(__file__).resolve().parents[3]
NODE = "replay-node"


def test_replay_names_workloads(kube_apiserver, api, tmp_path: Path) -> None:  # noqa: F811
    core, apps = api
    ns = f"shop-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": ns}})
    rs = deployment_with_rs(apps, ns, "frontend", "frontend-5d8f", {"app": "frontend"})
    create_pod(core, ns, "frontend-5d8f-abcde", "127.0.0.10", node=NODE, labels={"app": "frontend"},
               owner=owner_ref(rs, "ReplicaSet", "apps/v1"))
    create_pod(core, ns, "users-api-0", "127.0.0.20", node=NODE, labels={"app": "users"}, ports=[8080])
    core.create_namespaced_service(ns, {"metadata": {"name": "users"}, "spec": {
        "selector": {"app": "users"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    # Pods are named by time (an IP may be reused), so record the traffic after they exist.
    capture = tmp_path / "sample.pcap"
    subprocess.run([sys.executable, str(REPO / "scripts/make_sample_capture.py"), str(capture)], check=True,
                   capture_output=True, timeout=60)
    cfg = tmp_path / "sensor.yaml"
    cfg.write_text(f"kubernetes:\n  enabled: true\n  kubeconfig: {kube_apiserver.kubeconfig}\n"
                   f"  node_name: {NODE}\n  exclude_namespaces: []\n")
    r = subprocess.run([sys.executable, "-m", "interceptor.cli", "replay", str(capture),
                        "--config", str(cfg), "--out", "-"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    signups = [rec for rec in records if rec["request"]["target"] == "/api/users"]
    assert len(signups) == 3
    for rec in signups:
        assert rec["src"]["pod"] == "frontend-5d8f-abcde" and rec["src"]["namespace"] == ns
        assert rec["src"]["workload"] == "frontend" and rec["src"]["workload_kind"] == "Deployment"
        assert rec["dst"]["pod"] == "users-api-0" and rec["dst"]["service"] == "users"
        assert rec["dst"]["container"] == "app" and not rec["dst"].get("meta_stale")
