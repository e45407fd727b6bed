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
    print(f"KFL evaluation, {len(records)} records x {rounds} rounds, records per CPU-second of one core "
          f"(machine: 2 shared cores, load average {__import__('os').getloadavg()[0]:.1f})")
    for q in QUERIES:
        match = compile_query(q).match
        best = 0.0
        hits = 0
        for _ in range(rounds):
            t0 = time.process_time()  # CPU time: the cost per record on a core, not how busy the machine is
            hits = sum(1 for r in records if match(r))
            dt = max(time.process_time() - t0, 1e-6)
            best = max(best, len(records) / dt)
        print(f"  {best / 1000:8.0f}k records/s  {hits * 100 // len(records):3d}% match  {q}")


IDLE_S = 30.0  # a client stops after this long without a record
CLIENT_PROCS = 4  # the clients run in this many processes, so that they are not the bottleneck
FANOUT_QUERIES = ["", "response.status > 300", 'src.namespace == "shop"', 'types.contains("email")',
                  'request.method == "POST" and response.status < 300']


def bench_fanout(records: list[dict[str, Any]], clients: int, n: int, bootstrap: str | None) -> None:
    """A real hub (subprocess) on a real broker; ``clients`` websocket clients in CLIENT_PROCS processes;
    ``n`` pairs and their detections produced as fast as the producer goes. Prints what each query's
    clients received, losses, latency, the hub's CPU per pair and its counters."""
    import json
    import multiprocessing as mp
    import os
    import shutil
    import subprocess
    import tempfile
    import urllib.request

    import orjson
    import psutil
    from confluent_kafka import Producer

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
        henv = {**os.environ, "SENSOR__KAFKA__BOOTSTRAP_SERVERS": bootstrap,
                "SENSOR__PROCESSOR__PAIRS_TOPIC": "bench-pairs", "SENSOR__PROCESSOR__DETECTIONS_TOPIC": "bench-detections",
                "SENSOR__AUTH__TOKEN": token, "SENSOR__STREAM__MAX_CLIENTS": str(clients + 5),
                "SENSOR__STREAM__CLIENT_QUEUE": "5000", "SENSOR__CAPTURES__HUB_LISTEN": "",
                "PYTHONPATH": str(ROOT)}
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
            dets.append(orjson.dumps(proc.detect(rec).record))

        def hub_counters() -> list[str]:
            with urllib.request.urlopen(url.replace("ws://", "http://").replace("/api/wsFull", "/metrics")) as r:
                return [ln for ln in r.read().decode().splitlines()
                        if ln.startswith(("privacy_stream", "privacy_hub", "privacy_dropped"))]

        results: Any = mp.Queue()
        groups = [list(range(i, clients, CLIENT_PROCS)) for i in range(CLIENT_PROCS)]
        procs = [mp.Process(target=_client_proc, args=(url, token, [FANOUT_QUERIES[i % len(FANOUT_QUERIES)]
                                                                   for i in g], g, results)) for g in groups if g]
        for pr in procs:
            pr.start()
        deadline = time.monotonic() + 60
        while f"privacy_stream_clients {clients}" not in hub_counters():
            assert time.monotonic() < deadline, "clients did not subscribe"
            time.sleep(0.2)
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        cpu0 = psutil.Process(hub.pid).cpu_times()
        t0 = time.time()
        for rec, det in zip(pairs, dets, strict=True):
            rec["ts_response"] = time.time()  # "captured" now: latency is measured from here
            producer.produce("bench-pairs", orjson.dumps(rec))
            producer.produce("bench-detections", det)
            producer.poll(0)
        producer.flush(30)
        del producer  # before the broker stops: no reconnect noise
        t_produced = time.time()
        stats: list[dict[str, Any]] = []
        for _ in procs:
            stats += results.get(timeout=IDLE_S + 300)
        for pr in procs:
            pr.join(10)
        cpu1 = psutil.Process(hub.pid).cpu_times()
        stats.sort(key=lambda x: x["i"])
        wall = max(x["last"] for x in stats) - t0  # first produce to last record received
        hub_cpu = cpu1.user + cpu1.system - cpu0.user - cpu0.system
        total = sum(x["n"] for x in stats)
        lat = sorted(v for x in stats for v in x["lat"])
        lost = sum(x["lost"] for x in stats)
        print(f"hub fan-out: {clients} clients in {len(procs)} processes, {n} pairs + detections produced in "
              f"{t_produced - t0:.1f} s (machine: 2 shared cores; broker, hub, producer and clients all on it; "
              f"load average {os.getloadavg()[0]:.1f})")
        per_query: dict[str, list[int]] = {}
        for x in stats:
            per_query.setdefault(x["q"], []).append(x["n"])
        for q, ns in per_query.items():
            print(f"  {q or '(all)'}: {ns} records per client")
        print(f"  {total} records delivered in {wall:.1f} s ({total / max(wall, 0.001):,.0f}/s over all clients), "
              f"{lost} lost (counted and announced); hub CPU {hub_cpu:.1f} s = {hub_cpu / n * 1000:.2f} ms per pair "
              f"for {clients} clients")
        if lat:
            print(f"  latency produce -> client: median {lat[len(lat) // 2] * 1000:.0f} ms, "
                  f"p99 {lat[int(len(lat) * 0.99)] * 1000:.0f} ms")
        print("  hub counters: " + "; ".join(hub_counters()))
    finally:
        if hub is not None:
            hub.terminate()
            hub.wait(10)
        if env is not None:
            subprocess.run(["bash", str(ROOT / "scripts/kafka.sh"), "stop"], env=env, check=False,
                           stdout=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


def _client_proc(url: str, token: str, queries: list[str], ids: list[int], results: Any) -> None:
    """A process of websocket clients; puts their counts and latencies on ``results`` at the end."""
    import asyncio

    import orjson
    from websockets.asyncio.client import connect

    async def client(q: str, i: int) -> dict[str, Any]:
        st: dict[str, Any] = {"i": i, "q": q, "n": 0, "lost": 0, "lat": [], "last": 0.0}
        async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_queue=None) as ws:
            await ws.send(q)
            while True:
                try:
                    msg = await asyncio.wait_for(ws.recv(), IDLE_S)
                except TimeoutError:
                    return st
                doc = orjson.loads(msg)
                if doc.get("notice") == "lost":
                    st["lost"] += doc["lost"]
                elif "request" in doc:
                    st["n"] += 1
                    st["last"] = time.time()
                    st["lat"].append(st["last"] - doc["ts_response"])

    async def run() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(client(q, i) for q, i in zip(queries, ids, strict=True))))

    results.put(asyncio.run(run()))


def _drain(sub: Any, stop: Any) -> None:
    while not stop.is_set():
        sub.take(1000)
        time.sleep(0.001)


def bench_agent_stage(n: int) -> None:
    """The agent's post-pair stage on the capture thread: how many pairs/s ``publish`` takes with no
    stream client, with one that never reads (its queue full: every record lost, counted), and with one
    drained as fast as a thread can; the dispatcher thread (masking, filtering) runs meanwhile and
    competes for the interpreter, as in the agent."""
    import threading

    import orjson

    from interceptor.config import Config
    from interceptor.counters import Counters
    from interceptor.pairs import Endpoint, Pair, Request, Response
    from interceptor.stream import Subscriber
    from interceptor.streamagent import StreamStage

    body = b'{"user": {"email": "ann@example.com", "name": "Ann Lee", "phone": "+14155552671"}, "n": 1}'
    pairs = []
    for i in range(n):
        now = time.time()
        pairs.append(Pair(Request("HTTP/1.1", [("Host", "users"), ("Content-Type", "application/json")], body,
                                  len(body), False, now, method="POST", target=f"/api/users/{i}"),
                          Response("HTTP/1.1", [("Content-Type", "application/json")], b'{"ok": true}', 12, False,
                                   now, status=200),
                          Endpoint("10.0.0.1", 40000, {"namespace": "shop"}), Endpoint("10.0.0.2", 8080, {}),
                          {"kind": "pcap-veth", "node": "n1"}))
    print(f"agent stream stage, {n} pairs through a sink's work + publish() on the calling thread, "
          f"stream.max_records_per_s {Config().stream.max_records_per_s} (machine: 2 shared cores)")
    for mode in ("no client", "stuck client", "draining client"):
        cfg = Config()
        cfg.stream.client_queue = 1000
        counters = Counters()
        stage = StreamStage(cfg, counters, "n1")
        sub = None
        stop = threading.Event()
        if mode != "no client":
            sub = Subscriber(compile_query(""), False, mode, cfg.stream.client_queue)
            stage.fanout.add(sub)
        if mode == "draining client":
            threading.Thread(target=_drain, args=(sub, stop), daemon=True).start()
        t0 = time.perf_counter()
        for p in pairs:  # with a sink's work per pair (record + JSON), as the capture thread does
            orjson.dumps(p.to_record())
            stage.publish(p)
        dt = time.perf_counter() - t0
        deadline = time.monotonic() + 60
        while stage._backlog and time.monotonic() < deadline:  # the dispatcher catches up
            time.sleep(0.01)
        stop.set()
        stage.close(2.0)
        print(f"  {mode:16} {n / dt:10,.0f} pairs/s; skipped by the budget {counters.dropped('stream_budget')}, "
              f"backlog drops {counters.dropped('stream_backlog')}, client losses "
              f"{counters.dropped('stream_slow_client')}, sent {counters.get('stream.records_sent')}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--fanout", type=int, default=0, help="clients for the hub fan-out figure (0: skip)")
    ap.add_argument("--fanout-records", type=int, default=5000, help="pairs produced for the fan-out figure")
    ap.add_argument("--bootstrap", help="a running broker (default: start one with scripts/kafka.sh)")
    ap.add_argument("--agent", type=int, default=50000, help="pairs for the agent-stage figure (0: skip)")
    args = ap.parse_args()
    records = sample_records(args.records)
    bench_eval(records, args.rounds)
    if args.agent:
        bench_agent_stage(args.agent)
    if args.fanout:
        bench_fanout(records, args.fanout, args.fanout_records, args.bootstrap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
