"""The wiring shared by the commands (``replay``, ``run``, workers): flags as one override layer of
the config model, the one node-name rule, the sinks and what happens to an emitted pair
(``Output``), and the ``--stats`` file. The commands themselves live in cli.py (replay) and
agent.py (run, discover, coverage); neither imports the other.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import orjson

from interceptor.config import Config, load_config
from interceptor.counters import Counters
from interceptor.errors import UsageError
from interceptor.sinks.base import Sink
from interceptor.stages import Enrich, Publish, Stage, Stages


def add_common_args(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that produces pairs."""
    p.add_argument("--config", metavar="PATH", help="YAML configuration file")
    p.add_argument("--out", metavar="PATH", help="write pairs as JSON Lines to PATH ('-' for stdout)")
    p.add_argument("--kafka", metavar="BOOTSTRAP", help="publish pairs to Kafka at BOOTSTRAP (host:port,...)")
    p.add_argument("--topic", metavar="TOPIC", help="Kafka topic for pairs (default from config: pairs)")
    p.add_argument("--keep-all", action="store_true", help="disable content-type, status, URL and header filters")
    p.add_argument("--stats", metavar="PATH", help="write counters as JSON to PATH at the end ('-' for stdout)")


def config_from_args(args: argparse.Namespace) -> Config:
    """The config file (and environment), then the command's flags as one override layer: every
    flag of every command is applied here and nowhere else."""
    cfg = load_config(getattr(args, "config", None))
    flag = lambda name: getattr(args, name, None)  # noqa: E731 - commands have different flags
    if flag("keep_all"):
        cfg.filters.keep_all = True
    if flag("kafka"):
        cfg.kafka.bootstrap_servers = args.kafka
    if flag("topic"):
        cfg.kafka.topic = args.topic
    cap = cfg.capture
    cap.include_namespaces += flag("include_netns") or []
    cap.exclude_namespaces += flag("exclude_netns") or []
    cap.include_interfaces += flag("include_interface") or []
    cap.exclude_interfaces += flag("exclude_interface") or []
    if flag("tls"):
        cfg.tls.enabled = True
    if flag("rescan") is not None:
        cap.rescan_interval_s = args.rescan
    if flag("metrics") is not None:
        cfg.metrics.listen = args.metrics
    if hasattr(args, "node"):  # `run`: the node name is settled once, by the one rule
        cfg.node_name = node_name(cfg, args.node)
    return cfg


def worker_config(cfg: Config, index: int, workers: int) -> Config:
    """What changes for one of N workers (``capture.workers``, ``replay --workers``): its share of
    the agent's CPU and memory limits and of the core's buffer budget and flow table, its own Kafka
    spool directory, and TLS capture (one eBPF reader on the node) in worker 0 only."""
    import copy

    wc = copy.deepcopy(cfg)
    wc.metrics.cpu_limit = cfg.metrics.cpu_limit / workers
    wc.metrics.memory_limit_bytes = cfg.metrics.memory_limit_bytes // workers
    # each worker sees ~1/N of the connections: the N of them hold what one process would
    wc.core.max_buffered_bytes = max(cfg.core.max_buffered_bytes // workers, 1 << 20)
    wc.core.max_flows = max(cfg.core.max_flows // workers, 1)
    if cfg.kafka.spool_dir:
        wc.kafka.spool_dir = os.path.join(cfg.kafka.spool_dir, f"worker-{index}")
    wc.tls.enabled = cfg.tls.enabled and index == 0
    wc.metrics.listen = ""
    return wc


def node_name(cfg: Config, override: str | None = None) -> str:
    """The one rule for this node's name: the flag, the config (top level, then kubernetes), the
    downward API's NODE_NAME, the hostname."""
    name = override or cfg.node_name or cfg.kubernetes.node_name or os.environ.get("NODE_NAME")
    if name:
        return name
    import socket  # here: a replay names no node, and importing socket is ~15M instructions of its start

    return socket.gethostname()


def open_sinks(args: argparse.Namespace, cfg: Config, counters: Counters, shared_lock: str | None = None) -> list[Sink]:
    """The sinks of one pipeline. ``shared_lock``: this is one of ``capture.workers`` processes
    appending to the same ``--out`` (whole lines under that lock file)."""
    sinks: list[Sink] = []
    if args.out:
        from interceptor.sinks.jsonl import JsonlSink, SinkOpenError

        try:
            sinks.append(JsonlSink(args.out, counters, shared_lock))
        except SinkOpenError as e:
            raise UsageError(str(e)) from None
    if cfg.kafka.bootstrap_servers:
        from interceptor.sinks.kafka import KafkaSink

        sinks.append(KafkaSink(cfg.kafka, counters, node=node_name(cfg)))
    return sinks


def open_coverage(args: argparse.Namespace, cfg: Config, counters: Counters, output: Output) -> Any:
    """The connections account's output: ``--coverage PATH`` and/or the Kafka ``connections`` topic."""
    from interceptor.coverage.output import CoverageOutput

    kafka = next((s for s in output.sinks if hasattr(s, "publish_side")), None)
    path = getattr(args, "coverage", None)
    if not path and (kafka is None or not cfg.coverage.topic):
        return None
    namer = getattr(output.enricher, "name_endpoint", None)
    return CoverageOutput(counters, path, kafka, cfg.coverage.topic, namer)


class Output:
    """What happens to an emitted pair, as the pipeline's last ``stages``: Kubernetes enrichment
    (when enabled), then the sinks."""

    def __init__(self, cfg: Config, counters: Counters, sinks: list[Sink], wait_for_sync: bool = False) -> None:
        self.sinks = sinks
        self.coverage: Any = None  # a coverage.output.CoverageOutput when the account is written
        self.watcher: Any = None
        self.enricher: Any = None
        stages: list[Stage] = []
        if cfg.kubernetes.enabled:
            from interceptor.enrich import start_enrichment

            self.enricher, self.watcher = start_enrichment(cfg, counters)
            if wait_for_sync and not self.watcher.wait_synced(cfg.kubernetes.request_timeout_s):
                print("interceptor: the Kubernetes API did not answer in time; pairs carry what is known "
                      "(meta_stale)", file=sys.stderr)
            stages.append(Enrich(self.enricher))
        stages.append(Publish(sinks))
        self.stages = Stages(stages)

    def poll(self) -> None:
        for sink in self.sinks:
            sink.poll()

    def close(self, timeout_s: float) -> list[dict[str, Any]]:
        if self.watcher is not None:
            self.watcher.stop()
        deadline = time.monotonic() + timeout_s
        reports = [self.coverage.close()] if self.coverage is not None else []
        return reports + [sink.close(max(0.0, deadline - time.monotonic())) for sink in self.sinks]


class StatsFile:
    """Where ``--stats`` goes, opened before the work so a bad path fails at once, not after it."""

    def __init__(self, path: str | None, out: str | None = None) -> None:
        self.path = path
        self._fh: Any = None
        if path == "-" and out == "-":
            raise UsageError("--stats - and --out - both name standard output; the counters would mix into the "
                             "JSON Lines stream: give --stats a file")
        if path and path != "-":
            try:
                self._fh = open(path, "wb")  # noqa: SIM115 - closed by write()
            except OSError as e:
                raise UsageError(f"--stats {path}: cannot write: {e.strerror or e}") from None

    def write(self, counters: Counters, extra: dict[str, Any]) -> str | None:
        """Write the counters; the error (one line) when that failed."""
        if not self.path:
            return None
        data = orjson.dumps({**counters.snapshot(), **extra}, option=orjson.OPT_INDENT_2) + b"\n"
        try:
            if self._fh is None:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            else:
                with self._fh:
                    self._fh.write(data)
        except OSError as e:
            return f"--stats {self.path}: write failed: {e.strerror or e}"
        return None


def write_stats(path: str | None, counters: Counters, extra: dict[str, Any]) -> None:
    """Write the counters to ``path`` at once (callers that did not open a StatsFile up front)."""
    error = StatsFile(path).write(counters, extra)
    if error is not None:
        print(f"interceptor: {error}", file=sys.stderr)


def add_selection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--include-netns", action="append", metavar="GLOB",
                   help="tap only namespaces whose inode, net:[inode], netns name or pod UID matches")
    p.add_argument("--exclude-netns", action="append", metavar="GLOB")
    p.add_argument("--include-interface", action="append", metavar="GLOB", help="host-side interface names")
    p.add_argument("--exclude-interface", action="append", metavar="GLOB",
                   help="added to the default exclusion list")
