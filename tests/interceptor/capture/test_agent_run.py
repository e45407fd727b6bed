"""`interceptor run` on a test node: plaintext pairs of every pod, the meshed one from its loopback only,
each attributed to its namespace and interface; a pod deleted mid-capture does not stop the others."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.netns]
KEY = 0x3C


def _free_local_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


def _wait_ready(base: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while _get(base + "/readyz")[0] != 200:
        assert proc.poll() is None, "interceptor run exited early"
        assert time.monotonic() < deadline, "interceptor run not ready"
        time.sleep(0.1)


def _wait_metric(base: str, needle: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = _get(base + "/metrics")[1]
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def test_run_captures_every_pod_and_survives_pod_deletion(node_lab, tmp_path: Path) -> None:
    pods = [node_lab.pod("web"), node_lab.pod("api"), node_lab.pod("mesh")]
    web, api, mesh = pods
    for pod in pods:
        node_lab.app(pod, "server", "8080", port=8080, name=f"{pod.ns.name}-server")
    node_lab.app(mesh, "proxy", "4143", "8080", str(KEY), "linkerd2-proxy", port=4143, name="sidecar")

    out, stats, err = tmp_path / "pairs.jsonl", tmp_path / "stats.json", tmp_path / "run.err"
    port = _free_local_port()
    base = f"http://127.0.0.1:{port}"
    with open(err, "wb") as errf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "interceptor.cli", "run", "--out", str(out), "--stats", str(stats),
             "--include-netns", node_lab.pattern, "--metrics", f"127.0.0.1:{port}", "--rescan", "0.5",
             "--node", "node-a"],
            stdout=subprocess.DEVNULL, stderr=errf,
        )
    try:
        _wait_ready(base, proc)
        text = _wait_metric(base, f'interface="{api.host_dev}"')
        assert f'interceptor_tap_packets_total{{interface="lo",kind="pcap-loopback",netns="{mesh.netns_id}"}}' in text
        for pod, tag in ((web, "web"), (api, "api")):
            assert len(node_lab.client(pod.pod_ip, 8080, 5, tag)) == 5
        assert len(node_lab.client(mesh.pod_ip, 4143, 5, "mesh", KEY)) == 5

        node_lab.delete_pod(api)  # captured right now; its veth disappears
        time.sleep(1.0)
        assert proc.poll() is None, "the interceptor must keep running"
        assert len(node_lab.client(web.pod_ip, 8080, 3, "web2")) == 3
        assert len(node_lab.client(mesh.pod_ip, 4143, 3, "mesh2", KEY)) == 3
        time.sleep(0.5)
        assert _get(base + "/healthz")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    log = err.read_text()
    assert rc == 0, log
    assert "Traceback" not in log, log

    by_source: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for line in out.read_text().splitlines():
        rec = json.loads(line)
        src = rec["source"]
        assert src["node"] == "node-a"
        by_source[(src["kind"], src["interface"], src["netns"])].append(rec["request"]["target"])
    expect = {
        ("pcap-veth", web.host_dev, web.netns_id): {f"/api/web/{i}" for i in range(5)} | {f"/api/web2/{i}" for i in range(3)},
        ("pcap-veth", api.host_dev, api.netns_id): {f"/api/api/{i}" for i in range(5)},
        ("pcap-loopback", "lo", mesh.netns_id): {f"/api/mesh/{i}" for i in range(5)} | {f"/api/mesh2/{i}" for i in range(3)},
    }
    assert set(by_source) == set(expect), by_source.keys()
    for key, targets in expect.items():
        assert sorted(by_source[key]) == sorted(targets), key
    counts = json.loads(stats.read_text())
    assert counts["counts"].get("capture.tap_vanished", 0) + counts["counts"].get("capture.tap_closed", 0) >= 1
    assert counts["dropped"].get("capture_kernel", 0) == 0


def _run_over_limit(node_lab, tmp_path: Path, pod_name: str, env_var: str, value: str) -> tuple[dict, str]:
    """`interceptor run` with one limit set so low that it is always exceeded, while a client makes
    three exchanges with a pod; returns the final counters and the pairs file's text."""
    pod = node_lab.pod(pod_name)
    node_lab.app(pod, "server", "8080", port=8080, name="server")
    out, stats, err = tmp_path / "pairs.jsonl", tmp_path / "stats.json", tmp_path / "run.err"
    port = _free_local_port()
    env = {**os.environ, env_var: value}
    with open(err, "wb") as errf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "interceptor.cli", "run", "--out", str(out), "--stats", str(stats),
             "--include-netns", node_lab.pattern, "--metrics", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=errf, env=env,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc)
        time.sleep(1.5)  # the guards are checked once a second
        assert len(node_lab.client(pod.pod_ip, 8080, 3, pod_name)) == 3
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    assert rc == 0, err.read_text()
    return json.loads(stats.read_text()), out.read_text()


def test_memory_limit_drops_instead_of_growing(node_lab, tmp_path: Path) -> None:
    counts, pairs = _run_over_limit(node_lab, tmp_path, "web", "SENSOR__METRICS__MEMORY_LIMIT_BYTES", str(1 << 20))
    assert counts["dropped"].get("memory_limit", 0) > 0
    assert counts["counts"].get("memory.limit_reached") == 1
    assert pairs == ""


def test_cpu_limit_sheds_new_connections(node_lab, tmp_path: Path) -> None:
    """Above metrics.cpu_limit the agent stops following new connections (counted), keeps running."""
    counts, pairs = _run_over_limit(node_lab, tmp_path, "cpu", "SENSOR__METRICS__CPU_LIMIT", "0.000001")
    assert counts["dropped"].get("cpu_limit", 0) > 0
    assert counts["counts"].get("cpu.limit_reached", 0) >= 1
    assert pairs == ""
