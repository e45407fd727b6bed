"""Java (JSSE) plaintext: a Java agent loaded into running JVMs, sending frames over a Unix socket.

JSSE is Java code, so no uprobe reaches its plaintext. The node agent finds JVMs (a process that maps
``libjvm.so``), copies the agent jar (interceptor/tls/java/, built by scripts/setup.d/java.sh)
into the JVM's own /tmp through ``/proc/<pid>/root``, binds a Unix socket beside it and loads the jar
with HotSpot's attach protocol (``.attach_pid<nspid>`` + SIGQUIT, then ``load instrument``), the way
``jcmd``/``jattach`` do. The Java side (privacysensor.jtap.Tap) sends one frame per plaintext read or
write of an SSLSocket or SSLEngine, the connection's addresses when it knows them, and closes. Frames
become the same ``events.Event`` records as the eBPF sources' (kind ``java``), so the same stream
checks, address holding, pipeline, scope rules and loss accounting apply. When the node agent closes
the socket the Java side removes its instrumentation.

Attaching runs in one background thread (a JVM takes ~0.5-2 s to load the agent); frames are read
non-blocking on the poll thread. JVMs attached and failed are counted (``tls.java.attached``,
``tls.java.attach_failed.<reason>``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import shutil
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from interceptor.counters import Counters
from interceptor.tls import events

log = logging.getLogger(__name__)

CACHE = Path("/var/cache/privacy-sensor/java")
IMAGE_JAR = Path("/usr/share/privacy-sensor/jtap.jar")  # built into the image by the Dockerfile
SOURCES = Path(__file__).resolve().parent / "java"
FRAME = struct.Struct(">IB")  # length (type + body), type
T_DATA, T_ADDR, T_CLOSE, T_HELLO, T_DROPS = 1, 2, 3, 4, 5
DATA = struct.Struct(">QBQQ")  # conn, dir, offset, ts_ns
ADDR = struct.Struct(">QHHB16s16s")  # conn, lport, rport, family (4/6), laddr, raddr
MAX_FRAME = 1 << 24
MAX_BUFFER = 8 << 20  # unread bytes per JVM connection before it is cut off
ATTACH_TIMEOUT_S = 30.0
# A JVM attached in its first moments (still initialising its class loaders) fails the load with an
# exception: wait until it has run this long, and try a failed load again a few times.
MIN_JVM_AGE_S = 1.5
ATTACH_TRIES = 3


class AttachError(RuntimeError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def jar_path() -> Path | None:
    """The built agent jar for the current sources (scripts/setup.d/java.sh), else the one the image
    was built with (the Dockerfile's agent stage, from the same sources as this code), or None."""
    jar = CACHE / f"jtap-{sources_digest()}.jar"
    if jar.exists():
        return jar
    return IMAGE_JAR if IMAGE_JAR.exists() else None


def sources_digest() -> str:
    h = hashlib.sha256()
    for p in sorted(SOURCES.rglob("*")):
        if p.is_file() and "target" not in p.parts:
            h.update(p.relative_to(SOURCES).as_posix().encode() + p.read_bytes())
    return h.hexdigest()[:16]


def is_jvm_mapping(path: str) -> bool:
    return path.removesuffix(" (deleted)").endswith("/libjvm.so")


def ns_pid(pid: int, proc: str = "/proc") -> int:
    """The pid as the process's own pid namespace sees it (HotSpot names its files by it)."""
    with open(f"{proc}/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    return pid


def process_age_s(pid: int, proc: str = "/proc") -> float:
    """Seconds since the process started (0 when it cannot be read)."""
    try:
        with open(f"{proc}/{pid}/stat") as f:
            start_ticks = int(f.read().rpartition(")")[2].split()[19])
        with open(f"{proc}/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def hotspot_attach(pid: int, jar_in_target: str, options: str, proc: str = "/proc",
                   timeout_s: float = ATTACH_TIMEOUT_S) -> None:
    """Load ``jar_in_target`` (a path inside the JVM's mount namespace) as a Java agent."""
    nspid = ns_pid(pid, proc)
    tmp = f"{proc}/{pid}/root/tmp"
    sock_path = f"{tmp}/.java_pid{nspid}"
    if not os.path.exists(sock_path):
        trigger = f"{proc}/{pid}/cwd/.attach_pid{nspid}"
        try:
            open(trigger, "w").close()  # noqa: SIM115
        except OSError:
            trigger = f"{tmp}/.attach_pid{nspid}"
            open(trigger, "w").close()  # noqa: SIM115
        try:
            os.kill(pid, signal.SIGQUIT)  # with the trigger file, HotSpot starts its attach listener
            deadline = time.monotonic() + timeout_s
            while not os.path.exists(sock_path):
                if time.monotonic() > deadline:
                    raise AttachError("no_attach_listener", f"pid {pid}: no {sock_path} after {timeout_s:.0f}s")
                time.sleep(0.05)
        finally:
            try:
                os.unlink(trigger)
            except OSError:
                pass
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        try:
            s.connect(sock_path)
            s.sendall(b"1\0load\0instrument\0false\0" + f"{jar_in_target}={options}".encode() + b"\0")
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
        except OSError as e:
            raise AttachError("attach_protocol", f"pid {pid}: {e}") from None
    lines = reply.decode("utf-8", "replace").split("\n")
    ok = lines[0].strip() == "0" and (len(lines) < 2 or lines[1].strip() in ("", "0", "return code: 0"))
    if not ok:
        raise AttachError("agent_load_failed", f"pid {pid}: {reply[:300]!r}")


@dataclass
class JvmLink:
    """One attached JVM: the listening socket and, once the agent connects, its stream of frames."""

    pid: int
    listener: socket.socket
    path: str
    conn: socket.socket | None = None
    buf: bytearray = field(default_factory=bytearray)
    addrs: dict[int, tuple[int, int, bytes, int, bytes]] = field(default_factory=dict)
    dropped: int = 0


class JavaAgents:
    """Finds and attaches JVMs (in a background thread) and turns their frames into events."""

    def __init__(self, counters: Counters, proc: str = "/proc") -> None:
        self.counters = counters
        self.proc = proc
        self.jar = jar_path()
        self.links: dict[int, JvmLink] = {}
        self.seen: set[int] = set()  # pids offered once (attached, failed or in progress)
        self._todo: queue.Queue[int] = queue.Queue()
        self._done: queue.Queue[tuple[int, JvmLink | None, str]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.jar is None:
            self.counters.inc("tls.java.unavailable.agent_not_built")
            log.warning("tls: Java agent jar not built (bash scripts/setup.d/java.sh): JVMs are not read")

    def offer(self, pid: int) -> None:
        """A JVM the scan found: attach to it once."""
        if self.jar is None or pid in self.seen:
            return
        self.seen.add(pid)
        if self._thread is None:
            self._thread = threading.Thread(target=self._attach_loop, name="tls-java-attach", daemon=True)
            self._thread.start()
        self._todo.put(pid)

    def _attach_loop(self) -> None:
        while not self._stop.is_set():
            try:
                pid = self._todo.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._done.put((pid, self._attach_with_retries(pid), ""))
            except AttachError as e:
                self._done.put((pid, None, e.reason))
                log.warning("tls: Java agent not attached: %s", e)
            except OSError as e:
                self._done.put((pid, None, "os_error"))
                log.warning("tls: Java agent not attached to pid %d: %s", pid, e)

    def _attach_with_retries(self, pid: int) -> JvmLink:
        wait = MIN_JVM_AGE_S - process_age_s(pid, self.proc)
        if wait > 0:
            time.sleep(wait)
        for attempt in range(ATTACH_TRIES):
            try:
                return self._attach(pid)
            except AttachError as e:
                if e.reason != "agent_load_failed" or attempt == ATTACH_TRIES - 1:
                    raise
                self.counters.inc("tls.java.attach_retries")
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def _attach(self, pid: int) -> JvmLink:
        assert self.jar is not None
        nspid = ns_pid(pid, self.proc)
        tmp = f"{self.proc}/{pid}/root/tmp"
        jar_name = f"privacy-sensor-{self.jar.name}"
        if not os.path.exists(f"{tmp}/{jar_name}"):
            shutil.copyfile(self.jar, f"{tmp}/{jar_name}.part")
            os.replace(f"{tmp}/{jar_name}.part", f"{tmp}/{jar_name}")
        sock_name = f"privacy-sensor-jtap-{nspid}.sock"
        path = f"{tmp}/{sock_name}"
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        listener.setblocking(False)
        try:
            hotspot_attach(pid, f"/tmp/{jar_name}", f"/tmp/{sock_name}", self.proc)
        except BaseException:
            listener.close()
            raise
        return JvmLink(pid, listener, path)

    def poll(self) -> Iterator[events.Event]:
        """Events from every attached JVM (non-blocking)."""
        while not self._done.empty():
            pid, link, reason = self._done.get_nowait()
            if link is None:
                self.counters.inc(f"tls.java.attach_failed.{reason}")
            else:
                self.links[pid] = link
                self.counters.inc("tls.java.attached")
                log.info("tls: Java agent attached to pid %d", pid)
        for link in list(self.links.values()):
            yield from self._read(link)

    def _read(self, link: JvmLink) -> Iterator[events.Event]:
        if link.conn is None:
            try:
                link.conn, _ = link.listener.accept()
                link.conn.setblocking(False)
            except BlockingIOError:
                return
        try:
            # Up to MAX_BUFFER per poll: the rest waits in the socket (the JVM's queue drops, counted).
            while len(link.buf) < MAX_BUFFER:
                chunk = link.conn.recv(1 << 20)
                if not chunk:  # the JVM closed (exited or detached)
                    self._forget(link)
                    break
                link.buf += chunk
        except BlockingIOError:
            pass
        except OSError:
            self._forget(link)
        yield from self._frames(link)

    def _frames(self, link: JvmLink) -> Iterator[events.Event]:
        buf, pos = link.buf, 0
        while len(buf) - pos >= FRAME.size:
            length, ftype = FRAME.unpack_from(buf, pos)
            if length < 1 or length > MAX_FRAME:
                self.counters.drop("tls_java_bad_frame")
                self._forget(link)
                buf.clear()
                return
            if len(buf) - pos < 4 + length:
                break
            body = bytes(buf[pos + FRAME.size: pos + 4 + length])
            pos += 4 + length
            ev = self._event(link, ftype, body)
            if ev is not None:
                yield ev
        del buf[:pos]

    def _event(self, link: JvmLink, ftype: int, body: bytes) -> events.Event | None:
        if ftype == T_DATA and len(body) >= DATA.size:
            conn, direction, offset, ts_ns = DATA.unpack_from(body)
            return events.Event(ts_ns, conn, offset, link.pid, 0, -1, events.EV_DATA, direction, "java",
                                body[DATA.size:], link.addrs.get(conn), b"java")
        if ftype == T_ADDR and len(body) >= ADDR.size:
            conn, lport, rport, family, laddr, raddr = ADDR.unpack_from(body)
            link.addrs[conn] = (socket.AF_INET if family == 4 else socket.AF_INET6, lport, laddr, rport, raddr)
        elif ftype == T_CLOSE and len(body) >= 8:
            (conn,) = struct.unpack_from(">Q", body)
            link.addrs.pop(conn, None)
            return events.Event(time.monotonic_ns(), conn, 0, link.pid, 0, -1, events.EV_CLOSE, 0, "java", b"")
        elif ftype == T_DROPS and len(body) >= 8:
            (total,) = struct.unpack_from(">Q", body)
            if total > link.dropped:
                self.counters.drop("tls_java_queue_full", total - link.dropped)
                link.dropped = total
        return None

    def _forget(self, link: JvmLink) -> None:
        self.links.pop(link.pid, None)
        for s in (link.conn, link.listener):
            if s is not None:
                s.close()
        try:
            os.unlink(link.path)
        except OSError:
            pass

    def forget_pid(self, pid: int) -> None:
        link = self.links.get(pid)
        if link is not None:
            self._forget(link)
        self.seen.discard(pid)

    def close(self) -> None:
        """Closing the sockets makes every JVM's agent remove its instrumentation."""
        self._stop.set()
        for link in list(self.links.values()):
            self._forget(link)
