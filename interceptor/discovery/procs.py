"""Host processes grouped by network namespace, read from /proc (the agent runs with hostPID).

A pod is one network namespace shared by its containers (and its pause process); every process in
it points ``/proc/<pid>/ns/net`` at the same inode. ``/proc/<pid>/net/tcp`` shows the sockets of
*that process's* namespace, so listening ports need no ``setns``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import psutil

from interceptor.discovery.cgroup import ContainerRef, read_proc_cgroup
from interceptor.discovery.netns import netns_id

TCP_LISTEN = "0A"


@dataclass(slots=True)
class ProcInfo:
    pid: int
    name: str  # comm (what ``ps`` shows); a symlink or prctl(PR_SET_NAME) changes it
    argv0: str  # basename of argv[0]
    container: ContainerRef

    def to_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "name": self.name, "argv0": self.argv0, **self.container.to_dict()}


@dataclass(slots=True)
class NetnsProcs:
    netns: int
    procs: list[ProcInfo] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """A process whose ``/proc/<pid>/ns/net`` opens this namespace (the oldest: the pause)."""
        return self.procs[0].pid


def group_by_netns(proc_root: str = "/proc", max_procs: int = 100_000) -> dict[int, NetnsProcs]:
    """Every live process by namespace inode. Processes that vanish mid-scan are skipped."""
    groups: dict[int, NetnsProcs] = {}
    for n, proc in enumerate(psutil.process_iter(["pid", "name", "cmdline"])):
        if n >= max_procs:
            break
        info = proc.info
        pid = info["pid"]
        argv = info.get("cmdline") or []
        if not argv:  # kernel threads and zombies: they own no sockets of a pod
            continue
        ns = netns_id(pid, proc_root)
        if ns is None:  # gone, a kernel thread, or no permission
            continue
        argv0 = os.path.basename(argv[0]) if argv else ""
        entry = ProcInfo(pid, info.get("name") or "", argv0, read_proc_cgroup(pid, proc_root))
        groups.setdefault(ns, NetnsProcs(ns)).procs.append(entry)
    return groups


def _parse_proc_net_tcp(text: str) -> set[int]:
    ports: set[int] = set()
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) > 3 and cols[3] == TCP_LISTEN:
            ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def listening_ports(pid: int, proc_root: str = "/proc") -> set[int]:
    """TCP ports listened on in the namespace of ``pid`` (IPv4 and IPv6)."""
    ports: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            with open(f"{proc_root}/{pid}/net/{name}") as f:
                ports |= _parse_proc_net_tcp(f.read())
        except OSError:
            continue
    return ports
