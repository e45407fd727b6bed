"""The eBPF TLS source end to end: real TLS processes on loopback, real uprobes, the real pipeline.

Each exchange is seen by both of its processes (both ends are traced here), so each request gives
two pairs: one attributed to the client's pid and one to the server's, with the same addresses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.tls import TlsHarness

pytestmark = [pytest.mark.slow, pytest.mark.ebpf]

PY_COMMAND = Path(sys.executable).name[:15]  # the servers and clients run as this interpreter


def body(i: int, size: int) -> bytes:
    """The JSON bodies the test programs send (pytls.py body(), tlsprog.go Body())."""
    head = f'{{"i":{i},"pad":"'
    return (head + "y" * (size - len(head) - 2) + '"}').encode()


def go_body(i: int, size: int) -> bytes:
    head = f'{{"i":{i},"pad":"'
    return (head + "x" * (size - len(head) - 2) + '"}').encode()


def for_pid(pid: int, prefix: str):
    return lambda p: p.source.get("pid") == pid and p.request.target.startswith(prefix)


def assert_pair(p, method: str, target: str, req: bytes, status: int, resp: bytes, server_port: int) -> None:
    assert (p.request.method, p.request.target, p.response.status) == (method, target, status)
    assert p.request.body == req and len(p.request.body) == len(req)
    assert p.response.body == resp
    assert p.dst.ip == "127.0.0.1" and p.dst.port == server_port
    assert p.src.ip == "127.0.0.1" and p.src.port not in (0, server_port)


def assert_go_exchanges(h: TlsHarness, pid: int, prefix: str, sizes: list[int], port: int, kind: str = "gotls") -> None:
    """What ``pid`` saw of a tlsprog client's run: POSTs ``<prefix><i>`` with exact bodies, and the
    process named by its kind and command."""
    got = sorted(h.wait_pairs(for_pid(pid, prefix), len(sizes)), key=lambda p: p.request.target)
    assert [p.request.target for p in got] == [f"{prefix}{i}" for i in range(len(sizes))], pid
    for i, (p, size) in enumerate(zip(got, sizes, strict=True)):
        assert p.source["kind"] == kind and p.source["pid"] == pid
        if kind == "gotls":
            assert p.source["command"].startswith("tlsprog")
        else:
            assert p.source["command"] == PY_COMMAND
        assert_pair(p, "POST", f"{prefix}{i}", go_body(i, size), 200, go_body(i, size), port)


def test_curl_to_python_server(tls_harness: TlsHarness, tmp_path, tls_certs) -> None:
    h = tls_harness
    server, port = h.start_server(*h.python("server", *tls_certs))  # started after the source
    h.wait_attached(server.pid)
    big = json.dumps({"items": ["a" * 90 for _ in range(1000)]}).encode()  # > 64 KB: several SSL writes
    assert len(big) > 64 * 1024
    (tmp_path / "big.json").write_bytes(big)
    small = b'{"email":"jane@example.com"}'
    for target, data in (("/curl/small", small), ("/curl/big", big)):
        curl = h.spawn("curl", "-sk", "--fail", "-H", "Content-Type: application/json", "--data-binary",
                       "@" + str(tmp_path / "big.json") if data is big else small.decode(),
                       f"https://127.0.0.1:{port}{target}")
        out, _ = curl.communicate(timeout=30)
        assert out.encode() == data
        for pid in (curl.pid, server.pid):
            pairs = h.wait_pairs(lambda p, pid=pid, t=target: p.source.get("pid") == pid and p.request.target == t, 1)
            assert len(pairs) == 1, f"pid {pid} {target}: {pairs}"
            (p,) = pairs
            assert p.source["kind"] == "openssl"
            assert p.source["command"] == ("curl" if pid == curl.pid else PY_COMMAND)
            assert_pair(p, "POST", target, data, 200, data, port)


def test_python_client_imports_ssl_late(tls_harness: TlsHarness, tls_certs) -> None:
    h = tls_harness
    server, port = h.start_server(*h.python("server", *tls_certs))
    sizes = [300, 70_000, 1_000_000]
    client = h.spawn(*h.python("client", str(port), ",".join(map(str, sizes))), stdin=True)
    assert not h.attached(client.pid), "libssl mapped before 'import ssl'"
    out, err = client.communicate("go\n", timeout=60)
    assert client.returncode == 0, err
    assert out.split("\n")[:3] == [f"200 {s}" for s in sizes]
    got = h.wait_pairs(for_pid(client.pid, "/py/"), len(sizes))
    got.sort(key=lambda p: p.request.target)
    assert [p.request.target for p in got] == [f"/py/{i}" for i in range(len(sizes))]
    for i, (p, size) in enumerate(zip(got, sizes, strict=True)):
        assert p.source == {"kind": "openssl", "pid": client.pid, "command": PY_COMMAND}
        assert_pair(p, "POST", f"/py/{i}", body(i, size), 200, body(i, size), port)
    server_side = h.wait_pairs(for_pid(server.pid, "/py/"), len(sizes))
    assert sorted(len(p.response.body) for p in server_side) == sorted(sizes)
    # one keep-alive connection on each side: the same client address in every pair
    assert len({(p.src.ip, p.src.port) for p in got + server_side}) == 1


def test_requests_client(tls_harness: TlsHarness, tls_certs) -> None:
    """The requests library (urllib3 over Python's ssl, head and body written separately)."""
    h = tls_harness
    server, port = h.start_server(*h.python("server", *tls_certs))
    sizes = [300, 70_000, 1_000_000]
    client = h.spawn(*h.python("requests", str(port), ",".join(map(str, sizes))), stdin=True)
    h.wait_attached(server.pid)
    out, err = client.communicate("go\n", timeout=60)
    assert client.returncode == 0, err
    assert out.split("\n")[:3] == [f"200 {s}" for s in sizes]
    got = sorted(h.wait_pairs(for_pid(client.pid, "/rq/"), len(sizes)), key=lambda p: p.request.target)
    assert [p.request.target for p in got] == [f"/rq/{i}" for i in range(len(sizes))]
    for i, (p, size) in enumerate(zip(got, sizes, strict=True)):
        assert p.source == {"kind": "openssl", "pid": client.pid, "command": PY_COMMAND}
        assert p.request.header("user-agent").startswith("python-requests/")
        assert_pair(p, "POST", f"/rq/{i}", body(i, size), 200, body(i, size), port)


def test_go_client_and_stripped_go_server(tls_harness: TlsHarness, go_tlsprog, tls_certs) -> None:
    h = tls_harness
    normal, stripped = go_tlsprog
    server, port = h.start_server(stripped, "server", *tls_certs)  # symbols from .gopclntab
    sizes = [200, 70_000, 1_000_000]
    client = h.spawn(normal, "client", f"https://127.0.0.1:{port}/go", ",".join(map(str, sizes)), stdin=True)
    h.wait_attached(server.pid)
    h.wait_attached(client.pid)
    kinds = {h.source.targets[k].kind for k in h.source.pids[client.pid].keys}
    assert kinds == {"gotls"}
    out, err = client.communicate("go\n", timeout=60)
    assert client.returncode == 0, err
    for pid in (client.pid, server.pid):
        assert_go_exchanges(h, pid, "/go/", sizes, port)


def test_go_server_and_curl(tls_harness: TlsHarness, go_tlsprog, tls_certs) -> None:
    h = tls_harness
    server, port = h.start_server(go_tlsprog[0], "server", *tls_certs)
    h.wait_attached(server.pid)
    data = b'{"card":"4111 1111 1111 1111"}'
    out = subprocess.run(["curl", "-sk", "--fail", "-H", "Content-Type: application/json", "-d", data.decode(),
                          f"https://127.0.0.1:{port}/mixed"], capture_output=True, timeout=30, check=True).stdout
    assert out == data
    (p,) = h.wait_pairs(lambda p: p.source.get("pid") == server.pid and p.request.target == "/mixed", 1)
    assert_pair(p, "POST", "/mixed", data, 200, data, port)
    assert h.counters.get("tls.openssl.lost_samples") == 0 and h.counters.get("tls.gotls.lost_samples") == 0
    assert h.counters.get("tls.addresses_from_kernel") > 0


def test_lost_records_resynchronise(tls_certs) -> None:
    """A ring buffer too small for a 1 MB body: records are lost and counted, the connection gets a
    gap, and the next requests on the same keep-alive connection still pair exactly."""
    from tests.fixtures.tls import harness_config

    cfg = harness_config()
    cfg.tls.ring_buffer_bytes = 256 * 1024
    h = TlsHarness(cfg)
    try:
        if h.source is None:
            pytest.skip("TLS source unavailable here")
        server, port = h.start_server(*h.python("server", *tls_certs))
        h.wait_attached(server.pid)
        sizes = [1_000_000, 200, 300]
        client = h.spawn(*h.python("client", str(port), ",".join(map(str, sizes))), stdin=True)
        out, err = client.communicate("go\n", timeout=60)
        assert client.returncode == 0, err
        whole = h.wait_pairs(lambda p: for_pid(client.pid, "/py/")(p) and p.request.target != "/py/0", 2)
        got = sorted(whole, key=lambda p: p.request.target)
        assert [p.request.target for p in got] == ["/py/1", "/py/2"]
        # The damaged exchange, if both heads survived, is a partial pair (core.on_gap: partial).
        for damaged in h.call(lambda: [x for x in h.pairs if for_pid(client.pid, "/py/0")(x)]):
            assert damaged.request.body_incomplete or damaged.response.body_incomplete
            assert (damaged.request.method, damaged.response.status) == ("POST", 200)
        for p, i in zip(got, (1, 2), strict=True):
            assert_pair(p, "POST", f"/py/{i}", body(i, sizes[i]), 200, body(i, sizes[i]), port)
        counts = h.call(lambda: (h.source._count_lost(), dict(h.counters.counts))[1])
        assert counts["tls.openssl.lost_samples"] > 0 and counts["tls.openssl.gaps"] > 0, counts
        assert counts["stream.gaps"] > 0
    finally:
        h.close()


def test_container_library_through_proc_root(tls_harness: TlsHarness, tls_certs, tmp_path) -> None:
    """A process in its own mount namespace with its own copy of libssl (as in a container image):
    the copy is found through /proc/<pid>/root and attached as a file of its own."""
    h = tls_harness
    if not shutil.which("unshare"):
        pytest.skip("no unshare")
    server, port = h.start_server(*h.python("server", *tls_certs))
    system = os.path.realpath("/usr/lib/x86_64-linux-gnu/libssl.so.3")
    copy = tmp_path / "libssl.so.3"
    shutil.copy2(system, copy)
    script = (f"mount --bind {copy} /usr/lib/x86_64-linux-gnu/libssl.so.3 && exec "
              + " ".join(h.python("client", str(port), "250", "early")))
    client = h.spawn("unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, stdin=True)
    # the client pid is the shell's (exec): wait until its own libssl (the copy's inode) is attached
    deadline = time.monotonic() + 20
    copy_key = (os.stat(copy).st_dev, os.stat(copy).st_ino)
    while copy_key not in h.call(lambda: dict(h.source.targets)) or not h.attached(client.pid):
        assert time.monotonic() < deadline, "the container's libssl was never attached"
        time.sleep(0.1)
    target = h.call(lambda: h.source.targets[copy_key])
    assert target.path == f"/proc/{client.pid}/root/usr/lib/x86_64-linux-gnu/libssl.so.3"
    assert copy_key != (os.stat(system).st_dev, os.stat(system).st_ino)
    out, err = client.communicate("go\n", timeout=60)
    assert client.returncode == 0, err
    (p,) = h.wait_pairs(for_pid(client.pid, "/py/"), 1)
    assert p.source == {"kind": "openssl", "pid": client.pid, "command": PY_COMMAND}
    assert_pair(p, "POST", "/py/0", body(0, 250), 200, body(0, 250), port)
    # gone: once tls.detach_after_s has passed, the next scan detaches the file nobody maps any more
    h.call(h.source.scan)
    assert h.call(lambda: h.source.targets[copy_key].idle_since) is not None
    h.call(lambda: setattr(h.source.targets[copy_key], "idle_since", time.monotonic() - h.config.tls.detach_after_s))
    h.call(h.source.scan)
    assert copy_key not in h.call(lambda: dict(h.source.targets))


def test_short_lived_go_client_run_again(tls_harness: TlsHarness, go_tlsprog, tls_certs) -> None:
    """A Go client that starts talking at once and exits within milliseconds: the exec notice gets
    its binary attached, and it stays attached, so the next runs are captured completely."""
    h = tls_harness
    server, port = h.start_server(*h.python("server", *tls_certs))
    h.wait_attached(server.pid)
    for run in range(2):
        client = h.spawn(go_tlsprog[0], "client", f"https://127.0.0.1:{port}/quick{run}", "120,130", stdin=True)
        client.communicate("go\n", timeout=30)  # the line is there at once: no waiting for attach
        assert client.returncode == 0
    got = h.wait_pairs(lambda p: p.source.get("pid") == client.pid, 2, timeout=10)
    assert sorted(p.request.target for p in got) == ["/quick1/0", "/quick1/1"]
    assert {p.source["kind"] for p in got} == {"gotls"}


def test_short_lived_go_client_first_run(tls_harness: TlsHarness, go_tlsprog, tls_certs, tmp_path) -> None:
    """tls.hold_new_programs: each run is a new copy of the binary (a file never attached before),
    talking at once and exiting within milliseconds; the kernel holds it at exec until its probes are
    attached, so every run's first exchange is captured — 20 runs in a row."""
    h = tls_harness
    server, port = h.start_server(*h.python("server", *tls_certs))
    h.wait_attached(server.pid)
    held_before = h.counters.get("tls.held_programs")
    for run in range(20):
        binary = tmp_path / f"tlsprog-{run}"
        shutil.copy(go_tlsprog[0], binary)  # a new inode: nothing attached to it yet
        client = h.spawn(str(binary), "client", f"https://127.0.0.1:{port}/first{run}", "120", stdin=True)
        client.communicate("go\n", timeout=30)
        assert client.returncode == 0
        got = h.wait_pairs(lambda p, pid=client.pid: p.source.get("pid") == pid, 1, timeout=30)
        held = {k: v for k, v in h.counters.counts.items() if "held" in k} | {
            k: v for k, v in h.counters.gauges.items() if "hold" in k}
        assert [p.request.target for p in got] == [f"/first{run}/0"], f"run {run} missed ({held})"
        assert got[0].source["kind"] == "gotls"
    assert h.counters.get("tls.held_programs") - held_before >= 20
    assert h.counters.gauges["tls.max_hold_ms"] < 5000


def test_one_pair_per_connection_mutes_the_mirror(tls_certs, tmp_path) -> None:
    """The agent's default: with both ends traced, each exchange gives one pair, and once the pipeline
    calls the other end's stream a mirror the kernel stops copying it (half of all records)."""
    from tests.fixtures.tls import PYTLS, harness_config

    python = tmp_path / "pymute"  # a command of its own: only this test's processes are traced
    python.symlink_to(os.path.realpath(sys.executable))
    cfg = harness_config()
    cfg.tls.one_pair_per_connection = True
    cfg.tls.include_commands = ["pymute"]
    h = TlsHarness(cfg)
    if h.source is None:
        h.close()
        pytest.skip("TLS source unavailable here")
    try:
        first, second = [300, 70_000], [1_000_000, 500, 300]
        server, port = h.start_server(str(python), str(PYTLS), "server", *tls_certs)
        sizes = ",".join(map(str, [*first, 0, *second]))  # 0: the client pauses there
        client = h.spawn(str(python), str(PYTLS), "client", str(port), sizes, "early", stdin=True)
        h.wait_attached(server.pid)
        h.wait_attached(client.pid)
        ours = lambda p: p.dst.port == port and p.request.target.startswith("/py/")  # noqa: E731
        assert client.stdin is not None
        client.stdin.write("go\n")
        client.stdin.flush()
        assert len(h.wait_pairs(ours, len(first))) == len(first)
        counts = h.counters.snapshot()["counts"]
        assert counts["tls.openssl.muted_streams"] == 1 and counts["stream.mirrored"] == 1
        mirrored = counts["stream.mirrored_bytes"]
        out, err = client.communicate("go\n", timeout=60)  # the rest of the same connection
        assert client.returncode == 0, err
        h.wait_pairs(ours, len(first) + len(second))
        time.sleep(0.5)  # nothing more may come
        got = h.call(lambda: [p for p in h.pairs if ours(p)])
        assert len(got) == len(first) + len(second) and len({p.source["pid"] for p in got}) == 1
        got.sort(key=lambda p: int(p.request.target.rsplit("/", 1)[1]))
        for i, (p, size) in enumerate(zip(got, first + second, strict=True)):
            assert_pair(p, "POST", f"/py/{i}", body(i, size), 200, body(i, size), port)
        counts = h.counters.snapshot()["counts"]
        assert counts["stream.mirrored"] == 1
        assert counts["stream.mirrored_bytes"] == mirrored, "the muted end was still copied"
        assert counts["tls.openssl.bytes"] == counts["stream.bytes"] + mirrored
    finally:
        h.close()
