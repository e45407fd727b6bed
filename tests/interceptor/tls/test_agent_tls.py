"""`interceptor run --tls`: the DaemonSet agent captures TLS plaintext through its eBPF source and
writes the pairs with the same sink as packet pairs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.tls import PYTLS

pytestmark = [pytest.mark.slow, pytest.mark.ebpf]


def test_run_with_tls_writes_openssl_pairs(tls_certs: tuple[str, str], tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("eBPF TLS tests need root")
    cfg = tmp_path / "sensor.yaml"
    cfg.write_text("tls:\n  include_commands: ['python*', 'curl']\n  scan_interval_s: 0.5\n")
    out, stats = tmp_path / "pairs.jsonl", tmp_path / "stats.json"
    server = subprocess.Popen([sys.executable, str(PYTLS), "server", *tls_certs], stdout=subprocess.PIPE, text=True)
    agent = None
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        # No tap matches: this run is about the TLS source alone.
        agent = subprocess.Popen([sys.executable, "-m", "interceptor.cli", "run", "--tls", "--config", str(cfg),
                                  "--out", str(out), "--stats", str(stats), "--metrics", "",
                                  "--include-netns", "no-such-netns-*", "--duration", "25"],
                                 stderr=subprocess.PIPE, text=True)
        body = '{"email":"jane@example.com","card":"4111 1111 1111 1111"}'
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the agent has attached to the server's libssl
            subprocess.run(["curl", "-sk", "-H", "Content-Type: application/json", "--data-binary", body,
                            f"https://127.0.0.1:{port}/agent/tls"], capture_output=True, timeout=10)
            if out.exists() and b"/agent/tls" in out.read_bytes():
                break
            time.sleep(0.5)
        agent.terminate()
        _, err = agent.communicate(timeout=60)
        assert agent.returncode == 0, err[-2000:]
    finally:
        server.kill()
        server.wait()
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    tls = [r for r in records if r["request"]["target"] == "/agent/tls"]
    assert tls, f"no TLS pair written; stderr: {err[-2000:]}"
    for rec in tls:
        assert rec["source"]["kind"] == "openssl" and rec["source"]["command"] in ("curl", Path(sys.executable).name[:15])
        assert rec["request"]["body"] == body and rec["response"]["body"] == body
        assert rec["dst"]["port"] == port and rec["response"]["status"] == 200
    assert json.loads(stats.read_text())["gauges"].get("tls.active") == 1
