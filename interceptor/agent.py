"""The node agent: ``interceptor run`` (live capture into the pipeline) and ``interceptor discover``.

``run`` is the DaemonSet's main loop. One thread does everything on the hot path: poll all taps,
dispatch a bounded number of packets from each into ONE shared Pipeline (the same connection seen
on two taps is one flow; the duplicates count as retransmissions), tick the pipeline about once a
second, rescan the node periodically (and on SIGHUP), and on SIGTERM stop the taps and flush pairs
in flight to the sinks within ``metrics.stop_timeout_s``. The metrics endpoint runs in a daemon
thread and only reads.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from contextlib import AbstractContextManager
from typing import Any

import orjson

from interceptor import collector
from interceptor.app import (
    Output,
    StatsFile,
    add_common_args,
    add_selection_args,
    config_from_args,
    node_name,
    open_sinks,
)
from interceptor.capture.live import TapSet
from interceptor.capture.ring import ring_geometry
from interceptor.config import Config, ConfigError
from interceptor.counters import Counters
from interceptor.discovery.plan import plan_taps
from interceptor.discovery.scan import Namespace, scan
from interceptor.heap import keep_heap
from interceptor.heap import release as release_heap
from interceptor.metrics import CpuGuard, Health, MemoryGuard, MetricsServer
from interceptor.pipeline import Pipeline
from interceptor.sinks.base import Sink

log = logging.getLogger("interceptor.agent")
TICK_S = 1.0
POLL_S = 0.1


def register(subparsers: Any) -> None:
    """Add ``run`` and ``discover`` to the ``interceptor`` command's subparsers."""
    run = subparsers.add_parser("run", help="capture live traffic of the pods on this node")
    add_common_args(run)
    add_selection_args(run)
    run.add_argument("--node", help="node name in each pair's source (default: config, $NODE_NAME, hostname)")
    run.add_argument("--metrics", metavar="HOST:PORT", help="metrics/probe listen address ('' disables)")
    run.add_argument("--rescan", type=float, metavar="S", help="seconds between discovery passes")
    run.add_argument("--duration", type=float, metavar="S", help="stop by itself after S seconds")
    run.add_argument("--tls", action="store_true", help="also capture TLS plaintext with eBPF uprobes (tls.enabled)")
    run.add_argument("--coverage", metavar="PATH", help="also write the connections account as JSON Lines ('-': stdout)")
    run.set_defaults(func=cmd_run)

    cov = subparsers.add_parser("coverage", help="print this node's connections account (from the running agent)")
    cov.add_argument("--config", metavar="PATH", help="YAML configuration file (metrics.listen, auth.token)")
    cov.add_argument("--url", help="the agent's HTTP port (default: http://127.0.0.1:<metrics.listen port>)")
    cov.add_argument("--json", action="store_true", help="print the JSON document instead of a table")
    cov.set_defaults(func=cmd_coverage)

    disc = subparsers.add_parser("discover", help="show namespaces, pods, interfaces, mesh and the tap plan")
    disc.add_argument("--config", metavar="PATH", help="YAML configuration file")
    add_selection_args(disc)
    disc.add_argument("--json", action="store_true", help="print JSON instead of a table")
    disc.set_defaults(func=cmd_discover)


# -- discover -------------------------------------------------------------------------------------
def cmd_discover(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    spaces = scan(cfg.capture)
    taps, skips = plan_taps(spaces, cfg.capture)
    if args.json:
        doc = {
            "node": node_name(cfg),
            "namespaces": [ns.to_dict() for ns in spaces],
            "taps": [t.to_dict() for t in taps],
            "skipped": [s.to_dict() for s in skips],
        }
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    print(render_table(spaces, taps, skips))
    return 0


def render_table(spaces: list[Namespace], taps: list[Any], skips: list[Any]) -> str:
    tap_by_ns = {t.netns: f"{t.kind} {t.interface}" for t in taps}
    skip_by_ns = {s.netns: f"skip: {s.reason}" for s in skips if s.netns not in tap_by_ns}
    rows = [("NETNS", "NAME/POD", "PROCESSES", "CONTAINERS", "INTERFACES", "HOST VETH", "MESH", "TAP")]
    for ns in spaces:
        ifaces = ", ".join(
            f"{lk.name}({' '.join(a for a in lk.addresses if ':' not in a) or '-'})" for lk in ns.links
        )
        procs = ",".join(sorted({p.name for p in ns.procs}))
        rows.append((
            ns.id + (" host" if ns.is_host else ""),
            ns.pod_uid or ",".join(ns.names) or "-",
            f"{len(ns.procs)} {procs[:40]}",
            str(len(ns.containers)),
            ifaces[:60] or ns.error or "-",
            ",".join(ns.host_peers.values()) or "-",
            ns.mesh.mesh or "-",
            tap_by_ns.get(ns.id) or ("-" if ns.is_host else skip_by_ns.get(ns.id, "-")),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append(f"{len(spaces)} namespaces, {len(taps)} taps")
    return "\n".join(lines)


# -- run ------------------------------------------------------------------------------------------
def startup_heap_frozen() -> AbstractContextManager[None]:
    """While the capture loop runs, what start-up made (modules, config, sinks, the cluster index)
    is out of the cyclic collector's sight (interceptor.collector; as ``replay`` does). Collected first:
    the agent lives long, so start-up's garbage is freed rather than frozen."""
    return collector.frozen(collect=True)


def capture_clock(wall: float, newest: float, reading: bool) -> float:
    """The time to expire the pipeline's waits by (``newest``: the pipeline's clock, the newest
    packet read or the last tick). While the taps are giving packets, that: an agent behind its
    traffic (starved, catching up from the kernel's buffer) reads packets seconds old, and by the
    wall clock a request whose response is still in the ring would expire as ``response_timeout``
    (seen with 13 s of backlog in bench/live.py); caught up, the two differ by at most a block
    timeout. Once a turn finds the taps empty, the wall clock, so idle flows expire with no traffic."""
    return newest if reading and newest else wall


class Discovery:
    """One discovery pass at a time: the taps to have now, counted and timed; each skipped
    namespace or interface is logged once, so none is skipped silently."""

    def __init__(self, cfg: Config, counters: Counters) -> None:
        self.cfg = cfg
        self.counters = counters
        self._skips_logged: set[tuple[str, str, str]] = set()

    def plan(self) -> list[Any] | None:
        """The planned taps, or None when discovery failed (keep the taps we have; retry later)."""
        started = time.monotonic()
        try:
            specs, skips = plan_taps(scan(self.cfg.capture), self.cfg.capture)
        except Exception:  # noqa: BLE001 - keep the taps we have; try again next time
            self.counters.inc("discovery.failed")
            log.exception("discovery failed")
            return None
        for skip in skips:
            key = (skip.netns, skip.interface, skip.reason)
            if key not in self._skips_logged:
                self._skips_logged.add(key)
                log.info("not tapped: netns %s %s: %s", skip.netns, skip.interface or "-", skip.reason)
        self.counters.inc("discovery.scans")
        self.counters.set_gauge("discovery.last_scan_s", round(time.monotonic() - started, 4))
        return specs


class Agent:
    """Owns the taps, the shared pipeline and the sinks for one ``run``."""

    def __init__(self, cfg: Config, counters: Counters, sinks: list[Sink], node: str,
                 coverage_path: str | None = None) -> None:
        from interceptor.coverage.node import NodeCoverage

        self.cfg = cfg
        self.counters = counters
        self.output = Output(cfg, counters, sinks)
        self.pipeline = Pipeline(cfg, counters, self.output.stages, source={"kind": "pcap-veth", "node": node})
        self.tls: Any = None
        self.captures: Any = None
        stream_sink: Any = self.pipeline
        if cfg.captures.enabled and cfg.metrics.listen:  # the capture API lives on the metrics port
            from interceptor.captures.service import CaptureService, PlaintextTee

            enricher = self.output.enricher
            try:
                self.captures = CaptureService(cfg, counters, node, enricher.index if enricher else None,
                                               self.output.watcher.lock if enricher else None,
                                               tls_available=lambda: self.tls is not None)
            except ConfigError as e:  # e.g. captures.dir not writable: pair capture goes on without it
                counters.inc("captures.unavailable")
                log.error("capture API off: %s", e)
            else:
                stream_sink = PlaintextTee(self.pipeline, self.captures.manager, cfg.capture.proc_root)
        if cfg.tls.enabled:  # None when BPF is not possible here: logged and counted, capture goes on
            from interceptor.tls.source import start_tls_source

            self.tls = start_tls_source(cfg, counters, stream_sink, self._tls_scope())
        self.coverage = NodeCoverage(cfg, counters, self.pipeline, self.tls, self.output, node, coverage_path)
        self.guard = MemoryGuard(cfg.metrics.memory_limit_bytes, counters)
        # The heap top stays mapped while capturing: no fresh (faulted, zeroed) pages per block
        # copied out of a ring (interceptor/heap.py: ~10 % of the agent's CPU was system time).
        keep_heap(ring_geometry(cfg.capture.buffer_bytes, cfg.capture.snaplen)[0])
        self.cpu_guard = CpuGuard(cfg.metrics.cpu_limit, counters)
        # Packets go straight to the pipeline (which counts its own failures); while the memory
        # guard is over its limit the taps get ``drop_packet`` instead (see housekeeping).
        self.taps = TapSet(cfg.capture, counters, self.pipeline.feed_packet, node)
        self.health = Health()
        self.stopping = False
        self.rescan_requested = True
        self.discovery = Discovery(cfg, counters)

    def _tls_scope(self) -> Any:
        """tls.*_namespaces / *_pods: a process's pod from its cgroup and the Kubernetes index."""
        if not self.cfg.tls.pod_rules or self.output.enricher is None:
            return None
        from interceptor.tls.scope import PodScope

        return PodScope(self.cfg.tls, self.output.enricher.index, self.output.watcher.lock,
                        self.cfg.capture.proc_root)

    def drop_packet(self, ts: float, data: bytes, linktype: int, source: dict[str, Any]) -> None:
        """What the taps feed while RSS is over the memory limit."""
        self.counters.drop("memory_limit")

    def rescan(self) -> None:
        specs = self.discovery.plan()
        if specs is None:
            return
        opened, closed = self.taps.sync(specs)
        if opened or closed:
            log.info("rescan: %d taps (+%d -%d)", len(self.taps.taps), opened, closed)
        self.health.ready = True

    def housekeeping(self, now: float) -> None:
        self.pipeline.tick(capture_clock(now, self.pipeline.now, self.taps.last_turn > 0))
        self.coverage.tick(now)
        self.output.poll()
        self.taps.refresh_stats()
        over = self.guard.check()
        if over:  # what the heap keeps counts in RSS: give it back so RSS can fall under the mark
            release_heap()
        self.taps.on_packet = self.drop_packet if over else self.pipeline.feed_packet
        self.pipeline.accept_new_flows = not self.cpu_guard.check()
        self.health.beat()

    def run(self, duration: float | None = None) -> None:
        with startup_heap_frozen():
            self._loop(duration)

    def _loop(self, duration: float | None) -> None:
        cap = self.cfg.capture
        start = time.monotonic()
        next_tick = next_scan = start
        while not self.stopping:
            mono = time.monotonic()
            if self.rescan_requested or mono >= next_scan:
                self.rescan_requested = False
                self.rescan()
                next_scan = mono + cap.rescan_interval_s
            self.taps.poll_once(POLL_S)
            if self.tls is not None:
                self.tls.poll(0)  # TLS plaintext goes through the same pipeline, on this thread
            mono = time.monotonic()
            if mono >= next_tick:
                self.housekeeping(time.time())
                next_tick = mono + TICK_S
            if duration is not None and mono - start >= duration:
                break

    def shutdown(self) -> list[dict[str, Any]]:
        """Drain what the kernel already captured (bounded), stop the taps, flush pairs in flight."""
        deadline = time.monotonic() + self.cfg.metrics.stop_timeout_s
        drain_until = time.monotonic() + self.cfg.metrics.stop_timeout_s / 2  # the rest is for the sinks
        while time.monotonic() < drain_until and self.taps.poll_once(0.0) > 0:
            pass
        self.taps.refresh_stats()
        self.taps.close_all()
        if self.captures is not None:
            self.captures.close()  # running captures end as "shutdown", their files complete
        if self.tls is not None:
            self.tls.close()
        self.pipeline.close(time.time())
        coverage = self.coverage.finish(time.time())
        return [coverage] + self.output.close(max(0.0, deadline - time.monotonic()))


def cmd_run(args: argparse.Namespace) -> int:
    from interceptor.errors import UsageError
    from interceptor.metrics import check_listen

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = config_from_args(args)
    node = cfg.node_name  # settled by config_from_args (the one node-name rule)
    busy = check_listen(cfg.metrics.listen) if cfg.metrics.listen else None
    if busy is not None:
        raise UsageError(busy)
    if cfg.capture.workers < 1:
        raise ConfigError(f"capture.workers: {cfg.capture.workers} (must be 1 or more)")
    if cfg.capture.workers > 1:
        if cfg.capture.source != "ring":
            raise ConfigError("capture.workers > 1 needs capture.source: ring (a pypcap handle cannot join "
                              "a fanout group)")
        from interceptor.workers import supervise

        return supervise(args, cfg, node)
    counters = Counters()
    stats = StatsFile(args.stats, args.out)
    sinks = open_sinks(args, cfg, counters)
    routes, stage = _stream_routes(cfg, counters, node)
    agent = Agent(cfg, counters, sinks + ([stage] if stage is not None else []), node, args.coverage)
    metrics = None
    if cfg.metrics.listen:
        apis = [agent.captures.start().api] if agent.captures is not None else []
        apis.append(coverage_api(cfg, counters, agent.coverage))
        from interceptor.webauth import server_ssl_context

        tls = server_ssl_context(cfg.metrics.tls_cert_file, cfg.metrics.tls_key_file)
        metrics = MetricsServer(cfg.metrics.listen, counters, agent.health, agent.taps.tap_stats, apis,
                                routes, tls).start()
        log.info("metrics on %s (port %d)", cfg.metrics.listen, metrics.port)

    def on_term(signum: int, _frame: Any) -> None:
        agent.stopping = True

    def on_hup(signum: int, _frame: Any) -> None:
        agent.rescan_requested = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    started = time.monotonic()
    try:
        agent.run(args.duration)
    finally:
        reports = agent.shutdown()
        if metrics is not None:
            metrics.close()
    elapsed = time.monotonic() - started
    stats_error = stats.write(counters, {"node": node, "elapsed_s": round(elapsed, 3),
                                         "cpu_s": round(time.process_time(), 3), "sinks": reports})
    drops = counters.drops()
    print(f"interceptor run: {counters.get('capture.packets')} packets, {counters.get('pairs.emitted')} pairs, "
          f"{sum(drops.values())} dropped {dict(sorted(drops.items()))} in {elapsed:.1f}s", file=sys.stderr)
    problems = [r["error"] for r in reports if r.get("error")] + ([stats_error] if stats_error else [])
    for problem in problems:
        print(f"interceptor: {problem}", file=sys.stderr)
    return 1 if problems else 0


def coverage_api(cfg: Config, counters: Counters, coverage: Any) -> Any:
    """``GET /coverage`` on the metrics port, behind the one bearer token of this port."""
    from interceptor.coverage.node import CoverageApi
    from interceptor.webauth import BearerAuth, load_token

    token = load_token(cfg.auth, service="interceptor")
    cfg.auth.token = token.value  # the same token for every API here (a generated one is shown once)
    return CoverageApi(coverage, BearerAuth(token, counters))


def cmd_coverage(args: argparse.Namespace) -> int:
    from interceptor.coverage.report import fetch, render

    cfg = _config_plain(args)
    doc = fetch(cfg, args.url)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(render(doc))
    return 0


def _config_plain(args: argparse.Namespace) -> Config:
    from interceptor.config import load_config

    return load_config(args.config)


def _stream_routes(cfg: Config, counters: Counters, node: str) -> tuple[dict[str, Any], Any]:
    """The live stream's ``/ws`` on the metrics port (stream.enabled), as a post-pair stage."""
    if not (cfg.stream.enabled and cfg.metrics.listen):
        return {}, None
    from interceptor.streamagent import StreamStage, serve_ws
    from interceptor.webauth import StreamAuth, load_raw_token, load_token

    token = load_token(cfg.auth, service="interceptor")
    # One token for every API on this port: a generated one is made (and shown) once, here.
    cfg.auth.token = token.value
    auth = StreamAuth(token, load_raw_token(cfg.auth), counters)
    stage = StreamStage(cfg, counters, node)
    return {"/ws": lambda handler: serve_ws(handler, stage, auth)}, stage


def main(argv: list[str] | None = None) -> int:
    """``python -m interceptor.agent run|discover`` (the same commands as ``interceptor run|discover``)."""
    parser = argparse.ArgumentParser(prog="interceptor-agent")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
