"""The optional compiled build (interceptor/compiled.py, scripts/build_compiled.py) and its pure-Python
fallback: the compiled modules pass mypy (so nobody breaks compilability unseen); a build is loaded
only for exactly the sources on disk (an edited .py runs pure); when a build exists the suite runs
on it, and a pure run gives byte-identical records and counters — of a real capture and of a
damaged one — and passes the core's unit tests."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import interceptor.conversation
import interceptor.http
from bench.replay import synth_keepalive
from interceptor import compiled
from interceptor.capture.pcapfile import CaptureReader
from tests.interceptor.packetgen import write_pcap

REPO = Path(__file__).resolve().parents[2]
BUILT = compiled.find_build(compiled.build_key()) is not None
needs_build = pytest.mark.skipif(not BUILT, reason="no compiled build for these sources (scripts/build_compiled.py)")


def _env(pure: bool) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "PRIVACY_SENSOR_PURE"}
    if pure:
        env["PRIVACY_SENSOR_PURE"] = "1"
    return env


def test_compiled_modules_pass_mypy() -> None:
    """mypyc compiles only what mypy accepts, with true types (a lying annotation becomes a TypeError
    at run time in the compiled build): the list must stay clean."""
    pytest.importorskip("mypy", reason="mypy is a test dependency (pyproject [test])")
    files = [str(compiled.source_path(m, REPO)) for m in compiled.MODULES]
    res = subprocess.run([sys.executable, "-m", "mypy", *files], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-4000:]


def test_the_build_key_is_the_sources(tmp_path: Path) -> None:
    """A build's directory is named by its sources' hash: one edited byte gives another key."""
    _copy_sources(tmp_path)
    assert compiled.build_key(root=tmp_path) == compiled.build_key()
    edited = compiled.source_path("interceptor.http", tmp_path)
    edited.write_bytes(edited.read_bytes() + b"\n# edited\n")
    assert compiled.build_key(root=tmp_path) != compiled.build_key()


def test_the_abi_is_the_interpreters_extension_suffix() -> None:
    """The key hashes ``EXTENSION_SUFFIXES[0]`` (no ``sysconfig`` import at start): the same string."""
    import importlib.machinery
    import sysconfig

    assert importlib.machinery.EXTENSION_SUFFIXES[0] == sysconfig.get_config_var("EXT_SUFFIX")


def _copy_sources(root: Path) -> None:
    for m in compiled.MODULES:
        dst = compiled.source_path(m, root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(compiled.source_path(m, REPO), dst)


@needs_build
def test_a_stamp_stands_for_the_hash_until_a_source_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A start with a stamp hashes nothing; any write to a source (even of the same size, its mtime
    put back) voids the stamp, and the hash then finds no build for the edited sources."""
    import os
    import time

    root, base = tmp_path / "src", tmp_path / "cache"
    _copy_sources(root)
    base.mkdir()
    real = compiled.find_build(compiled.build_key())
    assert real is not None
    (base / real.name).symlink_to(real)
    monkeypatch.setenv("PRIVACY_SENSOR_COMPILED_DIR", str(base))
    assert compiled.read_stamp(root) is None
    found, _ = compiled.look_up(root)
    assert found is not None and found.key == real.name
    compiled.write_stamp(root, found)  # the copies were written just now: too recent to stamp
    assert compiled.read_stamp(root) is None
    monkeypatch.setattr(compiled, "RACY_S", 0.05)
    time.sleep(0.1)
    compiled.write_stamp(root, found)

    def no_hashing(*_: object, **__: object) -> str:
        raise AssertionError("hashed")

    with monkeypatch.context() as m:
        m.setattr(compiled, "build_key", no_hashing)
        hit = compiled.read_stamp(root)
    assert hit is not None and (hit.key, hit.build, hit.files) == (found.key, found.build, found.files)
    assert hit.complete()
    http = compiled.source_path("interceptor.http", root)
    before, data = http.stat(), http.read_bytes()
    http.write_bytes(data.replace(b"the", b"THE", 1))
    os.utime(http, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (http.stat().st_size, http.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert compiled.read_stamp(root) is None
    assert compiled.look_up(root)[0] is None


def test_no_build_or_pure_runs_python(tmp_path: Path) -> None:
    probe = "import interceptor.compiled as c, interceptor.http as h; print(c.STATUS); print(c.is_compiled(h))"
    env = dict(_env(False), PRIVACY_SENSOR_COMPILED_DIR=str(tmp_path))  # an empty build directory
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines() == [f"pure: no compiled build for these sources ({compiled.build_key()}; "
                                       "scripts/build_compiled.py makes one)", "False"], out.stderr
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=_env(True), capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.splitlines() == ["pure: PRIVACY_SENSOR_PURE is set", "False"], out.stderr


@needs_build
def test_the_suite_runs_on_the_build() -> None:
    assert compiled.STATUS.startswith("compiled:"), compiled.STATUS
    assert compiled.is_compiled(interceptor.http) and compiled.is_compiled(interceptor.conversation)


@needs_build
def test_an_edited_source_is_never_served_by_a_stale_build(tmp_path: Path) -> None:
    """A copy of the package with one module edited finds no build: it runs its own (pure) code."""
    shutil.copytree(REPO / "interceptor", tmp_path / "interceptor", ignore=shutil.ignore_patterns("__pycache__"))
    http = tmp_path / "interceptor" / "http.py"
    http.write_text(http.read_text() + "\nEDITED = True\n")
    probe = "import interceptor.compiled as c, interceptor.http as h; print(c.STATUS.split(' ')[0], h.EDITED)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=dict(_env(False), PYTHONPATH=str(tmp_path)),
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["pure:", "True"], out.stderr


def _damaged(path: Path, src: Path) -> None:
    """The keep-alive capture with loss and reordering: 1 frame in 40 lost, 1 in 25 swapped with the
    next (gaps inside bodies, resync after heads, proofs by sequence numbers)."""
    rnd = random.Random(7)
    with CaptureReader(src) as reader:
        frames = [(ts, frame) for ts, _, frame in reader]
    out: list[tuple[float, bytes]] = []
    i = 0
    while i < len(frames):
        if i > 4 and rnd.random() < 1 / 40:
            i += 1
            continue
        if i > 4 and i + 1 < len(frames) and rnd.random() < 1 / 25:
            out += [frames[i + 1], frames[i]]
            i += 2
            continue
        out.append(frames[i])
        i += 1
    write_pcap(str(path), out)


def _replay(capture: Path, tmp: Path, pure: bool) -> tuple[list[bytes], dict]:
    name = "pure" if pure else "compiled"
    out, stats = tmp / f"{capture.stem}-{name}.jsonl", tmp / f"{capture.stem}-{name}.json"
    argv = [sys.executable, "-c", "import sys; from interceptor.cli import main; sys.exit(main())", "replay",
            str(capture), "--out", str(out), "--stats", str(stats), "--keep-all"]
    res = subprocess.run(argv, cwd=REPO, env=_env(pure), capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr.decode()[-3000:]
    # A record's id is "<process prefix>-<n>": the prefix differs per process, nothing else may.
    lines = [json.dumps(json.loads(line) | {"id": json.loads(line)["id"].split("-")[-1]}).encode()
             for line in out.read_bytes().splitlines()]
    return lines, json.loads(stats.read_text())["counts"]


@needs_build
def test_pure_and_compiled_give_identical_records(tmp_path: Path) -> None:
    keepalive = tmp_path / "keepalive.pcap"
    synth_keepalive(keepalive, 1200, 6)
    damaged = tmp_path / "damaged.pcap"
    _damaged(damaged, keepalive)
    for capture in (REPO / "examples" / "sample.pcap", damaged):
        got, counts = _replay(capture, tmp_path, pure=False)
        want, want_counts = _replay(capture, tmp_path, pure=True)
        assert got and got == want
        assert counts == want_counts
    assert counts["pairs.emitted"] < 1200 and counts["tcp.gaps"] > 0  # the damage did reach the core


@needs_build
def test_pure_and_compiled_give_identical_grpc_records(tmp_path: Path) -> None:
    """The HTTP/2, HPACK, gRPC and protobuf modules likewise: 250 gRPC calls on one connection
    (small segments), whole and damaged (HPACK state lost at gaps, frame resync, late joins)."""
    from tests.interceptor.test_h2_pipeline import h2_calls, packets

    cbytes, sbytes, _ = h2_calls(250, grpc=True)
    h2 = tmp_path / "grpc.pcap"
    write_pcap(str(h2), packets(cbytes, sbytes, mss=200))
    damaged = tmp_path / "grpc-damaged.pcap"
    _damaged(damaged, h2)
    for capture in (h2, damaged):
        got, counts = _replay(capture, tmp_path, pure=False)
        want, want_counts = _replay(capture, tmp_path, pure=True)
        assert got and got == want
        assert counts == want_counts
        assert counts["grpc.messages"] > 0
    assert counts["pairs.emitted"] < 250 and counts["h2.gaps"] > 0  # the damage did reach the layer


@needs_build
def test_the_core_unit_tests_pass_in_pure_python() -> None:
    tests = ["tests/interceptor/test_http.py", "tests/interceptor/test_http_reader.py",
             "tests/interceptor/test_reassembly.py", "tests/interceptor/test_packets.py",
             "tests/interceptor/test_connection.py", "tests/interceptor/test_http2.py",
             "tests/interceptor/test_protobuf.py"]
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests], cwd=REPO,
                         env=_env(True), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-4000:]
    assert " passed" in res.stdout.splitlines()[-1]
