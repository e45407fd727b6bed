"""The optional compiled build of the hot path (mypyc), and the one list of the modules it holds.

``scripts/build_compiled.py`` compiles ``MODULES`` with mypyc into a directory named by a hash of
their sources (``build_key``), under ``PRIVACY_SENSOR_COMPILED_DIR`` or the machine's cache. At
``import interceptor`` this module installs a finder that loads those extension modules in place of
the ``.py`` files — only when a build made from exactly the sources on disk exists: the directory
is looked up by the hash of the files that would otherwise be imported, so an edited ``.py`` (a
worktree, a patch) finds no build and runs as pure Python; a stale build can never be imported.
It is all modules or none: mypyc calls between the compiled modules directly, so a mix of old
compiled and new pure code would not be the code on disk.

``PRIVACY_SENSOR_PURE=1`` (or no build, or no compiler at setup) runs pure Python: same results,
the tests check it. ``STATUS`` says which ran and why (``interceptor replay`` logs it).

Every process start looks the build up, so hashing is skipped when it cannot tell anything new: once
a build was found for a source tree, a *stamp* (``<cache>/roots/<tree>``) records the key and each
source file's device, inode, size, mtime and ctime, and the next start trusts the key while every
one of those is unchanged. Any write to a file changes its ctime (which no program can set back),
so an edited source never matches its stamp; files changed within ``RACY_S`` of the stamp being
written are not stamped (a same-size edit within the clock's tick, as git's index handles it):
that start hashes, a later one stamps. Measured (callgrind, compiled build): the lookup and its imports
(``hashlib``'s OpenSSL, ``json``, ``sysconfig``) went from ~43M instructions of a replay's start to ~9M
with a stamp (``json`` is then imported by ``orjson`` anyway).

To compile another module, add it to ``MODULES`` (it must pass ``mypy`` with the project's settings:
tests/interceptor/test_compiled.py checks) and run ``python3 scripts/build_compiled.py``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

# The compiled modules (one mypyc group). Order does not matter; keep it to modules of the hot path
# that mypy checks cleanly with true types.
MODULES: tuple[str, ...] = (
    "interceptor.hotcounts",  # the counts taken per packet and per pair (Counters.hot)
    "interceptor.pairs",  # the pair model: built per exchange by the parsers, a record per pair by the sinks
    "interceptor.httpsyntax",
    "interceptor.httpevents",
    "interceptor.http",
    "interceptor.reassembly",
    "interceptor.conversation",
    "interceptor.capture.packets",
    "interceptor.capture.ringwalk",
    # reading a capture file: the records cut out of each block read, the --workers ownership test
    # on their raw bytes, and the replay's per-packet loop
    "interceptor.capture.records",
    "interceptor.sharding",
    "interceptor.replayfeed",
    "interceptor.connection",
    "interceptor.pipeline",
    "interceptor.stages",
    "interceptor.sinks.jsonl",  # the JSON Lines sink: its publish is a native call from Publish
    "interceptor.filters",
    "interceptor.http2",
    "interceptor.hpack_decoder",
    "interceptor.grpc",
    "interceptor.protobuf",
    "interceptor.h2conversation",
    # the processor's detection path (processor/__init__.py imports interceptor first, so the finder
    # is in place before any of these loads), and the pair record's check it runs on every record
    "interceptor.pairrecord",
    "processor.walk",
    "processor.keys",
    "processor.lexicon",
    "processor.validators",
    "processor.detectors",
    "processor.mask",
    "processor.core",
    "processor.templating",
    "processor.nodes",
    "processor.datatypes",
)
GROUP = "privacy_sensor_native"  # mypyc's shared library: GROUP + "__mypyc"
MANIFEST = "manifest.json"
ROOT = Path(__file__).resolve().parent.parent  # the directory holding the interceptor package
DEFAULT_DIRS = (Path("/var/cache/privacy-sensor/compiled"), Path.home() / ".cache" / "privacy-sensor" / "compiled")

STAMPS = "roots"  # under a cache directory: one stamp per source tree
STAMP_VERSION = "privacy-sensor compiled stamp 1"
RACY_S = 2.0  # a file changed this recently is not stamped (a same-size edit within the clock's tick)

STATUS = "pure: not looked up yet"


def source_path(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def abi() -> str:
    """The interpreter's ABI as the key hashes it (``EXTENSION_SUFFIXES[0]`` is ``EXT_SUFFIX``: a test
    checks; ``sysconfig`` is ~8M instructions to import)."""
    return f"{sys.implementation.cache_tag} {importlib.machinery.EXTENSION_SUFFIXES[0]} {GROUP}"


def build_key(modules: Sequence[str] = MODULES, root: Path = ROOT) -> str:
    """A hash of the modules' sources and of the interpreter's ABI: a build's directory name."""
    import hashlib  # here: with a stamp (most starts) nothing is hashed

    h = hashlib.sha256()
    h.update(f"{abi()}\n".encode())
    for module in sorted(modules):
        h.update(module.encode() + b"\0")
        h.update(source_path(module, root).read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:24]


def cache_dirs() -> list[Path]:
    configured = os.environ.get("PRIVACY_SENSOR_COMPILED_DIR")
    return [Path(configured)] if configured else list(DEFAULT_DIRS)


def find_build(key: str) -> Path | None:
    """The directory of a finished build for ``key`` (its manifest is written last); one this user
    cannot read does not count."""
    for base in cache_dirs():
        try:
            if (base / key / MANIFEST).is_file() and os.access(base / key / MANIFEST, os.R_OK):
                return base / key
        except OSError:  # (a directory this user may not enter)
            continue
    return None


class CompiledFinder:
    """Finds the compiled modules of one build (and mypyc's shared library) by exact name. (A meta
    path finder is any object with ``find_spec``: ``importlib.abc`` would be ~16M instructions of
    every start where nothing else imports it, as in the image.)"""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def install() -> str:
    """Load the compiled build for the sources on disk, if there is one; returns ``STATUS``."""
    global STATUS
    if any(isinstance(f, CompiledFinder) for f in sys.meta_path):
        return STATUS
    if os.environ.get("PRIVACY_SENSOR_PURE", "") not in ("", "0"):
        STATUS = "pure: PRIVACY_SENSOR_PURE is set"
        return STATUS
    already = [m for m in MODULES if m in sys.modules]
    if already:  # imported before the finder (cannot happen through ``import interceptor``)
        STATUS = f"pure: {already[0]} was imported first"
        return STATUS
    found = read_stamp(ROOT)
    if found is None or not found.complete():  # (no stamp, an edited source, a build since removed)
        found, problem = look_up(ROOT)
        if found is None:
            STATUS = problem
            return STATUS
        write_stamp(ROOT, found)
    sys.meta_path.insert(0, CompiledFinder(found.files))
    STATUS = f"compiled: {found.compiler} build {found.key} ({len(MODULES)} modules, {found.build})"
    return STATUS


class Found:
    """A finished build for the sources on disk: its key, directory, compiler and extension files;
    ``signatures``: the sources' stat signatures taken before they were hashed (None: from a stamp)."""

    def __init__(self, key: str, build: Path, compiler: str, files: dict[str, Path],
                 signatures: list[tuple[int, ...]] | None = None) -> None:
        self.key = key
        self.build = build
        self.compiler = compiler
        self.files = files
        self.signatures = signatures

    def complete(self) -> bool:
        return (not set(MODULES) - set(self.files) and (self.build / MANIFEST).is_file()
                and all(f.is_file() for f in self.files.values()))


def look_up(root: Path = ROOT) -> tuple[Found | None, str]:
    """The build for the sources under ``root`` by their hash (the exact check); else why none."""
    import json

    try:
        # before hashing: a file written while it is hashed then no longer matches its signature
        signatures = [signature(m, root) for m in MODULES]
        key = build_key(root=root)
    except OSError as e:  # a module without its source (a zipped install): nothing to match
        return None, f"pure: cannot hash the sources ({e.strerror})"
    build = find_build(key)
    if build is None:
        return None, f"pure: no compiled build for these sources ({key}; scripts/build_compiled.py makes one)"
    try:
        manifest = json.loads((build / MANIFEST).read_text())
        files = {name: build / rel for name, rel in manifest["files"].items()}
        found = Found(key, build, str(manifest.get("compiler", "mypyc")), files, signatures)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return None, f"pure: unreadable build manifest in {build} ({e})"
    if not found.complete():
        return None, f"pure: incomplete build in {build}"
    return found, ""


# -- stamps: the key of a source tree whose files have not changed since it was hashed ------------
def stamp_path(base: Path, root: Path) -> Path:
    return base / STAMPS / (str(root).strip("/").replace("/", "%") or "%")


def signature(module: str, root: Path = ROOT) -> tuple[int, ...]:
    """What any write to the file changes: device, inode, size, mtime, ctime (ns)."""
    st = os.stat(source_path(module, root))
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _line(module: str, sig: tuple[int, ...]) -> str:
    return "\t".join((module, *map(str, sig)))


def read_stamp(root: Path = ROOT) -> Found | None:
    """The build a stamp names, when every stamped file is as it was when hashed; else None."""
    for base in cache_dirs():
        try:
            lines = stamp_path(base, root).read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        try:
            version, stamped_abi, key, build, compiler = lines[0].split("\t")
            if version != STAMP_VERSION or stamped_abi != abi():
                return None
            if lines[1:1 + len(MODULES)] != [_line(m, signature(m, root)) for m in MODULES]:
                return None
            files = {}
            for line in lines[1 + len(MODULES):]:
                name, rel = line.split("\t")
                files[name] = Path(build) / rel
        except (OSError, ValueError, IndexError):  # (a source gone; a damaged stamp: hash instead)
            return None
        return Found(key, Path(build), compiler, files)
    return None


def write_stamp(root: Path, found: Found) -> None:
    """Stamp the tree just hashed (best effort: an unwritable cache means hashing at every start)."""
    if found.signatures is None:
        return
    recent = time.time_ns() - int(RACY_S * 1e9)
    if any(max(sig[3], sig[4]) > recent for sig in found.signatures):
        return  # (changed too recently to tell a later same-size edit by its times)
    lines = ["\t".join((STAMP_VERSION, abi(), found.key, str(found.build), found.compiler))]
    lines += [_line(m, sig) for m, sig in zip(MODULES, found.signatures, strict=True)]
    lines += [f"{name}\t{path.relative_to(found.build)}" for name, path in sorted(found.files.items())]
    try:
        path = stamp_path(found.build.parent, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, path)  # (whole or not at all: a concurrent start reads one or the other)
    except (OSError, ValueError):
        return


def is_compiled(module: ModuleType) -> bool:
    """True when ``module`` was loaded from a compiled build (an extension module)."""
    return isinstance(getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader)
