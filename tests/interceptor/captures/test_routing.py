"""Cluster routing: two agents ("nodes" node-a and node-b, each its own process with its own pods)
and one real kube-apiserver. A capture request or a Falco alert sent to the wrong agent is forwarded
to the agent on the pod's node (found from the API server); status and download work through
either agent and through the hub's capture API (created, listed from both, downloaded); a pod
named by Kubernetes name is captured with its identity in the file."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from interceptor.config import load_config
from interceptor.counters import Counters
from processor.hub import start_capture_proxy
from tests.interceptor.captures.agentproc import TOKEN, AgentProc, HubClient, capinfos, free_port, tshark

pytestmark = [pytest.mark.slow, pytest.mark.netns, pytest.mark.k8s]
LABELS = {"app.kubernetes.io/component": "interceptor"}


def _pod(core, ns: str, name: str, ip: str, node: str, labels: dict | None = None, host_network: bool = False) -> None:
    spec = {"nodeName": node, "hostNetwork": host_network,
            "containers": [{"name": "app", "image": "example/app:1", "ports": [{"containerPort": 8080}]}]}
    core.create_namespaced_pod(ns, {"metadata": {"name": name, "labels": labels or {}}, "spec": spec})
    # No kubelet: the pod gets its IP by a status patch, as a kubelet would report it.
    core.patch_namespaced_pod_status(name, ns, {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                                                           "hostIP": ip if host_network else "192.168.50.10"}})


def _post_until(agent: AgentProc, path: str, body: dict, timeout: float = 20) -> tuple[int, dict]:
    """The agent's index syncs in the background: retry while it does not know the pod yet."""
    deadline = time.monotonic() + timeout
    while True:
        code, doc = agent.curl("POST", path, body)
        if code in (200, 201) or time.monotonic() > deadline:
            return code, doc
        time.sleep(0.3)


def test_requests_to_the_wrong_agent_are_forwarded(node_lab, kube_apiserver, tmp_path: Path) -> None:
    from kubernetes import client

    pa, pb = node_lab.pod("pa"), node_lab.pod("pb")
    for pod in (pa, pb):
        node_lab.app(pod, "server", "8080", port=8080, name=f"{pod.ns.name}-server")
    api = kube_apiserver.api_client()
    core = client.CoreV1Api(api)
    ns = f"shop-{secrets.token_hex(3)}"
    sensor_ns = f"sensor-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespace({"metadata": {"name": sensor_ns}})
    _pod(core, ns, "cart-0", pa.pod_ip, "node-a")
    _pod(core, ns, "pay-0", pb.pod_ip, "node-b")
    port = free_port("127.0.0.2")
    # The DaemonSet's agents (hostNetwork: the pod IP is the node's): two loopback addresses here.
    _pod(core, sensor_ns, "agent-a", "127.0.0.2", "node-a", LABELS, host_network=True)
    _pod(core, sensor_ns, "agent-b", "127.0.0.3", "node-b", LABELS, host_network=True)

    def config(node: str) -> dict:
        return {"kubernetes": {"enabled": True, "kubeconfig": kube_apiserver.kubeconfig, "node_name": node,
                               "exclude_namespaces": []},
                "captures": {"agent_port": port, "falco_rules": [{"min_priority": "warning", "duration_s": 3}]}}

    a = AgentProc(tmp_path, "a", config("node-a"), [pa.ns.name], "node-a", host="127.0.0.2", port=port)
    b = AgentProc(tmp_path, "b", config("node-b"), [pb.ns.name], "node-b", host="127.0.0.3", port=port)
    try:
        # Asked of node-b for a pod on node-a: node-b forwards, node-a captures.
        code, cap = _post_until(b, "/api/v1/captures", {"target": {"namespace": ns, "pod": "cart-0"}, "duration_s": 3})
        assert code == 201, cap
        assert cap["node"] == "node-a" and cap["id"].startswith("node-a~")
        assert cap["pods"][0]["pod"] == "cart-0" and cap["pods"][0]["namespace"] == ns
        truth = [line for line in node_lab.client(pa.pod_ip, 8080, 4, "cart")]
        # A Falco alert for node-b's own pod, sent to node-a: forwarded the other way.
        alert = {"rule": "Terminal shell in container", "priority": "Warning", "time": "2026-12-01T09:30:00Z",
                 "hostname": "node-b", "output": "shell", "source": "syscall",
                 "output_fields": {"k8s.ns.name": ns, "k8s.pod.name": "pay-0", "container.id": "0123456789ab"}}
        code, started = _post_until(a, "/api/v1/falco", alert)
        assert code == 201 and started["action"] == "started", started
        fcap = started["capture"]
        assert fcap["node"] == "node-b" and fcap["pods"][0]["pod"] == "pay-0"
        node_lab.client(pb.pod_ip, 8080, 2, "pay")

        done = b.wait_state(cap["id"], timeout=15)  # node-b answers for node-a's capture
        assert (done["state"], done["packets"] > 0) == ("done", True), done
        path = tmp_path / "cart.pcapng"
        assert b.curl("GET", f"/api/v1/captures/{cap['id']}/pcap", out=path)[0] == 200
        a.wait_state(fcap["id"], timeout=15)
        fpath = tmp_path / "pay.pcapng"
        assert a.curl("GET", f"/api/v1/captures/{fcap['id']}/pcap", out=fpath)[0] == 200
        # The hub's capture API (what `processor hub` serves): no taps, everything routed.
        hub_port = free_port()
        hub_cfg = load_config(env={"SENSOR__AUTH__TOKEN": TOKEN, "SENSOR__KUBERNETES__ENABLED": "true",
                                   "SENSOR__KUBERNETES__KUBECONFIG": kube_apiserver.kubeconfig,
                                   "SENSOR__CAPTURES__AGENT_PORT": str(port),
                                   "SENSOR__CAPTURES__HUB_LISTEN": f"127.0.0.1:{hub_port}"})
        hub_counters = Counters()
        hub = start_capture_proxy(hub_cfg, hub_counters)
        try:
            via_hub = HubClient(f"http://127.0.0.1:{hub_port}")
            code, hcap = via_hub.curl("POST", "/api/v1/captures", {"target": {"namespace": ns, "pod": "pay-0"},
                                                                   "duration_s": 2})
            assert code == 201 and hcap["node"] == "node-b", hcap
            node_lab.client(pb.pod_ip, 8080, 1, "hub")
            assert b.wait_state(hcap["id"], timeout=10)["state"] == "done"
            code, merged = via_hub.curl("GET", "/api/v1/captures")
            assert code == 200 and merged["unreachable"] == []
            assert {c["id"] for c in merged["captures"]} == {cap["id"], fcap["id"], hcap["id"]}
            hpath = tmp_path / "via-hub.pcapng"
            assert via_hub.curl("GET", f"/api/v1/captures/{cap['id']}/pcap", out=hpath)[0] == 200
            assert hpath.read_bytes() == path.read_bytes()
            assert via_hub.curl("GET", "/api/v1/captures", auth=False)[0] == 401
        finally:
            hub.shutdown()
        # A pod no agent has: 404 with the reason, after asking the API server.
        code, doc = b.curl("POST", "/api/v1/captures", {"target": {"namespace": ns, "pod": "nope-0"}})
        assert code == 404 and "no running pod matches pod" in doc["error"], doc
        b_list = b.curl("GET", "/api/v1/captures")[1]
    finally:
        stats_b = b.stop()
        stats_a = a.stop()
        api.close()

    assert [r[0] for r in tshark(path, "http.request.uri", display="http.request")] == \
        [f"/api/cart/{i}" for i in range(len(truth))]
    info = capinfos(path)
    assert f"pod {ns}/cart-0 workload Pod/cart-0" in info and "node node-a" in info and f"IPs {pa.pod_ip}" in info
    assert "containers app" in info
    finfo = capinfos(fpath)
    assert "Falco alert: rule 'Terminal shell in container', priority warning, time 2026-12-01T09:30:00Z" in finfo
    assert f"pod {ns}/pay-0" in finfo
    assert [r[0] for r in tshark(fpath, "http.request.uri", display="http.request")] == ["/api/pay/0", "/api/pay/1"]
    assert [c["id"] for c in b_list["captures"]] == [fcap["id"], hcap["id"]]  # each agent lists its own
    assert stats_b["counts"]["captures.routing.forwarded"] >= 3  # create, status, download
    assert hub_counters.get("captures.routing.forwarded") >= 4  # create, list x2, download
    assert stats_a["counts"]["captures.routing.forwarded"] >= 1
