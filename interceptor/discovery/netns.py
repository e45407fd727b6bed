"""Network namespaces: identify them, and run a function inside one without spawning a process.

``setns(2)`` changes the namespace of the calling *thread* only, so ``run_in_netns`` does its work
in a short-lived helper thread: sockets created there (netlink, packet sockets for pcap) stay bound
to that namespace for their whole life, and the main thread never leaves the host namespace.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class NetnsError(OSError):
    """The namespace could not be entered (gone, or no permission)."""


def netns_id(pid: int | str = "self", proc_root: str = "/proc") -> int | None:
    """The inode of a process's network namespace (``net:[4026531840]`` → 4026531840), or None."""
    try:
        link = os.readlink(f"{proc_root}/{pid}/ns/net")
    except OSError:
        return None
    try:
        return int(link[link.index("[") + 1 : link.index("]")])
    except ValueError:
        return None


def path_netns_id(path: str) -> int | None:
    """The namespace inode behind a bind mount such as ``/run/netns/<name>``."""
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    """``setns(2)`` for the calling thread (Python 3.11 has no ``os.setns``)."""
    if _libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise NetnsError(err, f"setns: {os.strerror(err)}")


def run_in_netns(ns_path: str, fn: Callable[[], T], timeout_s: float = 10.0) -> T:
    """Run ``fn()`` in a helper thread that entered the namespace at ``ns_path`` and return its result.

    The helper returns to the host namespace before it ends (it would end anyway; this keeps the
    thread usable if a pool is ever used). Raises ``NetnsError`` when the namespace is gone.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def body() -> None:
        try:
            host_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            error.append(NetnsError(e.errno or 0, f"{ns_path}: {e.strerror}"))
            return
        try:
            try:
                ns_fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise NetnsError(e.errno or 0, f"{ns_path}: {e.strerror}") from None
            try:
                setns(ns_fd)
            finally:
                os.close(ns_fd)
            try:
                result.append(fn())
            finally:
                setns(host_fd)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            error.append(e)
        finally:
            os.close(host_fd)

    t = threading.Thread(target=body, name="netns-enter", daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        raise NetnsError(0, f"{ns_path}: work in namespace did not finish within {timeout_s}s")
    if error:
        raise error[0]
    return result[0]
