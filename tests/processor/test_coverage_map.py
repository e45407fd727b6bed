"""The map's coverage: the connections topic's aggregates stored, the coverage view per workload and
namespace, the API, and the page in headless Chromium (dashed unread flows, the coverage tab)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from interceptor.schema import validate_connections
from processor.coverage import CoverageService, CoverageStore, parse_connections
from processor.mapstore import MapStore
from processor.server import MapServer
from tests.processor.test_mapstore import records as detections
from tests.processor.test_web import NPM

HERE = Path(__file__).parent
FRONTEND = {"ip": "10.0.0.1", "namespace": "shop", "workload": "frontend", "process": "java", "library": "jsse"}
ORDERS = {"ip": "10.0.0.2", "port": 8080, "namespace": "shop", "workload": "orders"}
BILLING = {"ip": "10.0.0.7", "port": 443, "namespace": "payments", "workload": "billing", "process": "java",
           "library": "jsse"}


def agg(verdict: str, src: dict, dst: dict, connections: int, nbytes: int, **extra: object) -> dict:
    rec = {"schema_version": 1, "interval_start": 1000.0, "interval_end": 1060.0, "node": "n1", "verdict": verdict,
           "protocol": extra.pop("protocol", "tls"), "src": src, "dst": dst, "connections": connections,
           "bytes": nbytes, "pairs": extra.pop("pairs", 0), **extra}
    validate_connections(rec)
    return rec


def account() -> list[dict]:
    return [
        agg("inspected", FRONTEND, ORDERS, 6, 6000, protocol="http/1.1", pairs=9, source="pcap-veth"),
        agg("tls-unread", FRONTEND, BILLING, 3, 3000, sni="api.example.com", library="jsse", process="java",
            reason="no_probe_for_library"),
        agg("tls-decrypted", FRONTEND, BILLING, 1, 1000, sni="api.example.com", library="openssl", source="openssl"),
        agg("other-protocol", {"ip": "10.0.0.2", "namespace": "shop", "workload": "orders"},
            {"ip": "10.0.0.9", "port": 6379, "namespace": "shop", "workload": "cache"}, 4, 400, protocol="redis"),
    ]


def loaded(tmp_path: Path) -> tuple[MapStore, CoverageStore, CoverageService]:
    from interceptor.counters import Counters

    store = MapStore(f"sqlite:///{tmp_path}/map.db")
    cov = CoverageStore(store)
    service = CoverageService(cov, Counters())
    service.apply_raw([json.dumps(r).encode() for r in account()] + [b"not json", b'{"schema_version": 2}'])
    return store, cov, service


def test_view_per_workload_and_namespace(tmp_path: Path) -> None:
    store, cov, service = loaded(tmp_path)
    assert service.counters.get("coverage.applied") == 4
    assert service.counters.dropped("coverage.invalid_json") == service.counters.dropped("coverage.schema_mismatch") == 1
    service.apply_raw([json.dumps(account()[1]).encode()])  # redelivered by Kafka: not counted twice
    assert service.counters.get("coverage.duplicates") == 1
    view = cov.view()
    unread = [f for f in view["flows"] if not f["read"]]
    labels = {f["label"] for f in unread}
    assert labels == {"TLS — not inspected: java (JSSE), SNI api.example.com", "redis — not HTTP"}
    billing = next(w for w in view["workloads"] if w["name"] == "payments/billing")
    assert billing["connections"] == 4 and billing["inspected_share"] == 0.25 and billing["inspected_bytes_share"] == 0.25
    assert billing["reasons"] == {"no_probe_for_library": 3}
    shop = next(n for n in view["namespaces"] if n["name"] == "shop")
    assert shop["connections"] == 10 and shop["inspected_share"] == 0.6 and shop["reasons"] == {"other-protocol": 4}
    assert {n["id"] for n in view["nodes"]} >= {"shop/frontend", "payments/billing", "shop/cache"}
    assert parse_connections(b"[]") == "schema_mismatch"
    store.close()


def test_api_and_page_in_headless_chromium(tmp_path: Path) -> None:
    if not (NPM / "playwright-core").is_dir() or not shutil.which("chromium") or not shutil.which("node"):
        pytest.fail("needs chromium, node and playwright-core: run bash scripts/setup.d/processor.sh")
    store, cov, _ = loaded(tmp_path)
    store.apply_many(detections())
    from interceptor.webauth import ApiToken, BearerAuth

    srv = MapServer(store, "127.0.0.1:0", auth=BearerAuth(ApiToken("page-token", "config")), coverage=cov).start()
    shots = Path(os.environ.get("PROCESSOR_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{srv.port}/api/coverage",
                                     headers={"Authorization": "Bearer page-token"})
        with urllib.request.urlopen(req, timeout=10) as r:
            api = json.loads(r.read())
        req = urllib.request.Request(f"http://127.0.0.1:{srv.port}/api/map", headers={"Authorization": "Bearer page-token"})
        with urllib.request.urlopen(req, timeout=10) as r:
            api_map = json.loads(r.read())
        proc = subprocess.run(["node", str(HERE / "coverage_check.js"), f"http://127.0.0.1:{srv.port}/#token=page-token", str(shots)],
                              env={**os.environ, "NODE_PATH": str(NPM)}, capture_output=True, text=True, timeout=120)
    finally:
        srv.stop()
        store.close()
    assert {w["name"] for w in api["workloads"]} == {"shop/orders", "payments/billing", "shop/cache"}
    unread = [e for e in api_map["edges"] if e.get("unread")]
    assert {(e["src"], e["dst"], e["path"]) for e in unread} == {("shop/frontend", "payments/billing", "tls:443"),
                                                                 ("shop/orders", "shop/cache", "redis:6379")}
    assert {n["id"] for n in api_map["nodes"]} >= {"payments/billing", "shop/cache"}
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["errors"] == []
    assert sorted((u["src"], u["dst"]) for u in seen["unread"]) == [("shop/frontend", "payments/billing"),
                                                                   ("shop/orders", "shop/cache")]
    assert {u["style"] for u in seen["unread"]} == {"dashed"}
    assert any("TLS — not inspected: java (JSSE), SNI api.example.com" in u["label"] for u in seen["unread"])
    assert any("billing" in label for label in seen["nodeLabels"])  # nodes known only from the account are drawn
    assert any("cache" in label for label in seen["nodeLabels"])
    assert seen["coverageVisible"]
    rows = {r[0]: r for r in seen["workloads"]}
    assert rows["payments/billing"][1:4] == ["4", "25 %", "25 %"] and "no_probe_for_library (3)" in rows["payments/billing"][4]
    assert {r[0] for r in seen["namespaces"]} == {"shop", "payments"}
    assert any("TLS — not inspected" in r[4] and r[5] == "no_probe_for_library" for r in seen["flows"])
    for name in ("coverage-graph.png", "coverage-table.png"):
        assert (shots / name).stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.kafka
def test_replay_to_connections_topic_to_map(kafka_broker_control, tmp_path: Path) -> None:
    """``interceptor replay --kafka`` publishes the account on the connections topic; ``processor
    map`` consumes it with the detections and serves it on /api/coverage and as unread map edges."""
    import uuid

    import requests

    from tests.fixtures.kafka import read_topic
    from tests.interceptor.coverage.test_sniff import pg_startup
    from tests.interceptor.packetgen import Conn, http_request, http_response, write_pcap
    from tests.processor.test_kafka_e2e import AUTH, ROOT, _env, _start, _stop, _wait_port

    broker = kafka_broker_control
    tag = uuid.uuid4().hex[:8]
    pairs_t, det_t, conn_t, group = f"pairs-{tag}", f"detections-{tag}", f"connections-{tag}", f"cov-{tag}"
    for t in (pairs_t, det_t):
        broker.create_topic(t, 1)
    http = Conn(client=("10.3.0.1", 41000), server=("10.3.0.2", 8080)).handshake()
    http.request(http_request())
    http.response(http_response())
    http.close()
    pg = Conn(client=("10.3.0.1", 41001), server=("10.3.0.5", 5432), ts=http.ts).handshake()
    pg.request(pg_startup())
    pg.close()
    pcap = tmp_path / "c.pcap"
    write_pcap(str(pcap), sorted(http.frames + pg.frames, key=lambda f: f[0]))
    env = {**_env(broker.bootstrap, pairs_t, det_t, group), "SENSOR__COVERAGE__TOPIC": conn_t,
           "SENSOR__PROCESSOR__CONNECTIONS_TOPIC": conn_t}
    rep = subprocess.run([sys.executable, "-m", "interceptor.cli", "replay", str(pcap), "--kafka", broker.bootstrap,
                          "--topic", pairs_t, "--no-progress"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert rep.returncode == 0, rep.stderr
    on_topic = [json.loads(m.value) for m in read_topic(broker.bootstrap, conn_t)]
    for rec in on_topic:
        validate_connections(rec)
    assert sorted((r["verdict"], r["protocol"]) for r in on_topic) == [("inspected", "http/1.1"),
                                                                      ("other-protocol", "postgresql")]
    log = tmp_path / "m.log"
    m = _start(["map", "--db", f"sqlite:///{tmp_path}/map.db", "--listen", "127.0.0.1:0", "--port-file",
                str(tmp_path / "port")], env, log)
    try:
        port = _wait_port(tmp_path / "port", m, log)
        deadline, view = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            view = requests.get(f"http://127.0.0.1:{port}/api/coverage", headers=AUTH, timeout=5).json()
            if len(view["flows"]) == 2:
                break
            time.sleep(0.5)
        edges = requests.get(f"http://127.0.0.1:{port}/api/edges", headers=AUTH, timeout=5).json()
    finally:
        _stop(m)
    assert sorted((f["verdict"], f["dst"], f["connections"]) for f in view["flows"]) == [
        ("inspected", "ip:10.3.0.2", 1), ("other-protocol", "ip:10.3.0.5", 1)], log.read_text()[-2000:]
    assert [(e["dst"], e["unread_reason"]) for e in edges if e.get("unread")] == [("ip:10.3.0.5", "postgresql — not HTTP")]
