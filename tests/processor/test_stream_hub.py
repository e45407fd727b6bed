"""The hub's live stream, end to end on the real broker: pairs produced to Kafka, the real processor
(``processor consume``) adding detections, the real hub (``processor hub``) joining both, and real
clients — Python ``websockets``, npm's ``wscat`` exactly as Kubeshark's docs use it, ``processor tail``
and a client that stops reading. Filters hold, detected personal data is masked unless the raw token
is shown, records arrive within a second (p99, measured), a stuck client is told what it lost while
the others keep up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from websockets.exceptions import ConnectionClosed

from processor.kafkaio import ensure_topic
from processor.mask import mask
from tests.processor.helpers import make_pair
from tests.processor.test_kafka_e2e import _start, _stop, _wait_port
from tests.stream_clients import Collector, StuckClient, open_stream

pytestmark = [pytest.mark.slow, pytest.mark.kafka]
ROOT = Path(__file__).resolve().parents[2]
TOKEN, RAW = "hub-test-token", "hub-test-raw"
WSCAT = shutil.which("wscat") or "/var/cache/privacy-sensor/stream/npm/node_modules/.bin/wscat"
SHOP = {"ip": "10.1.0.1", "port": 40000, "namespace": "shop", "workload": "frontend", "pod": "frontend-1"}
ORDERS = {"ip": "10.1.0.2", "port": 8080, "namespace": "shop", "workload": "orders", "pod": "orders-1"}
OTHER = {"ip": "10.2.0.1", "port": 40000, "namespace": "billing", "workload": "batch", "pod": "batch-1"}


def _wscat(url: str, query: str, token: str | None = TOKEN, wait_s: int = 3) -> subprocess.Popen:
    """``wscat --connect URL -x QUERY -w S`` as Kubeshark's docs run it. Its stdin stays open (wscat
    quits when its input closes) until the process has ended by itself after ``wait_s``."""
    auth = ["-H", f"Authorization: Bearer {token}"] if token else []
    return subprocess.Popen([WSCAT, "--connect", url, *auth, "-x", query, "-w", str(wait_s)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 30, records: int = 0) -> tuple[int, str, str]:
    """wscat's exit status and output. With ``records``, once that many records came (and half a
    second more, for any record too many), its input is closed: wscat then closes its websocket and
    exits 0 as its own ``-w`` timer would have it do, without waiting out the rest of the timer."""
    if not records:
        rc = proc.wait(timeout)
        out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
        return rc, out, err
    lines: list[str] = []
    enough = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if sum(ln.startswith("{") for ln in lines) >= records:
                enough.set()
        enough.set()  # wscat ended by itself

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    enough.wait(timeout)
    time.sleep(0.5)
    proc.stdin.close()  # type: ignore[union-attr]
    rc = proc.wait(timeout)
    reader.join(timeout)
    return rc, "".join(lines), proc.stderr.read()  # type: ignore[union-attr]


def _wait_clients(port: int, n: int, timeout_s: float = 30.0, scheme: str = "http") -> None:
    """Until the hub counts ``n`` subscribed clients (its /metrics gauge): processes start slowly here."""
    import ssl
    import urllib.request

    ctx = ssl._create_unverified_context() if scheme == "https" else None  # the test's own self-signed hub
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/metrics", timeout=5, context=ctx) as r:
            gauge = [ln.split()[1] for ln in r.read().decode().splitlines() if ln.startswith("privacy_stream_clients ")]
            if gauge and float(gauge[0]) == n:
                return
        time.sleep(0.1)
    raise AssertionError(f"{n} stream clients did not subscribe in {timeout_s}s")


def _produce(producer: Producer, topic: str, tag: str, n: int, email_every: int = 1, rate: float = 0.0) -> None:
    """``n`` pairs (ids ``tag-i``), at ``rate`` per second if given (live traffic, not a burst)."""
    t0 = time.monotonic()
    for i in range(n):
        if rate:
            time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        src = SHOP if i % 2 == 0 else OTHER
        body = {"customer": {"email": f"{tag}{i}@example.com", "note": "hello"}} if i % email_every == 0 else {"n": i}
        p = make_pair(body, target=f"/orders/{tag}/{i}", src=src, dst=ORDERS, pair_id=f"{tag}-{i}")
        producer.produce(topic, orjson.dumps(p.to_record()))
        producer.poll(0)
    producer.flush(10)


def test_hub_streams_joined_masked_records_to_real_clients(kafka_broker: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    pairs_t, dets_t = f"pairs-{run}", f"detections-{run}"
    for t in (pairs_t, dets_t):
        ensure_topic(kafka_broker, t, 3)
    env = {**os.environ, "SENSOR__KAFKA__BOOTSTRAP_SERVERS": kafka_broker, "SENSOR__PROCESSOR__PAIRS_TOPIC": pairs_t,
           "SENSOR__PROCESSOR__DETECTIONS_TOPIC": dets_t, "SENSOR__PROCESSOR__GROUP_ID": f"g-{run}",
           "SENSOR__PROCESSOR__BATCH_SIZE": "50", "SENSOR__AUTH__TOKEN": TOKEN, "SENSOR__AUTH__RAW_TOKEN": RAW,
           "SENSOR__STREAM__CLIENT_QUEUE": "100", "SENSOR__CAPTURES__HUB_LISTEN": "", "PYTHONUNBUFFERED": "1"}
    consume = _start(["consume", "--stats-interval", "0"], env, tmp_path / "consume.log")
    port_file = tmp_path / "hub.port"
    hub = _start(["hub", "--listen", "127.0.0.1:0", "--port-file", str(port_file)], env, tmp_path / "hub.log")
    producer = Producer({"bootstrap.servers": kafka_broker, "linger.ms": 5})
    try:
        port = _wait_port(port_file, hub, tmp_path / "hub.log")
        url = f"ws://127.0.0.1:{port}/api/wsFull"
        _produce(producer, pairs_t, "warm", 6)  # the processor's group is assigned and working
        time.sleep(4)

        query = 'src.namespace == "shop" and types.contains("email")'
        masked = open_stream(url, TOKEN, query)
        raw = open_stream(url, RAW, 'request.path.startsWith("/orders/a/") and limit(3)')
        wscat = _wscat(url, 'response.status == 200 and dst.name == "orders-1"', TOKEN, 10)
        tail = subprocess.Popen([sys.executable, "-m", "processor.cli", "tail", "--hub", f"127.0.0.1:{port}",
                                 "--token", TOKEN, "--compact", "-n", "4", "--timeout", "20",
                                 'request.path.startsWith("/orders/a/")'],
                                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_clients(port, 4)
        got_c, raw_c = Collector(masked, 10, 20), Collector(raw, 4, 20)
        _produce(producer, pairs_t, "a", 20)
        got, got_raw = got_c.result(), raw_c.result()
        wscat_rc, wscat_out, wscat_err = _finish(wscat, records=20)
        tail_out, tail_err = tail.communicate(timeout=30)

        assert [f["request"]["target"] for _, f in got] == [f"/orders/a/{i}" for i in range(0, 20, 2)]
        for _, f in got:
            assert f["masked"] == "detected" and "email" in f["types"] and f["src"]["namespace"] == "shop"
            assert "example.com" not in json.dumps(f)
            i = f["request"]["target"].rsplit("/", 1)[1]
            assert json.loads(f["request"]["body"])["customer"] == {"email": mask(f"a{i}@example.com"), "note": "hello"}
        assert [f["request"]["target"] for _, f in got_raw[:3]] == ["/orders/a/0", "/orders/a/1", "/orders/a/2"]
        assert got_raw[3][1] == {"notice": "limit", "sent": 3}
        assert json.loads(got_raw[0][1]["request"]["body"])["customer"]["email"] == "a0@example.com"
        lat = sorted(t - f["ts_response"] for t, f in got)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"\nhub latency (produce -> processor -> join -> client): median {lat[len(lat) // 2] * 1000:.0f} ms, "
              f"p99 {p99 * 1000:.0f} ms (2 shared cores)")
        assert p99 < 1.0

        wscat_records = [json.loads(line) for line in wscat_out.splitlines() if line.startswith("{")]
        assert wscat_rc == 0, wscat_err
        assert {r["request"]["target"] for r in wscat_records} == {f"/orders/a/{i}" for i in range(20)}
        assert all("example.com" not in json.dumps(r) for r in wscat_records)
        lines = tail_out.splitlines()
        assert tail.returncode == 0, tail_err
        assert len(lines) == 4 and all(" shop/frontend -> shop/orders POST /orders/a/" in ln or
                                       " billing/batch -> shop/orders POST /orders/a/" in ln for ln in lines), lines
        masked.close()
        raw.close()

        # An invalid query: one error frame, then a policy close (1008), via wscat as a user would see it.
        _, bad_out, _ = _finish(_wscat(url, "response.status > 300 and"))
        assert json.loads(bad_out.splitlines()[0]) == {
            "error": "expected a value, a field name, '(' or 'not', got end of query", "position": 25,
            "query": "response.status > 300 and"}
        bad_ws = open_stream(url, TOKEN, "response.status > 300 and")
        assert "error" in json.loads(bad_ws.recv(timeout=5))
        with pytest.raises(ConnectionClosed):
            bad_ws.recv(timeout=5)
        assert bad_ws.close_code == 1008
        _, denied_out, denied_err = _finish(_wscat(url, "true", token=None, wait_s=1))
        assert "401" in denied_out + denied_err

        # A stuck client beside a healthy one: the healthy one keeps up, the stuck one is told its loss.
        stuck = StuckClient(url, TOKEN, 'request.path.startsWith("/orders/s/")')
        fast = open_stream(url, TOKEN, 'request.path.startsWith("/orders/s/")')
        _wait_clients(port, 2)
        n = 400
        fast_c = Collector(fast, n, 40)
        _produce(producer, pairs_t, "s", n, email_every=4, rate=150)
        fast_got = fast_c.result()
        fast.close()
        assert len(fast_got) == n
        lat = sorted(t - f["ts_response"] for t, f in fast_got)
        p99 = lat[int(len(lat) * 0.99)]
        print(f"hub latency with a stuck client beside: median {lat[len(lat) // 2] * 1000:.0f} ms, "
              f"p99 {p99 * 1000:.0f} ms ({n} records, 2 shared cores)")
        assert p99 < 1.0
        frames = stuck.drain()
        stuck.close()
        records = [f for f in frames if "request" in f]
        lost = sum(f["lost"] for f in frames if f.get("notice") == "lost")
        assert lost > 0 and len(records) + lost == n
    finally:
        producer.flush(5)
        _stop(hub)
        _stop(consume)
    log = (tmp_path / "hub.log").read_text()
    assert "Traceback" not in log, log
    assert f"query {query!r}" in log and "example.com" not in log and TOKEN not in log and RAW not in log


def test_hub_over_tls_with_tail(kafka_broker: str, tmp_path: Path) -> None:
    """``stream.tls_cert_file``: the hub speaks wss://; ``processor tail --cafile`` checks the server."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert), "-days", "1"],
                   check=True, capture_output=True)
    run = uuid.uuid4().hex[:8]
    pairs_t, dets_t = f"pairs-{run}", f"detections-{run}"
    env = {**os.environ, "SENSOR__KAFKA__BOOTSTRAP_SERVERS": kafka_broker, "SENSOR__PROCESSOR__PAIRS_TOPIC": pairs_t,
           "SENSOR__PROCESSOR__DETECTIONS_TOPIC": dets_t, "SENSOR__AUTH__TOKEN": TOKEN,
           "SENSOR__STREAM__TLS_CERT_FILE": str(cert), "SENSOR__STREAM__TLS_KEY_FILE": str(key),
           "SENSOR__STREAM__JOIN_WAIT_S": "0.2", "SENSOR__CAPTURES__HUB_LISTEN": "", "PYTHONUNBUFFERED": "1"}
    port_file = tmp_path / "hub.port"
    hub = _start(["hub", "--listen", "127.0.0.1:0", "--port-file", str(port_file)], env, tmp_path / "hub.log")
    producer = Producer({"bootstrap.servers": kafka_broker, "linger.ms": 5})
    try:
        port = _wait_port(port_file, hub, tmp_path / "hub.log")
        for t in (pairs_t, dets_t):  # the hub started first: it waits for the topics, then follows them
            ensure_topic(kafka_broker, t, 1)
        deadline = time.monotonic() + 30
        while "following" not in (tmp_path / "hub.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "hub.log").read_text()
            time.sleep(0.2)
        assert "waiting for the topics" in (tmp_path / "hub.log").read_text()
        tail = subprocess.Popen([sys.executable, "-m", "processor.cli", "tail", "--hub", f"wss://127.0.0.1:{port}",
                                 "--cafile", str(cert), "--token", TOKEN, "-n", "2", "--timeout", "30",
                                 'request.path.startsWith("/orders/t/")'],
                                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_clients(port, 1, scheme="https")
        _produce(producer, pairs_t, "t", 3)  # no processor here: joins time out, records go fully masked
        out, err = tail.communicate(timeout=60)
        assert tail.returncode == 0, err
        recs = [json.loads(line) for line in out.splitlines()]
        assert [r["request"]["target"] for r in recs] == ["/orders/t/0", "/orders/t/1"]
        assert all(r["masked"] == "all" and "types" not in r for r in recs)
        plain = subprocess.run([sys.executable, "-m", "processor.cli", "tail", "--hub", f"ws://127.0.0.1:{port}",
                                "--token", TOKEN, "-n", "1", "--timeout", "5"], env=env, cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
        assert plain.returncode == 1 and "processor tail: ws://127.0.0.1" in plain.stderr
    finally:
        producer.flush(5)
        _stop(hub)
