"""Uprobes by file offset, grouped per target file (one attachment per distinct inode, not per process).

BCC's ``attach_uprobe`` resolves symbols itself; here offsets come from the project's own ELF code
(OpenSSL's .dynsym, Go's symtab/.gopclntab and RET finder), so the libbcc call is made directly.
A uprobe lives on the inode: attached once through any process's path, it fires in every process
that maps the file, including processes started later.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from interceptor.tls.elf import Elf, ElfError

log = logging.getLogger(__name__)

PROBE, RETPROBE = 0, 1


class ProbePoint(NamedTuple):
    offset: int  # file offset of the instruction
    fn: str  # BPF function in probes.c
    ret: bool = False  # uretprobe (OpenSSL only; never on Go)


def exported_probe_points(path: str, entries: dict[str, str], end: str, end_fn: str) -> list[ProbePoint] | None:
    """Probes on exported data functions shaped like ``SSL_write``/``SSL_read`` (``entries``: symbol
    → BPF entry function, each with OpenSSL's return probe, which copies the data) and on the
    function ``end`` that ends a connection (``end_fn``, if the file defines it). None unless every
    entry symbol is defined (GnuTLS, NSPR)."""
    try:
        with Elf(path) as elf:
            syms = elf.find_symbols(set(entries) | {end})
            if not set(entries) <= set(syms):
                return None
            points: list[ProbePoint] = []
            for name, fn in entries.items():
                if (off := elf.file_offset(syms[name].addr)) is not None:
                    points += [ProbePoint(off, fn), ProbePoint(off, "ssl_return", ret=True)]
            if end in syms and (off := elf.file_offset(syms[end].addr)) is not None:
                points.append(ProbePoint(off, end_fn))
            return points or None
    except (OSError, ElfError):
        return None


@dataclass
class Target:
    """One attached file: its identity, the path it was attached through, what uses it."""

    key: tuple[int, int]  # (st_dev, st_ino)
    kind: str  # "openssl" or "gotls"
    path: str
    events: list[bytes] = field(default_factory=list)  # perf event names, for detaching
    pids: set[int] = field(default_factory=set)
    idle_since: float | None = None  # monotonic time the last process using it went away


class Attacher:
    def __init__(self, bpf: Any) -> None:
        from bcc.libbcc import lib  # only imported once BCC is known to work

        self.bpf = bpf
        self.lib = lib
        self._fns: dict[str, Any] = {}
        self._name_re = re.compile(rb"[^a-zA-Z0-9_]")

    def _fn(self, name: str) -> Any:
        if name not in self._fns:
            from bcc import BPF

            self._fns[name] = self.bpf.load_func(name.encode(), BPF.KPROBE)
        return self._fns[name]

    def attach(self, target: Target, points: list[ProbePoint], fd: int) -> None:
        """Attach every point or none: on a failure the ones done are detached and OSError raised.

        ``fd`` is the file opened by the caller: attaching through ``/proc/self/fd/N`` still works when
        the process whose /proc/<pid>/root led to the file has exited meanwhile."""
        self._attach_fd(target, points, f"/proc/self/fd/{fd}".encode())

    def _attach_fd(self, target: Target, points: list[ProbePoint], path: bytes) -> None:
        label = self._name_re.sub(b"_", target.path.encode())[-120:]
        for p in points:
            kind = b"r" if p.ret else b"p"
            ev = b"%s_%s_0x%x_ps" % (kind, label, p.offset)
            fd = self.lib.bpf_attach_uprobe(
                self._fn(p.fn).fd, RETPROBE if p.ret else PROBE, ev, path, p.offset, -1, 0)
            if fd < 0:
                self.detach(target)
                raise OSError(f"attaching {p.fn} at {target.path}+{p.offset:#x} failed")
            self.bpf._add_uprobe_fd(ev, fd)
            target.events.append(ev)

    def detach(self, target: Target) -> None:
        """Close the perf events (that is what detaches a PMU uprobe); the tracefs clean-up that
        libbcc also tries may fail without tracefs and is harmless then."""
        for ev in target.events:
            fd = self.bpf.uprobe_fds.pop(ev, None)
            if fd is not None:
                self.lib.bpf_close_perf_event_fd(fd)
        target.events.clear()
