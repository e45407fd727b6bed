"""Throughput of one processor instance on ~1 KB JSON pairs.

    python bench/processor.py                       # the detection core alone (parse, detect, serialise)
    python bench/processor.py --kafka HOST:PORT     # also one real consumer instance: topic -> detections -> commit

Pairs are realistic shop/API traffic (request and response bodies ~1 KB together, a mix with and
without personal data). One instance is one process on one core: scale by adding instances to the
consumer group (one per partition at most).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interceptor.config import ProcessorConfig  # noqa: E402
from interceptor.counters import Counters  # noqa: E402
from interceptor.pairs import Endpoint, Pair, Request, Response  # noqa: E402
from processor.core import Processor  # noqa: E402


def make_pairs(n: int, seed: int = 7) -> list[bytes]:
    r = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            req = {"customer": {"first_name": "Jane", "last_name": "Doe", "email": f"jane{i}@example.com", "phone": "+14155552671",
                                "address": {"street": "1600 Amphitheatre Pkwy", "city": "Mountain View", "zip": "94043"}},
                   "items": [{"sku": f"SKU-{r.randint(1000, 9999)}", "name": "Wireless Mouse", "qty": 1, "price": 19.99} for _ in range(9)],
                   "note": "leave at the door", "coupon": None}
            resp = {"order_id": str(r.randint(10**9, 10**10)), "status": "created", "eta": "2026-12-01"}
        elif kind == 1:
            req = {"card": {"number": "4111111111111111", "exp": "12/28", "cvv": "123", "name": "Jane Doe"}, "amount": 1999, "currency": "EUR",
                   "metadata": {"order_id": str(i), "channel": "web", "campaign": "winter-sale", "ab": "B"}}
            resp = {"id": f"ch_{uuid.UUID(int=r.getrandbits(128)).hex}", "status": "succeeded", "card": {"last4": "1111", "brand": "visa", "funding": "credit", "country": "US"}, "outcome": {"network_status": "approved_by_network", "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized"}, "receipt_url": "https://pay.example.com/receipts/acct_1/ch_1"}
        elif kind == 2:
            req = {}
            resp = {"products": [{"id": r.randint(1, 10**6), "name": "Oak Dining Table", "price": 499.0, "category": "home",
                                  "rating": 4.5, "stock": 12} for _ in range(9)], "page": 1, "next": "c3RhcnQ9MTI="}
        else:
            req = {"events": [{"type": "click", "ts": 1700000000 + j, "path": "/cart", "ip": "203.0.113.7", "session_id": uuid.uuid4().hex}
                              for j in range(8)], "sdk": "js-3.2.1"}
            resp = {"accepted": 4}
        rb, sb = json.dumps(req).encode(), json.dumps(resp).encode()
        pair = Pair(
            Request("HTTP/1.1", [("Host", "orders.shop.svc.cluster.local"), ("Content-Type", "application/json"),
                                 ("User-Agent", "python-requests/2.31"), ("Authorization", "Bearer abc.def.ghi")],
                    rb, len(rb), False, 1.7e9 + i, method="POST" if req else "GET", target=f"/api/v1/orders/{r.randint(1, 10**6)}"),
            Response("HTTP/1.1", [("Content-Type", "application/json")], sb, len(sb), False, 1.7e9 + i + 0.01, status=200),
            Endpoint("10.0.0.1", 40000 + i % 1000, {"namespace": "shop", "workload": "frontend", "pod": "frontend-1"}),
            Endpoint("10.0.0.2", 8080, {"namespace": "shop", "workload": "orders", "pod": "orders-1"}),
            {"kind": "pcap-veth", "interface": "veth1"},
        )
        out.append(pair.to_json())
    return out


def bench_core(raws: list[bytes], seconds: float) -> float:
    proc = Processor()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for raw in raws:
            proc.handle(raw)
        n += len(raws)
    return n / (time.perf_counter() - t0)


def bench_map(raws: list[bytes], db: str) -> float:
    """The map service's side: detections records applied to SQLite in batches of 500."""
    from processor.mapstore import MapStore
    from processor.service import MapService

    proc = Processor()
    recs = [proc.handle(r).record for r in raws]
    store = MapStore(db)
    svc = MapService(store, Counters())
    t0 = time.perf_counter()
    for i in range(0, len(recs), 500):
        svc.apply_records(recs[i:i + 500])
    rate = len(recs) / (time.perf_counter() - t0)
    store.close()
    return rate


def bench_kafka(bootstrap: str, raws: list[bytes], total: int) -> float:
    from confluent_kafka import Producer

    from processor.kafkaio import BatchLoop, consumer_config, ensure_topic
    from processor.service import DetectService

    tag = uuid.uuid4().hex[:8]
    from interceptor.config import KafkaConfig

    kafka = KafkaConfig(bootstrap_servers=bootstrap)
    cfg = ProcessorConfig(pairs_topic=f"bench-pairs-{tag}", detections_topic=f"bench-det-{tag}", group_id=f"bench-{tag}")
    ensure_topic(bootstrap, cfg.pairs_topic, 4)
    ensure_topic(bootstrap, cfg.detections_topic, 4)
    prod = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "zstd"})
    for i in range(total):
        while True:
            try:
                prod.produce(cfg.pairs_topic, raws[i % len(raws)])
                break
            except BufferError:
                prod.poll(0.1)
    prod.flush(60)
    counters = Counters()
    service = DetectService(cfg, counters, kafka=kafka)
    first: list[float] = []

    def timed(batch: list) -> None:  # the clock starts at the first batch: group join time is not throughput
        if not first:
            first.append(time.perf_counter())
        service(batch)

    loop = BatchLoop(consumer_config(kafka, cfg.group_id, cfg.session_timeout_ms), [cfg.pairs_topic], timed, counters, cfg.batch_size,
                     log=lambda line: None)
    loop.run(idle_exit_s=5.0, max_messages=total)
    elapsed = time.perf_counter() - first[0]
    return counters.get("processor.pairs") / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--kafka", metavar="BOOTSTRAP")
    ap.add_argument("--messages", type=int, default=20000)
    args = ap.parse_args()
    raws = make_pairs(400)
    sizes = [len(json.loads(r)["request"]["body"]) + len(json.loads(r)["response"]["body"]) for r in raws]
    print(f"pairs: {len(raws)} distinct, bodies {sum(sizes) / len(sizes):.0f} B on average (request + response), "
          f"records {sum(map(len, raws)) / len(raws):.0f} B")
    rate = bench_core(raws, args.seconds)
    print(f"core (parse + detect + serialise), one process: {rate:,.0f} pairs/s")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"map service, SQLite file: {bench_map(make_pairs(5000, seed=11), f'sqlite:///{tmp}/map.db'):,.0f} detections records/s")
    if args.kafka:
        krate = bench_kafka(args.kafka, raws, args.messages)
        print(f"one Kafka consumer instance (consume -> detect -> produce -> flush -> commit): {krate:,.0f} pairs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
