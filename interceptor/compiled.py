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

To compile another module, add it to ``MODULES`` (it must pass ``mypy`` with the project's settings:
tests/interceptor/test_compiled.py checks) and run ``python3 scripts/build_compiled.py``.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

# The compiled modules (one mypyc group). Order does not matter; keep it to modules of the hot path
# that mypy checks cleanly with true types.
MODULES: tuple[str, ...] = (
    "interceptor.pairs",  # the pair model: built per exchange by the parsers, a record per pair by the sinks
    "interceptor.sinks.jsonl",  # the JSON Lines sink: once per pair
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

STATUS = "pure: not looked up yet"


def source_path(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def build_key(modules: Sequence[str] = MODULES, root: Path = ROOT) -> str:
    """A hash of the modules' sources and of the interpreter's ABI: a build's directory name."""
    h = hashlib.sha256()
    h.update(f"{sys.implementation.cache_tag} {sysconfig.get_config_var('EXT_SUFFIX')} {GROUP}\n".encode())
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


class CompiledFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules of one build (and mypyc's shared library) by exact name."""

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
    try:
        key = build_key()
    except OSError as e:  # a module without its source (a zipped install): nothing to match
        STATUS = f"pure: cannot hash the sources ({e.strerror})"
        return STATUS
    build = find_build(key)
    if build is None:
        STATUS = f"pure: no compiled build for these sources ({key}; scripts/build_compiled.py makes one)"
        return STATUS
    try:
        manifest = json.loads((build / MANIFEST).read_text())
        files = {name: build / rel for name, rel in manifest["files"].items()}
    except (OSError, ValueError, KeyError, TypeError) as e:
        STATUS = f"pure: unreadable build manifest in {build} ({e})"
        return STATUS
    if set(MODULES) - set(files) or not all(f.is_file() for f in files.values()):
        STATUS = f"pure: incomplete build in {build}"
        return STATUS
    sys.meta_path.insert(0, CompiledFinder(files))
    STATUS = f"compiled: {manifest.get('compiler', 'mypyc')} build {key} ({len(MODULES)} modules, {build})"
    return STATUS


def is_compiled(module: ModuleType) -> bool:
    """True when ``module`` was loaded from a compiled build (an extension module)."""
    return isinstance(getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader)
