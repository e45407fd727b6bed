"""bench/livepath: where a pair's CPU goes between the packet and the sink, live and replay, on one capture.

    python3 bench/livepath.py CAPTURE.pcap                    # CPU time per stage (best of --reps)
    python3 bench/livepath.py CAPTURE.pcap --instructions     # and instruction counts (valgrind)

bench/live.py --keep-pcap PATH saves the capture of a live step (tcpdump on the pod's veth). Each stage
runs on the same first ``--packets`` frames of it, in this process:

- ``ring``: walking TPACKET_V3 blocks (``RingSocket.dispatch``) with a no-op callback — what the live
  source adds per packet. The blocks are a mapped ring holding the capture's frames in the kernel's
  layout (``RingSocket.mapped``), so it is our reading code on known frames, without the kernel.
- ``file``: the pcap/pcapng reader (``CaptureReader``) — what replay adds per packet instead.
- ``decode``: link/IP/TCP decoding (``capture/packets.py``), part of both.
- ``core``: ``Pipeline.feed_packet`` from frames in memory, no sink (decode included).
- ``live``: the ring walked straight into ``Pipeline.feed_packet``, no sink: the agent's hot path.
- ``jsonl``: ``core`` plus the JSON Lines sink writing to /dev/null (the record, orjson, the write).
- ``agent``: the ring walked into ``Pipeline.feed_packet`` with the JSON Lines sink to /dev/null and
  the agent's tap ``source``: what ``interceptor run`` does per packet (``agent`` minus ``jsonl`` is
  the live source's own cost, next to ``file`` for replay).

CPU time is noisy on a shared machine (alternate runs, compare ratios); ``--instructions`` runs each
stage alone under ``valgrind --tool=cachegrind`` and subtracts a run that only loads the frames and
builds the ring: instruction counts do not move with the load of the machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from interceptor.app import Output  # noqa: E402
from interceptor.capture.packets import decode  # noqa: E402
from interceptor.capture.pcapfile import CaptureReader  # noqa: E402
from interceptor.capture.ring import RingSocket  # noqa: E402
from interceptor.config import Config  # noqa: E402
from interceptor.counters import Counters  # noqa: E402
from interceptor.pipeline import Pipeline  # noqa: E402

STAGES = ("ring", "file", "decode", "core", "live", "jsonl", "agent")
TAP_SOURCE = {"kind": "pcap-veth", "interface": "bench", "netns": "-", "node": "bench"}  # as a RingTap passes it
Frames = list[tuple[float, int, bytes]]


def core_build() -> str:
    """Which build of the core this interpreter imports: the compiled one (interceptor/compiled.py
    says which and why), or pure Python."""
    try:
        from interceptor import compiled  # type: ignore[attr-defined]
    except ImportError:
        return "pure Python (no compiled build in this tree)"
    return str(compiled.STATUS)


def load(path: str, packets: int) -> Frames:
    frames: Frames = []
    for ts, linktype, frame in CaptureReader(path):
        frames.append((ts, linktype, frame))
        if len(frames) >= packets:
            break
    return frames


def ring_of(frames: Frames) -> RingSocket:
    linktypes = {lt for _, lt, _ in frames}
    if len(linktypes) != 1:
        raise SystemExit(f"bench/livepath: one link type per capture, got {sorted(linktypes)}")
    return RingSocket.mapped([(ts, f) for ts, _, f in frames], linktypes.pop())


def pipeline(sink: bool) -> tuple[Pipeline, Output, Counters]:
    cfg = Config()
    counters = Counters()
    sinks: list[Any] = []
    if sink:
        from interceptor.sinks.jsonl import JsonlSink

        sinks = [JsonlSink("/dev/null", counters)]
    output = Output(cfg, counters, sinks)
    return Pipeline(cfg, counters, output.stages, source={"kind": "bench"}), output, counters


def stage_runner(stage: str, frames: Frames, path: str, ring: RingSocket) -> Callable[[], int]:
    """A function running ``stage`` once over the frames (its set-up done here, not timed); it
    returns the pairs emitted (0 for stages without a pipeline)."""
    n = len(frames)

    def noop(ts: float, frame: bytes, linktype: int, arg: Any) -> None:
        pass

    def walk(on_packet: Callable[..., None], arg: Any) -> None:
        got = 0
        while got < n:
            got += ring.dispatch(512, on_packet, arg)

    if stage == "ring":
        return lambda: (walk(noop, None), 0)[1]
    if stage == "file":
        def read() -> int:
            reader = CaptureReader(path)
            for i, _ in enumerate(reader):
                if i + 1 >= n:
                    break
            reader.close()
            return 0
        return read
    if stage == "decode":
        return lambda: (sum(1 for _, lt, f in frames if decode(lt, f) is not None), 0)[1]
    p, output, counters = pipeline(sink=stage in ("jsonl", "agent"))

    def through() -> int:
        if stage in ("live", "agent"):
            walk(p.feed_packet, TAP_SOURCE)
        else:
            feed = p.feed_packet
            for ts, lt, f in frames:
                feed(ts, f, lt)
        p.close()
        output.close(1.0)
        return counters.get("pairs.emitted")
    return through


def cpu_times(path: str, frames: Frames, reps: int) -> dict[str, tuple[float, int]]:
    """Best CPU seconds of each stage over ``reps`` rounds (stages alternate within a round)."""
    best: dict[str, tuple[float, int]] = {}
    for _ in range(reps):
        for stage in STAGES:
            run = stage_runner(stage, frames, path, ring_of(frames))
            c0 = time.process_time()
            pairs = run()
            took = time.process_time() - c0
            if stage not in best or took < best[stage][0]:
                best[stage] = (took, pairs)
    return best


def instructions(path: str, packets: int, stage: str) -> int:
    """Instructions of one stage: this script under cachegrind with ``--only STAGE``."""
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, __file__, path, "--packets", str(packets), "--only", stage],
        capture_output=True, text=True, timeout=3600, check=True,
    ).stderr
    m = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if not m:
        raise RuntimeError(f"no instruction count from valgrind: {out[-500:]}")
    return int(m.group(1).replace(",", ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("capture", help="a pcap/pcapng file (bench/live.py --keep-pcap makes one)")
    ap.add_argument("--packets", type=int, default=100_000, help="first N frames (10000 with --instructions)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--instructions", action="store_true", help="also count instructions (valgrind, slow)")
    ap.add_argument("--only", choices=("load", *STAGES), help=argparse.SUPPRESS)  # one stage, for valgrind
    args = ap.parse_args()
    if args.instructions and "--packets" not in sys.argv:
        args.packets = 10_000
    frames = load(args.capture, args.packets)
    ring = ring_of(frames)
    if args.only:
        if args.only != "load":
            stage_runner(args.only, frames, args.capture, ring)()
        return 0
    best = cpu_times(args.capture, frames, args.reps)
    pairs = best["core"][1] or 1
    n = len(frames)
    counts: dict[str, int] = {}
    if args.instructions:
        base = instructions(args.capture, args.packets, "load")
        counts = {s: instructions(args.capture, args.packets, s) - base for s in STAGES}
    print(f"{args.capture}: {n} packets, {pairs} pairs ({n / pairs:.2f} packets per pair); core: {core_build()}; "
          f"best of {args.reps} CPU, load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores shared")
    print(f"{'stage':>7} {'us/packet':>10} {'us/pair':>8} {'instr/pair':>11} {'share of agent':>15}")
    total = counts.get("agent") or best["agent"][0]
    for stage in STAGES:
        secs = best[stage][0]
        share = (counts[stage] if counts else secs) / total
        print(f"{stage:>7} {secs / n * 1e6:>10.2f} {secs / pairs * 1e6:>8.2f} "
              f"{(str(round(counts[stage] / pairs)) if counts else '-'):>11} {share:>14.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
