"""Live-stream figures: KFL evaluation speed per query, and (``--fanout``) the hub's fan-out.

    python bench/stream.py                  # records/s per query on one core
    python bench/stream.py --fanout 20      # + a real hub, a real Kafka broker, 20 websocket clients

The records are the pairs of ``examples/sample.pcap`` (replayed through the real pipeline), varied in
status, node and namespace so that filters both pass and fail. The machine's other load (2 shared
cores) shows in the numbers: run it on an idle machine for figures to compare.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interceptor.kfl import compile_query  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUERIES = [
    "response.status > 300",
    'response.status > 300 and node.name == "ip-10-0-41-65.ec2.internal"',
    'http and request.method == "POST" and src.namespace == "shop"',
    'request.path.startsWith("/api/") and response.status == r"^2"',
    'request.headers["content-type"] == "application/json" and dst.port == 8080',
    'types.contains("email") and sensitivity == "high"',
    'response.body.json().email == r"@example\\.com$"',
]


def sample_records(n: int) -> list[dict[str, Any]]:
    """Pairs of the bundled capture, through the real pipeline, varied and repeated to ``n``."""
    import subprocess
    import tempfile

    import orjson

    with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
        subprocess.run([sys.executable, "-m", "interceptor.cli", "replay", str(ROOT / "examples" / "sample.pcap"),
                        "--keep-all", "--out", f.name], cwd=ROOT, check=True, capture_output=True)
        pairs = [orjson.loads(line) for line in Path(f.name).read_bytes().splitlines() if line]
    out = []
    for i in range(n):
        rec = copy.deepcopy(pairs[i % len(pairs)])
        rec["response"]["status"] = (200, 201, 404, 500)[i % 4]
        rec["source"] = {"kind": "pcap-veth", "node": ("ip-10-0-41-65.ec2.internal", "other")[i % 2]}
        rec["src"]["namespace"] = ("shop", "billing", "web")[i % 3]
        rec["types"] = [["email"], ["email", "card_number"], []][i % 3]
        rec["sensitivity"] = ["medium", "high", "none"][i % 3]
        out.append(rec)
    return out


def bench_eval(records: list[dict[str, Any]], rounds: int) -> None:
    print(f"KFL evaluation, {len(records)} records x {rounds} rounds, one core (machine: 2 shared cores)")
    for q in QUERIES:
        match = compile_query(q).match
        best = 0.0
        hits = 0
        for _ in range(rounds):
            t0 = time.perf_counter()
            hits = sum(1 for r in records if match(r))
            dt = time.perf_counter() - t0
            best = max(best, len(records) / dt)
        print(f"  {best / 1000:8.0f}k records/s  {hits * 100 // len(records):3d}% match  {q}")


IDLE_S = 15.0  # a client stops after this long without a record
FANOUT_QUERIES = ["", "response.status > 300", 'src.namespace == "shop"', 'types.contains("email")',
                  'request.method == "POST" and response.status < 300']


def bench_fanout(records: list[dict[str, Any]], clients: int, n: int, bootstrap: str | None) -> None:
    """A real hub (subprocess) on a real broker; ``clients`` websocket clients; ``n`` pairs and their
    detections produced as fast as the producer goes. Prints delivered records/s, latency, losses."""
    import asyncio
    import json
    import os
    import shutil
    import subprocess
    import tempfile

    import orjson
    import psutil
    from confluent_kafka import Producer
    from websockets.asyncio.client import connect

    from bench.publish import start_broker
    from processor.core import Processor
    from processor.kafkaio import ensure_topic

    tmp = tempfile.mkdtemp(prefix="bench-stream-")
    env = None
    if not bootstrap:
        bootstrap, env = start_broker(tmp)
    hub = None
    try:
        for t in ("bench-pairs", "bench-detections"):
            ensure_topic(bootstrap, t, 4)
        token = "bench-token"
        henv = {**os.environ, "SENSOR__PROCESSOR__BOOTSTRAP_SERVERS": bootstrap,
                "SENSOR__PROCESSOR__PAIRS_TOPIC": "bench-pairs", "SENSOR__PROCESSOR__DETECTIONS_TOPIC": "bench-detections",
                "SENSOR__AUTH__TOKEN": token, "SENSOR__STREAM__MAX_CLIENTS": str(clients + 5),
                "SENSOR__STREAM__CLIENT_QUEUE": "5000", "PYTHONPATH": str(ROOT)}
        port_file = Path(tmp) / "port"
        hub = subprocess.Popen([sys.executable, "-m", "processor.cli", "hub", "--listen", "127.0.0.1:0",
                                "--port-file", str(port_file)], env=henv, cwd=ROOT, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert hub.poll() is None and time.monotonic() < deadline, "hub did not start"
            time.sleep(0.1)
        url = f"ws://127.0.0.1:{int(port_file.read_text())}/api/wsFull"
        proc = Processor()
        pairs, dets = [], []
        for i in range(n):
            rec = json.loads(json.dumps(records[i % len(records)]))
            rec["id"] = f"bench-{i}"
            rec.pop("types", None)
            rec.pop("sensitivity", None)
            pairs.append(rec)
            d = proc.detect(rec).record
            dets.append(orjson.dumps(d))

        async def client(q: str, counts: dict[str, Any]) -> None:
            async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_queue=None) as ws:
                await ws.send(q)
                counts["ready"] += 1
                while True:
                    try:
                        msg = await asyncio.wait_for(ws.recv(), IDLE_S)
                    except TimeoutError:
                        return
                    doc = orjson.loads(msg)
                    if doc.get("notice") == "lost":
                        counts["lost"] += doc["lost"]
                    elif "request" in doc:
                        counts["n"] += 1
                        counts["last"] = time.time()
                        counts["lat"].append(counts["last"] - counts["sent"][doc["id"]])

        async def run() -> tuple[float, list[dict[str, Any]]]:
            sent: dict[str, float] = {}
            stats = [{"n": 0, "lost": 0, "lat": [], "ready": 0, "sent": sent, "last": 0.0} for _ in range(clients)]
            tasks = [asyncio.create_task(client(FANOUT_QUERIES[i % len(FANOUT_QUERIES)], stats[i]))
                     for i in range(clients)]
            while sum(s["ready"] for s in stats) < clients:
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            def produce() -> None:  # in a thread: the clients' loop keeps reading meanwhile
                producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
                for rec, det in zip(pairs, dets, strict=True):
                    sent[rec["id"]] = time.time()
                    producer.produce("bench-pairs", orjson.dumps(rec))
                    producer.produce("bench-detections", det)
                    producer.poll(0)
                producer.flush(30)

            cpu0 = psutil.Process(hub.pid).cpu_times()
            t0 = time.time()
            await asyncio.to_thread(produce)
            await asyncio.gather(*tasks)
            cpu1 = psutil.Process(hub.pid).cpu_times()
            wall = max(s["last"] for s in stats) - t0  # first produce to last record received
            print(f"  hub CPU {cpu1.user + cpu1.system - cpu0.user - cpu0.system:.1f} s for {n} pairs "
                  f"({wall:.1f} s wall)")
            return wall, stats

        wall, stats = asyncio.run(run())
        import urllib.request

        with urllib.request.urlopen(url.replace("ws://", "http://").replace("/api/wsFull", "/metrics")) as r:
            hub_counts = [ln for ln in r.read().decode().splitlines()
                          if ln.startswith(("privacy_stream", "privacy_hub", "privacy_dropped"))]
        print("  hub counters: " + "; ".join(hub_counts))
        total = sum(s["n"] for s in stats)
        per_query: dict[str, list[int]] = {}
        for i, s in enumerate(stats):
            per_query.setdefault(FANOUT_QUERIES[i % len(FANOUT_QUERIES)], []).append(s["n"])
        for q, ns in per_query.items():
            print(f"  {q or '(all)'}: {ns}")
        lat = sorted(x for s in stats for x in s["lat"])
        lost = sum(s["lost"] for s in stats)
        print(f"hub fan-out: {clients} clients, {n} pairs (+ detections) produced as fast as possible "
              f"(machine: 2 shared cores, broker, hub and clients on it)")
        print(f"  {total} records delivered ({total / max(wall, 0.001):,.0f}/s over all clients), {lost} lost "
              f"(counted and announced)")
        if lat:
            print(f"  latency produce -> client: median {lat[len(lat) // 2] * 1000:.0f} ms, "
                  f"p99 {lat[int(len(lat) * 0.99)] * 1000:.0f} ms")
    finally:
        if hub is not None:
            hub.terminate()
            hub.wait(10)
        if env is not None:
            subprocess.run(["bash", str(ROOT / "scripts/kafka.sh"), "stop"], env=env, check=False,
                           stdout=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--fanout", type=int, default=0, help="clients for the hub fan-out figure (0: skip)")
    ap.add_argument("--fanout-records", type=int, default=5000, help="pairs produced for the fan-out figure")
    ap.add_argument("--bootstrap", help="a running broker (default: start one with scripts/kafka.sh)")
    args = ap.parse_args()
    records = sample_records(args.records)
    bench_eval(records, args.rounds)
    if args.fanout:
        bench_fanout(records, args.fanout, args.fanout_records, args.bootstrap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
