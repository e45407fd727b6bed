"""bench/captures: what writing a triggered capture costs the agent, per packet and per plaintext byte.

    python3 bench/captures.py [--packets 200000] [--size 1500] [--plaintext-mb 64]

1. Packets: the manager's write path for one captured packet (an Enhanced Packet Block built by
   ``PcapngWriter.packet`` and appended to a file in ``--dir``), CPU time per packet and packets/s.
2. Plaintext: ``PlaintextSynth.data`` on 16 KiB records (what an SSL_read/SSL_write gives), building
   IPv4/TCP packets with both checksums, in MB of plaintext per CPU second.
Both on one core of whatever the machine is doing (say so next to the figures).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from interceptor.captures.pcapng import InterfaceInfo, PcapngWriter  # noqa: E402
from interceptor.captures.plaintext import Address, PlaintextSynth  # noqa: E402


def bench_packets(n: int, size: int, directory: str) -> None:
    w = PcapngWriter()
    frame = os.urandom(size)
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".pcapng") as f:
        f.write(w.section(["bench"]))
        if_id, idb = w.interface(InterfaceInfo(1, 262144, "bench0"))
        f.write(idb)
        t0, c0 = time.perf_counter(), time.process_time()
        ts = time.time()
        for i in range(n):
            f.write(w.packet(if_id, ts + i * 1e-6, frame))
        f.flush()
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        written = f.tell()
    print(f"packets: {n} x {size} B -> {written / 1e6:.1f} MB; {cpu / n * 1e6:.2f} us CPU per packet, "
          f"{n / cpu:,.0f} packets/s, {written / 1e6 / cpu:.0f} MB/s (wall {wall:.2f}s)")


def bench_plaintext(megabytes: int) -> None:
    synth = PlaintextSynth()
    record = b'{"email": "user@example.com", "card": "4111111111111111"}' * 290  # ~16 KiB
    a, b = Address("10.1.0.5", 8443), Address("10.1.0.9", 51000)
    total = 0
    packets = 0
    c0 = time.process_time()
    while total < megabytes * 1_000_000:
        out = synth.data("c", 1.0, total // len(record) % 2, record, a, b) or []
        packets += len(out)
        total += len(record)
    cpu = time.process_time() - c0
    print(f"plaintext: {total / 1e6:.0f} MB in 16 KiB records -> {packets} packets; "
          f"{total / 1e6 / cpu:.0f} MB/s per CPU second")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--packets", type=int, default=200_000)
    p.add_argument("--size", type=int, default=1500)
    p.add_argument("--plaintext-mb", type=int, default=64)
    p.add_argument("--dir", default=tempfile.gettempdir())
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine)")
    bench_packets(args.packets, args.size, args.dir)
    bench_plaintext(args.plaintext_mb)


if __name__ == "__main__":
    main()
