"""Kernel struct offsets read from the running kernel's BTF, checked against pahole (dwarves), an
independent reader of the same BTF."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from interceptor.tls import btf


def pahole_offset(struct_name: str, member: str) -> int:
    out = subprocess.run(["pahole", "-C", struct_name, str(btf.VMLINUX)], capture_output=True, text=True,
                         timeout=60).stdout
    m = re.search(rf"[\s*]{member};\s+/\*\s+(\d+)", out)
    assert m, f"pahole shows no {struct_name}.{member}"
    return int(m.group(1))


@pytest.mark.skipif(not btf.VMLINUX.exists(), reason="this kernel has no BTF")
@pytest.mark.skipif(shutil.which("pahole") is None, reason="pahole not installed (scripts/setup.d/tls.apt)")
def test_offsets_match_pahole() -> None:
    parsed = btf.Btf(btf.VMLINUX.read_bytes())
    for _macro, struct_name, member in btf.NEEDED:
        assert parsed.offset(struct_name, member) == pahole_offset(struct_name, member), (struct_name, member)


def test_bad_blob_is_a_clear_error() -> None:
    with pytest.raises(btf.BtfError, match="magic"):
        btf.Btf(b"\0" * 64)
    with pytest.raises(btf.BtfError, match="short"):
        btf.Btf(b"\x9f\xeb")
