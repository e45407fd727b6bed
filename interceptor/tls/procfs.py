"""What /proc says about a process: command, mapped files, executable, socket addresses of an fd.

Everything is read through ``proc_root`` (``/proc`` or a host's /proc mounted into the agent's
container) and tolerates the process having exited (returns None/empty).
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mapping:
    path: str  # as the process sees it (inside its mount namespace)
    dev: str
    inode: int


def pids(proc_root: str = "/proc") -> set[int]:
    try:
        return {int(n) for n in os.listdir(proc_root) if n.isdigit()}
    except OSError:
        return set()


def command(pid: int, proc_root: str = "/proc") -> str | None:
    try:
        with open(f"{proc_root}/{pid}/comm", "rb") as f:
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return None


def file_mappings(pid: int, proc_root: str = "/proc") -> list[Mapping] | None:
    """Distinct files mapped by ``pid`` (None if it is gone or unreadable)."""
    try:
        with open(f"{proc_root}/{pid}/maps", "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    seen: dict[str, Mapping] = {}
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[5].startswith("/") and parts[4] != "0" and parts[5] not in seen:
            seen[parts[5]] = Mapping(parts[5], parts[3], int(parts[4]))
    return list(seen.values())


INIT_PID_NS_INO = 0xEFFFFFFC  # PROC_PID_INIT_INO: the inode of the kernel's initial PID namespace


def in_host_pid_namespace(proc_root: str = "/proc") -> bool:
    """True when this process's pids are the kernel's (hostPID, or not in a container)."""
    try:
        return os.stat(f"{proc_root}/self/ns/pid").st_ino == INIT_PID_NS_INO
    except OSError:
        return False


def exe_path(pid: int, proc_root: str = "/proc") -> str | None:
    try:
        return os.readlink(f"{proc_root}/{pid}/exe")
    except OSError:
        return None


def in_root(pid: int, path: str, proc_root: str = "/proc") -> str:
    """``path`` as seen by ``pid`` (its container's file system), openable from here."""
    return f"{proc_root}/{pid}/root{path}"


def socket_inode(pid: int, fd: int, proc_root: str = "/proc") -> int | None:
    try:
        link = os.readlink(f"{proc_root}/{pid}/fd/{fd}")
    except OSError:
        return None
    if link.startswith("socket:[") and link.endswith("]"):
        return int(link[8:-1])
    return None


def tcp_addresses(pid: int, inode: int, proc_root: str = "/proc") -> tuple[tuple[str, int], tuple[str, int]] | None:
    """(local, remote) of the TCP socket ``inode``, from the process's own network namespace."""
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            with open(f"{proc_root}/{pid}/net/{name}", "rb") as f:
                data = f.read()
        except OSError:
            continue
        needle = b" %d " % inode
        if needle not in data:
            continue
        for line in data.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[9] == b"%d" % inode:
                return _addr(fields[1].decode(), family), _addr(fields[2].decode(), family)
    return None


def _addr(text: str, family: int) -> tuple[str, int]:
    """'0100007F:1F90' (kernel byte order per 32-bit word) → ('127.0.0.1', 8080)."""
    hexip, hexport = text.split(":")
    raw = bytes.fromhex(hexip)
    packed = b"".join(struct.pack("<I", struct.unpack(">I", raw[i:i + 4])[0]) for i in range(0, len(raw), 4))
    ip = socket.inet_ntop(family, packed)
    if ip.startswith("::ffff:") and "." in ip:
        ip = ip[7:]
    return ip, int(hexport, 16)


def fd_addresses(pid: int, fd: int, proc_root: str = "/proc") -> tuple[tuple[str, int], tuple[str, int]] | None:
    if fd < 0:
        return None
    inode = socket_inode(pid, fd, proc_root)
    return tcp_addresses(pid, inode, proc_root) if inode is not None else None
