"""The shared libraries a program will load, read from its ELF files before it runs.

A program held at exec (tls.hold_new_programs) has not run its dynamic loader yet, so its memory maps
name only the executable: a short-lived curl would finish before the periodic scan sees ``libssl`` in
its maps, and its first run would be missed. Walking DT_NEEDED from the executable, with the loader's
search order approximated (the object's RUNPATH/RPATH with ``$ORIGIN``, the process's
``LD_LIBRARY_PATH``, ``/etc/ld.so.conf`` and the default directories, all inside the process's root),
finds the TLS library it will map, so its probes are attached before the program's first instruction.
The scan of the maps stays the ground truth: a library this misses (``dlopen``, a loader quirk) is
still found there, only later.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable

from interceptor.tls.elf import Elf, ElfError

DEFAULT_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib")
MAX_OBJECTS = 256  # a program links a few dozen libraries; a loop or a hostile tree stops here
MAX_CONF_FILES = 64


def tls_libraries(root: str, exe: str, wanted: Callable[[str], bool], env_path: str = "") -> list[str]:
    """Paths (inside ``root``, without it) of the libraries ``exe`` links, directly or through its
    libraries, for which ``wanted(path)`` holds. ``env_path`` is the process's LD_LIBRARY_PATH."""
    dirs = [d for d in env_path.split(":") if d.startswith("/")] + ld_conf_dirs(root) + list(DEFAULT_DIRS)
    found: list[str] = []
    seen: set[str] = set()
    todo = [exe]
    while todo and len(seen) < MAX_OBJECTS:
        path = todo.pop(0)
        if path in seen:
            continue
        seen.add(path)
        if path != exe and wanted(path):
            found.append(path)
            continue  # a TLS library's own dependencies are not TLS libraries
        try:
            with Elf(root + path) as elf:
                linkage = elf.linkage()
        except (OSError, ElfError):
            continue
        origin = os.path.dirname(path)
        own = [d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin) for d in linkage.search]
        for name in linkage.needed:
            lib = resolve(root, name, own + dirs)
            if lib is not None and lib not in seen:
                todo.append(lib)
    return found


def resolve(root: str, name: str, dirs: list[str]) -> str | None:
    if "/" in name:
        return name if os.path.isfile(root + name) else None
    for d in dirs:
        cand = os.path.join(d, name)
        if os.path.isfile(root + cand):
            return cand
    return None


def ld_conf_dirs(root: str) -> list[str]:
    """The directories /etc/ld.so.conf names (with its ``include`` globs), in order."""
    dirs: list[str] = []
    files, done = [root + "/etc/ld.so.conf"], 0
    while files and done < MAX_CONF_FILES:
        done += 1
        try:
            with open(files.pop(0), encoding="utf-8", errors="replace") as f:
                lines = f.read(65536).splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line.startswith("include"):
                pattern = line.split(None, 1)[1] if " " in line else ""
                files += sorted(glob.glob(root + pattern)) if pattern.startswith("/") else []
            elif line.startswith("/"):
                dirs.append(line)
    return dirs


def process_library_path(pid: int, proc_root: str = "/proc") -> str:
    """``LD_LIBRARY_PATH`` from the process's environment ("" if unset or unreadable)."""
    try:
        with open(f"{proc_root}/{pid}/environ", "rb") as f:
            env = f.read(1 << 20)
    except OSError:
        return ""
    for item in env.split(b"\0"):
        if item.startswith(b"LD_LIBRARY_PATH="):
            return item[16:].decode("utf-8", "replace")
    return ""
