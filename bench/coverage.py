"""bench/coverage: what the connections account costs the replay core, and its memory with many
short connections.

    python3 bench/coverage.py                    # bulk capture of bench/replay.py (cached) + 100k connections
    python3 bench/coverage.py --repeat 7 --connections 100000

1. The bulk capture of bench/replay.py (100k keep-alive exchanges through nginx): the same pipeline
   with coverage.enabled true and false, in back-to-back pairs of passes on one core; the best CPU
   time of each and the median of the pairs' ratios are printed (target: at most 5 % more).
2. N short connections (SYN, request, response, FIN, each from its own client address): peak RSS,
   the account's aggregates (bounded by coverage.max_keys, the rest folded and counted) and the
   tracker's tables (bounded by coverage.max_recent).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.replay import generate_real, get_capture, pin_one_core, synth_keepalive  # noqa: E402


def passes(frames: list, repeat: int) -> tuple[float, float, float]:
    """CPU seconds with coverage on and off (coverage.enabled), in ``repeat`` back-to-back pairs
    (order alternating): the best of each, and the median of the pairs' ratios, which a shared
    machine's load disturbs least."""
    from interceptor.config import Config
    from interceptor.counters import Counters
    from interceptor.pipeline import Pipeline

    def one(on: bool) -> float:
        cfg = Config()
        cfg.coverage.enabled = on
        pipe = Pipeline(cfg, Counters(), lambda p: None, source={"kind": "pcap-file"})
        c0 = time.process_time()
        for ts, linktype, frame in frames:
            pipe.feed_packet(ts, frame, linktype)
        pipe.close()
        return time.process_time() - c0

    ons, offs, ratios = [], [], []
    for i in range(repeat):
        if i % 2:
            off, on = one(False), one(True)
        else:
            on, off = one(True), one(False)
        ons.append(on)
        offs.append(off)
        ratios.append(on / off)
    return min(ons), min(offs), statistics.median(ratios)


def short_connections(n: int) -> dict:
    """Feed n short connections, each from its own address; report memory and table sizes."""
    from interceptor.config import Config
    from interceptor.counters import Counters
    from interceptor.pipeline import Pipeline
    from tests.interceptor.packetgen import LINKTYPE_ETHERNET, Conn, http_request, http_response

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    counters = Counters()
    pipe = Pipeline(Config(), counters, lambda p: None, source={"kind": "pcap-file"})
    req, resp = http_request(), http_response()
    ts = 1_700_000_000.0
    biggest = 0
    t0 = time.process_time()
    for i in range(n):
        c = Conn(client=(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 40000 + i % 20000),
                 server=("10.200.0.1", 8080), ts=ts, step=0.0001)  # ~50k connections a minute
        c.handshake()
        c.request(req)
        c.response(resp)
        c.close()
        for fts, frame in c.frames:
            pipe.feed_packet(fts, frame, LINKTYPE_ETHERNET)
        ts = c.ts
        if i % 1000 == 999:
            pipe.tick(ts)
            biggest = max(biggest, len(pipe.coverage.account.aggregates))
    pipe.close()
    pipe.coverage.finish(ts)
    records = pipe.coverage.drain()
    cpu = time.process_time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"records": len(records), "connections": sum(r["connections"] for r in records),
            "overflow": counters.get("coverage.keys_overflow"), "max_aggregates": biggest,
            "recent": len(pipe.coverage.recent), "rss_mib": peak / 1024, "grown_mib": (peak - base) / 1024,
            "cpu_s": cpu}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=15, help="pairs of passes (on, off)")
    ap.add_argument("--packets", type=int, default=100_000, help="first packets of the bulk capture per pass")
    ap.add_argument("--exchanges", type=int, default=100_000)
    ap.add_argument("--connections", type=int, default=100_000)
    args = ap.parse_args()
    from interceptor.capture.pcapfile import CaptureReader

    real = os.geteuid() == 0
    name = f"keepalive-{'real' if real else 'synth'}-{args.exchanges}"
    make = (lambda p: generate_real(p, args.exchanges, 4)) if real else (lambda p: synth_keepalive(p, args.exchanges, 4))
    path, info = get_capture(name, False, make)
    with CaptureReader(path) as reader:
        frames = [f for _, f in zip(range(args.packets), reader, strict=False)]
    cpu = pin_one_core()
    on, off, ratio = passes(frames, args.repeat)
    print(f"bulk capture {path.name}, first {len(frames)} packets, cpu {cpu}, "
          f"{args.repeat} pairs of passes:")
    print(f"  coverage on {on:.3f} cpu-s, off {off:.3f} cpu-s (best of each): {100 * (on - off) / off:+.1f} %; "
          f"median of the pairs' ratios: {100 * (ratio - 1):+.1f} % (target <= 5 %)")
    s = short_connections(args.connections)
    print(f"{args.connections} short connections (own client address each) in {s['cpu_s']:.1f} cpu-s: "
          f"{s['connections']} accounted in {s['records']} records (largest interval {s['max_aggregates']} "
          f"aggregates, {s['overflow']} folded into overflow), {s['recent']} ended connections remembered; "
          f"peak RSS {s['rss_mib']:.0f} MiB (+{s['grown_mib']:.0f} MiB while feeding)")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: the machine is shared, figures are noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
