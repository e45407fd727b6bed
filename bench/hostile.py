"""bench/hostile: what hostile input costs (issue 14), as figures.

  - CPU per byte of a request head sent one byte per segment, for heads of 4 to 64 KB: linear cost
    means the same µs/byte at every size (a parser that re-joins and re-searches the whole head for
    every segment costs time proportional to the head's size per byte);
  - memory: tests/interceptor/tools/hostile_traffic.py (unanswered pipelined requests, unfinished
    heads, one-byte heads) in a subprocess, peak RSS against the configured budget;
  - the HTTP parser on ordinary 1 KB requests, to show the strict framing rules cost little.

    python3 bench/hostile.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interceptor.counters import Counters  # noqa: E402
from interceptor.http import Limits, MessageParser  # noqa: E402
from interceptor.httpevents import Complete  # noqa: E402
from interceptor.reassembly import Budget  # noqa: E402


def parser() -> MessageParser:
    limits = Limits(1 << 20, 128 * 1024, False)
    return MessageParser(limits, Counters(), Budget(1 << 30), lambda: None, synced=True)


def feed(p: MessageParser, data: bytes, ts: float, messages: list[object]) -> None:
    p.feed(data, ts)
    while (event := p.next_event()) is not None:
        if isinstance(event, Complete):
            messages.append(event.message)


def one_byte_heads(size: int) -> float:
    """µs per byte to parse a request head of ``size`` bytes fed one byte at a time."""
    head = b"GET /a HTTP/1.1\r\nHost: x\r\n"
    line = b"X-Pad: " + b"p" * 90 + b"\r\n"
    head += line * ((size - len(head)) // len(line)) + b"\r\n"
    messages: list[object] = []
    p = parser()
    data = [head[i : i + 1] for i in range(len(head))]
    start = time.perf_counter()
    for i, b in enumerate(data):
        feed(p, b, float(i), messages)
    elapsed = time.perf_counter() - start
    assert len(messages) == 1 and messages[0] is not None
    return elapsed / len(head) * 1e6


def ordinary(n: int = 20000) -> float:
    body = b'{"email":"a@b.c","name":"' + b"n" * 900 + b'"}'
    req = b"POST /api/users HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(
        body) + body
    messages: list[object] = []
    p = parser()
    start = time.perf_counter()
    for i in range(n):
        feed(p, req, float(i), messages)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    print("machine: shared, 2 cores busy with other work; figures are indicative")
    for size in (4096, 16384, 65536):
        print(f"head of {size:>6} bytes, one byte per segment: {one_byte_heads(size):6.2f} µs/byte")
    print(f"ordinary 1 KB request (express path): {ordinary():6.2f} µs")
    out = subprocess.run([sys.executable, "-m", "tests.interceptor.tools.hostile_traffic"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    r = orjson.loads(out.splitlines()[-1])
    print(f"hostile traffic ({r['connections']} connections): peak RSS {r['rss_peak'] / 2**20:.0f} MiB with a budget of "
          f"{r['budget'] / 2**20:.0f} MiB (start {r['rss_start'] / 2**20:.0f} MiB); drops {r['drops']}")


if __name__ == "__main__":
    main()
