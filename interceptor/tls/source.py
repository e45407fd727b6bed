"""The TLS source: attaches the uprobes to what running processes use and feeds their plaintext to
the same pipeline as packets (``feed_stream``/``stream_gap``/``stream_close``).

Run it from the agent's loop: ``poll(timeout_ms)`` reads the ring buffer (blocking at most that long;
``fileno()`` is readable when records wait) and, every ``tls.scan_interval_s``, rescans /proc for new
processes, lazily loaded libssl and exited processes. Not thread-safe: call it from the thread that
owns the pipeline.
"""

from __future__ import annotations

import ctypes
import fnmatch
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.pairs import Endpoint
from interceptor.tls import boringssl, events, gnutls, gotls, java, linked, loader, nss, openssl, procfs
from interceptor.tls.attach import Attacher, ProbePoint, Target
from interceptor.tls.ringbuf import RingReader

log = logging.getLogger(__name__)
BYTES_KEY = {kind: f"tls.{kind}.bytes" for kind in (*events.KINDS, "java")}
UNKNOWN = ("0.0.0.0", 0)
DRAIN_BYTES = 8 << 20  # per poll: a full ring buffer is taken over several polls, packets go on meanwhile
# A stream whose socket is not known at its first record (OpenSSL on a memory BIO, as in Node.js: the
# kernel learns the socket at the first read, see probes.c thread_sk) holds its records, up to this
# much and this long, so that its pairs carry the connection's addresses and not 0.0.0.0.
HOLD_BYTES = 1 << 20
HOLD_S = 2.0
ORPHAN_NS = 250_000_000  # a held program with no exec notice after this long: its notice was lost
LINKED_CACHE = 4096  # executables whose linked TLS libraries are known


@dataclass
class PidInfo:
    command: str
    excluded: bool
    keys: set[tuple[int, int]] = field(default_factory=set)  # attached files it uses
    ssl_found: bool = False  # a TLS library was seen in its maps: no need to read them again
    python: bool = False  # an interpreter: grpcio's BoringSSL may come after its libssl (imports)
    pending: bool = False  # its pod is not known yet: excluded until a scan can decide
    exe_done: bool = False


@dataclass
class Held:
    """A record waiting for its stream's addresses, with what the stream check said of it."""

    ev: events.Event
    ts: float
    gap: bool


@dataclass
class Stream:
    conn_id: tuple[Any, ...]
    a: Endpoint  # the traced process's end
    b: Endpoint  # its peer
    source: dict[str, Any]
    check: events.StreamCheck
    last: float
    muted: bool = False  # the kernel no longer copies its data (the pipeline does not follow it)
    resolved: bool = True  # its addresses are known; else its records wait in ``held``
    held: list[Held] = field(default_factory=list)
    held_bytes: int = 0


class TlsSource:
    """Owns the loaded BPF program; see the module docstring. ``process_filter(pid)`` (e.g. the
    namespace and pod rules of scope.PodScope) is applied after the command globs of the config: True
    traces the process, False does not, None means not known yet (asked again at each scan)."""

    def __init__(self, config: Config, counters: Counters, pipeline: Any, bpf: Any,
                 process_filter: Callable[[int], bool | None] | None = None) -> None:
        self.cfg = config.tls
        self.proc = config.capture.proc_root
        self.idle_s = config.core.flow_idle_timeout_s
        self.counters = counters
        self.pipeline = pipeline
        self.bpf = bpf
        self.process_filter = process_filter
        self.attacher = Attacher(bpf)
        self.targets: dict[tuple[int, int], Target] = {}
        self.not_probeable: set[tuple[int, int]] = set()
        self._points: dict[tuple[int, int], tuple[str, list[ProbePoint]]] = {}  # ELF work done once per file
        self._linked: dict[tuple[int, int, int], list[str]] = {}  # executable → TLS libraries it links
        self.pids: dict[int, PidInfo] = {}
        self.streams: dict[tuple[str, int, int], Stream] = {}
        self._gen = 0
        self._wall = time.time() - time.monotonic()
        self._lost_seen = [0] * (2 * len(events.KINDS))  # probes.c lost[kind*2 + unreadable]
        self._skip = bpf["skip_pids"]
        self._skip[ctypes.c_uint32(os.getpid())] = ctypes.c_uint8(1)  # never trace the agent itself
        self._offsets = bpf["offsets"]
        self._lost = bpf["lost"]
        self._muted = bpf["muted"]
        self._hold = bpf["hold_ctl"] if self.cfg.hold_new_programs else None
        self._known_exes = bpf["known_exes"]
        self._held = bpf["held_pids"]
        ring = bpf["events"]
        self._reader = RingReader(ring.map_fd, ring.max_entries)
        self._next_scan = 0.0
        self.java = java.JavaAgents(counters, self.proc) if self.cfg.java.enabled else None
        self.scan()

    # ---- the loop -----------------------------------------------------------------------------

    def fileno(self) -> int:
        """The ring buffer map's fd (epoll/select). Data records do not wake it (they are taken in
        batches by every ``poll``), exec notices do: call ``poll`` at least every ~100 ms anyway."""
        return self._reader.fd

    def poll(self, timeout_ms: int = 100) -> None:
        """Deliver waiting records to the pipeline; rescan processes when due."""
        self._wall = time.time() - time.monotonic()
        self._beat()
        if timeout_ms:
            self._reader.wait(timeout_ms)  # sleeps until an exec record or the timeout ...
        self._consume()  # ... then takes the batch (data records wake nobody)
        if self._hold is not None:
            self._release_orphans()
        if self.java is not None:
            self._consume_java()
        now = time.monotonic()
        if now >= self._next_scan:
            self.scan()
            self._count_lost()
            self._expire(now)

    def _beat(self) -> None:
        """The heartbeat that lets the kernel hold new programs at exec (probes.c hold_ctl)."""
        if self._hold is not None:
            self._hold[ctypes.c_int(0)] = ctypes.c_uint64(time.monotonic_ns())

    def close(self) -> None:
        """Detach everything and end the open streams."""
        if self._hold is not None:
            self._hold[ctypes.c_int(0)] = ctypes.c_uint64(0)  # hold nobody from now on ...
        self._consume()  # ... and let go of the ones held (their exec notices are in this batch)
        self._release_orphans(closing=True)  # ... and of those whose notice never came
        if self.java is not None:
            self._consume_java()
            self.java.close()
        self._reader.close()
        ts = time.time()
        for key, st in list(self.streams.items()):
            self._end(key, st, ts)
        for t in self.targets.values():
            self.attacher.detach(t)
        self.targets.clear()
        try:
            self.bpf.cleanup()
        except Exception as e:  # a failing tracefs clean-up must not break shutdown
            log.warning("tls: BPF clean-up: %s", e)

    # ---- records ------------------------------------------------------------------------------

    def _consume(self) -> None:
        """Decode a batch of records, merge each connection's consecutive ones, hand them over."""
        evs = []
        for raw in self._reader.drain(DRAIN_BYTES):
            try:
                evs.append(events.decode(raw))
            except events.EventError:
                self.counters.drop("tls_bad_record")
        for ev in events.coalesce(evs):
            try:
                self._handle(ev)
            except Exception:  # never let one record stop the source
                log.exception("tls: record from pid %d failed", ev.pid)
                self.counters.drop("tls_record_error")

    def _consume_java(self) -> None:
        assert self.java is not None
        for ev in self.java.poll():
            try:
                self._handle(ev)
            except Exception:  # never let one record stop the source
                log.exception("tls: Java record from pid %d failed", ev.pid)
                self.counters.drop("tls_record_error")

    def _handle(self, ev: events.Event) -> None:
        key = (ev.kind, ev.pid, ev.conn)
        st = self.streams.get(key)
        ts = ev.ts_ns / 1e9 + self._wall
        if ev.type == events.EV_EXEC:
            try:
                self._exec(ev.pid, ev.comm)
            finally:
                if ev.dir == events.EXEC_HELD:
                    self._continue(ev)
            return
        if ev.type == events.EV_CLOSE:
            if st is not None:
                self._end(key, st, ts)
            return
        info = self.pids.get(ev.pid) or self._new_pid(ev.pid, ev.comm)
        if info is not None and info.excluded:
            self.counters.inc("tls.excluded_records")
            return
        if st is None:
            st = self._open(key, ev, info)
            if st is None:
                return
        verdict = st.check.classify(ev)
        if verdict == "restart":  # the pointer names a new connection (its free/close was lost)
            self._end(key, st, ts)
            st = self._open(key, ev, info)
            if st is None:
                return
            verdict = "ok" if st.check.classify(ev) == "ok" else "gap"
        st.last = ev.ts_ns / 1e9  # CLOCK_MONOTONIC, as time.monotonic()
        if not st.resolved:
            if ev.addrs:
                self._resolve(st, ev.addrs)
            elif self._may_hold(st, ev):
                st.held.append(Held(ev, ts, verdict == "gap"))
                st.held_bytes += len(ev.data)
                return
            else:
                self._unresolved(st)
        self._deliver(st, ev, ts, verdict == "gap")

    @staticmethod
    def _may_hold(st: Stream, ev: events.Event) -> bool:
        if st.held_bytes + len(ev.data) > HOLD_BYTES:
            return False
        return not st.held or (ev.ts_ns - st.held[0].ev.ts_ns) / 1e9 < HOLD_S

    def _deliver(self, st: Stream, ev: events.Event, ts: float, gap: bool) -> None:
        if gap:
            self.counters.inc(f"tls.{ev.kind}.gaps")
            self.pipeline.stream_gap(st.conn_id, ev.dir)
        self.counters.inc(BYTES_KEY[ev.kind], len(ev.data))
        if not self.pipeline.feed_stream(st.conn_id, ev.dir, ts, ev.data, st.a, st.b, st.source) and not st.muted:
            self._mute(ev, st)

    def _resolve(self, st: Stream, addrs: tuple[tuple[str, int], tuple[str, int]]) -> None:
        """The socket became known: the held records go first, with the addresses."""
        st.a, st.b = Endpoint(*addrs[0]), Endpoint(*addrs[1])
        self.counters.inc("tls.addresses_late")
        self._release(st)

    def _unresolved(self, st: Stream) -> None:
        """No socket after HOLD_S / HOLD_BYTES (or the stream ends): go on without addresses."""
        self.counters.inc("tls.unresolved_addresses")
        self._release(st)

    def _release(self, st: Stream) -> None:
        held, st.held, st.held_bytes, st.resolved = st.held, [], 0, True
        for h in held:
            self._deliver(st, h.ev, h.ts, h.gap)

    def _mute(self, ev: events.Event, st: Stream) -> None:
        """The pipeline does not follow this stream: stop copying its data in the kernel (half of
        all records when both ends of connections are traced)."""
        if ev.kind == "java":  # not in the kernel: the JVM goes on sending, the pipeline ignores it
            st.muted = True
            return
        self._muted[self._conn_key(ev.pid, ev.conn)] = ctypes.c_uint8(1)
        st.muted = True
        self.counters.inc(f"tls.{ev.kind}.muted_streams")

    def _end(self, key: tuple[str, int, int], st: Stream, ts: float) -> None:
        """Forget a stream here, in the pipeline and, if muted, in the kernel."""
        if not st.resolved:
            self._unresolved(st)
        del self.streams[key]
        self.pipeline.stream_close(st.conn_id, ts)
        if st.muted:  # (after an EV_CLOSE the kernel has removed it already)
            self._muted.pop(self._conn_key(key[1], key[2]), None)

    def _conn_key(self, pid: int, conn: int) -> Any:
        return self._muted.Key(pid, 0, conn)  # struct pid_conn_t

    def _open(self, key: tuple[str, int, int], ev: events.Event, info: PidInfo | None) -> Stream | None:
        if len(self.streams) >= self.cfg.max_streams:
            self.counters.drop("tls_too_many_streams")
            return None
        self._gen += 1
        # the kernel's record of the socket; /proc only for sockets older than the probes
        addrs = ev.addrs or procfs.fd_addresses(ev.pid, ev.fd, self.proc)
        if addrs is not None:
            self.counters.inc("tls.addresses_from_kernel" if ev.addrs else "tls.addresses_from_proc")
        local, remote = addrs or (UNKNOWN, UNKNOWN)
        command = info.command if info else ev.comm
        st = Stream(
            conn_id=("tls", ev.kind, ev.pid, ev.conn, self._gen),
            a=Endpoint(*local), b=Endpoint(*remote),
            source={"kind": ev.kind, "pid": ev.pid, "command": command},
            check=events.StreamCheck(), last=time.monotonic(), resolved=addrs is not None,
        )
        self.streams[key] = st
        self.counters.inc(f"tls.{ev.kind}.streams")
        return st

    def _expire(self, now: float) -> None:
        """Streams idle past core.flow_idle_timeout_s (a Go conn garbage-collected unclosed, a lost
        SSL_free) are closed; the BPF offsets age out of their LRU map."""
        ts = time.time()
        for key, st in list(self.streams.items()):
            if now - st.last > self.idle_s or key[1] not in self.pids:
                self._end(key, st, ts)  # a muted stream that is still alive is seen (and muted) again
            elif st.held and now - st.held[0].ev.ts_ns / 1e9 >= HOLD_S:
                self._unresolved(st)
        self.counters.set_gauge("tls.streams", len(self.streams))

    def _count_lost(self) -> None:
        for i in range(len(self._lost_seen)):
            value = self._lost[ctypes.c_int(i)].value
            delta, self._lost_seen[i] = value - self._lost_seen[i], value
            if delta:
                kind = events.KINDS[i // 2]
                what = "lost_samples" if i % 2 == 0 else "unreadable_samples"
                self.counters.inc(f"tls.{kind}.{what}", delta)
                self.counters.drop(f"tls_{kind}_{what}", delta)

    # ---- processes ----------------------------------------------------------------------------

    def _new_pid(self, pid: int, comm: str = "") -> PidInfo | None:
        """Classify a process by its command (/proc, else the kernel's ``comm`` of its record)."""
        command = procfs.command(pid, self.proc) or comm
        if not command:
            return None
        wanted = self._wanted(pid, command) if pid != os.getpid() else False
        info = PidInfo(command, excluded=wanted is not True, pending=wanted is None)
        if info.excluded:
            self._skip[ctypes.c_uint32(pid)] = ctypes.c_uint8(1)
        self.pids[pid] = info
        return info

    def _decide(self, pid: int, info: PidInfo) -> None:
        """A process whose pod was not known: trace it once the rules say so."""
        wanted = self._wanted(pid, info.command)
        if wanted is None:
            return
        info.pending = False
        if wanted:
            info.excluded = False
            self._skip.pop(ctypes.c_uint32(pid), None)

    def _exec(self, pid: int, comm: str) -> None:
        """A new program in ``pid``: attach to it now (Go binaries, OpenSSL linked in)."""
        if pid in self.pids:
            self._forget(pid)
        info = self._new_pid(pid, comm)
        if info is not None and not info.excluded:
            self._scan_pid(pid, info)
            if not info.ssl_found and (self.cfg.openssl or self.cfg.gnutls or self.cfg.nss):
                self._use_linked(pid, info)

    def _use_linked(self, pid: int, info: PidInfo) -> None:
        """Attach the TLS libraries a new program links before its loader maps them (linked.py):
        a held program is still at its first instruction, and a short-lived one would be gone
        before the next scan. Resolved once per executable file."""
        exe = procfs.exe_path(pid, self.proc)
        root = procfs.in_root(pid, "", self.proc)
        try:
            st = os.stat(f"{self.proc}/{pid}/exe")
        except OSError:
            return
        key = (st.st_dev, st.st_ino, st.st_mtime_ns)
        libs = self._linked.get(key)
        if libs is None and exe is not None:
            libs = linked.tls_libraries(root, exe.removesuffix(" (deleted)"), self._is_tls_library,
                                        linked.process_library_path(pid, self.proc))
            if len(self._linked) >= LINKED_CACHE:
                self._linked.pop(next(iter(self._linked)))
            self._linked[key] = libs
            self.counters.inc("tls.linked_resolved")
        for lib in libs or ():
            self._use(pid, info, root + lib)
            self.counters.inc("tls.linked_attached")

    def _is_tls_library(self, path: str) -> bool:
        """A TLS library the switches allow (Python with grpcio maps two: libssl for its own _ssl,
        cygrpc with BoringSSL inside)."""
        return ((self.cfg.openssl and openssl.is_libssl(path)) or (self.cfg.gnutls and gnutls.is_libgnutls(path))
                or (self.cfg.boringssl and boringssl.is_cygrpc(path)) or (self.cfg.nss and nss.is_libnspr(path)))

    def _continue(self, ev: events.Event) -> None:
        """A program the kernel stopped at exec (tls.hold_new_programs): its file is classified and,
        if it is Go or has OpenSSL in it, attached; let it run, and never hold that file again."""
        self._known_exes[ctypes.c_uint64(ev.conn)] = ctypes.c_uint8(1)
        self._held.pop(ctypes.c_uint32(ev.pid), None)
        try:
            os.kill(ev.pid, signal.SIGCONT)
        except ProcessLookupError:
            return
        held_ms = (time.monotonic_ns() - ev.ts_ns) / 1e6
        self.counters.inc("tls.held_programs")
        self.counters.set_gauge("tls.last_hold_ms", round(held_ms, 2))
        if held_ms > self.counters.gauges.get("tls.max_hold_ms", 0.0):
            self.counters.set_gauge("tls.max_hold_ms", round(held_ms, 2))

    def _release_orphans(self, closing: bool = False) -> None:
        """Continue the held programs whose exec notice did not arrive (the ring was full of data
        records when it was written): a program the kernel stopped must never stay stopped. Each is
        classified as its notice would have had it; on close, every one still held goes on."""
        now = time.monotonic_ns()
        for k, v in list(self._held.items()):
            if not closing and now - v.value < ORPHAN_NS:
                continue  # its notice may be in the next batch
            pid = k.value
            try:
                if not closing:
                    self._exec(pid, "")
            finally:
                self._held.pop(k, None)
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                self.counters.inc("tls.held_released_on_close" if closing else "tls.held_notices_lost")

    def _wanted(self, pid: int, command: str) -> bool | None:
        if self.cfg.include_commands and not any(fnmatch.fnmatchcase(command, g) for g in self.cfg.include_commands):
            return False
        if any(fnmatch.fnmatchcase(command, g) for g in self.cfg.exclude_commands):
            return False
        return self.process_filter(pid) if self.process_filter else True

    def scan(self) -> None:
        """Attach to the libraries and binaries of new processes, detach from files no longer used."""
        self._next_scan = time.monotonic() + self.cfg.scan_interval_s
        live = procfs.pids(self.proc)
        for pid in set(self.pids) - live:
            self._forget(pid)
        for i, pid in enumerate(live):
            if i % 256 == 255:
                self._beat()  # a scan of a busy node can take longer than the heartbeat's freshness
            info = self.pids.get(pid) or self._new_pid(pid)
            if info is not None and info.pending:
                self._decide(pid, info)
            if info is None or info.excluded or info.ssl_found:
                continue
            self._scan_pid(pid, info)
        self._detach_idle(time.monotonic())
        self.counters.set_gauge("tls.attached_files", len(self.targets))
        self.counters.set_gauge("tls.processes", sum(1 for i in self.pids.values() if i.keys))
        self.counters.set_gauge("tls.processes_pending", sum(1 for i in self.pids.values() if i.pending))

    def _scan_pid(self, pid: int, info: PidInfo) -> None:
        if not info.exe_done:
            info.exe_done = True
            exe = procfs.exe_path(pid, self.proc)
            if exe is None:  # kernel thread or gone
                info.ssl_found = True
                return
            info.python = os.path.basename(exe).startswith("python")
            self._use(pid, info, f"{self.proc}/{pid}/exe", exe_file=True)
        if not (self.cfg.openssl or self.cfg.gnutls or self.cfg.boringssl or self.cfg.nss):
            return
        for m in procfs.file_mappings(pid, self.proc) or []:
            if self.java is not None and java.is_jvm_mapping(m.path):
                self.java.offer(pid)
            if self._is_tls_library(m.path):
                # An interpreter's maps are read again until its grpcio is seen (bounded: one file
                # read per scan, as for any process without a TLS library).
                info.ssl_found = info.ssl_found or not info.python or boringssl.is_cygrpc(m.path)
                self._use(pid, info, procfs.in_root(pid, m.path.removesuffix(" (deleted)"), self.proc))

    def _use(self, pid: int, info: PidInfo, path: str, exe_file: bool = False) -> None:
        # Opened first and worked on through /proc/self/fd: a short-lived process may exit while its
        # file is parsed and attached, and the next run of the same program is then covered.
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            st = os.fstat(fd)
            key = (st.st_dev, st.st_ino)
            target = self.targets.get(key)
            if target is None:
                if key in self.not_probeable:
                    return
                target = self._attach(key, path, fd, exe_file)
                if target is None:
                    return
        finally:
            os.close(fd)
        target.pids.add(pid)
        target.idle_since = None
        info.keys.add(key)

    def _probe_points(self, key: tuple[int, int], fd: int, exe_file: bool, name: str) -> tuple[str, list[ProbePoint]] | None:
        if key in self._points:
            return self._points[key]
        points: list[ProbePoint] | None = None
        kind = "openssl"
        path = f"/proc/self/fd/{fd}"
        if exe_file and self.cfg.gotls:
            points, kind = gotls.probe_points(path), "gotls"
        if points is None and self.cfg.openssl:  # a library, or an executable with OpenSSL linked in
            points, kind = openssl.probe_points(path), "openssl"
        if points is None and self.cfg.gnutls:
            points, kind = gnutls.probe_points(path), "gnutls"
        if points is None and self.cfg.nss and nss.is_libnspr(name):
            points, kind = nss.probe_points(path), "nss"
        if points is None and self.cfg.boringssl and boringssl.is_cygrpc(name):
            points, kind = boringssl.probe_points(path), "boringssl"
            if points is None:  # stripped and no signature matched for sure: nothing attached, said
                self.counters.inc("tls.boringssl.no_signature")
                log.warning("tls: no BoringSSL signature matched in %s: its connections stay unread", name)
        if not points:
            self.not_probeable.add(key)  # not OpenSSL nor Go with crypto/tls: never look again
            return None
        self._points[key] = (kind, points)
        return kind, points

    def _attach(self, key: tuple[int, int], path: str, fd: int, exe_file: bool) -> Target | None:
        found = self._probe_points(key, fd, exe_file, path)
        if found is None:
            return None
        kind, points = found
        target = Target(key, kind, path)
        try:
            self.attacher.attach(target, points, fd)
        except OSError as e:  # e.g. the process exited meanwhile: tried again with the next one
            log.warning("tls: %s", e)
            self.counters.inc("tls.attach_failures")
            return None
        self.targets[key] = target
        log.info("tls: attached %d %s probes to %s", len(points), kind, path)
        return target

    def _forget(self, pid: int) -> None:
        info = self.pids.pop(pid)
        if self.java is not None:
            self.java.forget_pid(pid)
        if info.excluded:
            self._skip.pop(ctypes.c_uint32(pid), None)
        for key in info.keys:
            target = self.targets.get(key)
            if target is None:
                continue
            target.pids.discard(pid)
            if not target.pids and target.idle_since is None:
                target.idle_since = time.monotonic()

    def _detach_idle(self, now: float) -> None:
        """Files no process has mapped for ``tls.detach_after_s`` (short-lived programs that run again
        and again stay attached: their first TLS calls come before an attach could)."""
        for key, target in list(self.targets.items()):
            if target.idle_since is not None and now - target.idle_since >= self.cfg.detach_after_s:
                self.attacher.detach(target)
                del self.targets[key]
                self._points.pop(key, None)
                log.info("tls: detached from %s (no process uses it)", target.path)


def start_tls_source(config: Config, counters: Counters, pipeline: Any,
                     process_filter: Callable[[int], bool | None] | None = None,
                     extra_cflags: tuple[str, ...] = ()) -> TlsSource | None:
    """The TLS source, or None when disabled or impossible here (one log line says why, and
    ``tls.unavailable.<reason>`` is counted); packet capture is not affected either way."""
    if not config.tls.enabled:
        log.info("tls: disabled (tls.enabled is false)")
        return None
    try:
        bpf = loader.load(config.tls, extra_cflags)
        source = TlsSource(config, counters, pipeline, bpf, process_filter)
    except loader.Unavailable as e:
        log.warning("tls: TLS capture off: %s", e)
        counters.inc(f"tls.unavailable.{e.code}")
        counters.set_gauge("tls.active", 0)
        return None
    except Exception as e:  # anything else BCC may throw at start: still not fatal for the agent
        log.warning("tls: TLS capture off: %s: %s", type(e).__name__, e)
        counters.inc("tls.unavailable.start_failed")
        counters.set_gauge("tls.active", 0)
        return None
    counters.set_gauge("tls.active", 1)
    return source
