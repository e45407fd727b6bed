"""``capture.workers: N``: N processes share the taps through PACKET_FANOUT, one pipeline each.

The ``interceptor run`` process becomes a supervisor. It forks the workers before it starts any
thread, then does what needs one view of the node: discovery, opening the taps, the metrics
endpoint, signals. For every planned tap it opens N ring sockets in one fanout group
(``capture/ring.py``: PACKET_FANOUT_HASH, symmetric, so both directions of a connection reach the
same worker) and hands worker *i* its member over a Unix socket (SCM_RIGHTS). The sockets get their
real filter only once all N have joined, so no connection is split by the group changing size.

Each worker is an ``Agent`` without discovery: its own Pipeline, guards and sinks (its own Kafka
producer; JSON Lines appended to the one ``--out`` file in whole-line writes under a lock, see
``sinks/jsonl.py``). About once a second it sends its counters and per-tap numbers to the
supervisor, which adds them up: one metrics endpoint, one ``--stats`` file, kernel drops of every
worker's ring counted. SIGTERM/SIGINT: the supervisor tells every worker to stop; each drains its
rings, flushes its sinks and sends its final counters. A worker that dies stops the agent (exit 1):
its connections cannot move to another worker without loss, and the DaemonSet restarts the pod.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from interceptor.app import worker_config
from interceptor.capture.live import RingTap, TapStats
from interceptor.capture.ring import RingShape, RingSocket, fanout_group, open_ring_sockets
from interceptor.config import Config, ConfigError
from interceptor.counters import DROP_PREFIX, Counters
from interceptor.discovery.netns import NetnsError, run_in_netns
from interceptor.discovery.plan import TapSpec

log = logging.getLogger("interceptor.workers")
MAX_STATS = 1 << 20  # one stats message, worker -> supervisor (SOCK_SEQPACKET keeps them whole)
MAX_CONTROL = 1 << 16  # one control message, supervisor -> worker
CONTROL_EVERY_S = 0.05  # how often a busy worker looks for control messages (taps opened or closed)
# The longest a worker's poll waits with nothing to read. Its control socket wakes the poll too, so
# this bounds only how soon a signal sent to the worker itself is noticed: at 0.05 s the two workers
# and the supervisor woke ~51 times a second idle (11 ms of CPU a second, bench/live.py --idle).
IDLE_WAIT_S = 0.25
TLS_WAIT_S = 0.05  # with TLS on (worker 0), its plaintext ring is polled between turns
STATS_EVERY_S = 1.0
STALE_S = 30.0  # a worker silent for this long makes /healthz fail


# -- messages ----------------------------------------------------------------------------------
def send(sock: socket.socket, msg: dict[str, Any], fds: list[int] | None = None) -> None:
    data = orjson.dumps(msg)
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive(sock: socket.socket, bufsize: int) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors that came with it; (None, []) when the peer is gone."""
    data, fds, _flags, _addr = socket.recv_fds(sock, bufsize, 4)
    if not data:
        return None, fds
    return orjson.loads(data), fds


def spec_to_wire(spec: TapSpec) -> dict[str, Any]:
    return {"kind": spec.kind, "interface": spec.interface, "netns": spec.netns, "ns_path": spec.ns_path,
            "pod_uid": spec.pod_uid, "names": list(spec.names)}


def spec_from_wire(d: dict[str, Any]) -> TapSpec:
    return TapSpec(d["kind"], d["interface"], d["netns"], d["ns_path"], d["pod_uid"], tuple(d["names"]))


# -- worker side -------------------------------------------------------------------------------
def run_worker(index: int, ctrl: socket.socket, cfg: Config, args: argparse.Namespace, node: str,
               lock_path: str) -> int:
    """The body of worker ``index`` (in the forked child)."""
    from interceptor.agent import Agent, startup_heap_frozen
    from interceptor.app import open_sinks

    counters = Counters()
    sinks = open_sinks(args, cfg, counters, shared_lock=lock_path)
    agent = Agent(cfg, counters, sinks, node)
    stopping = [False]

    def on_term(signum: int, _frame: Any) -> None:
        stopping[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # Ctrl-C reaches the whole process group
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # rescans are the supervisor's
    ctrl.setblocking(False)
    with startup_heap_frozen():
        _loop(index, ctrl, agent, cfg, node, stopping)
    reports = agent.shutdown()
    _report(ctrl, index, agent, final=True, reports=reports)
    return 0


def _loop(index: int, ctrl: socket.socket, agent: Any, cfg: Config, node: str, stopping: list[bool]) -> None:
    """A worker's capture loop: its taps, the supervisor's messages, its housekeeping."""
    next_tick = next_control = time.monotonic()
    agent.taps.wake_on(ctrl.fileno())
    while not stopping[0]:
        wait = IDLE_WAIT_S if agent.tls is None else TLS_WAIT_S
        agent.taps.poll_once(max(0.0, min(wait, next_tick - time.monotonic())))
        if agent.tls is not None:
            agent.tls.poll(0)
        mono = time.monotonic()
        # After a turn that read nothing (a timeout, or the control socket woke the poll), and every
        # CONTROL_EVERY_S while busy: not every turn, a turn can be a few packets long.
        if agent.taps.last_turn == 0 or mono >= next_control:
            next_control = mono + CONTROL_EVERY_S
            if not _control(ctrl, agent, cfg, node):
                stopping[0] = True
        if mono >= next_tick:
            agent.housekeeping(time.time())
            _report(ctrl, index, agent, final=False)
            next_tick = mono + STATS_EVERY_S


def _control(ctrl: socket.socket, agent: Any, cfg: Config, node: str) -> bool:
    """Apply what the supervisor sent; False when it said stop (or is gone)."""
    while True:
        try:
            msg, fds = receive(ctrl, MAX_CONTROL)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if msg is None:
            return False
        op = msg.get("op")
        if op == "open" and fds:
            spec = spec_from_wire(msg["spec"])
            try:
                ring = RingSocket(socket.socket(fileno=fds[0]), RingShape(**msg["shape"]))
            except OSError as e:  # cannot map it (memory): this worker's share of the tap is lost
                agent.counters.inc("capture.tap_open_failed")
                log.warning("cannot map the ring of %s: %s", spec.interface, e)
            else:
                agent.taps.adopt(RingTap(spec, cfg.capture, node, ring))
        elif op == "close":
            agent.taps.drop_tap(tuple(msg["key"]))
        elif op == "stop":
            return False
        for fd in fds[1:] if op == "open" else fds:
            os.close(fd)


def _report(ctrl: socket.socket, index: int, agent: Any, final: bool, reports: list[Any] | None = None) -> None:
    msg = {
        "op": "stats", "worker": index, "final": final, "cpu_s": time.process_time(),
        "counts": dict(agent.counters.counts), "gauges": dict(agent.counters.gauges),
        "taps": [[list(tap.spec.key), tap.source, asdict(tap.stats)] for tap in agent.taps.taps.values()],
        "sinks": reports or [],
    }
    try:
        ctrl.setblocking(True)
        send(ctrl, msg)
    except OSError:
        pass  # the supervisor is gone; nothing to report to
    finally:
        ctrl.setblocking(False)


# -- supervisor side ---------------------------------------------------------------------------
@dataclass
class Worker:
    index: int
    pid: int
    ctrl: socket.socket
    counts: dict[str, int] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    taps: list[Any] = field(default_factory=list)
    cpu_s: float = 0.0
    sinks: list[Any] = field(default_factory=list)
    final: bool = False
    gone: bool = False
    last_seen: float = field(default_factory=time.monotonic)


def fork_workers(cfg: Config, args: argparse.Namespace, node: str, n: int, lock_path: str) -> list[Worker]:
    """Start N workers. Call before any thread exists (fork copies only the calling thread)."""
    workers: list[Worker] = []
    for index in range(n):
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                parent_end.close()
                for w in workers:
                    w.ctrl.close()
                code = run_worker(index, child_end, worker_config(cfg, index, n), args, node, lock_path)
            except BaseException:  # noqa: BLE001 - a child must never return into the parent's code
                log.exception("worker %d failed", index)
            finally:
                os._exit(code)
        child_end.close()
        workers.append(Worker(index, pid, parent_end))
    return workers


class MergedCounters(Counters):
    """The supervisor's own counters plus the latest numbers of every worker, as one registry for
    the metrics endpoint and ``--stats``. Gauges are summed (flows, bytes, RSS), except those the
    supervisor sets itself (``capture.taps``, ``workers``)."""

    def __init__(self, workers: list[Worker]) -> None:
        super().__init__()
        self.workers = workers

    def merged(self) -> tuple[dict[str, int], dict[str, float]]:
        with self._lock:
            counts: dict[str, int] = dict(self.counts)
            own_gauges = dict(self.gauges)
            gauges: dict[str, float] = {}
            for w in self.workers:
                for k, v in w.counts.items():
                    counts[k] = counts.get(k, 0) + v
                for k, g in w.gauges.items():
                    gauges[k] = gauges.get(k, 0) + g
        gauges.update(own_gauges)
        return counts, gauges

    def snapshot(self) -> dict[str, object]:
        counts, gauges = self.merged()
        return {
            "counts": {k: v for k, v in sorted(counts.items()) if not k.startswith(DROP_PREFIX)},
            "dropped": {k[len(DROP_PREFIX):]: v for k, v in sorted(counts.items()) if k.startswith(DROP_PREFIX)},
            "gauges": gauges,
        }

    def get(self, name: str) -> int:
        return self.merged()[0].get(name, 0)

    def drops(self) -> dict[str, int]:
        return {k[len(DROP_PREFIX):]: v for k, v in self.merged()[0].items() if k.startswith(DROP_PREFIX)}

    def tap_stats(self) -> list[tuple[dict[str, str], TapStats]]:
        """Per-tap numbers summed over the workers (each reads its share of the same interface)."""
        merged: dict[tuple[str, ...], tuple[dict[str, str], TapStats]] = {}
        with self._lock:
            for w in self.workers:
                for key, source, st in w.taps:
                    entry = merged.setdefault(tuple(key), (source, TapStats()))
                    for name, value in st.items():
                        setattr(entry[1], name, getattr(entry[1], name) + value)
        return list(merged.values())


class Supervisor:
    """Discovery and tap sockets for N workers; collects their numbers."""

    def __init__(self, cfg: Config, counters: MergedCounters, workers: list[Worker]) -> None:
        self.cfg = cfg
        self.counters = counters
        self.workers = workers
        self.planned: dict[tuple[str, str, str], TapSpec] = {}
        self._failed_once: set[tuple[str, str, str]] = set()
        self.salt = os.getpid()
        self.lost_worker: str | None = None  # why the agent must stop (a worker died)

    # -- taps ---------------------------------------------------------------------------------
    def sync(self, specs: list[TapSpec]) -> tuple[int, int]:
        wanted = {s.key: s for s in specs}
        closed = 0
        for key in [k for k in self.planned if k not in wanted]:
            del self.planned[key]
            self._broadcast({"op": "close", "key": list(key)})
            self.counters.inc("capture.tap_closed")
            closed += 1
        opened = 0
        for key, spec in wanted.items():
            if key not in self.planned and self._open(spec):
                self.planned[key] = spec
                opened += 1
        self.counters.set_gauge("capture.taps", len(self.planned))
        return opened, closed

    def _open(self, spec: TapSpec) -> bool:
        cap = self.cfg.capture
        n = len(self.workers)

        def make() -> tuple[list[socket.socket], RingShape]:
            group = fanout_group(socket.if_nametoindex(spec.interface), self.salt)
            return open_ring_sockets(spec.interface, cap.bpf_filter, cap.snaplen, cap.buffer_bytes,
                                     cap.block_timeout_ms, members=n, fanout=group)

        try:
            socks, shape = run_in_netns(spec.ns_path, make) if spec.ns_path else make()
        except (OSError, NetnsError) as e:
            self.counters.inc("capture.tap_open_failed")
            if spec.key not in self._failed_once:
                self._failed_once.add(spec.key)
                log.warning("cannot open tap %s on %s in %s: %s", spec.kind, spec.interface, spec.netns, e)
            return False
        self._failed_once.discard(spec.key)
        try:
            for worker, sock in zip(self.workers, socks, strict=True):
                send(worker.ctrl, {"op": "open", "spec": spec_to_wire(spec), "shape": asdict(shape)}, [sock.fileno()])
        except OSError as e:
            self._lost(f"sending a tap to a worker failed: {e}")
        finally:
            for sock in socks:
                sock.close()  # the workers hold theirs; a worker that exits takes its member out
        self.counters.inc("capture.tap_opened")
        log.info("tap %s on %s (%s) shared by %d workers", spec.kind, spec.interface, spec.netns, n)
        return True

    def _broadcast(self, msg: dict[str, Any]) -> None:
        for w in self.workers:
            if not w.gone:
                try:
                    send(w.ctrl, msg)
                except OSError:
                    pass

    # -- numbers from the workers ----------------------------------------------------------------
    def poll(self, timeout_s: float) -> None:
        """Take the workers' messages (waiting up to ``timeout_s``); notice a worker that died."""
        live = {w.ctrl.fileno(): w for w in self.workers if not w.gone}
        if not live:
            time.sleep(timeout_s)
            return
        try:
            ready, _, _ = select.select(list(live), [], [], timeout_s)
        except InterruptedError:
            return
        for fd in ready:
            self._take(live[fd])

    def _take(self, w: Worker) -> None:
        try:
            msg, fds = receive(w.ctrl, MAX_STATS)
        except OSError:
            msg, fds = None, []
        for fd in fds:
            os.close(fd)
        if msg is None:
            w.gone = True
            if not w.final:
                self.counters.inc("workers.died")
                self._lost(f"worker {w.index} (pid {w.pid}) exited unexpectedly")
            return
        with self.counters._lock:
            w.counts, w.gauges, w.taps = msg["counts"], msg["gauges"], msg["taps"]
            w.cpu_s, w.sinks = msg["cpu_s"], msg["sinks"]
            w.final = msg["final"]
            w.last_seen = time.monotonic()

    def _lost(self, why: str) -> None:
        if self.lost_worker is None:
            self.lost_worker = why
            log.error("%s: stopping the agent", why)

    def healthy(self) -> bool:
        now = time.monotonic()
        return self.lost_worker is None and all(now - w.last_seen < STALE_S for w in self.workers)

    def stop(self, timeout_s: float) -> None:
        """Tell every worker to stop, wait for their final numbers, reap them (SIGKILL past the
        deadline, counted as ``workers.killed``)."""
        self._broadcast({"op": "stop"})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not all(w.final or w.gone for w in self.workers):
            self.poll(0.2)
        for w in self.workers:
            if not (w.final or w.gone):
                self.counters.inc("workers.killed")
                log.error("worker %d did not stop in time: killed", w.index)
                try:
                    os.kill(w.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for w in self.workers:
            try:
                os.waitpid(w.pid, 0)
            except ChildProcessError:
                pass
            w.ctrl.close()


def _capture_service(cfg: Config, counters: Counters, node: str) -> Any:
    """The capture API in the supervisor (it owns the metrics port): captures open taps of their own,
    so they need no worker; pods named by Kubernetes name are asked of the API server (the index
    lives in the workers) and the decrypted-TLS interface is not available (TLS runs in worker 0)."""
    if not (cfg.captures.enabled and cfg.metrics.listen):
        return None
    from interceptor.captures.service import CaptureService

    try:
        return CaptureService(cfg, counters, node)
    except ConfigError as e:
        counters.inc("captures.unavailable")
        log.error("capture API off: %s", e)
        return None


# -- the command ---------------------------------------------------------------------------------
def supervise(args: argparse.Namespace, cfg: Config, node: str) -> int:
    """``interceptor run`` with ``capture.workers`` > 1 (called by ``agent.cmd_run``)."""
    from interceptor.agent import TICK_S, Discovery
    from interceptor.app import StatsFile
    from interceptor.metrics import Health, MetricsServer

    n = cfg.capture.workers
    stats = StatsFile(args.stats, args.out)
    lock_path = f"/tmp/interceptor-jsonl-{os.getpid()}.lock"
    if args.out and args.out != "-":
        from interceptor.errors import UsageError

        try:
            open(args.out, "wb").close()  # the workers append to it  # noqa: SIM115
        except OSError as e:
            raise UsageError(f"--out {args.out}: cannot write: {e.strerror or e}") from None
    started = time.monotonic()
    # The live stream lives beside one pipeline on the metrics port; with several pipelines it is not
    # served yet (the capture API is: _capture_service). Said once, at start, so nobody looks in vain.
    if cfg.stream.enabled and cfg.metrics.listen:
        log.warning("capture.workers %d: the live stream is not available with more than one worker "
                    "(use workers: 1 for it)", n)
    workers = fork_workers(cfg, args, node, n, lock_path)  # before any thread starts
    counters = MergedCounters(workers)
    counters.set_gauge("workers", n)
    sup = Supervisor(cfg, counters, workers)
    discovery = Discovery(cfg, counters)
    health = Health()
    metrics = None
    stop = [False]
    rescan = [True]

    def on_term(signum: int, _frame: Any) -> None:
        stop[0] = True

    def on_hup(signum: int, _frame: Any) -> None:
        rescan[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    captures = _capture_service(cfg, counters, node)
    try:
        if cfg.metrics.listen:
            apis = [captures.start().api] if captures is not None else []
            metrics = MetricsServer(cfg.metrics.listen, counters, health, counters.tap_stats, apis).start()
            log.info("metrics on %s (port %d), %d workers", cfg.metrics.listen, metrics.port, n)
        next_scan = next_tick = time.monotonic()
        while not stop[0] and sup.lost_worker is None:
            mono = time.monotonic()
            if rescan[0] or mono >= next_scan:
                rescan[0] = False
                specs = discovery.plan()
                if specs is not None:
                    opened, closed = sup.sync(specs)
                    if opened or closed:
                        log.info("rescan: %d taps (+%d -%d)", len(sup.planned), opened, closed)
                    health.ready = True
                next_scan = mono + cfg.capture.rescan_interval_s
            sup.poll(0.1)
            if mono >= next_tick:
                if sup.healthy():
                    health.beat()
                next_tick = mono + TICK_S
            if args.duration is not None and mono - started >= args.duration:
                break
    finally:
        if captures is not None:
            captures.close()
        sup.stop(cfg.metrics.stop_timeout_s + 5.0)
        if metrics is not None:
            metrics.close()
        try:
            os.unlink(lock_path)
        except FileNotFoundError:
            pass
    elapsed = time.monotonic() - started
    reports = [r for w in workers for r in w.sinks]
    cpu = time.process_time() + sum(w.cpu_s for w in workers)
    extra = {"node": node, "elapsed_s": round(elapsed, 3), "cpu_s": round(cpu, 3), "sinks": reports,
             "workers": [{"index": w.index, "pid": w.pid, "cpu_s": round(w.cpu_s, 3), "final": w.final,
                          "pairs": w.counts.get("pairs.emitted", 0)} for w in workers]}
    stats_error = stats.write(counters, extra)
    drops = counters.drops()
    print(f"interceptor run: {counters.get('capture.packets')} packets, {counters.get('pairs.emitted')} pairs, "
          f"{sum(drops.values())} dropped {dict(sorted(drops.items()))} in {elapsed:.1f}s ({n} workers)",
          file=sys.stderr)
    problems = [r["error"] for r in reports if r.get("error")] + ([stats_error] if stats_error else [])
    problems += [sup.lost_worker] if sup.lost_worker else []
    problems += [f"worker {w.index} did not report its final numbers" for w in workers if not w.final]
    for problem in problems:
        print(f"interceptor: {problem}", file=sys.stderr)
    return 1 if problems else 0
