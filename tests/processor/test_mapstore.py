"""The map store: idempotent per pair id, filters, survives a restart."""

from pathlib import Path

from processor.core import Processor
from processor.mapstore import MapStore
from tests.processor.helpers import make_pair


def records() -> list[dict]:
    proc = Processor()
    shop_pay = {"ip": "10.0.0.3", "port": 8080, "namespace": "payments", "workload": "payments"}
    out = []
    for i in range(3):
        out.append(proc.handle(make_pair({"customer": {"email": "a@b.io", "name": "Jane Doe"}}, target=f"/orders/{i}").to_json()).record)
        out.append(proc.handle(make_pair({"card": {"number": "4111111111111111"}}, target="/charges",
                                         src={"ip": "10.0.0.2", "port": 1, "namespace": "shop", "workload": "orders"}, dst=shop_pay).to_json()).record)
        out.append(proc.handle(make_pair(None, method="GET", target=f"/orders/{i}/status").to_json()).record)
    return out


def test_graph_nodes_edges_types(tmp_path: Path) -> None:
    store = MapStore(f"sqlite:///{tmp_path}/map.db")
    assert store.apply_many(records()) == 9
    g = store.graph()
    assert {n["id"] for n in g["nodes"]} == {"shop/frontend", "shop/orders", "payments/payments"}
    edges = {(e["src"], e["dst"], e["method"], e["path"]): e for e in g["edges"]}
    assert set(edges) == {("shop/frontend", "shop/orders", "POST", "/orders/{id}"), ("shop/orders", "payments/payments", "POST", "/charges"),
                          ("shop/frontend", "shop/orders", "GET", "/orders/{id}/status")}
    e = edges[("shop/frontend", "shop/orders", "POST", "/orders/{id}")]
    assert e["count"] == 3 and e["with_data"] == 3 and e["sensitivity"] == "low"
    assert [t["type"] for t in e["types"]] == ["email", "person_name"]
    assert {f["path"]: f["sample"] for f in e["fields"]} == {"customer.email": "*@*.**", "customer.name": "**** ***"}
    assert edges[("shop/orders", "payments/payments", "POST", "/charges")]["sensitivity"] == "high"
    assert edges[("shop/frontend", "shop/orders", "GET", "/orders/{id}/status")]["types"] == []


def test_redelivery_is_not_double_counted(tmp_path: Path) -> None:
    store = MapStore(f"sqlite:///{tmp_path}/map.db")
    recs = records()
    store.apply_many(recs)
    assert store.apply_many(recs + recs[:2]) == 0
    assert sum(e["count"] for e in store.graph()["edges"]) == 9


def test_filters(tmp_path: Path) -> None:
    store = MapStore(f"sqlite:///{tmp_path}/map.db")
    store.apply_many(records())
    assert [e["path"] for e in store.graph(dtype="card_number")["edges"]] == ["/charges"]
    assert {n["id"] for n in store.graph(dtype="card_number")["nodes"]} == {"shop/orders", "payments/payments"}
    assert [e["path"] for e in store.graph(sensitivity="high")["edges"]] == ["/charges"]
    assert len(store.graph(sensitivity="low")["edges"]) == 2
    assert [e["path"] for e in store.graph(namespace="payments")["edges"]] == ["/charges"]
    assert len(store.graph(namespace="shop")["edges"]) == 3


def test_survives_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/sub/map.db"
    store = MapStore(url)
    store.apply_many(records())
    before = store.graph()
    store.close()
    again = MapStore(url)
    assert again.graph() == before
    assert again.stats()["seen"] == 9


def test_prune_seen(tmp_path: Path) -> None:
    store = MapStore(":memory:", seen_retention_s=60)
    recs = records()
    store.apply_many(recs)
    assert store.prune_seen(now=recs[-1]["ts"] + 3600) == 9
    assert store.stats()["seen"] == 0 and store.stats()["edges"] == 3


def test_sqlite_urls() -> None:
    from processor.mapstore import sqlite_path
    assert sqlite_path("sqlite:///var/lib/sensor/map.db") == "/var/lib/sensor/map.db"
    assert sqlite_path("sqlite:////tmp/x.db") == "/tmp/x.db"
    assert sqlite_path("sqlite://") == sqlite_path(":memory:") == ":memory:"
    assert sqlite_path("rel/x.db") == "rel/x.db"


def test_unwritable_db_folder_names_the_key(tmp_path: Path) -> None:
    import pytest
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="processor.map_db"):
        MapStore(f"sqlite:///{blocker}/sub/map.db")
