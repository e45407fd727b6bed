"""Probe placement: Go symbols from the symbol table and from .gopclntab (stripped) agree with the Go
toolchain, RETs, entry points and Read's copy call with objdump; OpenSSL's internal functions with
objdump and nm. Placement on instructions the kernel emulates is what keeps the probes cheap."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from interceptor.tls import gotls, openssl, x86
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
                assert x86.ret_addresses(elf.read(addr, size), addr) == want and want
    p_normal, p_stripped = gotls.find_go_probes(normal), gotls.find_go_probes(stripped)
    assert p_normal.symbols_from == "symtab" and p_stripped.symbols_from == "gopclntab"
    assert p_normal.entries.keys() == p_stripped.entries.keys()
    assert all(len(p_stripped.returns[k]) == len(v) for k, v in p_normal.returns.items())


def test_not_go_and_not_openssl() -> None:
    assert gotls.find_go_probes("/bin/true") is None
    assert openssl.probe_points("/bin/true") is None


def objdump(path: str, start: int, size: int) -> list[tuple[int, str]]:
    """(address, instruction text) of the range, AT&T syntax with symbolised call targets."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--start-address={start}",
                          f"--stop-address={start + size}", path], capture_output=True, text=True, check=True).stdout
    return [(int(m[0], 16), m[1].strip()) for m in re.findall(r"^\s*([0-9a-f]+):\s+(.*)$", out, re.M)]


@pytest.mark.skipif(not shutil.which("objdump"), reason="no objdump")
def test_go_probes_sit_on_emulated_instructions(go_tlsprog) -> None:
    """Entries after the stack check on ``push %rbp``, Read's data at its one call to runtime.memmove,
    no RET probe on Write/Read (each RET would be single-stepped)."""
    normal, stripped = go_tlsprog
    nm = go_nm(find_go(), normal)
    probes = gotls.find_go_probes(normal)
    with Elf(normal) as elf:
        for name in (gotls.WRITE, gotls.READ, gotls.CLOSE):
            addr, size = nm[name]
            code = objdump(normal, addr, size)
            jbe = next(i for i, (_a, text) in enumerate(code) if text.startswith("jbe"))
            assert probes.once[name] and probes.entries[name] == elf.file_offset(code[jbe + 1][0])
            assert code[jbe + 1][1] == "push   %rbp"
        addr, size = nm[gotls.READ]
        copies = [a for a, text in objdump(normal, addr, size) if text.startswith("call") and "<runtime.memmove>" in text]
        assert len(copies) == 1 and probes.read_copy == elf.file_offset(copies[0])
    assert gotls.find_go_probes(stripped).read_copy == probes.read_copy
    fns = [p.fn for p in gotls.probe_points(normal)]
    assert fns.count("go_write_once") == 1 and fns.count("go_read_copy") == 1 and "go_return" not in fns


def test_openssl_points_are_the_internal_functions() -> None:
    """The four wrappers call two internal functions that start with a push: those are probed, entry
    and return, and the wrappers are not (no call is seen twice)."""
    lib = "/usr/lib/x86_64-linux-gnu/libssl.so.3"
    if not shutil.which("nm") or not shutil.which("objdump"):
        pytest.skip("no nm/objdump")
    out = subprocess.run(["nm", "-D", "--defined-only", "-S", lib], capture_output=True, text=True, check=True).stdout
    syms = {m[3].split("@")[0]: (int(m[0], 16), int(m[1], 16)) for m in map(str.split, out.splitlines()) if len(m) == 4}

    def calls(name: str) -> list[int]:
        return [int(text.split()[1], 16) for _a, text in objdump(lib, *syms[name]) if text.startswith("call")]

    points = openssl.probe_points(lib)
    by_fn = {p.fn: p.offset for p in points if not p.ret}
    with Elf(lib) as elf:
        write_inner, read_inner = calls("SSL_write_ex")[0], calls("SSL_read_ex")[0]
        assert write_inner in calls("SSL_write") and read_inner in calls("SSL_read")
        assert by_fn == {"ssl_write_ex_entry": elf.file_offset(write_inner), "ssl_read_ex_entry": elf.file_offset(read_inner),
                         "ssl_free_entry": elf.file_offset(syms["SSL_free"][0])}
        for inner in (write_inner, read_inner):
            assert objdump(lib, inner, 4)[0][1].startswith("push")
    assert sorted(p.offset for p in points if p.ret) == sorted([by_fn["ssl_write_ex_entry"], by_fn["ssl_read_ex_entry"]])
    assert openssl.is_libssl("/usr/lib/x86_64-linux-gnu/libssl.so.3")
    assert not openssl.is_libssl("/usr/lib/x86_64-linux-gnu/libssl3.so")  # NSS


def test_emulated_instructions() -> None:
    """What the kernel emulates under a uprobe (pushes, direct branches, NOPs); the rest is stepped."""
    def insn(raw: bytes, mnemonic: str = "x") -> x86.Insn:
        return x86.Insn(0, len(raw), mnemonic, "", raw)

    for raw in (b"\x55", b"\x41\x55", b"\xe8\0\0\0\0", b"\xeb\x02", b"\x76\x10", b"\x0f\x86\0\0\0\0",
                b"\x90", b"\x0f\x1f\x44\0\0", b"\x2e\x74\x02"):
        assert x86.emulated(insn(raw)), raw
    for raw in (b"\xc3", b"\xf3\x0f\x1e\xfa", b"\x48\x83\xec\x08", b"\x49\x3b\x66\x10", b"\xff\xd0", b""):
        assert not x86.emulated(insn(raw)), raw  # ret, endbr64, sub rsp, cmp rsp [r14+16], call *rax
    assert x86.call_target(next(x86.instructions(b"\xe8\x0b\0\0\0", 0x1000))) == 0x1010
    assert x86.call_target(next(x86.instructions(b"\xff\xd0", 0x1000))) is None
