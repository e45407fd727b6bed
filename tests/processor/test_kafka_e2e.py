"""End to end on the real broker: pairs -> two processor instances in one group -> detections -> map.

One instance is SIGKILLed mid-stream; the other must take over its partitions (after the session
timeout) and the map must hold every pair exactly once. A capture replayed through the interceptor's
own CLI goes the same way. Real processes, real broker, no mocks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from confluent_kafka import Producer

from tests.fixtures.kafka import read_topic
from tests.processor.helpers import make_pair

pytestmark = [pytest.mark.slow, pytest.mark.kafka]

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 6
TOKEN = "e2e-map-token"  # the map API needs the bearer token
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _env(bootstrap: str, pairs: str, detections: str, group: str, batch: int = 10) -> dict[str, str]:
    return {**os.environ, "SENSOR__KAFKA__BOOTSTRAP_SERVERS": bootstrap, "SENSOR__PROCESSOR__PAIRS_TOPIC": pairs,
            "SENSOR__PROCESSOR__DETECTIONS_TOPIC": detections, "SENSOR__PROCESSOR__GROUP_ID": group,
            # this test's own (empty) coverage topic: the session broker's shared `connections`
            # carries other tests' agents' accounts (the demo's, the coverage tests')
            "SENSOR__PROCESSOR__CONNECTIONS_TOPIC": detections + "-connections",
            "SENSOR__PROCESSOR__MAP_GROUP_ID": group + "-map", "SENSOR__PROCESSOR__SESSION_TIMEOUT_MS": "6000",
            "SENSOR__PROCESSOR__BATCH_SIZE": str(batch), "PYTHONUNBUFFERED": "1", "SENSOR__AUTH__TOKEN": TOKEN}


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "processor.cli", *args], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(log, "wb"))  # noqa: SIM115


def _stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _shop_pairs(n: int, start: int = 0) -> list:
    """Three services' traffic with personal data; ids are unique so every pair is countable."""
    fe = {"ip": "10.1.0.1", "port": 40000, "namespace": "shop", "workload": "frontend", "pod": "frontend-1"}
    orders = {"ip": "10.1.0.2", "port": 8080, "namespace": "shop", "workload": "orders", "pod": "orders-1"}
    pay = {"ip": "10.1.0.3", "port": 8080, "namespace": "payments", "workload": "payments", "pod": "payments-1"}
    out = []
    for i in range(start, start + n):
        kind = i % 3
        if kind == 0:
            p = make_pair({"customer": {"email": f"user{i}@example.com", "name": "Jane Doe", "phone": "+14155552671"}},
                          target=f"/orders/{100000 + i}", src=fe, dst=orders)
        elif kind == 1:
            p = make_pair({"card": {"number": "4111111111111111", "cvv": "123"}, "order_id": str(i)}, target="/charges", src=orders, dst=pay)
        else:
            p = make_pair(None, method="GET", target=f"/orders/{100000 + i}/status", src=fe, dst=orders)
        out.append(p)
    return out


def _wait_map(port: int, want_seen: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    stats: dict = {}
    while time.monotonic() < deadline:
        try:
            stats = requests.get(f"http://127.0.0.1:{port}/api/stats", headers=AUTH, timeout=5).json()
            if stats["store"]["seen"] >= want_seen:
                return stats
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"map did not reach {want_seen} pairs in {timeout}s: {stats}")


def _wait_port(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        assert proc.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"map service did not start: {log.read_text()}")


def _last_counts(log: Path) -> dict:
    """The newest counters line an instance printed (``--stats-interval``)."""
    for line in reversed(log.read_text().splitlines()):
        if line.startswith('{"counts"'):
            return json.loads(line)["counts"]
    return {}


def _wait_log(log: Path, text: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        assert proc.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"{log.name}: no {text!r} in {timeout}s:\n{log.read_text()[-2000:]}")


def test_two_instances_one_killed_nothing_missing(kafka_broker_control, tmp_path: Path) -> None:
    broker = kafka_broker_control
    bootstrap = broker.bootstrap
    tag = uuid.uuid4().hex[:8]
    pairs_t, det_t, group = f"pairs-{tag}", f"detections-{tag}", f"proc-{tag}"
    broker.create_topic(pairs_t, PARTITIONS)
    broker.create_topic(det_t, PARTITIONS)
    env = _env(bootstrap, pairs_t, det_t, group)
    logs = {n: tmp_path / f"{n}.log" for n in ("a", "b", "map")}
    all_parts = "assigned [" + ", ".join(str(i) for i in range(PARTITIONS)) + "]"

    a = _start(["consume", "--stats-interval", "0.2"], env, logs["a"])
    b = m = None
    sent = 0
    try:
        _wait_log(logs["a"], all_parts, a)
        b = _start(["consume", "--stats-interval", "0"], env, logs["b"])
        _wait_log(logs["a"], "revoked", a)  # B joined: A gives up half its partitions
        _wait_log(logs["b"], "assigned [", b)
        m = _start(["map", "--db", f"sqlite:///{tmp_path}/map.db", "--listen", "127.0.0.1:0", "--port-file", str(tmp_path / "port"),
                    "--stats-interval", "0"], env, logs["map"])
        port = _wait_port(tmp_path / "port", m, logs["map"])

        # a steady stream; A is killed once it has produced some detections, while pairs still arrive
        pairs = _shop_pairs(2400)
        prod = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        killed_at = None
        for i in range(0, len(pairs), 40):
            for p in pairs[i:i + 40]:
                prod.produce(pairs_t, p.to_json(), key=p.id.encode())
            prod.flush(10)
            sent = i + 40
            if killed_at is None and _last_counts(logs["a"]).get("processor.produced", 0) >= 100:
                a.send_signal(signal.SIGKILL)
                a.wait()
                killed_at = sent
            time.sleep(0.05)
        for i, raw in enumerate([b"{not json", json.dumps({"schema_version": 1, "id": "x"}).encode(), b'"just a string"']):
            prod.produce(pairs_t, raw, partition=i % PARTITIONS)
        assert prod.flush(30) == 0
        assert killed_at is not None and killed_at < len(pairs) // 2, f"A was not killed mid-stream (at {killed_at})"
        a_done = _last_counts(logs["a"]).get("processor.produced", 0)
        total = len(pairs)
        stats = _wait_map(port, total, timeout=120)

        assert stats["store"]["seen"] == total  # every pair, once
        graph = requests.get(f"http://127.0.0.1:{port}/api/map", headers=AUTH, timeout=5).json()
        edges = {(e["src"], e["dst"], e["method"], e["path"]): e for e in graph["edges"]}
        assert set(edges) == {("shop/frontend", "shop/orders", "POST", "/orders/{id}"), ("shop/orders", "payments/payments", "POST", "/charges"),
                              ("shop/frontend", "shop/orders", "GET", "/orders/{id}/status")}
        assert sum(e["count"] for e in edges.values()) == total  # redelivered pairs were not double counted
        assert [t["type"] for t in edges[("shop/frontend", "shop/orders", "POST", "/orders/{id}")]["types"]] == ["email", "person_name", "phone"]
        assert edges[("shop/frontend", "shop/orders", "POST", "/orders/{id}")]["sensitivity"] == "medium"
        assert [t["type"] for t in edges[("shop/orders", "payments/payments", "POST", "/charges")]["types"]] == ["card_cvv", "card_number"]
        assert edges[("shop/orders", "payments/payments", "POST", "/charges")]["sensitivity"] == "high"
        assert {n["id"] for n in graph["nodes"]} == {"shop/frontend", "shop/orders", "payments/payments"}
    finally:
        for proc in (b, m):
            if proc is not None:
                _stop(proc)
        if a.poll() is None:
            a.kill()
            a.wait()
    b_log = logs["b"].read_text()
    # B was handed all partitions after A died, and counted the poison it skipped
    assert b_log.rsplit("assigned [", 1)[1].startswith(all_parts.removeprefix("assigned [")), b_log[-2000:]
    final = json.loads(b_log.split("processor: stopped ", 1)[1].splitlines()[0])
    assert final["dropped"] == {"processor.invalid_json": 1, "processor.schema_mismatch": 2}, final
    # A's committed work was not redone (B did less than everything), yet nothing is missing from the map
    assert a_done >= 100 and final["counts"]["processor.pairs"] < total
    map_final = json.loads(logs["map"].read_text().split("processor map: stopped ", 1)[1].splitlines()[0])
    assert map_final["counts"]["map.applied"] == total

    # the detections topic: keyed by flow edge, never a raw value
    msgs = read_topic(bootstrap, det_t)
    assert len({json.loads(x.value)["pair_id"] for x in msgs}) == total
    for x in msgs[:300]:
        rec = json.loads(x.value)
        assert x.key.decode() == rec["edge"]
        assert b"@example.com" not in x.value and b"4111111111111111" not in x.value and b"4155552671" not in x.value


def test_replayed_capture_through_interceptor_to_map(kafka_broker_control, tmp_path: Path) -> None:
    """A pcap replayed by ``interceptor replay --kafka`` ends up on the map with the right types."""
    from tests.interceptor.packetgen import Conn, http_request, http_response, write_pcap

    broker = kafka_broker_control
    tag = uuid.uuid4().hex[:8]
    pairs_t, det_t, group = f"pairs-{tag}", f"detections-{tag}", f"proc-{tag}"
    broker.create_topic(pairs_t, PARTITIONS)
    broker.create_topic(det_t, PARTITIONS)
    records = []
    for i in range(20):
        conn = Conn(client=("10.2.0.1", 41000 + i), server=("10.2.0.2", 8080), ts=1_700_000_000.0 + i)
        conn.handshake()
        body = json.dumps({"user": {"email": f"u{i}@example.org", "iban": "DE89370400440532013000"}, "sku": "SKU-1"}).encode()
        conn.request(http_request("POST", f"/api/users/{1000 + i}/payout", body))
        conn.response(http_response(200, json.dumps({"id": i, "ssn": "536-22-1234"}).encode()))
        conn.close()
        records.extend(conn.frames)
    records.sort(key=lambda r: r[0])
    pcap = tmp_path / "shop.pcap"
    write_pcap(str(pcap), records)
    rep = subprocess.run([sys.executable, "-c", "import sys; from interceptor.cli import main; sys.exit(main())", "replay", str(pcap),
                          "--kafka", broker.bootstrap, "--topic", pairs_t, "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0, rep.stderr
    env = _env(broker.bootstrap, pairs_t, det_t, group, batch=50)
    log, mlog = tmp_path / "p.log", tmp_path / "m.log"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        mport = sock.getsockname()[1]
    p = _start(["consume", "--stats-interval", "0", "--metrics-listen", f"127.0.0.1:{mport}"], env, log)
    m = _start(["map", "--db", f"sqlite:///{tmp_path}/map.db", "--listen", "127.0.0.1:0", "--port-file", str(tmp_path / "port")], env, mlog)
    try:
        port = _wait_port(tmp_path / "port", m, mlog)
        _wait_map(port, 20, timeout=90)
        edges = requests.get(f"http://127.0.0.1:{port}/api/edges", headers=AUTH, timeout=5).json()
        metrics = requests.get(f"http://127.0.0.1:{mport}/metrics", timeout=5).text
    finally:
        _stop(p)
        _stop(m)
    assert "privacy_processor_pairs_total 20\n" in metrics and "privacy_processor_pairs_with_detections_total 20\n" in metrics
    assert len(edges) == 1, edges
    e = edges[0]
    assert (e["src"], e["method"], e["path"], e["count"]) == ("ip:10.2.0.1", "POST", "/api/users/{id}/payout", 20)
    assert e["dst"] == "svc:svc"  # Host: svc and no pod metadata in a replay: named by the service
    assert [t["type"] for t in e["types"]] == ["email", "iban", "ssn"]
    assert {(f["type"], f["part"], f["path"]) for f in e["fields"]} == {("email", "request", "user.email"), ("iban", "request", "user.iban"),
                                                                        ("ssn", "response", "ssn")}
    assert e["sensitivity"] == "high"
