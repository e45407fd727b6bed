"""Running captures: their taps, their pcapng files, and every bound (count, bytes, disk, time).

A capture opens its OWN taps on the target pod's interfaces — the host side of each veth (or the
pod's interface inside its namespace when it has no veth to the host) and the pod's loopback —
with no kernel filter but the request's, so the file has every packet of the pod whether or not
pair capture taps it; pair capture's taps are untouched. Each tap becomes one pcapng interface;
the eBPF plaintext of the pod's processes is one more (synthesized TCP/IP, ``plaintext.py``).

Bounds, all counted: ``captures.max_concurrent`` running captures (more are refused), the
request's ``max_bytes`` per file (reached: the capture stops with ``byte_cap``), and
``captures.disk_budget_bytes`` over every file in ``captures.dir`` — a write that would pass it
first deletes the oldest captures that finished before it started, and when there are none the
capture stops with ``disk_budget``. Every file's header and end blocks are reserved from the budget when it starts,
so the budget holds exactly, also with many captures at once. Finished captures are deleted after
``retention_s`` or beyond ``max_stored``. A pod that vanishes ends its capture with what it had.

Threads: the API thread starts/stops captures, a capture thread polls the taps, the agent's main
thread hands plaintext in; one lock guards the manager.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from interceptor.capture.live import TapSet
from interceptor.captures.model import CaptureCounts, CaptureRequest, PodView, State, StopReason
from interceptor.captures.pcapng import InterfaceInfo, InterfaceStats, PcapngWriter
from interceptor.captures.plaintext import LINKTYPE_RAW, Address, PlaintextSynth, StreamHold
from interceptor.config import Config, ConfigError
from interceptor.counters import Counters
from interceptor.discovery.netns import path_netns_id
from interceptor.discovery.plan import TapSpec

log = logging.getLogger(__name__)

KIND_VETH = "capture-veth"  # host side of the pod's veth
KIND_POD_IF = "capture-pod-if"  # an interface inside the pod's namespace with no veth to the host
KIND_LOOPBACK = "capture-loopback"
RESERVE_PER_INTERFACE = 512  # bytes kept back for an interface's end-of-capture statistics block
ID_SEP = "~"  # ids are "<node>~<random>": any agent can tell which node holds a capture


class CaptureRefused(Exception):
    """A request that cannot be served now or here: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


def node_of(capture_id: str) -> str:
    return capture_id.rpartition(ID_SEP)[0]


def tap_specs(pod: PodView, links: list[Any], host_peers: dict[str, str]) -> list[TapSpec]:
    """The taps that see every packet of one pod: each interface once, plus its loopback."""
    common = {"netns": pod.netns, "pod_uid": pod.uid, "names": (f"{pod.namespace}/{pod.name}",)}
    specs = []
    for lk in links:
        if lk.loopback:
            if lk.up:
                specs.append(TapSpec(KIND_LOOPBACK, lk.name, ns_path=pod.ns_path, **common))
        elif lk.name in host_peers:
            specs.append(TapSpec(KIND_VETH, host_peers[lk.name], ns_path="", **common))
        elif lk.up:
            specs.append(TapSpec(KIND_POD_IF, lk.name, ns_path=pod.ns_path, **common))
    return specs


@dataclass
class Capture:
    id: str
    request: CaptureRequest
    pods: list[PodView]
    node: str
    path: Path
    created: float
    ends_at: float
    state: State = State.RUNNING
    stop_reason: StopReason | None = None
    finished: float | None = None
    message: str = ""
    extended: int = 0  # alerts that extended the window
    counts: CaptureCounts = field(default_factory=CaptureCounts)
    interfaces: list[dict[str, Any]] = field(default_factory=list)
    reserved: int = 0  # budget bytes held for blocks not written yet
    # live state (not in the status document)
    taps: TapSet | None = None
    tap_counters: Counters = field(default_factory=Counters)
    if_by_key: dict[tuple[str, str, str], int] = field(default_factory=dict)
    if_packets: dict[int, int] = field(default_factory=dict)  # packets written per interface
    writer: PcapngWriter = field(default_factory=PcapngWriter)
    fh: BinaryIO | None = None
    synth: PlaintextSynth | None = None
    hold: StreamHold = field(default_factory=StreamHold)
    plaintext_if: int | None = None
    netns_inodes: frozenset[int] = frozenset()
    had_link_taps: bool = False
    closing: bool = False  # _finish is writing the last blocks

    def status(self) -> dict[str, Any]:
        req = self.request
        return {
            "id": self.id, "node": self.node, "state": self.state.value,
            "stop_reason": self.stop_reason.value if self.stop_reason else None, "message": self.message,
            "target": req.target.to_dict(), "pods": [p.to_dict() for p in self.pods],
            "created": self.created, "ends_at": self.ends_at, "finished": self.finished,
            "duration_s": req.duration_s, "filter": req.bpf_filter, "snaplen": req.snaplen,
            "max_bytes": req.max_bytes, "plaintext": self.plaintext_if is not None,
            "trigger": req.trigger.to_dict(), "extended": self.extended,
            "interfaces": self.interfaces, **self.counts.to_dict(),
        }


class DiskBudget:
    """Bytes of all capture files in the directory, against ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0  # written + reserved

    def take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give_back(self, n: int) -> None:
        self.used = max(0, self.used - n)


Scan = Callable[[], list[Any]]  # discovery: list[Namespace]


class CaptureManager:
    def __init__(self, cfg: Config, counters: Counters, node: str, scan: Scan,
                 tls_available: Callable[[], bool] = lambda: False) -> None:
        self.cfg = cfg
        self.ccfg = cfg.captures
        self.counters = counters
        self.node = node
        self.scan = scan
        self.tls_available = tls_available
        self.dir = Path(self.ccfg.dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"captures.dir: cannot create {self.dir}: {e.strerror}") from None
        self.budget = DiskBudget(self.ccfg.disk_budget_bytes)
        self.captures: dict[str, Capture] = {}
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dispatching = False
        self._release: list[TapSet] = []  # taps of captures that ended inside a dispatch
        self._load_finished()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, request: CaptureRequest, pods: list[PodView], now: float | None = None) -> Capture:
        """Open the taps and the file; raises CaptureRefused (bounds) before anything is opened."""
        now = time.time() if now is None else now
        specs = self._plan(pods)  # discovery outside the lock: the capture thread keeps reading taps
        with self.lock:
            running = sum(1 for c in self.captures.values() if c.state is State.RUNNING)
            if running >= self.ccfg.max_concurrent:
                self._refuse("concurrent", 429, f"{running} captures running (captures.max_concurrent)")
            if not specs:
                self._refuse("no_interfaces", 409, "the pod's network namespace has no interface to tap "
                             "(it vanished, or discovery does not see it)")
            cap_id = f"{self.node}{ID_SEP}{secrets.token_hex(6)}"
            cap = Capture(cap_id, request, pods, self.node, self.dir / f"{cap_id.replace(ID_SEP, '_')}.pcapng",
                          now, now + request.duration_s)
            self._open(cap, specs, request.plaintext and self.tls_available())
            self.captures[cap_id] = cap
            self.counters.inc("captures.started")
            self.counters.inc(f"captures.trigger.{request.trigger.kind}")
            self._gauges()
            log.info("capture %s of %s started for %.0fs (%s)", cap_id, request.target.describe(),
                     request.duration_s, request.trigger.describe())
            return cap

    def _refuse(self, reason: str, status: int, message: str) -> None:
        self.counters.inc(f"captures.refused.{reason}")
        raise CaptureRefused(status, reason, message)

    def _plan(self, pods: list[PodView]) -> list[TapSpec]:
        spaces = {ns.netns: ns for ns in self.scan()}
        specs: list[TapSpec] = []
        for pod in pods:
            ns = spaces.get(pod.netns_inode)
            if ns is not None:
                specs += tap_specs(pod, ns.links, ns.host_peers)
        return specs

    def _open(self, cap: Capture, specs: list[TapSpec], plaintext: bool) -> None:
        req = cap.request
        capture_cfg = dataclasses.replace(self.cfg.capture, bpf_filter=req.bpf_filter, snaplen=req.snaplen,
                                          buffer_bytes=self.ccfg.buffer_bytes)
        cap.taps = TapSet(capture_cfg, cap.tap_counters, lambda ts, data, lt, src: self._on_packet(cap, ts, data, src),
                          self.node)
        cap.taps.sync(specs)
        blocks = [cap.writer.section(self._section_comments(cap, plaintext), os_name=platform.system(),
                                     hardware=platform.machine(), application="privacy-sensor interceptor")]
        pods = {p.netns: p for p in cap.pods}
        for tap in cap.taps.taps.values():
            spec = tap.spec
            pod = pods[spec.netns]
            where = {KIND_VETH: "host side of the pod's veth", KIND_POD_IF: "inside the pod's network namespace",
                     KIND_LOOPBACK: "the pod's loopback, inside its network namespace"}[spec.kind]
            if_id, idb = cap.writer.interface(InterfaceInfo(
                tap.linktype, req.snaplen, spec.interface, f"{spec.kind}: {where}",
                (pod.describe(), f"node {self.node}"), req.bpf_filter, platform.system()))
            cap.if_by_key[spec.key] = if_id
            cap.interfaces.append({"id": if_id, "name": spec.interface, "kind": spec.kind, "netns": spec.netns,
                                   "pod": f"{pod.namespace}/{pod.name}" if pod.name else pod.netns,
                                   "linktype": tap.linktype})
            blocks.append(idb)
            cap.had_link_taps |= spec.kind != KIND_LOOPBACK
        if plaintext:
            cap.synth = PlaintextSynth()
            cap.netns_inodes = frozenset(p.netns_inode for p in cap.pods)
            cap.plaintext_if, idb = cap.writer.interface(InterfaceInfo(
                LINKTYPE_RAW, 262144, "tls-plaintext", "decrypted TLS of the pod's processes (eBPF uprobes)",
                ("synthesized TCP/IP between the real addresses and ports: handshake, seq/ack and FIN are "
                 "made up, the payload is the plaintext the process wrote or read",
                 *(p.describe() for p in cap.pods))))
            cap.interfaces.append({"id": cap.plaintext_if, "name": "tls-plaintext", "kind": "tls-plaintext",
                                   "linktype": LINKTYPE_RAW})
            blocks.append(idb)
        head = b"".join(blocks)
        # The header and every interface's end block are taken from the budget now, so a capture
        # that started can always be closed into a valid file within the budget.
        reserve = len(head) + RESERVE_PER_INTERFACE * len(cap.interfaces)
        if not self._take(reserve, cap.created):
            cap.taps.close_all()
            self._refuse("disk_budget", 507, "captures.disk_budget_bytes is used up by running captures")
        cap.reserved = reserve
        cap.fh = open(cap.path, "wb")  # noqa: SIM115 - closed when the capture ends
        self._write(cap, head, reserved=True)
        if not cap.taps.taps:
            self._finish(cap, StopReason.ERROR, State.FAILED, "no tap could be opened on the pod's interfaces")

    def _section_comments(self, cap: Capture, plaintext: bool) -> list[str]:
        req, trig = cap.request, cap.request.trigger
        lines = [
            f"privacy-sensor capture {cap.id} on node {self.node}",
            f"target {req.target.kind} {req.target.describe()}; window {req.duration_s:g}s from "
            f"{_iso(cap.created)}; filter {req.bpf_filter or '(none: every packet)'}; snaplen {req.snaplen}; "
            f"byte cap {req.max_bytes}",
            f"trigger: {trig.describe()}",
        ]
        if trig.output:
            lines.append(f"alert: {trig.output[:2000]}")
        lines += [p.describe() for p in cap.pods]
        if req.plaintext and not plaintext:
            lines.append("decrypted TLS: not available on this agent (tls.enabled is false or eBPF unavailable)")
        return lines

    def extend(self, cap_id: str, until: float) -> Capture | None:
        """Push a running capture's end (a repeated alert); bounded by captures.max_duration_s."""
        with self.lock:
            cap = self.captures.get(cap_id)
            if cap is None or cap.state is not State.RUNNING:
                return None
            cap.ends_at = min(max(cap.ends_at, until), cap.created + self.ccfg.max_duration_s)
            cap.extended += 1
            self.counters.inc("captures.extended")
            return cap

    def stop(self, cap_id: str) -> Capture | None:
        """DELETE: stop a running capture (the file stays); a finished one is removed."""
        with self.lock:
            cap = self.captures.get(cap_id)
            if cap is None:
                return None
            if cap.state is State.RUNNING:
                self._finish(cap, StopReason.DELETED)
            else:
                self._remove(cap, "deleted")
            return cap

    def get(self, cap_id: str) -> dict[str, Any] | None:
        with self.lock:
            cap = self.captures.get(cap_id)
            return cap.status() if cap else None

    def list(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c.status() for c in sorted(self.captures.values(), key=lambda c: c.created)]

    def file_for(self, cap_id: str) -> tuple[Path, int] | None:
        """The file and how many bytes of it are complete blocks (a running capture is flushed)."""
        with self.lock:
            cap = self.captures.get(cap_id)
            if cap is None or not cap.path.exists():
                return None
            if cap.fh is not None:
                cap.fh.flush()
            return cap.path, cap.counts.file_bytes

    # -- packets --------------------------------------------------------------------------------
    def _on_packet(self, cap: Capture, ts: float, data: bytes, source: dict[str, Any]) -> None:
        if cap.state is not State.RUNNING:
            return
        if_id = cap.if_by_key.get((source["kind"], source["interface"], source["netns"]))
        if if_id is None:
            return
        if len(data) >= cap.request.snaplen:
            cap.counts.truncated += 1
        if self._write(cap, cap.writer.packet(if_id, ts, data)):
            cap.if_packets[if_id] = cap.if_packets.get(if_id, 0) + 1
            cap.counts.packets += 1
            cap.counts.bytes += len(data)
            self.counters.inc("captures.packets")

    def _write(self, cap: Capture, block: bytes, reserved: bool = False) -> bool:
        """Write one block within the capture's byte cap and the disk budget; else stop the capture."""
        n = len(block)
        if not reserved:
            if cap.counts.file_bytes + n + RESERVE_PER_INTERFACE * len(cap.interfaces) > cap.request.max_bytes:
                return self._refuse_block(cap, "byte_cap", StopReason.BYTE_CAP)
            if not self._take(n, cap.created):
                return self._refuse_block(cap, "disk_budget", StopReason.DISK_BUDGET)
        else:
            cap.reserved -= n
        assert cap.fh is not None
        cap.fh.write(block)
        cap.counts.file_bytes += n
        return True

    def _refuse_block(self, cap: Capture, reason: str, stop: StopReason) -> bool:
        cap.counts.drop(reason)
        self.counters.drop(f"capture_{reason}")
        if not cap.closing:
            self._finish(cap, stop)
        return False

    def _take(self, n: int, before: float) -> bool:
        """Budget for ``n`` bytes, deleting the oldest captures that finished ``before`` (the start of
        the capture asking) to make room: captures running side by side never delete each other."""
        while not self.budget.take(n):
            done = [c for c in self.captures.values()
                    if c.state is not State.RUNNING and (c.finished or c.created) < before]
            if not done:
                return False
            self._remove(min(done, key=lambda c: c.finished or c.created), "disk_budget")
        return True

    # -- plaintext (from the agent's TLS source, main thread) ------------------------------------
    def wants_netns(self, inode: int) -> bool:
        """Whether a running capture takes the plaintext of processes in this namespace (lock-free
        read: the hot path asks this for every TLS record)."""
        return any(inode in c.netns_inodes for c in list(self.captures.values()) if c.state is State.RUNNING)

    def plaintext(self, inode: int, conn: Any, ts: float, direction: int, data: bytes,
                  a: Address, b: Address) -> None:
        with self.lock:
            for cap in self._plaintext_captures(inode):
                pkts = cap.synth.data(conn, ts, direction, data, a, b)  # type: ignore[union-attr]
                if pkts is None:
                    cap.counts.drop("plaintext_unsynthesizable")
                    continue
                cap.counts.plaintext_bytes += len(data)
                self._write_synth(cap, cap.hold.add(conn, pkts))

    def plaintext_gap(self, inode: int, conn: Any, direction: int) -> None:
        with self.lock:
            for cap in self._plaintext_captures(inode):
                cap.synth.gap(conn, direction)  # type: ignore[union-attr]
                cap.counts.drop("plaintext_lost")

    def plaintext_close(self, inode: int, conn: Any, ts: float) -> None:
        with self.lock:
            for cap in self._plaintext_captures(inode):
                self._write_synth(cap, cap.hold.add(conn, cap.synth.close(conn, ts)))  # type: ignore[union-attr]
                cap.hold.close(conn, time.monotonic())

    def _plaintext_captures(self, inode: int) -> list[Capture]:
        return [c for c in self.captures.values()
                if c.state is State.RUNNING and c.synth is not None and inode in c.netns_inodes]

    def _write_synth(self, cap: Capture, pkts: list[Any]) -> None:
        for p in pkts:
            if cap.fh is None or not self._write(cap, cap.writer.packet(cap.plaintext_if or 0, p.ts, p.data)):
                return
            cap.counts.plaintext_packets += 1

    # -- the capture thread -----------------------------------------------------------------------
    def poll_once(self, timeout_s: float = 0.02) -> int:
        with self.lock:
            running = [c for c in self.captures.values() if c.state is State.RUNNING and c.taps]
            n = 0
            self._dispatching = True
            try:
                for cap in running:
                    n += cap.taps.poll_once(0) if cap.taps else 0  # bounded dispatch per tap
            finally:
                self._dispatching = False
                while self._release:
                    self._release.pop().close_all()
        if not n:
            self._stop.wait(timeout_s)
        return n

    def tick(self, now: float | None = None) -> None:
        """End captures whose window is over or whose pod vanished; apply retention."""
        now = time.time() if now is None else now
        with self.lock:
            for cap in list(self.captures.values()):
                if cap.state is State.RUNNING:
                    if now >= cap.ends_at:
                        self._finish(cap, StopReason.DURATION)
                    elif self._pod_gone(cap):
                        self._finish(cap, StopReason.POD_GONE)
                    else:
                        self._fold_kernel_drops(cap)
                        self._write_synth(cap, cap.hold.due(time.monotonic()))
            self._retention(now)
            self._gauges()

    def _pod_gone(self, cap: Capture) -> bool:
        """Every interface tap vanished, or the namespace path no longer names the pod's namespace
        (our loopback socket would keep a deleted namespace alive, so its tap never vanishes)."""
        if cap.taps is None:
            return False
        link_taps = [t for t in cap.taps.taps.values() if t.spec.kind != KIND_LOOPBACK]
        if cap.had_link_taps and not link_taps:
            return True
        return all(path_netns_id(p.ns_path) != p.netns_inode for p in cap.pods)

    def _fold_kernel_drops(self, cap: Capture) -> None:
        if cap.taps is None:
            return
        cap.taps.refresh_stats()
        for reason in ("capture_kernel", "capture_interface"):
            n = cap.tap_counters.dropped(reason)
            if n:
                cap.counts.drops[reason.removeprefix("capture_")] = n

    def _finish(self, cap: Capture, reason: StopReason, state: State = State.DONE, message: str = "") -> None:
        if cap.state is not State.RUNNING or cap.closing:
            return
        cap.closing = True
        now = time.time()
        self._fold_kernel_drops(cap)
        cap.stop_reason, cap.finished = reason, now
        cap.message = message or {
            StopReason.BYTE_CAP: f"stopped: byte cap {cap.request.max_bytes} reached",
            StopReason.DISK_BUDGET: "stopped: captures.disk_budget_bytes reached",
            StopReason.POD_GONE: "stopped: the pod's interfaces vanished (pod deleted)",
        }.get(reason, f"stopped: {reason.value}")
        if cap.synth is not None:  # held streams, with FINs for those still open, within the bounds
            for conn in list(cap.synth.flows):
                cap.hold.add(conn, cap.synth.close(conn, now))
            self._write_synth(cap, cap.hold.release_all())
            if cap.hold.released_early:
                cap.counts.drops["plaintext_released_early"] = cap.hold.released_early  # not lost: written early
        cap.state = state
        tail = self._end_blocks(cap, now)
        if cap.fh is not None:
            if tail:
                self._write(cap, tail, reserved=True)
            cap.fh.close()
            cap.fh = None
        if cap.taps is not None:
            # Never close a pcap handle from inside its own dispatch callback (use after free).
            if self._dispatching:
                self._release.append(cap.taps)
            else:
                cap.taps.close_all()
            cap.taps = None
        self.budget.give_back(max(0, cap.reserved))
        cap.reserved = 0
        self._save_status(cap)
        self.counters.inc(f"captures.finished.{reason.value}")
        self._gauges()
        log.info("capture %s %s: %d packets, %d bytes, drops %s", cap.id, cap.message, cap.counts.packets,
                 cap.counts.file_bytes, cap.counts.drops or "none")

    def _end_blocks(self, cap: Capture, now: float) -> bytes:
        blocks = []
        stats = {key: tap.stats for key, tap in (cap.taps.taps.items() if cap.taps else [])}
        for key, if_id in cap.if_by_key.items():
            st = stats.get(key)  # None: the tap vanished with the pod
            block = cap.writer.statistics(if_id, InterfaceStats(
                cap.created, now, received=st.kernel_received if st else None,
                kernel_dropped=st.kernel_dropped if st else None, os_dropped=st.if_dropped if st else None,
                delivered=cap.if_packets.get(if_id, 0), comments=(cap.message,)))
            blocks.append(block)
        return b"".join(b for b in blocks if len(b) <= RESERVE_PER_INTERFACE)

    def _remove(self, cap: Capture, why: str) -> None:
        self.captures.pop(cap.id, None)
        for path in (cap.path, cap.path.with_suffix(".json")):
            try:
                size = path.stat().st_size
                path.unlink()
            except OSError:
                continue
            self.budget.give_back(size)
        self.counters.inc(f"captures.removed.{why}")

    def _retention(self, now: float) -> None:
        done = sorted((c for c in self.captures.values() if c.state is not State.RUNNING),
                      key=lambda c: c.finished or c.created)
        for cap in done:
            if now - (cap.finished or cap.created) > self.ccfg.retention_s:
                self._remove(cap, "retention")
        done = [c for c in done if c.id in self.captures]
        for cap in done[: max(0, len(done) - self.ccfg.max_stored)]:
            self._remove(cap, "max_stored")

    def _gauges(self) -> None:
        self.counters.set_gauge("captures.running", sum(c.state is State.RUNNING for c in self.captures.values()))
        self.counters.set_gauge("captures.stored", len(self.captures))
        self.counters.set_gauge("captures.disk_bytes", self.budget.used)

    # -- persistence: finished captures survive an agent restart --------------------------------------
    def _save_status(self, cap: Capture) -> None:
        doc = orjson.dumps(cap.status())
        status_path = cap.path.with_suffix(".json")
        if self.budget.take(len(doc)):
            status_path.write_bytes(doc)

    def _load_finished(self) -> None:
        for status_path in sorted(self.dir.glob("*.json")):
            pcap = status_path.with_suffix(".pcapng")
            try:
                doc = orjson.loads(status_path.read_bytes())
                size = pcap.stat().st_size + status_path.stat().st_size
            except (OSError, orjson.JSONDecodeError):
                continue
            self.budget.used += size
            self.captures[doc["id"]] = _Stored(doc, pcap)  # type: ignore[assignment]
        for orphan in self.dir.glob("*.pcapng"):  # a capture cut by a crash: count it, keep it
            if not orphan.with_suffix(".json").exists():
                self.budget.used += orphan.stat().st_size

    # -- thread ---------------------------------------------------------------------------------
    def start_thread(self) -> CaptureManager:
        self._thread = threading.Thread(target=self._run, name="captures", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        next_tick = 0.0
        while not self._stop.is_set():
            try:
                self.poll_once()
                mono = time.monotonic()
                if mono >= next_tick:
                    self.tick()
                    next_tick = mono + 0.25
            except Exception:  # noqa: BLE001 - a capture bug must not end the others or the agent
                self.counters.inc("captures.errors")
                log.exception("capture loop")
                self._stop.wait(0.5)

    def close(self) -> None:
        """Agent shutdown: every running capture ends as ``shutdown`` with a complete file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self.lock:
            for cap in list(self.captures.values()):
                if cap.state is State.RUNNING:
                    self._finish(cap, StopReason.SHUTDOWN)


class _Stored:
    """A capture finished before this agent started: status from its JSON, file on disk."""

    state = State.DONE
    fh = None

    def __init__(self, doc: dict[str, Any], path: Path) -> None:
        self.doc, self.path, self.id = doc, path, doc["id"]
        self.finished = doc.get("finished") or 0.0
        self.created = doc.get("created") or 0.0
        self.counts = CaptureCounts(file_bytes=doc.get("file_bytes", 0))

    def status(self) -> dict[str, Any]:
        return self.doc


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


