"""The web page as a person sees it: headless Chromium (Debian's) driven by playwright-core (Node)."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from interceptor.webauth import ApiToken, BearerAuth
from processor.core import Processor
from processor.mapstore import MapStore
from processor.server import MapServer
from tests.processor.helpers import make_pair
from tests.processor.test_mapstore import records

NPM = Path(os.environ.get("PROCESSOR_CACHE", "/var/cache/privacy-sensor/processor")) / "npm" / "node_modules"
HERE = Path(__file__).parent

pytestmark = pytest.mark.slow


def _page(store: MapStore, tmp_path: Path, mode: str) -> tuple[dict[str, Any], Path]:
    if not (NPM / "playwright-core").is_dir() or not shutil.which("chromium") or not shutil.which("node"):
        pytest.fail("needs chromium, node and playwright-core: run bash scripts/setup.d/processor.sh")
    srv = MapServer(store, "127.0.0.1:0", auth=BearerAuth(ApiToken("page-token", "config"))).start()
    shots = Path(os.environ.get("PROCESSOR_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(["node", str(HERE / "web_check.js"), f"http://127.0.0.1:{srv.port}/#token=page-token", str(shots), mode],
                              env={**os.environ, "NODE_PATH": str(NPM)}, capture_output=True, text=True, timeout=150)
    finally:
        srv.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["errors"] == []
    assert seen["foreignRequests"] == []  # the graph library is served by the map service itself
    assert seen["title"].startswith("Data-flow map")
    assert "token" not in seen["urlAfterToken"]  # taken out of the address bar once read
    return seen, shots


def test_map_page_in_headless_chromium(tmp_path: Path) -> None:
    store = MapStore(f"sqlite:///{tmp_path}/map.db")
    store.apply_many(records())
    seen, shots = _page(store, tmp_path, "small")
    assert seen["summary"] == "3 nodes · 3 endpoints · 2 carrying personal data"
    assert sorted(seen["nodeLabels"]) == ["frontend", "orders", "payments"] and seen["nodesVisible"]
    assert sorted(seen["groups"]) == ["payments", "shop"]  # one box per namespace
    labels = {e["edge"]: e["text"] for e in seen["edgeLabels"]}
    assert labels == {"shop/frontend → shop/orders": "Email, Person name", "shop/orders → payments/payments": "Card number"}
    assert {e["edge"]: e["cls"] for e in seen["edgeLabels"]}["shop/orders → payments/payments"] == ["high"]
    assert seen["edgeCount"] == 2  # two endpoints frontend -> orders share one line
    assert seen["measure"]["nodeLabelOverlaps"] == [] and seen["measure"]["edgeLabelOverlaps"] == 0
    assert seen["measure"]["chipsLeftOff"] == 0  # a small map has room for every chip
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


# A generated cluster: tiers of services calling the next tiers, names of mixed lengths, bodies with
# different personal data (through the real detector), a few external hosts. Fixed seed.
TIERS = [("edge", ["gateway", "ingress-proxy", "api-gateway-public", "bff-web", "bff-mobile", "auth-edge"]),
         ("shop", ["frontend", "checkout", "cart", "catalog", "recommendation-engine", "search", "reviews", "wishlist",
                   "pricing", "promotions", "inventory-sync", "order-history", "gift-cards", "shipping-quotes",
                   "storefront-renderer", "product-media", "returns", "loyalty", "newsletter-signup", "store-locator"]),
         ("accounts", ["users", "profiles", "sessions", "password-reset", "consent-manager", "preferences", "identity-verification",
                       "addresses", "contacts", "kyc", "two-factor", "account-deletion", "avatars", "audit-log",
                       "customer-support-desk", "gdpr-export", "referrals", "family-accounts"]),
         ("payments", ["payments", "card-vault", "billing", "invoices", "refunds", "fraud-scoring", "ledger", "payouts",
                       "tax-calculation", "subscriptions", "dunning", "chargebacks", "wallet", "iban-validation",
                       "settlement-batch", "currency-rates"]),
         ("data", ["events-ingest", "analytics", "warehouse-loader", "reporting", "crm-sync", "marketing-audiences",
                   "email-sender", "sms-sender", "push-notifications", "data-lake-writer", "feature-store", "ml-scoring",
                   "backup-agent", "search-indexer", "cdc-relay", "archive"]),
         ("ops", ["metrics-relay", "log-shipper", "tracing-collector", "alertmanager-webhook", "config-service",
                  "feature-flags", "secrets-broker", "health-prober", "status-page", "incident-bot", "oncall-router",
                  "cost-reporter", "dns-updater", "cert-renewer"])]
EXTERNAL = ["api.stripe-like.example", "hooks.crm-vendor.example", "smtp-relay.mailer.example", "sms.gateway.example",
            "analytics.tracker.example", "kyc.provider.example", "maps.geocoder.example", "cdn.media.example",
            "tax.service.example", "bank.open-api.example"]
BODIES: list[Any] = [None, {"customer": {"email": "ann.lee@example.org", "name": "Ann Lee"}}, {"card": {"number": "4111111111111111", "cvv": "123"}},
                     {"contact": {"phone": "+44 20 7946 0958"}}, {"payout": {"iban": "DE89370400440532013000"}},
                     {"user": {"email": "k.mori@example.jp", "birth_date": "1984-03-02"}}, {"status": "ok", "items": 3}]


def generated_records(n_edges: int = 300, seed: int = 17) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    proc = Processor()
    nodes = [[{"ip": f"10.{t}.0.{i + 1}", "port": 8080, "namespace": ns, "workload": name} for i, name in enumerate(names)]
             for t, (ns, names) in enumerate(TIERS)]
    nodes.append([{"ip": f"203.0.113.{i + 1}", "port": 443, "external": True, "_host": h} for i, h in enumerate(EXTERNAL)])
    pairs: set[tuple[int, int, int, int]] = set()
    for t in range(1, len(nodes)):  # every service is called by one in the tier before it
        for b in range(len(nodes[t])):
            pairs.add((t - 1, rng.randrange(len(nodes[t - 1])), t, b))
    while len(pairs) < n_edges:
        t = rng.randrange(len(TIERS))
        u = min(len(nodes) - 1, t + rng.choice((0, 1, 1, 1, 2, 3)))
        a, b = rng.randrange(len(nodes[t])), rng.randrange(len(nodes[u]))
        if (t, a) != (u, b):
            pairs.add((t, a, u, b))
    out = []
    for t, a, u, b in sorted(pairs):
        src, dst = dict(nodes[t][a]), dict(nodes[u][b])
        host = dst.pop("_host", f"{dst.get('workload')}.{dst.get('namespace')}.svc")
        body = BODIES[rng.randrange(len(BODIES))]
        pair = make_pair(body, target=f"/v1/{dst.get('workload', 'api')}/{rng.choice(['items', 'events', 'records'])}",
                         src=src, dst=dst, host=host, method="GET" if body is None else "POST")
        out.append(proc.handle(pair.to_json()).record)
    return out


def test_map_page_readable_at_100_nodes_300_edges(tmp_path: Path) -> None:
    store = MapStore(f"sqlite:///{tmp_path}/map.db")
    store.apply_many(generated_records())
    g = store.graph()
    assert len(g["nodes"]) == 100 and len(g["edges"]) == 300
    seen, shots = _page(store, tmp_path, "big")
    m = seen["measure"]
    print("map page at 100 nodes / 300 edges:", json.dumps({k: v for k, v in m.items() if k != "nodeLabelOverlaps"}),
          "layout ms:", seen["layoutMs"], "zoom 1:", json.dumps({k: v for k, v in seen["measureZoom1"].items() if k != "nodeLabelOverlaps"}))
    assert m["nodes"] == 100 and m["groups"] == len(TIERS) + 1 and m["edgesDrawn"] == 300
    assert m["nodeLabelOverlaps"] == []  # no service name covers another
    assert m["groupLabelOverlaps"] == 0  # nor a namespace title
    assert m["groupBoxOverlaps"] == 0  # nor one namespace's box another's
    z1 = seen["measureZoom1"]  # zoomed in to read the chips: none covers another chip or a service's name
    assert z1["edgeLabelsDrawn"] and z1["edgeLabelOverlaps"] == 0 and z1["edgeOverNodeLabel"] == 0
    assert z1["chipsLeftOff"] <= 0.2 * 212  # of the 212 lines with personal data, the few with no free spot (27 here)
    assert seen["search"]["matches"] and seen["search"]["keptIsNeighbourhood"] and seen["search"]["fadedOthers"]
    d = seen["drill"]
    assert d["selected"] and d["endpoints"] and all(ep in d["text"] for ep in d["endpoints"])
    assert d["samples"] and all(s in d["text"] for s in d["samples"])
    assert not any(raw in d["text"] for raw in ("ann.lee@example.org", "4111111111111111", "DE89370400440532013000", "+44 20 7946 0958"))
    ns = seen["nsFilter"]
    print("namespace filter:", ns, "overlap measures:", m["nodeLabelOverlaps"], m["zoom"], m["edgeLabelOverlaps"], seen["layoutMs"])
    assert ns["everyEdgeTouches"] and 0 < ns["edges"] < 300 and 0 < ns["nodes"] < 100
    assert seen["nsMeasure"]["nodeLabelOverlaps"] == []
    assert seen["highFilter"]["allHigh"] and 0 < seen["highFilter"]["edges"] < 300
    assert seen["typeFilter"]["edges"] > 0
    for name in ("map-100-graph.png", "map-100-zoom.png", "map-100-search.png", "map-100-details.png", "map-100-namespace.png"):
        assert (shots / name).stat().st_size > 10_000
