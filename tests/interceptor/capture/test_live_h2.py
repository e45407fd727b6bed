"""HTTP/2 and gRPC captured live: ``interceptor run`` taps a pod's veth (as on a node) while real
clients in the root namespace talk to real servers in the pod, and every exchange is checked
against what the client itself recorded.

- the Go gRPC client and server (google.golang.org/grpc, tools/grpcapp): unary calls plain and
  gzip-compressed, an error (a trailers-only response), server streaming, client streaming, all on
  one connection: one pair per call with its status and every message decoded as the client's own
  bytes decode;
- curl --http2-prior-knowledge against Go's h2c server (golang.org/x/net/http2/h2c): a GET and a
  POST, the bodies byte for byte what curl sent and received.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.interceptor.capture.agentrun import free_port, wait_for
from tests.interceptor.tools.h2traffic import assert_grpc_calls, calls_of, grpcapp_binary
from tests.interceptor.tools.realtraffic import _body as body_of

pytestmark = [pytest.mark.slow, pytest.mark.netns]

GRPC_PORT, H2C_PORT = 50051, 8080
GETS = 6  # unary Get calls; the client adds one Fail, one Watch and one Upload


def _lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_live_grpc_and_h2c_prior_knowledge(node_lab, tmp_path: Path) -> None:
    binary = grpcapp_binary()
    if binary is None:
        pytest.skip("no Go toolchain to build tests/interceptor/tools/grpcapp")
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    pod = node_lab.pod("h2")
    node_lab.lab.start_server(pod.ns, [str(binary), "server", str(GRPC_PORT)], GRPC_PORT, name="grpcapp")
    node_lab.lab.start_server(pod.ns, [str(binary), "h2c", str(H2C_PORT)], H2C_PORT, name="h2c")

    out, stats, err = tmp_path / "pairs.jsonl", tmp_path / "stats.json", tmp_path / "run.err"
    port = free_port()
    with open(err, "wb") as errf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "interceptor.cli", "run", "--out", str(out), "--stats", str(stats),
             "--include-netns", pod.ns.name, "--metrics", f"127.0.0.1:{port}", "--rescan", "0.5", "--keep-all"],
            stdout=subprocess.DEVNULL, stderr=errf,
        )
    curl = ["curl", "-sS", "--http2-prior-knowledge"]
    base = f"http://{pod.pod_ip}:{H2C_PORT}"
    upload = tmp_path / "upload.json"
    upload.write_text('{"name":"Ann Lee","email":"ann@example.com","iban":"DE89370400440532013000"}' * 30)
    try:
        wait_for(f"http://127.0.0.1:{port}/metrics", f'interface="{pod.host_dev}"', proc)
        grpc = subprocess.run([str(binary), "client", pod.pod_ip, str(GRPC_PORT), str(GETS)], capture_output=True,
                              text=True, timeout=60, check=True)
        subprocess.run([*curl, "-o", str(tmp_path / "users"), f"{base}/users"], check=True, timeout=30)
        subprocess.run([*curl, "-H", "content-type: application/json", "--data-binary", f"@{upload}",
                        "-o", str(tmp_path / "echo"), f"{base}/echo"], check=True, timeout=30)
        want = GETS + 3 + 2
        deadline = time.monotonic() + 10
        while _lines(out) < want and time.monotonic() < deadline:
            time.sleep(0.2)  # the agent writes pairs as it pairs them
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
    assert rc == 0, err.read_text()[-3000:]
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    calls = calls_of(grpc.stdout)
    assert len(calls) == GETS + 3
    assert_grpc_calls(calls, [r for r in records if r["dst"]["port"] == GRPC_PORT])

    h2c = {r["request"]["target"]: r for r in records if r["dst"]["port"] == H2C_PORT}
    assert sorted(h2c) == ["/echo", "/users"]
    for target, name in (("/users", "users"), ("/echo", "echo")):
        rec = h2c[target]
        assert rec["protocol"] == "h2" and rec["request"]["version"] == "HTTP/2" and rec["response"]["status"] == 200
        assert body_of(rec["response"]) == (tmp_path / name).read_bytes()  # what curl received
        assert rec["src"]["ip"] == pod.host_ip and rec["dst"]["ip"] == pod.pod_ip
    assert h2c["/echo"]["request"]["method"] == "POST" and body_of(h2c["/echo"]["request"]) == upload.read_bytes()
    assert len(records) == len(calls) + 2  # nothing else, nothing twice
    counts = json.loads(stats.read_text())
    assert counts["counts"].get("h2.connections", 0) >= 3 and not counts["dropped"], counts["dropped"]
