"""``interceptor replay FILE --workers N``: one capture file replayed by N processes, each its own
pipeline for the connections that belong to it.

Every worker reads the whole file (no packet crosses a process boundary) and feeds its pipeline
only the packets of its connections (``Sharder``: dealt out in turn by first appearance, both
directions of a connection to one worker). A gzipped file is decompressed once, by the parent, which
writes every block to each worker's pipe (inflating is about a third of a worker's share: N workers
each doing it would waste N-1 of them); a pipe or standard input, which can be read only once, is
shared out the same way. Whose a
record is, is decided on its bytes in the block read, before any per-packet object is made
(``capture.records`` with ``sharding.Sharder``, compiled): another worker's record costs ~1k
instructions (~1 % of one of its own, ~110k), so what keeps N workers under N times one process is
the start-up before the fork. Packets that are not TCP (counted as skipped or dropped) go to worker
0, so each is counted once. The workers append whole lines to the one ``--out`` under a lock
(``sinks/jsonl.LineWriter``, as ``capture.workers`` does): the file holds every pair once, each
connection's in capture order, in worker-sized chunks rather than capture order overall. Each
worker sends its final counters and its timeline to the parent, which adds the counters up exactly
for the summary and ``--stats``.

Each worker gets its share of the core's bounds (``app.worker_config``), so N workers hold no more
than one process would.
"""

from __future__ import annotations

import argparse
import fcntl
import gc
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from interceptor.app import Output, StatsFile, open_sinks, worker_config
from interceptor.capture.pcapfile import CHUNK, CaptureError, CaptureReader, Packet
from interceptor.counters import Counters
from interceptor.errors import UsageError
from interceptor.heap import keep_heap
from interceptor.pipeline import Pipeline
from interceptor.sharding import Sharder, connection_key

__all__ = ["MAX_WORKERS", "Sharder", "connection_key", "run"]

MAX_WORKERS = 64
FEED_PIPE_BYTES = 1 << 20  # a compressed file's stream to each worker: a block in flight


def run(args: argparse.Namespace, cfg: Any, workers: int) -> int:
    """The parent: check what can be checked once, fork the workers, add up what they report."""
    from interceptor.cli import print_outcome

    if not 1 < workers <= MAX_WORKERS:
        raise UsageError(f"--workers {workers}: give 2..{MAX_WORKERS} (1 is the default, one process)")
    if getattr(args, "coverage", None):
        raise UsageError("--coverage needs one process (the account sees every connection): drop --workers")
    stats = StatsFile(args.stats, args.out)
    # A pipe (or ``-``) can be read once: this process reads it and sends every worker a copy, as it
    # does a gzipped file's decompressed stream; so it is not looked into first either.
    fed = args.file == "-" or (os.path.exists(args.file) and not os.path.isfile(args.file)
                               and not os.path.isdir(args.file))
    if not fed:
        try:
            with CaptureReader(args.file) as probe:
                fed = probe.compressed
        except CaptureError as e:
            print(f"interceptor: {e}", file=sys.stderr)
            return 1
    if args.out and args.out != "-":
        try:
            open(args.out, "wb").close()  # the workers append to it
        except OSError as e:
            raise UsageError(f"--out {args.out}: cannot write: {e.strerror or e}") from None
    fd, lock = tempfile.mkstemp(prefix="interceptor-replay-", suffix=".lock")
    os.close(fd)
    # Every worker's config made once, before the fork (nothing start-up does is done N times), and
    # the heap's setting (cli.replay_file) with it: glibc found once, the workers inherit it.
    configs = [worker_config(cfg, index, workers) for index in range(workers)]
    keep_heap(CHUNK)
    started = time.monotonic()
    usage = resource.getrusage(resource.RUSAGE_SELF)  # start-up, before the workers share the rest
    # What start-up made is shared with the workers copy-on-write: out of the collector's sight, a
    # collection in a worker does not write to (and so copy) every page of it.
    gc.freeze()
    try:
        results, read_error = _fork_and_wait(args, configs, lock, started, fed)
    finally:
        gc.unfreeze()
        os.unlink(lock)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    counters = Counters()
    for res in results:
        counters.add_snapshot(res.get("counters") or {})
    first = results[0]
    reports = [r for res in results for r in res.get("reports", [])]
    errors = [res["error"] for res in results if res.get("error")]
    if read_error is not None and "offset" in first:
        # The parent's read failed (a damaged gzip stream): the error one process would give, at
        # the offset every worker stopped at (the first record not whole), not the workers' "cut short".
        errors = [str(CaptureError(args.file, first["offset"], read_error.message))]
    crashed = [res["crashed"] for res in results if res.get("crashed")]
    # Each worker's CPU time: start-up and the largest is the replay's critical path on free cores
    # (the wall time without other load); their sum against one process's is what sharding costs.
    extra = {"file": str(args.file), "format": first.get("format"), "elapsed_s": round(elapsed, 3),
             "workers": workers, "start_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
             "worker_cpu_s": [res.get("cpu_s") for res in results], "sinks": reports,
             "timeline": _timeline(usage, after, results)}
    if errors:
        extra["error"] = errors[0]
    linktypes = set(first.get("linktypes", []))
    code = print_outcome(counters, stats, extra, first.get("packets", 0), elapsed, linktypes, args.file,
                         errors[0] if errors else None)
    for why in crashed:
        print(f"interceptor: {why}", file=sys.stderr)
    return 1 if crashed else code


def _fork_and_wait(args: argparse.Namespace, configs: list[Any], lock: str, started: float,
                   compressed: bool) -> tuple[list[dict[str, Any]], CaptureError | None]:
    """Fork a worker per config and add up what they send back; with ``compressed`` (a gzipped
    file, or a pipe), this process reads the file once and sends every worker its own copy of the
    stream (a worker would otherwise spend about a third of its share inflating it again; a pipe can
    be read only once); the read error, if any."""
    children: list[tuple[int, int]] = []
    feeds: list[int] = []  # the write ends of the workers' streams (compressed only)
    for index, wcfg in enumerate(configs):
        read_end, write_end = os.pipe()
        feed_read, feed_write = _feed_pipe() if compressed else (-1, -1)
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the parent's code
            code = 1
            try:
                os.close(read_end)
                for fd in [fd for _, fd in children] + feeds + ([feed_write] if compressed else []):
                    os.close(fd)
                stream = os.fdopen(feed_read, "rb") if compressed else None
                result = _work(args, wcfg, index, len(configs), lock, started, stream)
                with os.fdopen(write_end, "wb") as out:
                    out.write(orjson.dumps(result))
                code = 0
            except BaseException as e:  # noqa: BLE001 - report, then exit
                print(f"interceptor: replay worker {index} failed: {e!r}", file=sys.stderr)
            finally:
                os._exit(code)
        os.close(write_end)
        if compressed:
            os.close(feed_read)
            feeds.append(feed_write)
        children.append((pid, read_end))
    fed = _feed(args.file, feeds) if compressed else None
    results = []
    for index, (pid, fd) in enumerate(children):
        with os.fdopen(fd, "rb") as f:
            data = f.read()  # a worker's counters: small, read to its end
        _, status = os.waitpid(pid, 0)
        joined = round(time.monotonic() - started, 4)
        if os.waitstatus_to_exitcode(status) != 0 or not data:
            results.append({"crashed": f"replay worker {index} exited with {os.waitstatus_to_exitcode(status)}: "
                                       "its connections' pairs may be missing"})
            continue
        result = orjson.loads(data)
        result["timeline"]["joined_s"] = joined  # its exit seen by the parent
        results.append(result)
    return results, fed


def _feed_pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    try:  # a MiB in flight: the workers read whole blocks, as from a file
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, FEED_PIPE_BYTES)
    except OSError:  # above the system's pipe-max-size: the default (64 KiB) still works
        pass
    return read_end, write_end


def _feed(path: str, feeds: list[int]) -> CaptureError | None:
    """Decompress ``path`` once, writing every block to every worker's stream, then close them
    (the workers see the end of the file). A worker that exits early (its pipe broken) is left
    out; the parent reports it as crashed. The error that stopped the read, if any."""
    alive = list(feeds)
    error = None
    try:
        with CaptureReader(path) as reader:
            for block in reader.blocks():
                for fd in list(alive):
                    try:
                        view = memoryview(block)
                        while view:
                            view = view[os.write(fd, view):]
                    except BrokenPipeError:
                        alive.remove(fd)
    except CaptureError as e:
        error = e
    finally:
        for fd in feeds:
            os.close(fd)
    return error


class Marks:
    """When a worker reached each step, in seconds after the parent forked the first worker
    (``time.monotonic`` is one clock for every process of the machine)."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.at: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.at[name] = round(time.monotonic() - self.started, 4)

    def batches(self, batches: Iterator[list[Packet]]) -> Iterator[list[Packet]]:
        """``batches`` as they are, noting when the first and the last of them came (a batch is a
        block of about a MiB of the file: a few hundred of them, so this costs nothing)."""
        for batch in batches:
            if "first_batch_s" not in self.at:
                self.mark("first_batch_s")
            yield batch
        self.mark("fed_s")


def _work(args: argparse.Namespace, cfg: Any, index: int, workers: int, lock: str, started: float,
          stream: BinaryIO | None) -> dict[str, Any]:
    """One worker: its own sinks and pipeline over its connections of the file (or of ``stream``,
    the parent's decompressed copy of it)."""
    from interceptor.cli import Progress, replay_file

    marks = Marks(started)
    marks.mark("forked_s")
    counters = Counters()
    reader = CaptureReader(args.file, stream)
    output = Output(cfg, counters, open_sinks(args, cfg, counters, shared_lock=lock if args.out else None),
                    wait_for_sync=True)
    pipeline = Pipeline(cfg, counters, output.stages, source={"kind": "pcap-file", "file": str(args.file)})
    marks.mark("ready_s")
    error = replay_file(reader, pipeline, output, Progress(enabled=False),
                        marks.batches(reader.batches(Sharder(workers), index)))
    reader.close()
    marks.mark("replayed_s")  # the pipeline closed: every pair went to the sinks
    reports = output.close(cfg.kafka.flush_timeout_s)
    marks.mark("closed_s")
    for report in reports:
        report["worker"] = index
    usage = resource.getrusage(resource.RUSAGE_SELF)
    timeline = {"worker": index, **marks.at, "user_s": round(usage.ru_utime, 3), "sys_s": round(usage.ru_stime, 3),
                "minor_faults": usage.ru_minflt, "max_rss_kib": usage.ru_maxrss}
    return {"counters": counters.snapshot(), "packets": reader.packets, "format": reader.format, "offset": reader.offset,
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "timeline": timeline,
            "linktypes": sorted(reader.linktypes), "error": str(error) if error else None, "reports": reports}


def _timeline(start: Any, end: Any, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Where a replay's time went (``--stats``: ``timeline``): the parent's start-up CPU and what it
    spent while the workers ran; per worker, when it was forked, ready, fed its first and last
    block, had replayed (pipeline closed), closed its sinks and was seen to exit (seconds after the
    first fork), its own CPU since the fork (user, system) and page faults (copy-on-write ones included)."""
    return {"parent": {"start_user_s": round(start.ru_utime, 3), "start_sys_s": round(start.ru_stime, 3),
                       "after_fork_cpu_s": round(end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime, 3)},
            "workers": [res["timeline"] for res in results if "timeline" in res]}
