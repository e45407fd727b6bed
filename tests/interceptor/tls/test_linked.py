"""linked.py: the TLS libraries a program will load, found from its ELF files before it runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from interceptor.tls import gnutls, openssl
from interceptor.tls.elf import Elf
from interceptor.tls.linked import ld_conf_dirs, tls_libraries


def is_tls(path: str) -> bool:
    return openssl.is_libssl(path) or gnutls.is_libgnutls(path)


def test_curl_links_libssl_through_libcurl() -> None:
    curl = shutil.which("curl")
    assert curl, "curl is installed by setup"
    with Elf(curl) as elf:
        assert "libssl.so.3" not in elf.linkage().needed  # only through libcurl.so.4
    found = tls_libraries("", curl, openssl.is_libssl)
    assert [Path(p).name for p in found] == ["libssl.so.3"]
    assert Path(found[0]).is_file()


@pytest.fixture(scope="module")
def app_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A container-like root: a program whose RUNPATH ($ORIGIN/../lib) holds a library that links
    libssl, which lives in a directory only /etc/ld.so.conf.d names."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc")
    root = tmp_path_factory.mktemp("root")
    for d in ("opt/app/bin", "opt/app/lib", "opt/ssl/lib", "etc/ld.so.conf.d"):
        (root / d).mkdir(parents=True)
    libssl = next(p for p in openssl_paths() if Path(p).is_file())
    shutil.copy(libssl, root / "opt/ssl/lib/libssl.so.3")
    (root / "etc/ld.so.conf").write_text("# comment\ninclude /etc/ld.so.conf.d/*.conf\n")
    (root / "etc/ld.so.conf.d/ssl.conf").write_text("/opt/ssl/lib\n")
    src = root / "src.c"
    src.write_text("int helper(void) { return 1; }\nint main(void) { return 0; }\n")
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(root / "opt/app/lib/libhelper.so"), str(src),
                    "-Wl,--no-as-needed", f"-L{Path(libssl).parent}", "-l:libssl.so.3"], check=True)
    subprocess.run([gcc, "-o", str(root / "opt/app/bin/prog"), str(src), "-Wl,--no-as-needed",
                    f"-L{root / 'opt/app/lib'}", "-lhelper", "-Wl,-rpath,$ORIGIN/../lib"], check=True)
    return root


def openssl_paths() -> list[str]:
    return ["/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib64/libssl.so.3"]


def test_runpath_origin_and_ld_so_conf_inside_a_root(app_root: Path) -> None:
    root = str(app_root)
    assert ld_conf_dirs(root) == ["/opt/ssl/lib"]
    assert tls_libraries(root, "/opt/app/bin/prog", is_tls) == ["/opt/ssl/lib/libssl.so.3"]
    # LD_LIBRARY_PATH is searched before ld.so.conf: a copy there is the one the loader takes
    (app_root / "env").mkdir(exist_ok=True)
    shutil.copy(app_root / "opt/ssl/lib/libssl.so.3", app_root / "env/libssl.so.3")
    assert tls_libraries(root, "/opt/app/bin/prog", is_tls, "/env") == ["/env/libssl.so.3"]


def test_static_missing_and_damaged_files_give_nothing(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x7fELF" + b"\2\1" + b"\0" * 10)
    assert tls_libraries(str(tmp_path), "/bad", is_tls) == []
    assert tls_libraries(str(tmp_path), "/missing", is_tls) == []
    assert ld_conf_dirs(str(tmp_path)) == []
