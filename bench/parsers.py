"""bench/parsers: the measured reasons behind the hot-path choices written in the README.

Each line times the project's own stage against the package the mission names for it, on the same
bytes in the same run, and prints the ratio:
  - frame decoding: ``capture.packets.decode`` vs dpkt objects (Ethernet → IP → TCP)
  - capture reading: ``capture.pcapfile.CaptureReader`` vs ``dpkt.pcap.Reader``
  - HTTP parsing of a 1 KB JSON request: ``http.MessageParser`` vs h11 (and httptools if installed)
  - record serialization: orjson vs the standard json module

    python3 bench/parsers.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interceptor.capture.packets import decode  # noqa: E402
from interceptor.capture.pcapfile import CaptureReader  # noqa: E402
from interceptor.config import Config  # noqa: E402
from interceptor.counters import Counters  # noqa: E402
from interceptor.http import Limits, MessageParser  # noqa: E402
from interceptor.pipeline import Pipeline  # noqa: E402
from interceptor.reassembly import Budget  # noqa: E402
from tests.interceptor.packetgen import Conn, http_request, http_response, write_pcap  # noqa: E402

BODY = json.dumps({"user": {"name": "Jane Roe", "email": "jane@example.com", "phone": "+1 202 555 0143"},
                   "items": [{"sku": i, "qty": 1, "note": "n" * 20} for i in range(14)]}).encode()[:1000]
REQUEST = http_request(target="/api/v1/orders/42", body=BODY, headers=[
    ("User-Agent", "python-requests/2.31"), ("Accept", "*/*"), ("Connection", "keep-alive")])


def per_op(fn: Callable[[], object], n: int) -> float:
    """Best of 5 runs, in microseconds per call (CPU time, so a busy machine distorts less)."""
    best = float("inf")
    for _ in range(5):
        t = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - t)
    return best / n * 1e6


def show(name: str, ours: float, theirs: float, other: str) -> None:
    print(f"{name:<34} ours {ours:7.2f} us   {other} {theirs:7.2f} us   ratio {theirs / ours:5.1f}x")


def frames() -> list[tuple[float, bytes]]:
    conn = Conn().handshake()
    for _ in range(200):
        conn.request(REQUEST)
        conn.response(http_response(body=BODY))
    return conn.close().frames


def bench_decode(recs: list[tuple[float, bytes]]) -> None:
    import dpkt

    data = [f for _, f in recs]

    def ours() -> None:
        for f in data:
            decode(1, f)

    def theirs() -> None:
        for f in data:
            tcp = dpkt.ethernet.Ethernet(f).data.data
            _ = (tcp.sport, tcp.dport, tcp.seq, tcp.data)

    show("frame decode (per packet)", per_op(ours, 20) / len(data), per_op(theirs, 20) / len(data), "dpkt")


def bench_read(recs: list[tuple[float, bytes]]) -> None:
    import dpkt

    path = Path(tempfile.mkdtemp()) / "b.pcap"
    write_pcap(str(path), recs * 20)
    n = len(recs) * 20

    def ours() -> None:
        with CaptureReader(path) as r:
            for _ in r:
                pass

    def theirs() -> None:
        with open(path, "rb") as f:
            for _ in dpkt.pcap.Reader(f):
                pass

    show("pcap read (per record)", per_op(ours, 3) / n, per_op(theirs, 3) / n, "dpkt")


def bench_http() -> None:
    import h11

    parser = MessageParser(Limits(10**6, 65536, False), Counters(), Budget(10**9), lambda: "POST", True)
    parser.role = "request"

    def ours() -> None:
        parser.feed(REQUEST, 1.0)
        while parser.next_event() is not None:
            pass

    def theirs() -> None:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(REQUEST)
        while not isinstance(conn.next_event(), h11.EndOfMessage):
            pass

    mine = per_op(ours, 5000)
    show("HTTP request parse (1 KB JSON)", mine, per_op(theirs, 2000), "h11 ")
    try:
        import httptools
    except ImportError:
        return

    class Cb:
        def on_header(self, name: bytes, value: bytes) -> None:
            pass

        def on_body(self, body: bytes) -> None:
            pass

    def llhttp() -> None:
        httptools.HttpRequestParser(Cb()).feed_data(REQUEST)

    show("HTTP request parse (1 KB JSON)", mine, per_op(llhttp, 5000), "httptools")


def bench_json(recs: list[tuple[float, bytes]]) -> None:
    pairs: list = []
    p = Pipeline(Config(), Counters(), pairs.append)
    for ts, f in recs[:20]:
        p.feed_packet(ts, f, 1)
    record = pairs[0].to_record()
    show(f"record to JSON ({len(orjson.dumps(record))} B)", per_op(lambda: orjson.dumps(record), 5000),
         per_op(lambda: json.dumps(record).encode(), 5000), "json")


def main() -> None:
    recs = frames()
    bench_decode(recs)
    bench_read(recs)
    bench_http()
    bench_json(recs)


if __name__ == "__main__":
    main()
