"""Probe placement in Go binaries: symbols from the symbol table and from .gopclntab (stripped) agree
with the Go toolchain, and the RET offsets with objdump; OpenSSL symbols with nm."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from interceptor.tls import gotls, openssl
from interceptor.tls.elf import Elf
from tests.fixtures.tls import find_go

pytestmark = pytest.mark.slow  # builds the Go test program once (cached)


def go_nm(go: str, path: str) -> dict[str, tuple[int, int]]:
    out = subprocess.run([go, "tool", "nm", "-size", path], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] in gotls.FUNCS:
            syms[parts[3]] = (int(parts[0], 16), int(parts[1]))
    return syms


def test_go_symbols_and_rets(go_tlsprog) -> None:
    normal, stripped = go_tlsprog
    nm = go_nm(find_go(), normal)
    assert {gotls.WRITE, gotls.READ, gotls.CLOSE} <= nm.keys()
    with Elf(normal) as elf:
        from_symtab = elf.find_symbols(gotls.FUNCS)
        for name, (addr, size) in nm.items():
            assert (from_symtab[name].addr, from_symtab[name].size) == (addr, size)
            from_pcln = gotls.pclntab_symbols(elf, {name})[name]
            assert from_pcln.addr == addr and from_pcln.size >= size  # pclntab size includes padding
            if shutil.which("objdump") and name != gotls.CLOSE:
                dump = subprocess.run(["objdump", "-d", f"--start-address={addr}", f"--stop-address={addr + size}",
                                       normal], capture_output=True, text=True, check=True).stdout
                want = [int(m, 16) for m in re.findall(r"^\s*([0-9a-f]+):\s+c3\s", dump, re.M)]
                assert gotls.ret_addresses(elf.read(addr, size), addr) == want and want
    p_normal, p_stripped = gotls.find_go_probes(normal), gotls.find_go_probes(stripped)
    assert p_normal.symbols_from == "symtab" and p_stripped.symbols_from == "gopclntab"
    assert p_normal.entries.keys() == p_stripped.entries.keys()
    assert all(len(p_stripped.returns[k]) == len(v) for k, v in p_normal.returns.items())


def test_not_go_and_not_openssl() -> None:
    assert gotls.find_go_probes("/bin/true") is None
    assert openssl.probe_points("/bin/true") is None


def test_openssl_points_match_nm() -> None:
    lib = "/usr/lib/x86_64-linux-gnu/libssl.so.3"
    if not shutil.which("nm"):
        pytest.skip("no nm")
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    addrs = {m[2].split("@")[0]: int(m[0], 16) for m in (line.split() for line in out.splitlines()) if len(m) == 3}
    points = openssl.probe_points(lib)
    fns = {p.fn: p.offset for p in points if not p.ret}
    assert fns["ssl_write_entry"] == addrs["SSL_write"] and fns["ssl_read_ex_entry"] == addrs["SSL_read_ex"]
    assert fns["ssl_free_entry"] == addrs["SSL_free"]
    assert sum(p.ret for p in points) == 4
    assert openssl.is_libssl("/usr/lib/x86_64-linux-gnu/libssl.so.3")
    assert not openssl.is_libssl("/usr/lib/x86_64-linux-gnu/libssl3.so")  # NSS
