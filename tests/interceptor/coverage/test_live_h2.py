"""The agent live (`interceptor run --tls --coverage`) on HTTP/2: a pod serves gRPC over TLS with
Python grpcio (BoringSSL stripped inside cygrpc*.so, read by signature) and cleartext HTTP/2 with
nghttpd; node-local clients (a grpcio client, curl with prior knowledge) call them. The gRPC
connection is `tls-decrypted` by the `boringssl` source with ALPN h2, the h2c one `inspected` as
`h2` from the pod's veth, and the counts equal tshark's on a capture of the pod's interface.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.node import NodeLab, node_lab  # noqa: F401 - fixture
from tests.fixtures.tls import TESTDATA as TLS_TESTDATA
from tests.fixtures.tls import tls_certs  # noqa: F401 - fixture
from tests.interceptor.coverage.liveagent import coverage_agent, summary

pytestmark = [pytest.mark.slow, pytest.mark.netns, pytest.mark.ebpf]
GRPC_TLS, H2C = 50443, 8080
GRPCTLS = str(TLS_TESTDATA / "grpctls.py")


def test_live_grpcio_tls_and_h2c_verdicts(node_lab: NodeLab, tmp_path: Path,  # noqa: F811
                                          tls_certs: tuple[str, str]) -> None:  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("eBPF needs root")
    pytest.importorskip("grpc")
    for tool in ("nghttpd", "tshark"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    cert, key = tls_certs
    lab = node_lab.lab
    pod = node_lab.pod("h2")
    ip = pod.pod_ip
    lab.start_server(pod.ns, [sys.executable, GRPCTLS, "server", cert, key, f"0.0.0.0:{GRPC_TLS}"], GRPC_TLS,
                     timeout=30, name="grpctls")
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    (docroot / "users.json").write_text('{"users":[{"email":"ann@example.com"}]}')
    lab.start_server(pod.ns, ["nghttpd", "--no-tls", "-d", str(docroot), str(H2C)], H2C, name="nghttpd")
    pcap = tmp_path / "veth.pcap"
    cap = lab.capture(pod.ns, "eth0", pcap)
    sizes = [20, 5_000]
    with coverage_agent(node_lab.pattern, tmp_path, 20000 + (os.getpid() + 7) % 20000) as run:
        time.sleep(3)  # the source has scanned the pod's grpcio server: its cygrpc file is probed
        client = subprocess.Popen([sys.executable, GRPCTLS, "client", str(GRPC_TLS), cert, ",".join(map(str, sizes)),
                                   ip], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "READY"
        grpc_out, grpc_err = client.communicate("go\n", timeout=60)
        assert client.returncode == 0, grpc_err
        calls = json.loads(grpc_out)
        assert [len(base64.b64decode(c["request"])) for c in calls] == sizes
        h2c = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-w", "%{http_version}",
                              f"http://{ip}:{H2C}/users.json"], capture_output=True, text=True, timeout=30, check=True)
        assert h2c.stdout.endswith("}2"), h2c.stdout  # the body, and curl spoke HTTP/2
        records, shown = run.finish(cap)
    grpc_recs = [r for r in records if r["dst"]["port"] == GRPC_TLS]
    assert [(r["verdict"], r["source"], r["library"], r["connections"]) for r in grpc_recs] == [
        ("tls-decrypted", "boringssl", "boringssl", 1)], summary(records)
    g = grpc_recs[0]
    assert "h2" in (g.get("alpn") or "").split(","), g
    assert g["bytes"] > sum(sizes) and g["tls_version"] == "TLS1.3"
    h2 = [r for r in records if r["dst"]["port"] == H2C]
    assert [(r["verdict"], r["protocol"], r["source"], r["pairs"]) for r in h2] == [
        ("inspected", "h2", "pcap-veth", 1)], summary(records)
    assert "tls-decrypted" in shown and "h2" in shown, shown
    text = run.out.read_bytes()
    assert b"4111" not in text and b"ann@example.com" not in text  # no payload in the account
