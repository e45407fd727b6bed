"""TLS libraries beyond dynamic libssl and Go: Node.js (OpenSSL linked into the node binary) and
GnuTLS (gnutls-cli), each against a traced Python or curl peer, exact pairs from both ends."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.tls import TESTDATA, TlsHarness, harness_config
from tests.interceptor.tls.test_capture import PY_COMMAND, assert_pair, body, for_pid

pytestmark = [pytest.mark.slow, pytest.mark.ebpf]
NODETLS = str(TESTDATA / "nodetls.js")
GRPCTLS = str(TESTDATA / "grpctls.py")
GRPC_METHOD = "/probe.Echo/Echo"


@pytest.fixture(scope="module")
def lib_harness() -> Iterator[TlsHarness]:
    if os.geteuid() != 0:
        pytest.skip("eBPF TLS tests need root")
    cfg = harness_config()
    cfg.tls.include_commands = [*cfg.tls.include_commands, "node", "gnutls-cli", "tstclnt"]
    h = TlsHarness(cfg)
    if h.source is None:
        h.close()
        pytest.skip("TLS source unavailable here")
    try:
        yield h
    finally:
        h.close()


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed (scripts/setup.d/tls.apt)")
    return path


def test_node_client_to_python_server(lib_harness: TlsHarness, tls_certs) -> None:
    h, node = lib_harness, need("node")
    server, port = h.start_server(*h.python("server", *tls_certs))
    h.wait_attached(server.pid)
    sizes = [300, 70_000, 1_000_000]
    client = h.spawn(node, NODETLS, "client", str(port), ",".join(map(str, sizes)))
    out, err = client.communicate(timeout=60)
    assert client.returncode == 0, err
    assert out.split("\n")[:3] == [f"200 {s}" for s in sizes]
    for pid, command in ((client.pid, "node"), (server.pid, PY_COMMAND)):
        got = sorted(h.wait_pairs(for_pid(pid, "/node/"), len(sizes)), key=lambda p: int(p.request.target[6:]))
        assert [p.request.target for p in got] == [f"/node/{i}" for i in range(len(sizes))], command
        for i, (p, size) in enumerate(zip(got, sizes, strict=True)):
            assert p.source == {"kind": "openssl", "pid": pid, "command": command}
            assert_pair(p, "POST", f"/node/{i}", body(i, size), 200, body(i, size), port)


def test_curl_to_node_server(lib_harness: TlsHarness, tls_certs, tmp_path: Path) -> None:
    h, node = lib_harness, need("node")
    server, port = h.start_server(node, NODETLS, "server", *tls_certs)
    h.wait_attached(server.pid)  # the node executable itself: OpenSSL's symbols are in it
    data = b'{"email":"jane@example.com","card":"4111111111111111"}'
    curl = h.spawn("curl", "-sk", "--fail", "-H", "Content-Type: application/json", "--data-binary",
                   data.decode(), f"https://127.0.0.1:{port}/curl/node")
    out, _ = curl.communicate(timeout=30)
    assert out.encode() == data
    (p,) = h.wait_pairs(lambda p: p.source.get("pid") == server.pid and p.request.target == "/curl/node", 1)
    assert p.source == {"kind": "openssl", "pid": server.pid, "command": "node"}
    assert_pair(p, "POST", "/curl/node", data, 200, data, port)


def test_gnutls_cli_to_python_server(lib_harness: TlsHarness, tls_certs) -> None:
    h, gnutls_cli = lib_harness, need("gnutls-cli")
    server, port = h.start_server(*h.python("server", *tls_certs))
    h.wait_attached(server.pid)
    reqs = [body(i, size) for i, size in enumerate((200, 20_000))]
    cli = subprocess.Popen([gnutls_cli, "--insecure", "-p", str(port), "127.0.0.1"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    h.procs.append(cli)  # type: ignore[arg-type]
    h.wait_attached(cli.pid)
    assert cli.stdin is not None
    for i, data in enumerate(reqs):  # two requests on one connection, one write each
        cli.stdin.write(b"POST /gnutls/%d HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (i, len(data), data))
        cli.stdin.flush()
        time.sleep(0.3)
    got = sorted(h.wait_pairs(for_pid(cli.pid, "/gnutls/"), len(reqs)), key=lambda p: p.request.target)
    cli.stdin.close()
    cli.wait(timeout=20)
    assert [p.request.target for p in got] == [f"/gnutls/{i}" for i in range(len(reqs))]
    for i, (p, data) in enumerate(zip(got, reqs, strict=True)):
        assert p.source == {"kind": "gnutls", "pid": cli.pid, "command": "gnutls-cli"}
        assert_pair(p, "POST", f"/gnutls/{i}", data, 200, data, port)
    assert h.counters.get("tls.gnutls.streams") >= 1


def test_nss_tstclnt_to_python_server(lib_harness: TlsHarness, tls_certs, tmp_path: Path) -> None:
    """NSS's tstclnt (NSPR's PR_Write/PR_Read on the SSL layer; its stdin and stdout go through the
    same functions and are not streams): two requests on one connection, exact."""
    h, tstclnt, certutil = lib_harness, need("tstclnt"), need("certutil")
    db = tmp_path / "nssdb"
    db.mkdir()
    subprocess.run([certutil, "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    server, port = h.start_server(*h.python("server", *tls_certs))
    h.wait_attached(server.pid)
    reqs = [body(i, size) for i, size in enumerate((300, 30_000))]
    cli = subprocess.Popen([tstclnt, "-d", f"sql:{db}", "-o", "-h", "127.0.0.1", "-p", str(port)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    h.procs.append(cli)  # type: ignore[arg-type]
    h.wait_attached(cli.pid)
    assert cli.stdin is not None
    for i, data in enumerate(reqs):
        cli.stdin.write(b"POST /nss/%d HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (i, len(data), data))
        cli.stdin.flush()
        time.sleep(0.3)
    got = sorted(h.wait_pairs(for_pid(cli.pid, "/nss/"), len(reqs)), key=lambda p: p.request.target)
    cli.terminate()  # tstclnt stays on a kept-alive connection after its stdin ends
    cli.wait(timeout=20)
    assert [p.request.target for p in got] == [f"/nss/{i}" for i in range(len(reqs))]
    for i, (p, data) in enumerate(zip(got, reqs, strict=True)):
        assert p.source == {"kind": "nss", "pid": cli.pid, "command": "tstclnt"}
        assert_pair(p, "POST", f"/nss/{i}", data, 200, data, port)
    assert h.counters.get("tls.nss.streams") == 1  # the TLS connection only: not stdin, not stdout


def grpc_frame(message: bytes) -> bytes:
    return b"\0" + len(message).to_bytes(4, "big") + message


def boringssl_attached(h: TlsHarness, pid: int) -> bool:
    """The process uses a file attached with the BoringSSL signature probes (its cygrpc .so)."""
    assert h.source is not None
    src = h.source

    def check() -> bool:
        src.scan()
        info = src.pids.get(pid)
        return bool(info) and any(src.targets[k].kind == "boringssl" for k in info.keys if k in src.targets)

    return h.call(check)


def wait_boringssl(h: TlsHarness, pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not boringssl_attached(h, pid):
        assert time.monotonic() < deadline, f"pid {pid}: grpcio's BoringSSL never got probes"
        time.sleep(0.1)


def test_grpcio_over_tls_both_ends(lib_harness: TlsHarness, tls_certs) -> None:
    """grpcio client and server (BoringSSL stripped inside cygrpc*.so, found by its error-reporting
    signatures): every call's request and response exact, from both processes."""
    pytest.importorskip("grpc")
    h = lib_harness
    server, port = h.start_server(sys.executable, GRPCTLS, "server", *tls_certs)
    wait_boringssl(h, server.pid)
    sizes = [10, 3_000, 70_000]
    client = h.spawn(sys.executable, GRPCTLS, "client", str(port), tls_certs[0], ",".join(map(str, sizes)), stdin=True)
    assert client.stdout is not None and client.stdin is not None
    assert client.stdout.readline().strip() == "READY"
    wait_boringssl(h, client.pid)
    out, err = client.communicate("go\n", timeout=60)
    assert client.returncode == 0, err
    calls = [(base64.b64decode(c["request"]), base64.b64decode(c["response"])) for c in json.loads(out)]
    assert [len(req) for req, _ in calls] == sizes
    for pid in (client.pid, server.pid):
        got = h.wait_pairs(lambda p, pid=pid: p.source.get("pid") == pid and p.request.target == GRPC_METHOD,
                           len(sizes))
        got.sort(key=lambda p: len(p.request.body))
        assert len(got) == len(sizes), (pid, len(got), h.counters.counts)
        for p, (req, resp) in zip(got, calls, strict=True):
            assert p.source == {"kind": "boringssl", "pid": pid, "command": PY_COMMAND}
            assert (p.protocol, p.request.method, p.response.status) == ("grpc", "POST", 200)
            assert p.request.body == grpc_frame(req) and p.response.body == grpc_frame(resp)
            assert p.grpc is not None and p.grpc.status == 0
            assert (p.dst.ip, p.dst.port) == ("127.0.0.1", port) and p.src.port not in (0, port)
    assert h.counters.get("tls.boringssl.streams") >= 2
