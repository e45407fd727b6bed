"""The web page as a person sees it: headless Chromium (Debian's) driven by playwright-core (Node)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from processor.mapstore import MapStore
from processor.server import MapServer
from tests.processor.test_mapstore import records

NPM = Path(os.environ.get("PROCESSOR_CACHE", "/var/cache/privacy-sensor/processor")) / "npm" / "node_modules"
HERE = Path(__file__).parent

pytestmark = pytest.mark.slow


def test_map_page_in_headless_chromium(tmp_path: Path) -> None:
    if not (NPM / "playwright-core").is_dir() or not shutil.which("chromium") or not shutil.which("node"):
        pytest.fail("needs chromium, node and playwright-core: run bash scripts/setup.d/processor.sh")
    store = MapStore(f"sqlite:///{tmp_path}/map.db")
    store.apply_many(records())
    from interceptor.webauth import ApiToken, BearerAuth

    srv = MapServer(store, "127.0.0.1:0", auth=BearerAuth(ApiToken("page-token", "config"))).start()
    shots = Path(os.environ.get("PROCESSOR_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(["node", str(HERE / "web_check.js"), f"http://127.0.0.1:{srv.port}/#token=page-token", str(shots)],
                              env={**os.environ, "NODE_PATH": str(NPM)}, capture_output=True, text=True, timeout=120)
    finally:
        srv.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["errors"] == []
    assert seen["title"].startswith("Data-flow map")
    assert seen["summary"] == "3 nodes · 3 endpoints · 2 carrying personal data"
    assert sorted(seen["nodeLabels"]) == ["frontend", "orders", "payments"] and seen["nodesVisible"]
    labels = {e["edge"]: e["text"] for e in seen["edgeLabels"]}
    assert labels == {"shop/frontend → shop/orders": "Email, Person name", "shop/orders → payments/payments": "Card number"}
    assert seen["edgeCount"] == 2  # two endpoints frontend -> orders share one line
    assert "POST /charges" in seen["details"] and "card.number" in seen["details"] and "1111111111111111" in seen["details"]
    assert seen["tableVisible"] and seen["graphHidden"]
    rows = {(r[0], r[1], r[2], r[3]): r for r in seen["rows"]}
    assert set(rows) == {("shop/frontend", "shop/orders", "POST", "/orders/{id}"), ("shop/frontend", "shop/orders", "GET", "/orders/{id}/status"),
                         ("shop/orders", "payments/payments", "POST", "/charges")}
    assert rows[("shop/frontend", "shop/orders", "POST", "/orders/{id}")][4:7] == ["EmailPerson name", "low", "3"]
    assert rows[("shop/frontend", "shop/orders", "GET", "/orders/{id}/status")][4] == "—"
    assert [r[3] for r in seen["filteredRows"]] == ["/charges"]
    for name in ("map-graph.png", "map-table.png", "map-details.png"):
        assert (shots / name).stat().st_size > 10_000
