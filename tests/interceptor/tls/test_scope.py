"""tls.*_namespaces / *_pods: which pods' processes are traced, decided from the process's cgroup (the
pod UID the kubelet puts in its path) and the pods of a real kube-apiserver.

Real pieces: the API server (its pods and UIDs), a real KubeWatcher filling the index, real Python
TLS servers placed in real cgroups named like a kubelet's (``kubepods/besteffort/pod<uid>/<id>``),
real uprobes. The watcher starts after the servers, so both are first undecided (pod not known yet)
and decided at a later scan.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interceptor.config import ConfigError, KubernetesConfig, load_config
from interceptor.counters import Counters
from interceptor.enrich import ClusterIndex, KubeWatcher
from interceptor.tls.scope import PodScope
from tests.fixtures.tls import PYTLS, TlsHarness, harness_config
from tests.interceptor.enrich.test_watch_apiserver import create_pod, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.ebpf, pytest.mark.k8s]

HIERARCHIES = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup")


def cgroup_root() -> Path | None:
    """A cgroup hierarchy this test may make groups in (v1 'pids' or a v2 mount)."""
    for root in map(Path, HIERARCHIES):
        if (root / "cgroup.procs").exists() and os.access(root, os.W_OK):
            return root
    return None


@pytest.fixture
def pod_cgroups() -> Iterator[callable]:
    """make(uid) -> a kubelet-like cgroup directory for one container of pod ``uid``."""
    root = cgroup_root()
    if root is None or os.geteuid() != 0:
        pytest.skip(f"no writable cgroup hierarchy among {HIERARCHIES}")
    made: list[Path] = []

    def make(uid: str) -> Path:
        d = root / "kubepods" / "besteffort" / f"pod{uid}" / secrets.token_hex(32)
        d.mkdir(parents=True)
        made.append(d)
        return d

    yield make
    for d in made:  # leaf first; each directory only once its processes are gone
        for path in (d, d.parent):
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
    for path in (root / "kubepods" / "besteffort", root / "kubepods"):
        try:
            path.rmdir()
        except OSError:
            pass


def server_in(h: TlsHarness, cgroup: Path, certs: tuple[str, str]) -> tuple[subprocess.Popen[str], int]:
    """A Python TLS server that joins ``cgroup`` before it execs (so it is in its pod from the start)."""
    script = f'echo $$ > {cgroup}/cgroup.procs && exec "$@"'
    return h.start_server("sh", "-c", script, "sh", sys.executable, str(PYTLS), "server", *certs)


def post(port: int, target: str) -> None:
    out = subprocess.run(["curl", "-sk", "--fail", "-H", "Content-Type: application/json", "--data-binary",
                          '{"email":"a@example.com"}', f"https://127.0.0.1:{port}{target}"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_process_scope_by_namespace_and_pod(kube_apiserver, tls_certs, pod_cgroups) -> None:
    from kubernetes import client

    api = kube_apiserver.api_client()
    core = client.CoreV1Api(api)
    shop, vault = f"shop-{secrets.token_hex(3)}", f"vault-{secrets.token_hex(3)}"
    for ns in (shop, vault):
        core.create_namespace({"metadata": {"name": ns}})
    uids = {name: create_pod(core, ns, name, ip).metadata.uid
            for ns, name, ip in ((shop, "cart", "10.244.9.11"), (shop, "debug-shell", "10.244.9.12"),
                                 (vault, "keys", "10.244.9.13"))}

    cfg = harness_config()
    cfg.tls.include_commands = ["python*"]  # the servers; curl (outside pods) is not traced
    cfg.tls.exclude_namespaces = [vault]
    cfg.tls.exclude_pods = [f"{shop}/debug-*"]
    counters = Counters()
    index = ClusterIndex(counters)
    watcher = KubeWatcher(KubernetesConfig(enabled=True, kubeconfig=kube_apiserver.kubeconfig, scope="cluster",
                                           exclude_namespaces=[]), index, counters, api, node_name="node-a")
    h = TlsHarness(cfg, process_filter=PodScope(cfg.tls, index, watcher.lock))
    if h.source is None:
        h.close()
        pytest.skip("TLS source unavailable here")
    try:
        servers = {name: server_in(h, pod_cgroups(uid), tls_certs) for name, uid in uids.items()}
        src = h.source
        wait_for(lambda: all(h.call(lambda p=p: p.pid in src.pids) for p, _ in servers.values()), what="seen")
        pending = h.call(lambda: {n: src.pids[p.pid].pending for n, (p, _) in servers.items()})
        assert pending == dict.fromkeys(uids, True), "pods not known yet: undecided"
        assert not h.attached(servers["cart"][0].pid)

        watcher.start()
        assert watcher.wait_synced(30)
        h.wait_attached(servers["cart"][0].pid)  # decided at the next scan: in scope
        for name in uids:
            post(servers[name][1], f"/scope/{name}")
        got = h.wait_pairs(lambda p: p.request.target.startswith("/scope/"), 1)
        time.sleep(1.0)  # the excluded servers' pairs would have come by now
        got = h.call(lambda: [p.request.target for p in h.pairs if p.request.target.startswith("/scope/")])
        assert got == ["/scope/cart"]
        decided = h.call(lambda: {n: (src.pids[p.pid].pending, src.pids[p.pid].excluded)
                                  for n, (p, _) in servers.items()})
        assert decided == {"cart": (False, False), "debug-shell": (False, True), "keys": (False, True)}
        skipped = h.call(lambda: {int(k.value) for k in src._skip.keys()})
        assert servers["keys"][0].pid in skipped and servers["debug-shell"][0].pid in skipped  # in the kernel
        assert servers["cart"][0].pid not in skipped
    finally:
        h.close()
        watcher.stop()
        api.close()


def test_host_processes_only_without_include_rules(tmp_path: Path) -> None:
    """Outside any pod: traced under exclude rules, not under include rules (it is in no namespace)."""
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "cgroup").write_text("0::/system.slice/sshd.service\n")
    cfg = harness_config()
    index = ClusterIndex()
    cfg.tls.exclude_namespaces = ["vault"]
    assert PodScope(cfg.tls, index, proc_root=str(tmp_path))(7) is True
    cfg.tls.include_namespaces = ["shop"]
    assert PodScope(cfg.tls, index, proc_root=str(tmp_path))(7) is False


def test_pod_rules_need_kubernetes(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("tls:\n  enabled: true\n  exclude_namespaces: [vault]\n")
    with pytest.raises(ConfigError, match=r"tls\.exclude_namespaces: needs kubernetes\.enabled"):
        load_config(path, env={})
    path.write_text("tls:\n  exclude_namespaces: [vault]\nkubernetes:\n  enabled: true\n")
    assert load_config(path, env={}).tls.exclude_namespaces == ["vault"]
