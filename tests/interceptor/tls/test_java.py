"""Java (JSSE) through the Java agent: real JVMs (Debian's OpenJDK) attached while running, exact
pairs for java.net.http.HttpClient and HttpsServer (SSLEngine) and HttpsURLConnection (SSLSocket),
with the connection's addresses, against traced Python and curl peers."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interceptor.tls import java
from tests.fixtures.tls import TESTDATA, TlsHarness, harness_config
from tests.interceptor.tls.test_capture import assert_pair, body, for_pid

pytestmark = [pytest.mark.slow, pytest.mark.ebpf]
JAVATLS = str(TESTDATA / "JavaTls.java")


def ours(pid: int) -> bool:
    """Trace only this test's programs: other JVMs on the machine (Kafka brokers) are left alone."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return any(w in cmd for w in (b"JavaTls", b"pytls", b"curl"))


@pytest.fixture(scope="module")
def java_harness() -> Iterator[TlsHarness]:
    if os.geteuid() != 0:
        pytest.skip("eBPF TLS tests need root")
    if shutil.which("java") is None:
        pytest.skip("no java")
    if java.jar_path() is None:
        pytest.skip("Java agent not built (bash scripts/setup.d/java.sh)")
    cfg = harness_config()
    cfg.tls.include_commands = [*cfg.tls.include_commands, "java"]
    cfg.tls.java.enabled = True
    h = TlsHarness(cfg, process_filter=ours)
    if h.source is None:
        h.close()
        pytest.skip("TLS source unavailable here")
    try:
        yield h
    finally:
        h.close()


def wait_java_attached(h: TlsHarness, count: int, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while h.counters.get("tls.java.attached") < count:
        failed = {k: v for k, v in h.counters.counts.items() if k.startswith("tls.java.attach_failed")}
        assert not failed, failed
        assert time.monotonic() < deadline, "the JVM was never attached"
        time.sleep(0.2)


def run_java_client(h: TlsHarness, mode: str, port: int, sizes: list[int], prefix: str) -> subprocess.Popen[str]:
    attached = h.counters.get("tls.java.attached")
    client = h.spawn("java", JAVATLS, mode, str(port), ",".join(map(str, sizes)), stdin=True)
    wait_java_attached(h, attached + 1)  # the client waits for a line: attached while it runs
    out, err = client.communicate("go\n", timeout=90)
    assert client.returncode == 0, err
    assert out.split("\n")[: len(sizes)] == [f"200 {s}" for s in sizes]
    assert out.split("\n")[len(sizes)].startswith("ELAPSED ")
    got = sorted(h.wait_pairs(for_pid(client.pid, prefix), len(sizes)), key=lambda p: int(p.request.target.rsplit("/", 1)[1]))
    assert [p.request.target for p in got] == [f"{prefix}{i}" for i in range(len(sizes))]
    for i, (p, size) in enumerate(zip(got, sizes, strict=True)):
        assert p.source == {"kind": "java", "pid": client.pid, "command": "java"}
        assert_pair(p, "POST", f"{prefix}{i}", body(i, size), 200, body(i, size), port)
    return client


def test_httpclient_sslengine_to_python_server(java_harness: TlsHarness, tls_certs) -> None:
    h = java_harness
    server, port = h.start_server(*h.python("server", *tls_certs))
    h.wait_attached(server.pid)
    run_java_client(h, "client", port, [300, 70_000, 1_000_000], "/java/")


def test_httpsurlconnection_sslsocket_to_python_server(java_harness: TlsHarness, tls_certs) -> None:
    h = java_harness
    server, port = h.start_server(*h.python("server", *tls_certs))
    h.wait_attached(server.pid)
    run_java_client(h, "urlconn", port, [300, 70_000], "/jurl/")


def test_curl_to_java_https_server(java_harness: TlsHarness, tls_certs, tmp_path: Path) -> None:
    h = java_harness
    p12 = tmp_path / "server.p12"
    subprocess.run(["openssl", "pkcs12", "-export", "-in", tls_certs[0], "-inkey", tls_certs[1], "-out", str(p12),
                    "-passout", "pass:changeit"], check=True, capture_output=True)
    attached = h.counters.get("tls.java.attached")
    server, port = h.start_server("java", JAVATLS, "server", str(p12), "changeit")
    wait_java_attached(h, attached + 1)
    data = b'{"email":"jane@example.com","iban":"DE89370400440532013000"}'
    for i in range(2):
        curl = h.spawn("curl", "-sk", "--fail", "-H", "Content-Type: application/json", "--data-binary",
                       data.decode(), f"https://127.0.0.1:{port}/curl/java{i}")
        out, _ = curl.communicate(timeout=30)
        assert out.encode() == data
    got = sorted(h.wait_pairs(for_pid(server.pid, "/curl/java"), 2), key=lambda p: p.request.target)
    assert [p.request.target for p in got] == ["/curl/java0", "/curl/java1"]
    for p in got:
        assert p.source == {"kind": "java", "pid": server.pid, "command": "java"}
        assert_pair(p, "POST", p.request.target, data, 200, data, port)
