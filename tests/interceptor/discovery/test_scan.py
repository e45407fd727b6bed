"""Discovery on a real test node: namespaces, host-side veth peers, addresses, sidecars, the plan, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interceptor.config import CaptureConfig
from interceptor.discovery.plan import KIND_LOOPBACK, KIND_VETH, plan_taps
from interceptor.discovery.scan import scan
from tests.fixtures.node import APPS

pytestmark = [pytest.mark.slow, pytest.mark.netns]


def test_scan_and_plan(node_lab, tmp_path: Path) -> None:
    plain = node_lab.pod("plain")
    istio = node_lab.pod("istio")
    portonly = node_lab.pod("port")
    bare = node_lab.lab.netns("bare")  # a namespace with no veth to the host
    node_lab.app(plain, "server", "8080", port=8080, name="plain")
    # A process whose comm is "envoy" (a symlink to the interpreter), on a port that is not a mesh port.
    envoy = tmp_path / "envoy"
    envoy.symlink_to(os.path.realpath(sys.executable))
    node_lab.lab.start_server(istio.ns, [str(envoy), APPS, "server", "9901"], 9901, name="envoy")
    node_lab.app(portonly, "server", "15006", port=15006, name="inbound")
    node_lab.lab.start_server(bare, [sys.executable, APPS, "server", "8080"], 8080, name="bare")

    cfg = CaptureConfig(include_namespaces=[node_lab.pattern])
    spaces = {ns.id: ns for ns in scan(cfg)}
    p = spaces[plain.netns_id]
    assert p.names == [plain.ns.name]
    assert p.host_peers == {"eth0": plain.host_dev}
    eth0 = next(lk for lk in p.links if lk.name == "eth0")
    assert f"{plain.pod_ip}/30" in eth0.addresses and eth0.kind == "veth"
    assert 8080 in p.ports and not p.mesh
    assert spaces[istio.netns_id].mesh.mesh == "istio"
    assert "process envoy" in spaces[istio.netns_id].mesh.reason
    assert spaces[portonly.netns_id].mesh.reason == "port 15006"

    taps, skips = plan_taps(list(spaces.values()), cfg)
    assert {(t.kind, t.interface, t.netns) for t in taps} == {
        (KIND_VETH, plain.host_dev, plain.netns_id),
        (KIND_LOOPBACK, "lo", istio.netns_id),
        (KIND_LOOPBACK, "lo", portonly.netns_id),
    }
    bare_id = next(ns.id for ns in spaces.values() if bare.name in ns.names)
    assert any(s.netns == bare_id and s.reason == "no veth to the host namespace" for s in skips)

    # Exclusions: by interface glob (host side) and by namespace name.
    cfg2 = CaptureConfig(include_namespaces=[node_lab.pattern], exclude_interfaces=[f"h{node_lab.lab.tag}*"],
                         exclude_namespaces=[istio.ns.name])
    taps2, skips2 = plan_taps(list(spaces.values()), cfg2)
    assert {t.netns for t in taps2} == {portonly.netns_id}
    assert any(s.interface == plain.host_dev and s.reason == "interface excluded" for s in skips2)

    # The CLI: JSON and table.
    cmd = [sys.executable, "-m", "interceptor.cli", "discover", "--include-netns", node_lab.pattern]
    doc = json.loads(subprocess.run([*cmd, "--json"], capture_output=True, text=True, check=True).stdout)
    assert {(t["kind"], t["interface"], t["netns"]) for t in doc["taps"]} == {
        (t.kind, t.interface, t.netns) for t in taps}
    assert any(ns["host"] for ns in doc["namespaces"])
    table = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert f"pcap-veth {plain.host_dev}" in table and "istio" in table and "linkerd" not in table
