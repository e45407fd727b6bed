"""cgroup path parsing on the path shapes real nodes produce (containerd, CRI-O, Docker; v1 and v2)."""

import pytest

from interceptor.discovery.cgroup import parse_cgroup_path, parse_proc_cgroup

CID = "4f6b1c6a2d0e3f8a9b7c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a"
UID = "8d3f2a1b-6c5e-4f7a-9b8c-1d2e3f4a5b6c"
UIDU = UID.replace("-", "_")


@pytest.mark.parametrize(
    ("path", "runtime", "pod_uid", "qos"),
    [
        # containerd, systemd driver (cgroup v2 default on current distros)
        (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UIDU}.slice/cri-containerd-{CID}.scope",
         "containerd", UID, "burstable"),
        (f"/kubepods.slice/kubepods-pod{UIDU}.slice/cri-containerd-{CID}.scope", "containerd", UID, "guaranteed"),
        # CRI-O, systemd driver
        (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UIDU}.slice/crio-{CID}.scope",
         "cri-o", UID, "besteffort"),
        # dockershim / cri-dockerd, systemd driver
        (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UIDU}.slice/docker-{CID}.scope",
         "docker", UID, "burstable"),
        # cgroupfs driver (v1 and v2): the runtime is not in the path
        (f"/kubepods/burstable/pod{UID}/{CID}", "", UID, "burstable"),
        (f"/kubepods/besteffort/pod{UID}/{CID}", "", UID, "besteffort"),
        (f"/kubepods/pod{UID}/{CID}", "", UID, "guaranteed"),
        # kind / Docker-in-Docker: the node itself is a container; the innermost id wins
        (f"/docker/{'a' * 64}/kubepods/burstable/pod{UID}/{CID}", "", UID, "burstable"),
        # plain Docker, no Kubernetes
        (f"/docker/{CID}", "docker", "", ""),
        (f"/system.slice/docker-{CID}.scope", "docker", "", ""),
        # podman
        (f"/machine.slice/libpod-{CID}.scope/container", "podman", "", ""),
    ],
)
def test_container_paths(path: str, runtime: str, pod_uid: str, qos: str) -> None:
    ref = parse_cgroup_path(path)
    assert ref.container_id == CID
    assert ref.runtime == runtime
    assert ref.pod_uid == pod_uid
    assert ref.qos == qos
    assert not ref.sandbox_helper


def test_crio_conmon_is_a_helper() -> None:
    ref = parse_cgroup_path(
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UIDU}.slice/crio-conmon-{CID}.scope")
    assert (ref.container_id, ref.runtime, ref.pod_uid, ref.sandbox_helper) == (CID, "cri-o", UID, True)


@pytest.mark.parametrize("path", ["/", "/user.slice/user-0.slice/session-1.scope", "/system.slice/kubelet.service",
                                  "/init.scope", "/kubepods.slice"])
def test_not_a_container(path: str) -> None:
    assert parse_cgroup_path(path).container_id == ""


def test_pod_level_path_has_uid_without_container() -> None:
    ref = parse_cgroup_path(f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UIDU}.slice")
    assert (ref.container_id, ref.pod_uid) == ("", UID)


def test_proc_cgroup_v2() -> None:
    text = f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UIDU}.slice/cri-containerd-{CID}.scope\n"
    ref = parse_proc_cgroup(text)
    assert (ref.container_id, ref.runtime, ref.pod_uid) == (CID, "containerd", UID)


def test_proc_cgroup_v1_cgroupfs() -> None:
    lines = [f"{n}:{ctrl}:/kubepods/burstable/pod{UID}/{CID}" for n, ctrl in
             [(12, "pids"), (11, "memory"), (10, "cpu,cpuacct"), (3, "net_cls,net_prio")]]
    ref = parse_proc_cgroup("\n".join(["13:rdma:/", *lines, "1:name=systemd:/kubepods/burstable/pod" + UID + "/" + CID]))
    assert (ref.container_id, ref.pod_uid, ref.qos) == (CID, UID, "burstable")


def test_proc_cgroup_hybrid_prefers_v2() -> None:
    # Hybrid layout: v1 controllers show "/" inside the container, the unified line has the path.
    text = "\n".join([
        "12:memory:/", "11:cpu,cpuacct:/", "1:name=systemd:/",
        f"0::/kubepods.slice/kubepods-pod{UIDU}.slice/crio-{CID}.scope",
    ])
    ref = parse_proc_cgroup(text)
    assert (ref.container_id, ref.runtime) == (CID, "cri-o")


def test_proc_cgroup_garbage_and_host() -> None:
    assert parse_proc_cgroup("").container_id == ""
    assert parse_proc_cgroup("not a cgroup file\n::\n0::/\n").container_id == ""
    assert parse_proc_cgroup("4:memory:/process_api/5357a07f7b9a3cd6b641a12d6add02ad\n0::/\n").container_id == ""
