"""Triggered pod captures on a test node (pods are network namespaces, real servers and clients):
a Falco-shaped alert posted with curl captures one pod, and tshark on the downloaded file sees
exactly that pod's packets, all of them; a meshed pod is captured on its veth and its loopback;
repeated alerts extend the capture; a deleted pod ends its capture; the byte cap and the disk
budget hold (20 requests at once)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.interceptor.captures.agentproc import AgentProc, capinfos, tshark

pytestmark = [pytest.mark.slow, pytest.mark.netns]
KEY = 0x3C


def _alert(pod_ip: str, rule: str = "Terminal shell in container") -> dict:
    return {
        "uuid": "5d0a3d54-3c1e-4a8a-9a59-0b3c2c1f0e11", "rule": rule, "priority": "Warning", "source": "syscall",
        "time": "2026-12-01T09:00:00.123456789Z", "hostname": "node-a", "tags": ["container", "shell"],
        "output": f"09:00:00.123: Warning A shell was spawned in a container (user=root fd.lip={pod_ip})",
        "output_fields": {"container.id": "host", "proc.cmdline": "sh -i", "user.name": "root", "fd.lip": pod_ip,
                          "k8s.ns.name": None, "k8s.pod.name": None},
    }


def _client_targets(lines: list[str]) -> list[str]:
    return [json.loads(line)["target"] for line in lines]


def test_falco_alert_captures_one_pod_meshed_pod_and_pod_deletion(node_lab, tmp_path: Path) -> None:
    web, api, mesh = node_lab.pod("web"), node_lab.pod("api"), node_lab.pod("mesh")
    for pod in (web, api, mesh):
        node_lab.app(pod, "server", "8080", port=8080, name=f"{pod.ns.name}-server")
    node_lab.app(mesh, "proxy", "4143", "8080", str(KEY), "linkerd2-proxy", port=4143, name="sidecar")
    config = {"captures": {"falco_rules": [
        {"rules": ["Terminal shell*"], "min_priority": "notice", "duration_s": 4.0},
        {"rules": ["*"], "min_priority": "critical", "duration_s": 1.0}]}}
    agent = AgentProc(tmp_path, "a", config, [node_lab.pattern], "node-a")
    try:
        # Not authenticated: refused before anything else.
        assert agent.curl("POST", "/api/v1/falco", _alert(web.pod_ip), auth=False)[0] == 401
        code, doc = agent.curl("POST", "/api/v1/falco", _alert(web.pod_ip, rule="Read sensitive file"))
        assert (code, doc["action"]) == (200, "ignored")  # a Warning matches no rule for it
        code, doc = agent.curl("POST", "/api/v1/falco", _alert(web.pod_ip))
        assert code == 201 and doc["action"] == "started", doc
        cap = doc["capture"]
        assert cap["trigger"]["rule"] == "Terminal shell in container" and cap["trigger"]["kind"] == "falco"
        assert sorted(i["name"] for i in cap["interfaces"]) == sorted([web.host_dev, "lo"])
        web_truth = _client_targets(node_lab.client(web.pod_ip, 8080, 6, "web"))
        api_truth = _client_targets(node_lab.client(api.pod_ip, 8080, 4, "api"))  # another pod: not in the file
        code, again = agent.curl("POST", "/api/v1/falco", _alert(web.pod_ip))
        assert code == 200 and again["action"] == "extended" and again["capture"]["id"] == cap["id"]
        assert again["capture"]["ends_at"] > cap["ends_at"]
        web_truth += _client_targets(node_lab.client(web.pod_ip, 8080, 3, "web2"))

        # A meshed pod asked for by IP through the API: its veth (opaque) and its loopback (plaintext).
        code, mcap = agent.curl("POST", "/api/v1/captures", {"target": {"ip": mesh.pod_ip}, "duration_s": 3,
                                                             "requested_by": "alice", "reason": "incident 42"})
        assert code == 201, mcap
        assert {i["kind"] for i in mcap["interfaces"]} == {"capture-veth", "capture-loopback"}
        mesh_truth = _client_targets(node_lab.client(mesh.pod_ip, 4143, 4, "mesh", KEY))

        # A pod deleted while captured: its capture ends with what it had.
        code, acap = agent.curl("POST", "/api/v1/captures", {"target": {"ip": api.pod_ip}, "duration_s": 60})
        assert code == 201, acap
        assert len(node_lab.client(api.pod_ip, 8080, 2, "api2")) == 2
        node_lab.delete_pod(api)
        gone = agent.wait_state(acap["id"], timeout=10)
        assert (gone["state"], gone["stop_reason"]) == ("done", "pod_gone"), gone

        done = agent.wait_state(cap["id"], timeout=15)
        assert (done["state"], done["stop_reason"]) == ("done", "duration"), done
        agent.wait_state(mcap["id"], timeout=10)
        listed = agent.curl("GET", "/api/v1/captures")[1]
        assert {c["id"] for c in listed["captures"]} == {cap["id"], mcap["id"], acap["id"]}

        path = tmp_path / "web.pcapng"
        assert agent.curl("GET", f"/api/v1/captures/{cap['id']}/pcap", out=path)[0] == 200
        mpath = tmp_path / "mesh.pcapng"
        assert agent.curl("GET", f"/api/v1/captures/{mcap['id']}/pcap", out=mpath)[0] == 200
        apath = tmp_path / "api.pcapng"
        assert agent.curl("GET", f"/api/v1/captures/{acap['id']}/pcap", out=apath)[0] == 200
        assert agent.curl("DELETE", f"/api/v1/captures/{acap['id']}")[0] == 200
        assert agent.curl("GET", f"/api/v1/captures/{acap['id']}")[0] == 404
        metrics = agent.curl("GET", "/metrics", auth=False)[1]
    finally:
        stats = agent.stop()

    # Only that pod's packets, on its interfaces, and every exchange its clients made.
    ips = tshark(path, "frame.interface_name", "ip.src", "ip.dst", display="ip")
    assert ips and all(web.pod_ip in (src, dst) for _, src, dst in ips)
    assert all(api.pod_ip not in row for row in ips)
    assert {row[0] for row in ips} == {web.host_dev}
    uris = [r[0] for r in tshark(path, "http.request.uri", display="http.request")]
    assert uris == web_truth
    assert tshark(path, "http.response.code", display="http.response") == [["200"]] * len(web_truth)
    assert tshark(path, "frame.number", display="tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment") == []
    assert len(tshark(path, "tcp.stream", display="tcp.flags.syn==1 && tcp.flags.ack==0")) == 2  # both connections whole
    info = capinfos(path)
    assert f"capture {cap['id']} on node node-a" in info
    assert "Falco alert: rule 'Terminal shell in container', priority warning, time 2026-12-01T09:00:00.123456789Z" in info
    assert f"IPs {web.pod_ip}" in info and web.netns_id in info
    assert f"Name = {web.host_dev}" in info and "Comment = pod " in info
    # The meshed pod: plaintext HTTP on its loopback, the same exchanges XOR-scrambled on its veth.
    lo_uris = [r[0] for r in tshark(mpath, "http.request.uri", display="http.request && frame.interface_name == lo")]
    assert lo_uris == mesh_truth
    assert tshark(mpath, "frame.number", display=f"http.request && frame.interface_name == {mesh.host_dev}") == []
    assert len(tshark(mpath, "frame.number", display=f"tcp.port == 4143 && frame.interface_name == {mesh.host_dev}")) > 10
    assert "API request by alice from 127.0.0.1: incident 42" in capinfos(mpath)
    # The deleted pod's file is complete up to its end (tshark reads it without complaint).
    assert [r[0] for r in tshark(apath, "http.request.uri", display="http.request")] == ["/api/api2/0", "/api/api2/1"]
    assert api_truth  # (its earlier exchanges happened outside any capture of it)

    assert 'interceptor_captures_finished_duration_total' in metrics
    counts = stats["counts"]
    assert counts["captures.started"] == 3 and counts["captures.extended"] == 1
    assert counts["captures.falco.ignored"] == 1 and counts["auth.rejected.missing"] == 1
    assert counts["captures.finished.pod_gone"] == 1
    # pair capture went on unaffected: every exchange is a pair
    pairs = [json.loads(x) for x in (agent.dir / "pairs.jsonl").read_text().splitlines()]
    assert {p["request"]["target"] for p in pairs} >= set(web_truth) | set(mesh_truth)


def test_byte_cap_and_disk_budget_under_20_concurrent_requests(node_lab, tmp_path: Path) -> None:
    pods = [node_lab.pod("b1"), node_lab.pod("b2")]
    for pod in pods:
        node_lab.app(pod, "server", "8080", port=8080, name=f"{pod.ns.name}-server")
    budget = 200_000
    config = {"captures": {"max_concurrent": 20, "disk_budget_bytes": budget, "max_bytes": 60_000}}
    agent = AgentProc(tmp_path, "b", config, [node_lab.pattern], "node-b")
    capdir = agent.dir / "captures"
    try:
        code, capped = agent.curl("POST", "/api/v1/captures",
                                  {"target": {"ip": pods[0].pod_ip}, "duration_s": 20, "max_bytes": 12_000})
        assert code == 201, capped
        node_lab.client(pods[0].pod_ip, 8080, 40, "cap")
        capped = agent.wait_state(capped["id"], timeout=10)
        assert (capped["state"], capped["stop_reason"]) == ("done", "byte_cap"), capped
        assert capped["message"] == "stopped: byte cap 12000 reached"
        assert capped["drops"]["byte_cap"] >= 1 and capped["file_bytes"] <= 12_000

        def post(i: int) -> tuple[int, dict]:
            return agent.curl("POST", "/api/v1/captures",
                              {"target": {"ip": pods[i % 2].pod_ip}, "duration_s": 30, "reason": f"load {i}"})

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(post, range(20)))
        started = [doc for code, doc in answers if code == 201]
        refused = [doc for code, doc in answers if code != 201]
        assert all(doc["reason"] == "disk_budget" for doc in refused), refused
        assert started  # most start; the budget decides how many

        def listed() -> list[dict]:
            return agent.curl("GET", "/api/v1/captures")[1]["captures"]

        deadline = time.monotonic() + 25
        while not any(c["stop_reason"] == "disk_budget" for c in listed()):  # traffic until the budget is hit
            assert time.monotonic() < deadline, listed()
            for pod in pods:
                node_lab.client(pod.pod_ip, 8080, 20, "load")
            used = sum(f.stat().st_size for f in capdir.iterdir())
            assert used <= budget, used
        for c in listed():
            if c["state"] == "running":
                assert agent.curl("DELETE", f"/api/v1/captures/{c['id']}")[0] == 200
        kept = listed()  # finished ones may have made room
        assert {c["state"] for c in kept} == {"done"}
        assert "disk_budget" in {d["stop_reason"] for d in kept}, kept
        used = sum(f.stat().st_size for f in capdir.iterdir())
        assert used <= budget, used
        # every stored file is a valid capture
        for d in kept:
            out = tmp_path / f"{d['id']}.pcapng"
            assert agent.curl("GET", f"/api/v1/captures/{d['id']}/pcap", out=out)[0] == 200
            assert "Number of interfaces in file: 2" in capinfos(out)
    finally:
        stats = agent.stop()
    assert stats["dropped"].get("capture_disk_budget", 0) >= 1
    assert stats["dropped"].get("capture_byte_cap", 0) >= 1
    assert stats["counts"].get("captures.removed.disk_budget", 0) >= 1  # oldest finished ones made room


TLSAPP = Path(__file__).with_name("tlsapp.py")


@pytest.mark.ebpf
def test_decrypted_tls_of_the_pod_is_an_interface_tshark_dissects(node_lab, tmp_path: Path, tls_certs) -> None:
    pod = node_lab.pod("tls")
    node_lab.app(pod, "server", "8080", port=8080, name="plain-server")
    node_lab.lab.start_server(pod.ns, [sys.executable, str(TLSAPP), "8443", *tls_certs], 8443, name="tls-server")
    config = {"tls": {"enabled": True, "include_commands": ["python*", "curl"], "scan_interval_s": 0.5}}
    agent = AgentProc(tmp_path, "t", config, [node_lab.pattern], "node-t")

    def curl_tls(path: str, body: str) -> str:
        res = subprocess.run(["curl", "-sk", "--max-time", "10", "-H", "Content-Type: application/json",
                              "--data-binary", body, f"https://{pod.pod_ip}:8443{path}"],
                             capture_output=True, text=True, timeout=30)
        return res.stdout

    try:
        deadline = time.monotonic() + 60  # the uprobes attach within tls.scan_interval_s; slow when loaded
        pairs = agent.dir / "pairs.jsonl"
        while not (pairs.exists() and b"/warm" in pairs.read_bytes()):  # the server's libssl is probed
            assert time.monotonic() < deadline, agent.err.read_text()[-3000:]
            curl_tls("/warm", '{"warm": 1}')
            time.sleep(0.5)
        code, cap = agent.curl("POST", "/api/v1/captures", {"target": {"ip": pod.pod_ip}, "duration_s": 4})
        assert code == 201, cap
        assert cap["plaintext"] is True and "tls-plaintext" in [i["name"] for i in cap["interfaces"]]
        sent = {f"/secure/{i}": json.dumps({"i": i, "email": f"user{i}@example.com"}) for i in range(3)}
        for path, body in sent.items():
            assert curl_tls(path, body) == '{"echo": ' + body + "}"
        plain = _client_targets(node_lab.client(pod.pod_ip, 8080, 2, "plain"))
        done = agent.wait_state(cap["id"], timeout=15)
        assert done["plaintext_packets"] > 0, done
        out = tmp_path / "tls.pcapng"
        assert agent.curl("GET", f"/api/v1/captures/{cap['id']}/pcap", out=out)[0] == 200
    finally:
        agent.stop()
    on = "frame.interface_name == tls-plaintext"
    reqs = tshark(out, "http.request.uri", "http.file_data", "ip.src", "ip.dst", "tcp.dstport", display=f"http.request && {on}")
    assert [r[0] for r in reqs] == list(sent)
    assert [r[1] for r in reqs] == list(sent.values())
    assert {(r[2], r[3], r[4]) for r in reqs} == {(pod.host_ip, pod.pod_ip, "8443")}  # the real addresses
    resps = tshark(out, "http.file_data", display=f"http.response && {on}")
    assert [r[0] for r in resps] == ['{"echo": ' + b + "}" for b in sent.values()]
    assert len(tshark(out, "frame.number", display=f"tcp.flags.syn==1 && tcp.flags.ack==0 && {on}")) == 3
    # the wire view of the same pod: TLS records on 8443 (no HTTP visible), plain HTTP on 8080
    wire = f"frame.interface_name == {pod.host_dev}"
    assert tshark(out, "frame.number", display=f"http.request && tcp.port == 8443 && {wire}") == []
    assert len(tshark(out, "frame.number", display=f"tls.handshake.type == 1 && {wire}")) == 3
    assert [r[0] for r in tshark(out, "http.request.uri", display=f"http.request && tcp.port == 8080 && {wire}")] == plain
    assert "decrypted TLS of the pod's processes" in capinfos(out)
    # the synthesized streams share the real 4-tuples but are written after the real connections
    # ended, so tshark keeps them apart ("port numbers reused"), and mixes no packet of one into the
    # other (which shows as spurious retransmissions)
    assert tshark(out, "frame.number", display=f"tcp.analysis.flags && !tcp.analysis.reused_ports && {on}") == []
    assert tshark(out, "frame.number", display="tcp.analysis.spurious_retransmission") == []


def test_capture_api_with_capture_workers(node_lab, tmp_path: Path) -> None:
    """With capture.workers: 2 the supervisor owns the port and serves captures with taps of its own."""
    pod = node_lab.pod("wk")
    node_lab.app(pod, "server", "8080", port=8080, name="server")
    env = {**os.environ, "SENSOR__CAPTURE__SOURCE": "ring", "SENSOR__CAPTURE__WORKERS": "2"}
    agent = AgentProc(tmp_path, "w", {}, [node_lab.pattern], "node-w", env=env)
    try:
        code, cap = agent.curl("POST", "/api/v1/captures", {"target": {"ip": pod.pod_ip}, "duration_s": 30})
        assert code == 201, cap
        truth = _client_targets(node_lab.client(pod.pod_ip, 8080, 3, "wk"))
        time.sleep(0.3)
        assert agent.curl("DELETE", f"/api/v1/captures/{cap['id']}")[1]["stop_reason"] == "stopped"
        out = tmp_path / "wk.pcapng"
        assert agent.curl("GET", f"/api/v1/captures/{cap['id']}/pcap", out=out)[0] == 200
    finally:
        stats = agent.stop()
    assert [r[0] for r in tshark(out, "http.request.uri", display="http.request")] == truth
    assert stats["counts"]["captures.started"] == 1 and stats["gauges"].get("workers") == 2
