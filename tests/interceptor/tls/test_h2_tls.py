"""HTTP/2 over TLS read through the eBPF sources: curl (OpenSSL) and a Go net/http client negotiate
``h2`` by ALPN with a Go net/http server (crypto/tls); the plaintext the libraries hand over starts
with the client preface, so the pipeline's HTTP/2 layer reads it."""

from __future__ import annotations

import subprocess

import pytest

from tests.fixtures.tls import TlsHarness
from tests.interceptor.tls.test_capture import for_pid, go_body

pytestmark = [pytest.mark.slow, pytest.mark.ebpf]


def test_curl_h2_to_go_server(tls_harness: TlsHarness, go_tlsprog, tls_certs) -> None:
    h = tls_harness
    server, port = h.start_server(go_tlsprog[0], "server-h2", *tls_certs)
    h.wait_attached(server.pid)
    data = b'{"email":"h2@example.com","card":"4111 1111 1111 1111"}'
    res = subprocess.run(["curl", "-sk", "--http2", "--fail", "-w", "%{http_version}", "-H",
                          "Content-Type: application/json", "-d", data.decode(), f"https://127.0.0.1:{port}/h2tls"],
                         capture_output=True, timeout=30, check=True)
    assert res.stdout == data + b"2"  # the echo, and curl says it spoke HTTP/2
    # The harness pairs each traced process (tls.one_pair_per_connection off): curl's and the server's.
    pairs = h.wait_pairs(lambda p: p.request.target == "/h2tls", 2, timeout=15)
    assert sorted(p.source["kind"] for p in pairs) == ["gotls", "openssl"]
    for p in pairs:
        assert (p.protocol, p.request.version, p.request.method) == ("h2", "HTTP/2", "POST")
        assert p.request.body == data and p.response.body == data and p.response.status == 200
        assert (p.src.port, p.dst.port) == (pairs[0].src.port, port)
    assert h.counters.get("h2.connections") >= 1


def test_go_h2_client_and_server(tls_harness: TlsHarness, go_tlsprog, tls_certs) -> None:
    """Go on both ends (net/http over crypto/tls, ALPN h2): each traced process gives every POST,
    bodies exact, one of them larger than a DATA frame and the flow-control window."""
    h = tls_harness
    server, port = h.start_server(go_tlsprog[0], "server-h2", *tls_certs)
    sizes = [300, 100_000]
    client = h.spawn(go_tlsprog[0], "client-h2", f"https://127.0.0.1:{port}/goh2", ",".join(map(str, sizes)),
                     stdin=True)
    h.wait_attached(server.pid)
    h.wait_attached(client.pid)
    out, err = client.communicate("go\n", timeout=60)
    assert client.returncode == 0, err
    assert out.count("PROTO HTTP/2.0") == len(sizes)  # the client says it spoke HTTP/2
    for pid in (client.pid, server.pid):
        got = sorted(h.wait_pairs(for_pid(pid, "/goh2/"), len(sizes), timeout=15), key=lambda p: p.request.target)
        assert [p.request.target for p in got] == [f"/goh2/{i}" for i in range(len(sizes))], pid
        for i, (p, size) in enumerate(zip(got, sizes, strict=True)):
            assert p.source["kind"] == "gotls" and p.source["pid"] == pid
            assert (p.protocol, p.request.version, p.request.method, p.response.status) == ("h2", "HTTP/2", "POST", 200)
            assert p.request.body == go_body(i, size) and p.response.body == go_body(i, size)
