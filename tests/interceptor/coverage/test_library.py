"""The TLS library of real running programs, from their memory maps and executables."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interceptor.coverage.library import Library, MarkerCache, TlsState, identify, library_of, why_unread
from tests.fixtures.tls import go_tlsprog  # noqa: F401 - the fixture

JAVA_SLEEP = "public class Sleep { public static void main(String[] a) throws Exception { Thread.sleep(30000); } }"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (backlog) and never answers: TLS clients wait in the handshake."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()


def running(argv: list[str], settle: float = 0.2) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(settle)
    assert proc.poll() is None, f"{argv[0]} exited"
    return proc


def library_of_running(argv: list[str], wait_for: str, settle: float = 0.2) -> Library | None:
    """The library of ``argv`` once it reads as ``wait_for`` (or what it reads as after 20 s): a
    program maps its TLS library a moment after it starts (a JVM, or Python importing ssl on a
    loaded machine), so a fixed wait either wastes time or reads it too early."""
    proc = running(argv, settle)
    cache = MarkerCache()
    try:
        deadline = time.monotonic() + 20
        while True:
            lib = library_of(proc.pid, cache)
            if (lib is not None and lib.name == wait_for) or time.monotonic() > deadline:
                return lib
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()


def test_python_ssl_is_dynamic_openssl() -> None:
    lib = library_of_running(["python3", "-c", "import ssl, time; time.sleep(30)"], wait_for="openssl")
    assert lib is not None and (lib.name, lib.linkage) == ("openssl", "dynamic") and lib.probed
    assert "libssl.so" in lib.file


def test_curl_is_openssl_even_with_gnutls_mapped(silent_port: int) -> None:
    lib = library_of_running(["curl", "-sk", "-m", "20", f"https://127.0.0.1:{silent_port}/"], wait_for="openssl")
    assert lib is not None and lib.name == "openssl"


@pytest.mark.skipif(shutil.which("gnutls-cli") is None, reason="gnutls-cli not installed (apt gnutls-bin)")
def test_gnutls_cli(silent_port: int) -> None:
    lib = library_of_running(["gnutls-cli", "--insecure", "-p", str(silent_port), "127.0.0.1"], wait_for="gnutls")
    assert lib is not None and (lib.name, lib.linkage) == ("gnutls", "dynamic") and lib.probed
    assert why_unread(lib, TlsState(True, attached=True)) == "attached_too_late"
    assert why_unread(lib, TlsState(True, probed=frozenset({"openssl", "go"}))) == "no_probe_for_library"  # tls.gnutls off


@pytest.mark.skipif(shutil.which("java") is None, reason="no java")
def test_jvm_is_jsse(tmp_path: Path) -> None:
    src = tmp_path / "Sleep.java"
    src.write_text(JAVA_SLEEP)
    if shutil.which("javac"):
        subprocess.run(["javac", "-d", str(tmp_path), str(src)], check=True)
        argv = ["java", "-cp", str(tmp_path), "Sleep"]
    else:
        argv = ["java", str(src)]
    lib = library_of_running(argv, wait_for="jsse")
    assert lib is not None and lib.name == "jsse" and lib.label == "JSSE" and not lib.probed


def test_go_binary(go_tlsprog: tuple[str, str], silent_port: int) -> None:  # noqa: F811
    for build in go_tlsprog:  # the stripped build too: the build info stays
        lib = library_of_running([build, "client", f"127.0.0.1:{silent_port}", "10"], wait_for="go")
        assert lib is not None and (lib.name, lib.linkage) == ("go", "static") and lib.probed


def test_identify_orders_evidence() -> None:
    grpc = "/usr/lib/python3/dist-packages/grpc/_cython/cygrpc.cpython-311-x86_64-linux-gnu.so"
    maps = ["/usr/bin/python3.11", "/usr/lib/x86_64-linux-gnu/libssl.so.3", grpc]
    assert identify(maps, {grpc: {"boringssl", "ssl_write"}}).name == "boringssl"
    assert identify(["/usr/local/bin/envoy"], {"/usr/local/bin/envoy": {"boringssl"}}).name == "boringssl"
    node = "/usr/bin/node"
    assert identify([node], {node: {"openssl3", "ssl_write"}}) == Library("openssl", "static", node)
    assert identify(["/app/server"], {"/app/server": {"rustls"}}).name == "rustls"
    assert identify(["/usr/bin/firefox", "/usr/lib/libnss3.so"], {}).name == "nss"
    assert identify(["/bin/sleep"], {"/bin/sleep": set()}).name == "unknown"


def test_reasons() -> None:
    go = Library("go", "static")
    assert why_unread(go, None) == "no_plaintext_source"
    assert why_unread(None, TlsState(True)) == "process_not_on_node"
    assert why_unread(go, TlsState(True, excluded=True)) == "excluded_by_scope"
    assert why_unread(go, TlsState(True, attach_failed=True)) == "attach_failed"
    assert why_unread(go, TlsState(True, attached=True)) == "attached_too_late"
    assert why_unread(go, TlsState(True)) == "attached_too_late"  # not attached yet at its handshake


def test_python_with_grpcio_is_boringssl() -> None:
    """grpcio's wheel links BoringSSL into cygrpc*.so; its connections use that, not Python's _ssl."""
    import importlib.util
    import sys

    if importlib.util.find_spec("grpc") is None:
        pytest.skip("grpcio not installed")
    lib = library_of_running([sys.executable, "-c", "import grpc, ssl, time; time.sleep(30)"], wait_for="boringssl")
    assert lib is not None and (lib.name, lib.linkage) == ("boringssl", "static") and "cygrpc" in lib.file
    assert lib.probed  # by signature (interceptor/tls/boringssl.py)
