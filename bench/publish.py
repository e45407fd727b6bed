"""bench/publish: pairs/s from one process to the local Kafka broker through KafkaSink, and bytes per pair.

    python3 bench/publish.py                          # starts its own broker (scripts/kafka.sh), zstd and lz4
    python3 bench/publish.py --bootstrap 127.0.0.1:9092 --compression zstd --count 500000

Pairs are ~1 KB JSON records (a POST with a personal-data body and a small JSON answer), built in
advance (10k distinct ones, cycled) so the figure is the sink's: ``Pair.to_json`` (orjson), key and
headers, ``produce``, delivery reports, until ``close`` has flushed every pair. Bytes on the wire
come from librdkafka's statistics (tx bytes to the broker, all requests included). Target (issue 3):
50k pairs/s of 1 KB pairs with compression on.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from interceptor.config import KafkaConfig  # noqa: E402
from interceptor.counters import Counters  # noqa: E402
from interceptor.pairs import Endpoint, Pair, Request, Response  # noqa: E402
from interceptor.sinks.kafka import KafkaSink  # noqa: E402

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()


def make_pair(rng: random.Random, i: int) -> Pair:
    """A ~1 KB record: varied names, emails, addresses, so compression sees realistic text."""
    body = orjson.dumps({
        "customer": {
            "id": rng.randrange(10**9), "name": f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()}",
            "email": f"{rng.choice(WORDS)}.{rng.randrange(10**5)}@example.com",
            "phone": f"+44 20 {rng.randrange(10**4):04d} {rng.randrange(10**4):04d}",
            "address": {"street": f"{rng.randrange(1, 300)} {rng.choice(WORDS).title()} Road",
                        "city": rng.choice(WORDS).title(), "zip": f"{rng.randrange(10**5):05d}"},
        },
        "items": [{"sku": f"SKU-{rng.randrange(10**6)}", "qty": rng.randrange(1, 5),
                   "price": round(rng.uniform(1, 500), 2)} for _ in range(3)],
        "note": " ".join(rng.choice(WORDS) for _ in range(25)),
    })
    now = time.time()
    req = Request(version="HTTP/1.1", headers=[("host", "orders.shop.svc"), ("content-type", "application/json"),
                                               ("user-agent", "shop-frontend/1.4")],
                  body=body, body_size=len(body), truncated=False, ts=now, method="POST",
                  target=f"/api/v2/orders/{i % 50}")
    answer = b'{"status":"accepted","order":%d}' % rng.randrange(10**9)
    resp = Response(version="HTTP/1.1", headers=[("content-type", "application/json")], body=answer,
                    body_size=len(answer), truncated=False, ts=now + 0.002, status=201, reason="Created")
    return Pair(request=req, response=resp, src=Endpoint(f"10.0.{i % 4}.{i % 200 + 2}", 30000 + i % 20000),
                dst=Endpoint(f"10.1.0.{i % 20 + 2}", 8080), source={"kind": "pcap-veth"})


def run(bootstrap: str, compression: str, pairs: list[Pair], count: int) -> dict[str, float]:
    topic = f"bench-{compression}-{uuid.uuid4().hex[:6]}"
    counters = Counters()
    sink = KafkaSink(KafkaConfig(bootstrap_servers=bootstrap, topic=topic, compression=compression,  # type: ignore[arg-type]
                                 heartbeat_topic="", partitions=10), counters, node="bench")
    n = len(pairs)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for i in range(count):
        sink.publish(pairs[i % n])
        if i & 4095 == 0:
            sink.poll()
    t_enqueued = time.perf_counter()
    sink._producer.flush(120)
    t_done = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)  # all threads: ours and librdkafka's
    deadline = time.monotonic() + 1.5  # one more statistics report, for the final tx bytes
    while time.monotonic() < deadline:
        sink.poll()
        time.sleep(0.05)
    tx = sum(b.get("txbytes", 0) for b in sink.stats.get("brokers", {}).values())
    report = sink.close(30)
    assert report["balanced"] and report["delivered"] == count, report
    json_bytes = sum(len(p.to_json()) for p in pairs[:1000]) / min(n, 1000)
    return {"pairs_per_s": count / (t_done - t0), "enqueue_per_s": count / (t_enqueued - t0),
            "json_bytes": json_bytes, "wire_bytes": tx / count, "seconds": t_done - t0,
            "cpu_us": cpu / count * 1e6}


def start_broker(data_dir: str) -> tuple[str, dict[str, str]]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(port + 1), "KAFKA_DATA_DIR": data_dir,
           # the bench measures the sink, so the broker gets the full JIT (the tests' broker starts faster with C1)
           "KAFKA_JVM_OPTS": "-Xms256m -Xmx1g -XX:+UseSerialGC"}
    subprocess.run(["bash", str(ROOT / "scripts/kafka.sh"), "start"], env=env, check=True)
    return f"127.0.0.1:{port}", env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", help="a running broker (default: start one with scripts/kafka.sh)")
    ap.add_argument("--compression", action="append", choices=["zstd", "lz4", "gzip", "snappy", "none"])
    ap.add_argument("--count", type=int, default=300_000)
    ap.add_argument("--distinct", type=int, default=10_000)
    args = ap.parse_args()
    rng = random.Random(7)
    pairs = [make_pair(rng, i) for i in range(args.distinct)]
    env = None
    tmp = tempfile.mkdtemp(prefix="bench-kafka-")
    bootstrap = args.bootstrap
    if not bootstrap:
        bootstrap, env = start_broker(tmp)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the broker runs on the same machine)")
    try:
        run(bootstrap, "lz4", pairs[:1000], 20_000)  # warm-up: connections, JIT, topic metadata
        for comp in args.compression or ["zstd", "lz4"]:
            r = run(bootstrap, comp, pairs, args.count)
            print(f"{comp:6} {r['pairs_per_s']:9,.0f} pairs/s delivered ({r['enqueue_per_s']:,.0f}/s enqueued), "
                  f"{args.count:,} pairs in {r['seconds']:.1f}s; {r['json_bytes']:.0f} B JSON/pair, "
                  f"{r['wire_bytes']:.0f} B on the wire/pair ({r['json_bytes'] / max(r['wire_bytes'], 1):.1f}x); "
                  f"{r['cpu_us']:.1f} us CPU/pair in this process = {1e6 / r['cpu_us']:,.0f} pairs/s per core")
    finally:
        if env is not None:
            subprocess.run(["bash", str(ROOT / "scripts/kafka.sh"), "stop"], env=env, check=False,
                           stdout=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
