"""The HTTP API over a real socket."""

from pathlib import Path

import requests

from interceptor.webauth import ApiToken, BearerAuth
from processor.mapstore import MapStore
from processor.server import MapServer
from tests.processor.test_mapstore import records

AUTH = BearerAuth(ApiToken("test-token", "config"))
H = {"Authorization": "Bearer test-token"}


def test_api_endpoints(tmp_path: Path) -> None:
    store = MapStore(f"sqlite:///{tmp_path}/map.db")
    store.apply_many(records())
    srv = MapServer(store, "127.0.0.1:0", lambda: {"counts": {"map.applied": 9}}, auth=AUTH).start()
    base = f"http://127.0.0.1:{srv.port}"
    try:
        m = requests.get(f"{base}/api/map", headers=H, timeout=5).json()
        assert len(m["nodes"]) == 3 and len(m["edges"]) == 3
        assert len(requests.get(f"{base}/api/edges?type=email", headers=H, timeout=5).json()) == 1
        assert {n["id"] for n in requests.get(f"{base}/api/nodes?namespace=payments", headers=H, timeout=5).json()} == {"shop/orders", "payments/payments"}
        assert [e["path"] for e in requests.get(f"{base}/api/edges?sensitivity=high", headers=H, timeout=5).json()] == ["/charges"]
        types = requests.get(f"{base}/api/types", headers=H, timeout=5).json()
        assert {"type": "card_number", "sensitivity": "high", "category": "financial", "label": "Card number"} in types
        stats = requests.get(f"{base}/api/stats", headers=H, timeout=5).json()
        assert stats["store"]["edges"] == 3 and stats["counts"]["map.applied"] == 9
        page = requests.get(f"{base}/", timeout=5)
        assert page.status_code == 200 and "Data-flow map" in page.text and "text/html" in page.headers["Content-Type"]
        assert requests.get(f"{base}/app.js", timeout=5).status_code == 200
        assert requests.get(f"{base}/nope", headers=H, timeout=5).status_code == 404
        assert requests.get(f"{base}/healthz", timeout=5).text == "ok\n"
    finally:
        srv.stop()


def test_metrics_text(tmp_path: Path) -> None:
    from interceptor.counters import Counters
    counters = Counters()
    counters.inc("map.applied", 7)
    counters.drop("map.invalid_json", 2)
    store = MapStore(f"sqlite:///{tmp_path}/map.db")
    srv = MapServer(store, "127.0.0.1:0", counters.snapshot, auth=AUTH).start()
    try:
        r = requests.get(f"http://127.0.0.1:{srv.port}/metrics", timeout=5)
    finally:
        srv.stop()
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "privacy_map_applied_total 7\n" in r.text
    assert 'privacy_dropped_total{reason="map.invalid_json"} 2\n' in r.text
