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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--fanout", type=int, default=0, help="clients for the hub fan-out figure (0: skip)")
    args = ap.parse_args()
    records = sample_records(args.records)
    bench_eval(records, args.rounds)
    if args.fanout:
        from bench.stream_fanout import bench_fanout

        bench_fanout(records, args.fanout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
