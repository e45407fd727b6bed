"""A demo node built from real network namespaces, laid out the way a bridge CNI lays out pods.

Each pod is a network namespace ``psdemo-<name>`` with ``eth0`` inside and its veth peer
``psd<name>`` in the host namespace, enslaved to the address-less bridge ``psdemo0`` (as the
``bridge`` CNI plugin does). Pods reach each other over the bridge, so pod-to-pod traffic crosses
two tapped veths, exactly as on a real node. Everything made here is removed by ``close`` — and by
the next ``DemoNode`` if a previous demo was killed before it could clean up.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

PREFIX = "psdemo-"  # namespaces the agent taps (its include glob is PREFIX + "*")
OUTSIDE_PREFIX = "psdemx-"  # namespaces the agent does not tap (the "external" vendor)
BRIDGE = "psdemo0"
SUBNET = "198.19.250"  # a benchmarking range (RFC 2544), only ever inside these namespaces


class DemoError(RuntimeError):
    """A step of building the node failed; the message says which."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and res.returncode != 0:
        raise DemoError(f"ip {' '.join(args)}: {res.stderr.strip()}")
    return res


@dataclass
class DemoPod:
    name: str
    netns: str
    ip: str
    host_dev: str


@dataclass
class DemoNode:
    pods: dict[str, DemoPod] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        remove_leftovers()
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("link", "set", BRIDGE, "up")

    def add_pod(self, name: str, host_octet: int, tapped: bool = True) -> DemoPod:
        netns = (PREFIX if tapped else OUTSIDE_PREFIX) + name
        host_dev = f"psd{name}"[:15]
        ip = f"{SUBNET}.{host_octet}"
        _ip("netns", "add", netns)
        _ip("link", "add", host_dev, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _ip("link", "set", host_dev, "master", BRIDGE)
        _ip("link", "set", host_dev, "up")
        for args in (("addr", "add", f"{ip}/24", "dev", "eth0"), ("link", "set", "eth0", "up"),
                     ("link", "set", "lo", "up")):
            _ip("-n", netns, *args)
        pod = DemoPod(name, netns, ip, host_dev)
        self.pods[name] = pod
        return pod

    def spawn(self, pod: DemoPod, argv: Sequence[str], log: int | None = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
        """A process inside the pod, in its own process group so ``close`` ends it and its children."""
        proc = subprocess.Popen(["ip", "netns", "exec", pod.netns, *argv], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            stop_group(proc)
        self.procs.clear()
        remove_leftovers()
        self.pods.clear()


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM to the process group, then SIGKILL if it has not gone within ``timeout``."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def leftovers() -> list[str]:
    """Namespaces and host devices of a demo that still exist (empty after a clean stop)."""
    names = _ip("netns", "list", check=False).stdout.split()
    spaces = [n for n in names if n.startswith((PREFIX, OUTSIDE_PREFIX))]
    devs = [line.split(":")[1].strip().split("@")[0] for line in _ip("-o", "link", "show", check=False).stdout.splitlines()
            if line.split(":")[1].strip().startswith(("psd", BRIDGE))]
    return spaces + devs


def remove_leftovers() -> None:
    for name in leftovers():
        if name.startswith((PREFIX, OUTSIDE_PREFIX)):
            for pid in _ip("netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "delete", name, check=False)
        else:
            _ip("link", "delete", name, check=False)
