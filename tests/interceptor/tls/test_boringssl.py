"""The stripped-BoringSSL finder (interceptor/tls/boringssl.py) and the unwind-table reader it relies
on (ehframe.py), on real files: libcrypto's own symbols are the oracle for function starts, and the
grpcio wheel installed here is the file the signatures are for."""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from interceptor.tls import boringssl
from interceptor.tls.boringssl import SHOULD_NOT_HAVE_BEEN_CALLED as SNHBC
from interceptor.tls.boringssl import Analysed, Site
from interceptor.tls.ehframe import Function, UnwindTable
from interceptor.tls.elf import Elf

LIBCRYPTO = Path("/usr/lib/x86_64-linux-gnu/libcrypto.so.3")


def cygrpc() -> str:
    spec = importlib.util.find_spec("grpc")
    if spec is None or spec.origin is None:
        pytest.skip("grpcio not installed")
    found = sorted((Path(spec.origin).parent / "_cython").glob("cygrpc*.so"))
    if not found:
        pytest.skip("grpcio without its cygrpc extension")
    return str(found[0])


def test_unwind_table_starts_match_the_symbol_table() -> None:
    """Every exported function of libcrypto starts exactly where its FDE starts, as an entry."""
    if not LIBCRYPTO.exists():
        pytest.skip("no libcrypto.so.3")
    out = subprocess.run(["readelf", "-W", "--dyn-syms", str(LIBCRYPTO)], capture_output=True, text=True, check=True)
    addrs = {int(f[1], 16) for f in (line.split() for line in out.stdout.splitlines())
             if len(f) >= 8 and f[3] == "FUNC" and f[6] != "UND" and int(f[2], 0 if f[2].startswith("0x") else 10) > 0}
    assert len(addrs) > 3000
    with Elf(str(LIBCRYPTO)) as elf:
        table = UnwindTable(elf)
        found = {a: table.function_at(a) for a in addrs}
    wrong = [hex(a) for a, fn in found.items() if fn is None or fn.start != a or not fn.entry]
    assert len(wrong) <= len(addrs) // 100, wrong[:20]  # (a few hand-written assembly routines have no FDE)


@functools.cache
def call_targets(path: str) -> Counter[int]:
    """How often each address is the target of a ``call rel32`` in the file's .text."""
    with Elf(path) as elf:
        text = elf.section(".text")
        assert text is not None
        code = bytes(elf.data[text.offset:text.offset + text.size])
    out: Counter[int] = Counter()
    for m in re.finditer(rb"\xe8", code):
        p = m.start()
        out[text.addr + p + 5 + int.from_bytes(code[p + 1:p + 5], "little", signed=True)] += 1
    return out


def test_cold_parts_are_not_entries() -> None:
    """GCC moves unlikely code to ``*.cold`` parts with FDEs of their own: no call ever reaches one
    (they are jumped to from inside their function), and none is taken for an entry."""
    path = cygrpc()
    with Elf(path) as elf:
        table = UnwindTable(elf)
        fns = [table._fde(a) for a in table.fdes]
    cold = [f for f in fns if not f.entry]
    entries = [f for f in fns if f.entry]
    assert cold and len(cold) < len(fns) // 4
    targets = call_targets(path)
    assert not [hex(f.start) for f in cold if f.start in targets]
    assert sum(f.start in targets for f in entries) > len(entries) // 4


def test_grpcio_wheel_signatures() -> None:
    """The three functions are found in the installed wheel, and the code that calls them agrees:
    gRPC's TSI layer calls SSL_write, SSL_read and SSL_new directly."""
    path = cygrpc()
    with Elf(path) as elf:
        found = boringssl.find(elf)
    assert found.reason == ""
    assert found.ssl_write is not None and found.ssl_read is not None and found.ssl_new is not None
    targets = call_targets(path)
    assert min(targets[found.ssl_write], targets[found.ssl_read], targets[found.ssl_new]) >= 1
    points = boringssl.probe_points(path)
    assert points is not None
    assert sorted(p.fn for p in points) == sorted(["boringssl_write_entry", "boringssl_read_entry", "ssl_return",
                                                   "ssl_return", "boringssl_new_return"])


def test_files_without_boringssl_get_no_probe() -> None:
    for path in (str(LIBCRYPTO), "/usr/bin/python3"):
        if Path(path).exists():
            assert boringssl.probe_points(path) is None
            with Elf(path) as elf:
                assert boringssl.find(elf).reason == "no_boringssl_ssl_lib"


def fn(start: int) -> Function:
    return Function(start, 0x100, True)


def test_read_rule_needs_exactly_peek_and_read() -> None:
    """SSL_read is told from SSL_peek only when both hold the site and one calls strictly more;
    any other shape attaches nothing."""
    peek = Analysed(fn(0x1000), [Site(935, SNHBC)], calls={0x10, 0x20})
    read = Analysed(fn(0x2000), [Site(935, SNHBC)], calls={0x10, 0x20, 0x30})
    other = Analysed(fn(0x3000), [Site(300, SNHBC)], calls={0x40})
    assert boringssl._ssl_read([peek, read, other], 956) is read
    assert boringssl._ssl_read([peek, other], 956) is None  # SSL_peek not inlined: which caller is SSL_read?
    same = Analysed(fn(0x2000), [Site(935, SNHBC)], calls={0x10, 0x20})
    assert boringssl._ssl_read([peek, same], 956) is None
    third = Analysed(fn(0x4000), [Site(935, SNHBC)], calls={0x10, 0x20, 0x30, 0x50})
    assert boringssl._ssl_read([peek, read, third], 956) is None
    cold = Analysed(Function(0x2000, 0x100, False), [Site(935, SNHBC)], calls={0x10, 0x20, 0x30})
    assert boringssl._ssl_read([peek, cold], 956) is None  # a split-off part is never a probe site
    unclear = Analysed(fn(0x2000), [Site(935, SNHBC)], calls={0x10, 0x20, 0x30}, unclear=True)
    assert boringssl._ssl_read([peek, unclear], 956) is None
    assert boringssl._ssl_read([peek, read], 956 + 100) is None  # too far from SSL_write's sites
