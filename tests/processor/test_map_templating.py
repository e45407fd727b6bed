"""Templates learned separately by several detector instances converge on the map."""

from interceptor.counters import Counters
from processor.core import Processor
from processor.mapstore import MapStore
from processor.service import MapService
from tests.processor.helpers import make_pair

# Team names (not people's: a given name after /users/ is masked at once, see test_templating.py).
NAMES = """apple banana cherry damson elder fig guava hazel iris jujube kiwi lime mango nectar olive papaya quince
raisin sloe tamarind ugli vanilla walnut yuzu zest acorn""".split()


def test_instances_learn_apart_map_folds_edges_together() -> None:
    a, b = Processor(), Processor()  # two detector instances, each sees half of the users
    recs = []
    for i, name in enumerate(NAMES):
        proc = a if i % 2 else b
        recs.append(proc.handle(make_pair({"email": f"{name}@example.com"}, method="GET", target=f"/teams/{name}/profile").to_json()).record)
    # neither instance saw enough distinct names to call the position a parameter
    assert len({r["path_template"] for r in recs}) == len(NAMES)
    store = MapStore(":memory:")
    counters = Counters()
    svc = MapService(store, counters)
    for i in range(0, len(recs), 5):  # batches, as from Kafka
        svc.apply_records(recs[i:i + 5])
    edges = store.graph()["edges"]
    assert [(e["path"], e["count"]) for e in edges] == [("/teams/{id}/profile", len(NAMES))]
    assert [t["type"] for t in edges[0]["types"]] == ["email"] and edges[0]["types"][0]["count"] == len(NAMES)
    assert edges[0]["fields"][0]["count"] == len(NAMES)
    assert counters.get("map.edges_merged") > 0
    # later records land on the template directly
    svc.apply_records([a.handle(make_pair({"email": "z@example.com"}, method="GET", target="/teams/zed/profile").to_json()).record])
    assert [(e["path"], e["count"]) for e in store.graph()["edges"]] == [("/teams/{id}/profile", len(NAMES) + 1)]


def test_compact_keeps_distinct_endpoints_apart() -> None:
    store = MapStore(":memory:")
    proc = Processor()
    store.apply_many([proc.handle(make_pair({"email": "a@b.io"}, target=t).to_json()).record for t in ("/users/me", "/orders/1")])
    assert store.compact(lambda dst, path: path) == 0
    assert store.compact(lambda dst, path: "/x" if path == "/users/me" else path) == 1
    assert sorted(e["path"] for e in store.graph()["edges"]) == ["/orders/{id}", "/x"]
