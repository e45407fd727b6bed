"""Compile the hot-path modules (interceptor/compiled.py: MODULES) with mypyc, cached by source hash.

    python3 scripts/build_compiled.py            # build if no build for these sources exists yet
    python3 scripts/build_compiled.py --status   # what `import interceptor` would load, and why
    python3 scripts/build_compiled.py --force    # rebuild even if cached

The build goes to <dir>/<key>/ (PRIVACY_SENSOR_COMPILED_DIR, else /var/cache/privacy-sensor/compiled,
else ~/.cache/privacy-sensor/compiled), key = a hash of the modules' sources and the interpreter's ABI
(interceptor/compiled.py loads it only when the key of the sources on disk matches). Optional: with
PRIVACY_SENSOR_PURE=1, without mypy or a C compiler, it says so and exits 0 (pure Python runs).
A build whose compiler version differs from the installed one is rebuilt.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PURE_REQUESTED = os.environ.get("PRIVACY_SENSOR_PURE", "") not in ("", "0")
os.environ["PRIVACY_SENSOR_PURE"] = "1"  # this process imports interceptor: keep it pure
from interceptor import compiled  # noqa: E402


def compiler_version() -> str | None:
    try:
        import mypy.version
    except ImportError:
        return None
    return f"mypyc {mypy.version.__version__}"


def has_c_compiler() -> bool:
    """gcc (or the interpreter's CC), Python.h and setuptools (mypyc builds through build_ext)."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    try:
        import setuptools  # noqa: F401
    except ImportError:
        return False
    return shutil.which(cc) is not None and Path(sysconfig.get_paths()["include"], "Python.h").is_file()


def writable_base() -> Path:
    for base in compiled.cache_dirs():
        try:
            base.mkdir(parents=True, exist_ok=True)
            probe = base / f".probe-{os.getpid()}"
            probe.touch()
            probe.unlink()
            return base
        except OSError:
            continue
    raise SystemExit(f"build_compiled: no writable build directory among {compiled.cache_dirs()}")


SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify
paths, group, opt, lib, tmp = sys.argv[1].split(","), *sys.argv[2:6]
sys.argv = [sys.argv[0], "build_ext", "--build-lib", lib, "--build-temp", tmp + "/obj"]
setup(name="privacy-sensor-native",
      ext_modules=mypycify(paths, opt_level=opt, group_name=group, target_dir=tmp + "/c"))
"""


def build(out: Path, opt_level: str) -> dict[str, str]:
    """mypyc over the modules' sources, run from the repository (mypy reads pyproject.toml there);
    returns module name -> extension file, relative to ``out``."""
    paths = [str(compiled.source_path(m, REPO).relative_to(REPO)) for m in compiled.MODULES]
    with tempfile.TemporaryDirectory(prefix="mypyc-") as tmp:
        res = subprocess.run(
            [sys.executable, "-c", SETUP, ",".join(paths), compiled.GROUP, opt_level, str(out), tmp],
            cwd=REPO, capture_output=True, text=True, timeout=1800)
        if res.returncode != 0:
            sys.stderr.write(res.stdout[-6000:] + res.stderr[-6000:])
            raise SystemExit("build_compiled: mypyc failed (above); pure Python stays in use")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    files = {}
    for so in out.rglob(f"*{suffix}"):
        rel = so.relative_to(out)
        files[".".join(rel.parts)[: -len(suffix)]] = str(rel)
    missing = set(compiled.MODULES) - set(files)
    if missing:
        raise SystemExit(f"build_compiled: mypyc gave no extension for {sorted(missing)}")
    return files


def readable(build: Path) -> None:
    """Every user may load the build (the image runs as 10001; mkdtemp makes the directory 0700)."""
    for d in [build, *(p for p in build.rglob("*") if p.is_dir())]:
        d.chmod(0o755)
    for f in build.rglob("*"):
        if f.is_file():
            f.chmod(0o755 if f.suffix == ".so" else 0o644)


KEEP_BUILDS = 8  # older builds (of sources since edited) are removed, newest first kept


def prune(base: Path) -> None:
    """Remove all but the newest builds: each source edit that is built leaves one behind. A process
    still running an old build keeps its mapped files; a worktree whose build went runs pure."""
    builds = sorted((d for d in base.iterdir() if (d / compiled.MANIFEST).is_file()),
                    key=lambda d: (d / compiled.MANIFEST).stat().st_mtime, reverse=True)
    for old in builds[KEEP_BUILDS:]:
        shutil.rmtree(old, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--status", action="store_true", help="print what would be loaded, build nothing")
    ap.add_argument("--force", action="store_true", help="rebuild even if a build for these sources exists")
    ap.add_argument("--opt-level", default="3", help="mypyc/C optimisation level (default 3)")
    args = ap.parse_args()
    key = compiled.build_key(root=REPO)
    found = compiled.find_build(key)
    if args.status:
        print(f"build key {key}: " + (f"built in {found}" if found else "not built")
              + (" (PRIVACY_SENSOR_PURE set: pure Python runs)" if PURE_REQUESTED else ""))
        return 0
    if PURE_REQUESTED:
        print("build_compiled: PRIVACY_SENSOR_PURE is set: no compiled build, pure Python runs")
        return 0
    version = compiler_version()
    if version is None or not has_c_compiler():
        print("build_compiled: " + ("mypy (mypyc) is not installed" if version is None else "no C compiler, Python.h or setuptools")
              + ": pure Python runs (pip install -e '.[compile]' for the compiled build)")
        return 0
    if found is not None and not args.force:
        manifest = json.loads((found / compiled.MANIFEST).read_text())
        if manifest.get("compiler") == version:
            readable(found)  # (builds made before this was done here were private to root)
            print(f"build_compiled: {version} build {key} cached in {found}")
            return 0
    base = writable_base()
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=base))
    try:
        files = build(work, args.opt_level)
        manifest = {"key": key, "compiler": version, "modules": list(compiled.MODULES), "files": files,
                    "opt_level": args.opt_level, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "build_s": round(time.monotonic() - t0, 1)}
        (work / compiled.MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        final = base / key
        if final.exists():  # (a rebuild: replace the old one whole)
            shutil.rmtree(final)
        readable(work)
        work.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    prune(base)
    print(f"build_compiled: {version} built {len(compiled.MODULES)} modules in {time.monotonic() - t0:.0f} s "
          f"into {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
