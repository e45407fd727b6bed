"""Targets to pods (pure): the Kubernetes index and discovery's namespaces meet by IP or pod UID."""

from __future__ import annotations

from pathlib import Path

import orjson

from interceptor.captures.manager import CaptureManager
from interceptor.captures.model import Target
from interceptor.captures.resolve import resolve
from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.discovery.cgroup import ContainerRef
from interceptor.discovery.netlink import Link
from interceptor.discovery.procs import ProcInfo
from interceptor.discovery.scan import Namespace
from interceptor.enrich.index import ClusterIndex
from tests.interceptor.enrich.k8sobjects import owned, pod

CID = "0123456789abcdef" * 4


def _ns(inode: int, ip: str, uid: str = "", cid: str = "") -> Namespace:
    links = [Link(1, "lo", up=True, loopback=True, addresses=["127.0.0.1/8"]),
             Link(2, "eth0", kind="veth", up=True, addresses=[f"{ip}/24"])]
    procs = [ProcInfo(100 + inode, "app", "app", ContainerRef(cid, "containerd", uid))] if uid or cid else []
    return Namespace(inode, f"/proc/{100 + inode}/ns/net", links=links, procs=procs, host_peers={"eth0": f"veth{inode}"})


def _index() -> ClusterIndex:
    index = ClusterIndex()
    index.apply_owner("ReplicaSet", owned("ReplicaSet", "cart-7d9f", "shop", ("Deployment", "cart")))
    for name, ip, node, labels in (("cart-7d9f-a", "10.1.0.5", "node-a", {"app": "cart"}),
                                   ("cart-7d9f-b", "10.1.0.6", "node-a", {"app": "cart"}),
                                   ("cart-7d9f-c", "10.2.0.7", "node-b", {"app": "cart"}),
                                   ("pay-0", "10.1.0.8", "node-a", {"app": "pay"})):
        index.apply_pod("ADDED", pod(name, ip=ip, node=node, labels=labels, owner=("ReplicaSet", "cart-7d9f")
                                     if name.startswith("cart") else None), 1.0)
    return index


def test_pod_workload_selector_ip_and_container() -> None:
    index = _index()
    pods = list(index.pods.values())
    spaces = [_ns(1, "10.1.0.5"), _ns(2, "10.1.0.6", uid="uid-shop-cart-7d9f-b", cid=CID), _ns(3, "10.1.0.8")]
    one = resolve(Target.parse({"namespace": "shop", "pod": "cart-7d9f-a"}), pods, index.workload, spaces, "node-a")
    assert [(p.name, p.netns, p.workload, p.workload_kind, p.ips) for p in one.local] == \
        [("cart-7d9f-a", "net:[1]", "cart", "Deployment", ("10.1.0.5",))]
    wl = resolve(Target.parse({"namespace": "shop", "workload": "cart"}), pods, index.workload, spaces, "node-a")
    assert [p.name for p in wl.local] == ["cart-7d9f-a", "cart-7d9f-b"] and wl.remote_nodes == ["node-b"]
    sel = resolve(Target.parse({"namespace": "shop", "selector": "app=pay"}), pods, index.workload, spaces, "node-a")
    assert [p.name for p in sel.local] == ["pay-0"]
    by_cid = resolve(Target.parse({"container_id": CID[:12]}), pods, index.workload, spaces, "node-a")
    assert [p.name for p in by_cid.local] == ["cart-7d9f-b"]  # the cgroup's pod UID names it
    assert by_cid.local[0].containers == ("app", f"containerd://{CID}")
    remote = resolve(Target.parse({"namespace": "shop", "pod": "cart-7d9f-c"}), pods, index.workload, spaces, "node-a")
    assert remote.local == [] and remote.remote_nodes == ["node-b"]
    # no index at all: an IP still resolves from discovery
    bare = resolve(Target.parse({"ip": "10.1.0.6"}), [], index.workload, spaces, "node-a")
    assert [(p.name, p.netns, p.ips) for p in bare.local] == [("", "net:[2]", ("10.1.0.6",))]
    assert resolve(Target.parse({"ip": "10.9.9.9"}), pods, index.workload, spaces, "node-a").local == []


def test_finished_captures_survive_a_restart(tmp_path: Path) -> None:
    cfg = Config()
    cfg.captures.dir = str(tmp_path)
    doc = {"id": "node-a~0123456789ab", "state": "done", "stop_reason": "duration", "created": 100.0,
           "finished": 130.0, "file_bytes": 5}
    (tmp_path / "node-a_0123456789ab.pcapng").write_bytes(b"12345")
    (tmp_path / "node-a_0123456789ab.json").write_bytes(orjson.dumps(doc))
    (tmp_path / "node-a_crashed.pcapng").write_bytes(b"x" * 100)  # no status: cut by a crash, still counted
    mgr = CaptureManager(cfg, Counters(), "node-a", scan=lambda: [])
    assert [c["id"] for c in mgr.list()] == ["node-a~0123456789ab"]
    assert mgr.file_for("node-a~0123456789ab") == (tmp_path / "node-a_0123456789ab.pcapng", 5)
    assert mgr.budget.used == 5 + len(orjson.dumps(doc)) + 100
    mgr.tick(now=130.0 + cfg.captures.retention_s + 1)  # past retention: removed, budget given back
    assert mgr.list() == [] and mgr.budget.used == 100
    assert not (tmp_path / "node-a_0123456789ab.pcapng").exists()
