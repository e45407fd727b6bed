"""Container id and pod UID from a process's cgroup path (pure functions, no I/O but ``read_*``).

Kubernetes puts every container in a cgroup whose path names the pod (``pod<uid>``, with dashes
under the cgroupfs driver, underscores under the systemd driver) and the container (a 64-hex id,
bare or wrapped in a runtime scope such as ``cri-containerd-<id>.scope``). The same shapes appear in
cgroup v1 (one line per controller hierarchy) and v2 (the single ``0::`` line), so one parser
serves both: the innermost container id wins (kind and Docker-in-Docker nest clusters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Scope prefixes of the systemd cgroup driver, and the runtime each one means.
_SCOPE_RUNTIMES = {
    "cri-containerd": "containerd",
    "crio": "cri-o",
    "docker": "docker",
    "libpod": "podman",
}
_SCOPE_RE = re.compile(r"^(cri-containerd|crio|docker|libpod)-([0-9a-f]{64})\.scope$")
_CONMON_RE = re.compile(r"^crio-conmon-([0-9a-f]{64})\.scope$")
_BARE_ID_RE = re.compile(r"^[0-9a-f]{64}$")
_POD_RE = re.compile(
    r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$"
)
_QOS_RE = re.compile(r"^kubepods-(burstable|besteffort)(?:\.slice)?$")


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """What a cgroup path says about its process; fields are empty when the path does not say."""

    container_id: str = ""
    runtime: str = ""  # containerd, cri-o, docker, podman; "" when the path does not name it
    pod_uid: str = ""  # with dashes, as in the Pod's metadata.uid
    qos: str = ""  # guaranteed, burstable, besteffort (only under kubepods)
    sandbox_helper: bool = False  # CRI-O's conmon: the pod's helper, not the container itself

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__}


def parse_cgroup_path(path: str) -> ContainerRef:
    """Parse one cgroup path (``/kubepods.slice/.../cri-containerd-<id>.scope``)."""
    runtime = container_id = pod_uid = qos = ""
    helper = False
    parts = [p for p in path.split("/") if p]
    in_kubepods = False
    for i, part in enumerate(parts):
        if part in ("kubepods", "kubepods.slice"):
            in_kubepods, pod_uid, qos = True, "", "guaranteed"
            continue
        if in_kubepods and part in ("burstable", "besteffort"):
            qos = part
            continue
        m = _QOS_RE.match(part)
        if m and in_kubepods:
            qos = m.group(1)
            continue
        m = _POD_RE.search(part)
        if m and in_kubepods:
            pod_uid = m.group(1).replace("_", "-")
            continue
        m = _SCOPE_RE.match(part)
        if m:
            runtime, container_id, helper = _SCOPE_RUNTIMES[m.group(1)], m.group(2), False
            continue
        m = _CONMON_RE.match(part)
        if m:
            runtime, container_id, helper = "cri-o", m.group(1), True
            continue
        if _BARE_ID_RE.match(part):
            # cgroupfs driver: the runtime is not in the path, except Docker's own ``/docker/<id>``.
            parent = parts[i - 1] if i else ""
            runtime = "docker" if parent == "docker" else ""
            container_id, helper = part, False
    if not in_kubepods:
        qos = ""
    return ContainerRef(container_id, runtime, pod_uid, qos, helper)


def parse_proc_cgroup(text: str) -> ContainerRef:
    """Parse the contents of ``/proc/<pid>/cgroup`` (v1 lines ``N:ctrl:/path``, v2 line ``0::/path``).

    The first line that names a container wins; a v2 path is tried first because under the hybrid
    layout the v1 hierarchies of a container may be mounted as ``/`` while v2 carries the truth.
    """
    paths: list[str] = []
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        hid, _controllers, path = fields
        if hid == "0":
            paths.insert(0, path)
        else:
            paths.append(path)
    best = ContainerRef()
    for path in paths:
        ref = parse_cgroup_path(path)
        if ref.container_id:
            return ref
        if ref.pod_uid and not best.pod_uid:
            best = ref
    return best


def read_proc_cgroup(pid: int, proc_root: str = "/proc") -> ContainerRef:
    """``parse_proc_cgroup`` of a live process; an empty ref when it is gone or unreadable."""
    try:
        with open(f"{proc_root}/{pid}/cgroup") as f:
            return parse_proc_cgroup(f.read())
    except OSError:
        return ContainerRef()
