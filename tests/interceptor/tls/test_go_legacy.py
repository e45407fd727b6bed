"""Go crypto/tls on the legacy probe placement, with Debian's Go 1.19 (package ``golang-1.19-go``).

Go 1.19's prologue has no ``push rbp`` after the stack check (``sub rsp, N; mov [rsp+..], rbp``), so
gotls.py puts the entry probes on the ``jbe`` (``once`` False): Write copied at ``go_write_entry``
with ``go_return`` on each RET, Read by ``go_read_entry`` + ``go_read_copy`` (its memmove call) or
its RETs. The modern toolchain never takes this path; these tests do, end to end.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest

from interceptor.tls import gotls
from tests.fixtures.tls import TlsHarness, build_tlsprog
from tests.interceptor.tls.test_capture import assert_go_exchanges, for_pid

pytestmark = [pytest.mark.slow, pytest.mark.ebpf]

GO119 = "/usr/lib/go-1.19/bin/go"
SIZES = [200, 70_000, 1_000_000]


@pytest.fixture(scope="module")
def go119_tlsprog() -> tuple[str, str]:
    """(normal, stripped) builds of testdata/tlsprog.go with Go 1.19 (cached like go_tlsprog)."""
    if not os.access(GO119, os.X_OK):
        pytest.skip(f"no Go 1.19 at {GO119} (apt-get install golang-1.19-go, see scripts/setup.d/tls.apt)")
    return build_tlsprog(GO119)


def no_more_pairs(h: TlsHarness, pid: int, prefix: str, n: int) -> None:
    """Exactly n pairs: none duplicated by a probe firing twice arrives a little later."""
    time.sleep(0.5)
    assert len(h.wait_pairs(for_pid(pid, prefix), n + 1, timeout=0)) == n, (pid, prefix)


def is_jbe(path: str, offset: int) -> bool:
    with open(path, "rb") as f:
        f.seek(offset)
        code = f.read(2)
    return code[:1] == b"\x76" or code == b"\x0f\x86"  # jbe rel8 / jbe rel32


@pytest.mark.parametrize("stripped", [False, True], ids=["symtab", "gopclntab"])
def test_go119_uses_legacy_placement(go119_tlsprog, stripped: bool) -> None:
    path = go119_tlsprog[stripped]
    probes = gotls.find_go_probes(path)
    assert probes is not None
    assert probes.symbols_from == ("gopclntab" if stripped else "symtab")
    assert probes.once[gotls.WRITE] is False and probes.once[gotls.READ] is False
    for name in (gotls.WRITE, gotls.READ):
        assert is_jbe(path, probes.entries[name]), f"{name}: entry probe not on the stack check's jbe"
    points = gotls.probe_points(path)
    assert points is not None
    by_fn: dict[str, set[int]] = {}
    for p in points:
        assert not p.ret, "no uretprobes on Go"
        by_fn.setdefault(p.fn, set()).add(p.offset)
    assert "go_write_once" not in by_fn
    assert by_fn["go_write_entry"] == {probes.entries[gotls.WRITE]}
    write_rets = set(probes.returns[gotls.WRITE])
    assert write_rets and write_rets <= by_fn["go_return"]
    assert by_fn["go_read_entry"] == {probes.entries[gotls.READ]}
    if probes.read_copy is not None:  # Go 1.19's Read has its one call to runtime.memmove
        assert by_fn["go_read_copy"] == {probes.read_copy}
        assert by_fn["go_return"] == write_rets
    else:
        assert set(probes.returns[gotls.READ]) <= by_fn["go_return"]
    assert Counter(p.fn for p in points)["go_close_entry"] == 1


def test_go119_client_and_stripped_go119_server(tls_harness: TlsHarness, go119_tlsprog, tls_certs) -> None:
    h = tls_harness
    normal, stripped = go119_tlsprog
    server, port = h.start_server(stripped, "server", *tls_certs)
    client = h.spawn(normal, "client", f"https://127.0.0.1:{port}/go119", ",".join(map(str, SIZES)), stdin=True)
    h.wait_attached(server.pid)
    h.wait_attached(client.pid)
    assert {h.source.targets[k].kind for k in h.source.pids[client.pid].keys} == {"gotls"}
    out, err = client.communicate("go\n", timeout=60)
    assert client.returncode == 0, err
    assert out.split("\n")[:3] == [f"200 {s}" for s in SIZES]
    for pid in (client.pid, server.pid):
        assert_go_exchanges(h, pid, "/go119/", SIZES, port)
        no_more_pairs(h, pid, "/go119/", len(SIZES))
    assert h.counters.get("tls.gotls.lost_samples") == 0 and h.counters.get("tls.gotls.gaps") == 0


def test_go119_client_and_python_server(tls_harness: TlsHarness, go119_tlsprog, tls_certs) -> None:
    h = tls_harness
    server, port = h.start_server(*h.python("server", *tls_certs))
    client = h.spawn(go119_tlsprog[0], "client", f"https://127.0.0.1:{port}/go119py", ",".join(map(str, SIZES)),
                     stdin=True)
    h.wait_attached(server.pid)
    h.wait_attached(client.pid)
    out, err = client.communicate("go\n", timeout=60)
    assert client.returncode == 0, err
    assert out.split("\n")[:3] == [f"200 {s}" for s in SIZES]
    for pid, kind in ((client.pid, "gotls"), (server.pid, "openssl")):
        assert_go_exchanges(h, pid, "/go119py/", SIZES, port, kind)
        no_more_pairs(h, pid, "/go119py/", len(SIZES))
