"""The Helm chart: lint, render several value sets, validate offline, assert what matters."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from interceptor.config import load_config

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "privacy-sensor"
KUBE_VERSION = "1.37.0"
MONITORING = "monitoring.coreos.com/v1"

VALUE_SETS: dict[str, list[str]] = {
    "defaults": [],
    "capabilities": ["--set", "interceptor.securityMode=capabilities"],
    "external-kafka-tls-sasl": [
        "--set", "kafka.bootstrapServers=kafka-0.kafka:9093\\,kafka-1.kafka:9093",
        "--set", "kafka.tls.enabled=true", "--set", "kafka.tls.secretName=kafka-ca",
        "--set", "kafka.tls.certKey=tls.crt", "--set", "kafka.tls.keyKey=tls.key",
        "--set", "kafka.sasl.enabled=true", "--set", "kafka.sasl.secretName=kafka-user",
        "--set", "mapService.persistence.enabled=true", "--set", "processor.replicas=4",
    ],
    "monitors-no-headers": [
        "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.podMonitor.enabled=true",
        "--set", "interceptor.kernelHeaders.enabled=false", "--api-versions", f"{MONITORING}/ServiceMonitor",
        "--api-versions", f"{MONITORING}/PodMonitor",
        "--set-json", 'config={"filters":{"keep_all":true},"kubernetes":{"exclude_namespaces":["kube-system","mon"]}}',
        "--set-json", 'interceptor.tolerations=[{"operator":"Exists"}]',
    ],
}


def render(helm: str, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run([helm, "template", "t", str(CHART), "--namespace", "sensor",
                          "--kube-version", KUBE_VERSION, *args], check=True, capture_output=True, text=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def find(docs: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"].endswith(suffix):
            return d
    raise AssertionError(f"no {kind} *{suffix} rendered")


def agent_config(docs: list[dict[str, Any]], tmp_path: Path):
    cm = find(docs, "ConfigMap")
    p = tmp_path / "config.yaml"
    p.write_text(cm["data"]["config.yaml"])
    return load_config(p, env={})  # the agent's own loader: unknown keys or bad types would raise


def test_lint_strict(helm_bin):
    for name, args in VALUE_SETS.items():
        args = [a for a in args if not a.startswith("--api-versions") and MONITORING not in a]
        if "monitors" in name:
            continue  # needs --api-versions, which lint does not take
        r = subprocess.run([helm_bin, "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, *args],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{name}: {r.stdout}{r.stderr}"


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_rendered_manifests_validate_strictly(helm_bin, name, tmp_path):
    if not shutil.which("kubernetes-validate"):
        pytest.skip("kubernetes-validate not installed (pip install kubernetes-validate)")
    docs = render(helm_bin, *VALUE_SETS[name])
    core = [d for d in docs if not d["apiVersion"].startswith("monitoring.coreos.com")]
    f = tmp_path / "rendered.yaml"
    f.write_text(yaml.safe_dump_all(core))
    r = subprocess.run(["kubernetes-validate", "--strict", "-k", KUBE_VERSION, str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("passed") == len(core)
    agent_config(docs, tmp_path)


def test_interceptor_daemonset_privileged(helm_bin, tmp_path):
    docs = render(helm_bin)
    ds = find(docs, "DaemonSet", "-interceptor")
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True and spec["hostPID"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    (c,) = spec["containers"]
    assert c["securityContext"]["privileged"] is True
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for path in ("/host/proc", "/sys", "/sys/kernel/debug", "/sys/kernel/tracing", "/usr/src", "/lib/modules",
                 "/etc/privacy-sensor/config.yaml"):
        assert path in mounts, path
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes[mounts["/host/proc"]["name"]]["hostPath"]["path"] == "/proc"
    assert volumes[mounts["/sys/kernel/tracing"]["name"]]["hostPath"]["path"] == "/sys/kernel/tracing"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["ports"] == [{"name": "metrics", "containerPort": 18954, "protocol": "TCP"}]
    assert c["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "1536Mi"}}
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    cfg = agent_config(docs, tmp_path)
    assert spec["terminationGracePeriodSeconds"] > cfg.metrics.stop_timeout_s  # the flush fits
    assert cfg.metrics.listen == "0.0.0.0:18954" and cfg.kubernetes.enabled
    assert cfg.capture.proc_root == "/host/proc"
    assert cfg.kafka.bootstrap_servers == "t-privacy-sensor-kafka:9092"  # the bundled broker
    find(docs, "StatefulSet", "-kafka")


def test_least_privilege_capabilities(helm_bin):
    docs = render(helm_bin, *VALUE_SETS["capabilities"])
    (c,) = find(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"]
    sc = c["securityContext"]
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"],
                                  "add": ["NET_ADMIN", "NET_RAW", "SYS_ADMIN", "BPF", "PERFMON", "SYS_PTRACE"]}


def test_processor_and_map_run_as_non_root(helm_bin):
    docs = render(helm_bin, *VALUE_SETS["external-kafka-tls-sasl"])
    for suffix in ("-processor", "-map"):
        spec = find(docs, "Deployment", suffix)["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 10001
        assert spec["automountServiceAccountToken"] is False
        assert spec["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert find(docs, "Deployment", "-processor")["spec"]["replicas"] == 4


def test_external_kafka_tls_and_sasl_from_secrets(helm_bin, tmp_path):
    docs = render(helm_bin, *VALUE_SETS["external-kafka-tls-sasl"])
    assert not [d for d in docs if d["kind"] == "StatefulSet"]  # no bundled broker
    cfg = agent_config(docs, tmp_path)
    assert cfg.kafka.bootstrap_servers == "kafka-0.kafka:9093,kafka-1.kafka:9093"
    assert cfg.kafka.security_protocol == "SASL_SSL" and cfg.kafka.sasl_mechanism == "SCRAM-SHA-512"
    assert cfg.kafka.ssl_ca_location == "/etc/privacy-sensor/kafka-tls/ca.crt"
    assert cfg.kafka.ssl_key_location == "/etc/privacy-sensor/kafka-tls/tls.key"
    assert cfg.kafka.sasl_password == ""  # never in the ConfigMap
    c = find(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    assert env["SENSOR__KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "kafka-user",
                                                                                 "key": "password"}
    assert "/etc/privacy-sensor/kafka-tls" in {m["mountPath"] for m in c["volumeMounts"]}
    find(docs, "PersistentVolumeClaim", "-map")


def test_monitors_and_config_overrides(helm_bin, tmp_path):
    docs = render(helm_bin, *VALUE_SETS["monitors-no-headers"])
    sm = find(docs, "ServiceMonitor")
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert find(docs, "PodMonitor")["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"
    cfg = agent_config(docs, tmp_path)
    assert cfg.filters.keep_all is True and cfg.kubernetes.exclude_namespaces == ["kube-system", "mon"]
    spec = find(docs, "DaemonSet")["spec"]["template"]["spec"]
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert "/usr/src" not in {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    # Without the Prometheus Operator's CRDs the chart refuses with a message, not a broken install.
    r = subprocess.run([helm_bin, "template", "t", str(CHART), "--kube-version", KUBE_VERSION,
                        "--set", "metrics.serviceMonitor.enabled=true"], capture_output=True, text=True)
    assert r.returncode != 0 and "Prometheus Operator" in r.stderr


def test_rbac_is_exactly_what_enrichment_uses(helm_bin):
    role = find(render(helm_bin), "ClusterRole")
    rules = {(g, r): sorted(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"]
             for r in rule["resources"]}
    assert rules == {("", "pods"): ["get", "list", "watch"], ("", "services"): ["list", "watch"],
                     ("apps", "replicasets"): ["get"], ("batch", "jobs"): ["get"]}


@pytest.mark.parametrize("args, message", [
    (["--set", "interceptor.securityMode=root"], "securityMode"),
    (["--set", "config.kubernetes.scope=galaxy"], "scope"),
    (["--set", "config.core.max_flows=lots"], "max_flows"),
    (["--set", "config.kafka.no_such_key=1"], "no_such_key"),
    (["--set", "metrics.port=70000"], "port"),
    (["--set", "kafka.bundled.enabled=false"], "kafka.bootstrapServers"),
    (["--set", "kafka.bootstrapServers=b:9092", "--set", "kafka.sasl.enabled=true"], "kafka.sasl.secretName"),
])
def test_wrong_values_fail_with_a_clear_message(helm_bin, args, message):
    r = subprocess.run([helm_bin, "template", "t", str(CHART), "--kube-version", KUBE_VERSION, *args],
                       capture_output=True, text=True)
    assert r.returncode != 0 and message in r.stderr, r.stderr


def test_values_schema_is_generated_from_the_config_model():
    gen = subprocess.run([sys.executable, "-c", "import runpy,sys; sys.argv=['x'];"
                          "m=runpy.run_path('helm/gen_values_schema.py'); print(m['render'](), end='')"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    assert gen.stdout == (CHART / "values.schema.json").read_text(), \
        "values.schema.json is stale: run python3 helm/gen_values_schema.py"


def test_hub_deployment_service_and_token_from_a_secret(helm_bin):
    docs = render(helm_bin)
    hub, svc = find(docs, "Deployment", "-hub"), find(docs, "Service", "-hub")
    c = hub["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["processor"] and c["args"][-3:] == ["hub", "--listen", "0.0.0.0:8899"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "ws"}
    assert svc["spec"]["ports"] == [{"name": "ws", "port": 8899, "targetPort": "ws", "protocol": "TCP"},
                                    {"name": "captures", "port": 8900, "targetPort": "captures", "protocol": "TCP"}]
    # the capture API on :8900 (captures.hub_listen) asks the API server for a pod's node
    assert {"name": "captures", "containerPort": 8900, "protocol": "TCP"} in c["ports"]
    assert hub["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
    no_captures = find(render(helm_bin, "--set", "hub.captures.enabled=false"), "Deployment", "-hub")
    assert no_captures["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    secret = find(docs, "Secret", "-auth")
    assert len(secret["data"]["token"]) > 40
    agent = find(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    for container in (c, agent):  # the token reaches both stream endpoints as env, never the ConfigMap
        env = {e["name"]: e for e in container["env"]}
        assert env["SENSOR__AUTH__TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": secret["metadata"]["name"],
                                                                          "key": "token"}
    own = render(helm_bin, "--set", "auth.secretName=mine", "--set", "auth.rawTokenKey=raw",
                 "--set", "hub.service.type=LoadBalancer")
    assert not [d for d in own if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-auth")]
    env = {e["name"]: e for e in find(own, "Deployment", "-hub")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SENSOR__AUTH__RAW_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "mine", "key": "raw"}
    assert find(own, "Service", "-hub")["spec"]["type"] == "LoadBalancer"
    assert not [d for d in render(helm_bin, "--set", "hub.enabled=false") if d["metadata"]["name"].endswith("-hub")]
