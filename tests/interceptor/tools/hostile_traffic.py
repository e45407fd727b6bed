"""Feed a pipeline the nastiest traffic issue 14 found, generated on the fly (nothing stored), and
print what it cost as one JSON line: peak RSS, the budget, the drops by reason.

  - pipelined requests of 0.9 MB that are never answered (their bodies wait for responses),
  - thousands of connections each sending 60 KB of request head with no blank line,
  - request heads sent one byte per segment.

    python3 -m tests.interceptor.tools.hostile_traffic [--budget BYTES] [--scale N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import orjson

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.pipeline import Pipeline
from tests.interceptor.packetgen import Conn

MIB = 1 << 20


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def vm_hwm() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=20_000_000)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the issue's connection counts")
    args = ap.parse_args(argv)
    cfg = Config()
    cfg.filters.keep_all = True
    cfg.core.max_buffered_bytes = args.budget
    counters = Counters()
    pairs: list[object] = []
    pipeline = Pipeline(cfg, counters, pairs.append)
    feed = pipeline.feed_packet
    started_rss = rss_bytes()
    peak = started_rss
    budget_peak = 0
    started = time.monotonic()

    def send(conn: Conn, data: bytes, mss: int) -> None:
        nonlocal peak, budget_peak
        conn.request(data, mss=mss)
        for ts, frame in conn.frames:
            feed(ts, frame, 1)
        conn.frames.clear()
        budget_peak = max(budget_peak, pipeline.budget.used)
        peak = max(peak, rss_bytes())

    def connection(i: int) -> Conn:
        conn = Conn(client=(f"10.{1 + i // 60000}.{(i // 250) % 240}.{1 + i % 250}", 40000 + i % 20000))
        conn.handshake()
        return conn

    n = 0
    body = b"x" * 900_000
    request = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    for _ in range(max(1, int(20 * args.scale))):  # 20 connections x 16 pipelined, never answered
        conn = connection(n)
        n += 1
        for _ in range(16):
            send(conn, request, 60000)
    head = b"GET /a HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"p" * 200 + b"\r\n"
    unfinished = head * (60_000 // len(head))
    for _ in range(max(1, int(3000 * args.scale))):  # 60 KB heads that never end
        send(connection(n), unfinished, 60000)
        n += 1
    slow = b"GET /slow HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"s" * 16_000 + b"\r\n"
    for _ in range(max(1, int(4 * args.scale))):  # one byte per segment
        send(connection(n), slow, 1)
        n += 1
    held_at_end = pipeline.budget.used
    pipeline.close()
    print(orjson.dumps({
        "budget": args.budget, "rss_start": started_rss, "rss_peak": peak,
        # VmHWM: this program's own peak. ru_maxrss is not: Linux keeps across exec the high-water
        # mark of the forked parent's copy (a 270 MB pytest late in the suite).
        "ru_maxrss": vm_hwm(),
        "budget_peak": budget_peak, "held_before_close": held_at_end, "held_after_close": pipeline.budget.used,
        "connections": n, "elapsed_s": round(time.monotonic() - started, 2), "drops": counters.drops(),
    }).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
