"""The ``interceptor`` command: ``replay`` a capture file; ``run`` and ``discover`` on a node."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from typing import Any

from interceptor import __version__, collector
from interceptor.app import (
    Output,
    StatsFile,
    add_common_args,
    config_from_args,
    open_coverage,
    open_sinks,
)
from interceptor.capture.packets import SUPPORTED_LINKTYPES
from interceptor.capture.pcapfile import CaptureError, CaptureReader, Packet
from interceptor.config import ConfigError
from interceptor.counters import Counters
from interceptor.errors import UsageError
from interceptor.pipeline import Pipeline
from interceptor.replayfeed import Feeder

SKIPPED_PREFIX = "packets.skipped."  # not traffic we could use (not IP/TCP, unknown link type): not drops
TICK_S = 1.0  # how often (in capture time) timeouts are checked during a replay
AGENT_COMMANDS = ("run", "coverage", "discover")  # interceptor.agent's (its register() adds them)


def main(argv: list[str] | None = None) -> int:
    collector.skip_exit_collections()
    parser = argparse.ArgumentParser(prog="interceptor", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_replay(sub)
    # A command's modules are imported only when it runs: ``run`` needs the live-capture, Kafka and
    # Kubernetes modules (a replay does not import them: about half of a replay's start-up), the
    # demo its lab (~10 % of an agent's start). Without a known command (--help, a typo), all.
    command = _command(sys.argv[1:] if argv is None else argv)
    if command not in ("replay", "demo"):
        _register_agent(sub)
    if command not in ("replay", *AGENT_COMMANDS):
        _register_demo(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        print(f"interceptor: config error: {e}", file=sys.stderr)
        return 2
    except UsageError as e:
        print(f"interceptor: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _command(argv: list[str]) -> str | None:
    """The command word (the first that is not an option: the top level has only --help/--version)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _register_agent(sub: Any) -> None:
    """``run`` and ``discover`` live in interceptor.agent (live capture on a node)."""
    try:
        from interceptor import agent
    except ImportError:
        return
    agent.register(sub)


def _register_demo(sub: Any) -> None:
    from interceptor.demo import run as demo

    demo.register(sub)


# -- replay -------------------------------------------------------------------------------------
def _add_replay(sub: Any) -> None:
    p = sub.add_parser("replay", help="read a pcap/pcapng capture (optionally gzipped) and emit pairs")
    p.add_argument("file", help="capture file (.pcap, .pcapng, optionally .gz)")
    add_common_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress display even on a terminal")
    p.add_argument("--coverage", metavar="PATH", help="write the connections account as JSON Lines ('-': stdout)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="N processes, connections shared out by a hash of their addresses (default 1)")
    p.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.workers != 1:
        from interceptor import replayshard

        return replayshard.run(args, cfg, args.workers)
    counters = Counters()
    stats = StatsFile(args.stats, args.out)
    try:
        reader = CaptureReader(args.file)
    except CaptureError as e:
        print(f"interceptor: {e}", file=sys.stderr)
        return 1
    # A replay is not live: wait until the cluster's index can name every pair (owners included).
    output = Output(cfg, counters, open_sinks(args, cfg, counters), wait_for_sync=True)
    pipeline = Pipeline(cfg, counters, output.stages, source={"kind": "pcap-file", "file": str(args.file)})
    output.coverage = open_coverage(args, cfg, counters, output)
    progress = Progress(enabled=sys.stderr.isatty() and not args.no_progress)
    started = time.monotonic()
    error = replay_file(reader, pipeline, output, progress)
    if output.coverage is not None:
        pipeline.coverage.finish(pipeline.now)
        output.coverage.take(pipeline.coverage)
    reader.close()
    reports = output.close(cfg.kafka.flush_timeout_s)
    elapsed = time.monotonic() - started
    progress.clear()
    extra = {"file": str(args.file), "format": reader.format, "elapsed_s": round(elapsed, 3), "sinks": reports}
    if error is not None:
        extra["error"] = str(error)
    return print_outcome(counters, stats, extra, reader.packets, elapsed, reader.linktypes, args.file,
                         None if error is None else str(error))


def print_outcome(counters: Counters, stats: StatsFile, extra: dict[str, Any], packets: int, elapsed: float,
                  linktypes: set[int], file: str, error: str | None) -> int:
    """The end of a replay (one process or the sum of its workers): ``--stats``, the summary, the
    one-line problems; the exit code."""
    problems = [r["error"] for r in extra["sinks"] if r.get("error")]
    stats_error = stats.write(counters, extra)
    if stats_error is not None:
        problems.append(stats_error)
    print(summary(counters, packets, elapsed), file=sys.stderr)
    unsupported = counters.get("packets.skipped.unsupported_linktype")
    if unsupported:
        kinds = ", ".join(str(t) for t in sorted(linktypes - SUPPORTED_LINKTYPES)) or "?"
        print(f"interceptor: {file}: link type {kinds} is not supported: {unsupported} packets skipped",
              file=sys.stderr)
    for problem in problems:
        print(f"interceptor: {problem}", file=sys.stderr)
    if error is not None:
        print(f"interceptor: {error} (processed {packets} packets before it)", file=sys.stderr)
        return 1 if packets == 0 or problems else 0
    return 1 if problems else 0


def replay_file(reader: CaptureReader, pipeline: Pipeline, output: Output, progress: Progress,
                batches: Iterable[list[Packet]] | None = None) -> CaptureError | None:
    """Feed every readable packet (or those of ``batches``: a worker's share of the reader's);
    return the error that stopped the read, if any."""
    from interceptor.capture.pcapfile import CHUNK
    from interceptor.heap import keep_heap

    # The blocks read and the sinks' buffers (~1 MiB each) served from glibc's heap, kept mapped,
    # not each a fresh mmap faulted in page by page: a --workers worker took 70-94k minor faults
    # and ~0.33 s of system time on its half of the 100k-pair 4-connection capture, 3.5k and ~0.09
    # s with it (interceptor/heap.py; one process: 19.6k faults). Already set in a worker (a no-op).
    keep_heap(CHUNK)
    feeder = Feeder(pipeline, TICK_S)  # the per-packet loop, compiled
    shown = 0
    # What exists now (modules, config, the sinks) outlives the replay: out of the collector's
    # sight, a full collection walks only what the replay made (~1 % of a replay's instructions,
    # measured with callgrind).
    with collector.frozen():
        try:
            for batch in reader.batches() if batches is None else batches:
                i, n = 0, len(batch)
                while i < n:
                    i = feeder.feed(batch, i)
                    if feeder.tick_due:
                        feeder.tick_due = False
                        pipeline.tick(feeder.due)
                        output.poll()
                        if output.coverage is not None:
                            output.coverage.take(pipeline.coverage)
                if feeder.fed - shown > 0x3FFF:
                    shown = feeder.fed
                    progress.show(reader, pipeline)
            return None
        except CaptureError as e:
            return e
        finally:
            pipeline.close()


class Progress:
    """A one-line progress display on a terminal (stderr)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.monotonic()

    def show(self, reader: CaptureReader, pipeline: Pipeline) -> None:
        if not self.enabled:
            return
        c = pipeline.counters
        rate = reader.packets / max(time.monotonic() - self.started, 1e-6)
        sys.stderr.write(
            f"\r{reader.packets:>10} packets  {c.get('pairs.emitted'):>9} pairs  "
            f"{len(pipeline.flows):>7} flows  {rate:>9.0f} pkt/s"
        )
        sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 72 + "\r")


def summary(counters: Counters, packets: int, elapsed: float) -> str:
    drops = counters.drops()
    pairs = counters.get("pairs.emitted")
    lines = [
        f"replayed {packets} packets in {elapsed:.2f}s: {counters.get('flows')} flows, "
        f"{counters.get('http.requests')} requests, {counters.get('http.responses')} responses, "
        f"{pairs} pairs emitted, {sum(drops.values())} dropped"
    ]
    for reason, n in sorted(drops.items(), key=lambda kv: -kv[1]):
        lines.append(f"  dropped {reason}: {n}")
    skipped = {k[len(SKIPPED_PREFIX):]: v for k, v in counters.counts.items() if k.startswith(SKIPPED_PREFIX)}
    for reason, n in sorted(skipped.items(), key=lambda kv: -kv[1]):
        lines.append(f"  skipped {reason}: {n}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
