"""``interceptor demo`` end to end: pods, the live agent (veth, meshed loopback, eBPF TLS), Kafka,
the processor and the map — then nothing left behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from interceptor.demo.node import leftovers

pytestmark = [pytest.mark.slow, pytest.mark.netns, pytest.mark.kafka, pytest.mark.ebpf]


def test_demo_shows_every_kind_of_flow_and_cleans_up(kafka_broker: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("the live demo needs root")
    before = _demo_processes()  # a demo in a container beside this test (bench/fresh_machine.sh) is not ours
    res = subprocess.run([sys.executable, "-m", "interceptor.cli", "demo", "--kafka", kafka_broker,
                          "--duration", "3", "--wait", "120", "--rate", "10"],
                         capture_output=True, text=True, timeout=240)
    out = res.stdout
    assert res.returncode == 0, out + res.stderr
    for path in ("/api/users", "/v1/charges", "/contacts", "/v2/track"):  # plain, TLS, meshed, external
        assert f"on the map: {path}" in out, out
    assert "on the map: /demo.profiles.v1.Profiles/" in out, out  # gRPC: grpcio is in the test extra too
    table = out[out.index("flows (source -> destination"):]
    # the TLS flow came through eBPF with its card data; the meshed pod through its loopback
    assert re.search(r"frontend -> payments\s+POST /v1/charges\s+\[[^]]*card_number", table), table
    # the meshed pod's plaintext exists only on its loopback (app <-> sidecar): 127.0.0.1 on both ends
    assert re.search(r"ip:127.0.0.1 -> ip:127.0.0.1\s+POST /contacts\s+\[[^]]*email", table), table
    assert re.search(r"frontend -> analytics\s+POST /v2/track", table), table
    # gRPC over HTTP/2 cleartext: the endpoint is /{package.Service}/{Method}, the fields read schema-less
    assert re.search(r"frontend -> profiles\s+POST /demo.profiles.v1.Profiles/UpdateProfile\s+\[[^]]*email", table), table
    if shutil.which("go"):  # the Go TLS pod: Go's crypto/tls, read by the eBPF uprobes on the Go binary
        assert re.search(r"frontend -> kyc\s+POST /v1/verifications\s+\[[^]]*email", table), table
    else:
        assert "no kyc pod" in out and "go not found" in out, out
    assert "bearer token: " in out and "#token=" in out and "processor tail --node 127.0.0.1:" in out
    assert leftovers() == []
    left = _demo_processes() - before
    assert not left, left


def _demo_processes() -> set[str]:
    out = subprocess.run(["pgrep", "-f", "interceptor.demo.apps|/demo/gobin/"], capture_output=True, text=True).stdout
    return set(out.split())
