"""Live taps on a node, all driven by one poll loop.

Each tap is a non-blocking pypcap handle (``capture.source: pcap``) or one of our own TPACKET_V3
rings (``ring``, ``capture/ring.py``: the one that can share an interface between worker processes
through a fanout group), with the kernel BPF filter, snaplen and kernel buffer from config. A loopback tap of a meshed pod is opened by a helper thread that entered the pod's network
namespace (``discovery.netns.run_in_netns``): the packet socket stays bound to that namespace while
the loop reads it from the host. Dispatch is bounded per tap per turn so one busy interface cannot
starve the others. Interfaces vanish when pods die: that closes the tap and counts
``capture.tap_vanished``; it is never an error.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pcap

from interceptor.capture.ring import RingSocket
from interceptor.config import CaptureConfig
from interceptor.counters import Counters
from interceptor.discovery.netns import NetnsError, run_in_netns
from interceptor.discovery.plan import TapSpec

log = logging.getLogger(__name__)

OnPacket = Callable[[float, bytes, int, dict[str, Any]], None]
_POLL_ERR = select.POLLERR | select.POLLHUP | select.POLLNVAL


@dataclass(slots=True)
class TapStats:
    """Cumulative numbers of one tap (kernel numbers from pcap_stats)."""

    packets: int = 0  # handed to the callback
    kernel_received: int = 0
    kernel_dropped: int = 0  # the socket's ring was full: the kernel discarded them
    if_dropped: int = 0


class PcapTap:
    """One interface (host-side veth, or a pod's loopback inside its namespace)."""

    def __init__(self, spec: TapSpec, cfg: CaptureConfig, node: str) -> None:
        self.spec = spec
        self.cfg = cfg
        self.source = spec.source(node)
        self.stats = TapStats()
        self.handle: Any = None
        self.linktype = 1
        self.fd = -1
        self.opened_at = 0.0

    def _activate(self) -> Any:
        cfg = self.cfg
        h = pcap.pcap(
            name=self.spec.interface, snaplen=cfg.snaplen, promisc=False,
            timeout_ms=cfg.block_timeout_ms, immediate=False, buffer_size=cfg.buffer_bytes,
        )
        h.setfilter(cfg.bpf_filter)
        h.setnonblock(True)
        return h

    def open(self) -> None:
        """Raise OSError/NetnsError when the interface or namespace is not there (any more)."""
        if self.spec.ns_path:
            self.handle = run_in_netns(self.spec.ns_path, self._activate)
        else:
            self.handle = self._activate()
        self.linktype = self.handle.datalink()
        self.fd = self.handle.fileno()
        self.opened_at = time.monotonic()

    def dispatch(self, max_packets: int, on_packet: OnPacket) -> int:
        """Hand up to ``max_packets`` queued packets to ``on_packet``; OSError when the device died."""
        # pypcap passes the extra arguments through: on_packet(ts, data, linktype, source), no wrapper.
        n = self.handle.dispatch(max_packets, on_packet, self.linktype, self.source)
        if n > 0:
            self.stats.packets += n
        return n

    def refresh_stats(self) -> tuple[int, int]:
        """Update kernel counters; return the increase in (kernel_dropped, if_dropped)."""
        recv, drop, ifdrop = self.handle.stats()
        st = self.stats
        delta = (max(0, drop - st.kernel_dropped), max(0, ifdrop - st.if_dropped))
        st.kernel_received, st.kernel_dropped, st.if_dropped = recv, drop, ifdrop
        return delta

    def close(self) -> None:
        if self.handle is not None:
            try:
                self.handle.close()
            except Exception:  # noqa: BLE001 - closing a handle on a dead device must not raise
                pass
            self.handle = None


class RingTap:
    """The same tap on a TPACKET_V3 ring: opened here, or handed over already open (a worker gets
    its member of the fanout group from the supervisor, see ``interceptor/workers.py``)."""

    def __init__(self, spec: TapSpec, cfg: CaptureConfig, node: str, ring: RingSocket | None = None) -> None:
        self.spec = spec
        self.cfg = cfg
        self.source = spec.source(node)
        self.stats = TapStats()
        self.ring = ring
        self.handle: Any = ring  # what TapSet checks to know the tap is open
        self.linktype = ring.linktype if ring is not None else 1
        self.fd = ring.fd if ring is not None else -1
        self.opened_at = time.monotonic()

    def _activate(self) -> RingSocket:
        cfg = self.cfg
        return RingSocket.open(self.spec.interface, cfg.bpf_filter, cfg.snaplen, cfg.buffer_bytes,
                               cfg.block_timeout_ms)

    def open(self) -> None:
        if self.ring is None:
            self.ring = run_in_netns(self.spec.ns_path, self._activate) if self.spec.ns_path else self._activate()
        self.handle = self.ring
        self.linktype = self.ring.linktype
        self.fd = self.ring.fd
        self.opened_at = time.monotonic()

    def dispatch(self, max_packets: int, on_packet: OnPacket) -> int:
        assert self.ring is not None
        n = self.ring.dispatch(max_packets, on_packet, self.source)
        self.stats.packets += n
        return n

    def refresh_stats(self) -> tuple[int, int]:
        assert self.ring is not None
        before = self.stats.kernel_dropped
        st = self.ring.refresh_stats()
        self.stats.kernel_received, self.stats.kernel_dropped = st.received, st.dropped
        return st.dropped - before, 0

    def close(self) -> None:
        if self.ring is not None:
            self.ring.close()
            self.ring = self.handle = None


Tap = PcapTap | RingTap


class TapSet:
    """The set of open taps, kept in line with the discovery plan, read by one poll loop."""

    def __init__(self, cfg: CaptureConfig, counters: Counters, on_packet: OnPacket, node: str) -> None:
        self.cfg = cfg
        self.counters = counters
        self.on_packet = on_packet
        self.node = node
        self.taps: dict[tuple[str, str, str], Tap] = {}
        self._by_fd: dict[int, Tap] = {}
        self._poller = select.poll()
        self._failed_once: set[tuple[str, str, str]] = set()
        self.last_turn = 0  # packets the last poll_once read (0: the taps were empty, caught up)

    # -- plan ---------------------------------------------------------------------------------
    def sync(self, specs: Iterable[TapSpec]) -> tuple[int, int]:
        """Open taps for new specs, close taps no longer planned. Returns (opened, closed)."""
        wanted = {s.key: s for s in specs}
        closed = 0
        for key in [k for k in self.taps if k not in wanted]:
            self._close(key)
            self.counters.inc("capture.tap_closed")
            closed += 1
        opened = 0
        for key, spec in wanted.items():
            if key not in self.taps and self._open(spec):
                opened += 1
        self.counters.set_gauge("capture.taps", len(self.taps))
        return opened, closed

    def _open(self, spec: TapSpec) -> bool:
        tap: Tap = RingTap(spec, self.cfg, self.node) if self.cfg.source == "ring" else PcapTap(spec, self.cfg, self.node)
        try:
            tap.open()
        except (OSError, NetnsError) as e:
            # Raced with a pod going away (or not permitted): counted, retried at the next rescan.
            self.counters.inc("capture.tap_open_failed")
            if spec.key not in self._failed_once:
                self._failed_once.add(spec.key)
                log.warning("cannot open tap %s on %s in %s: %s", spec.kind, spec.interface, spec.netns, e)
            tap.close()
            return False
        self._failed_once.discard(spec.key)
        self.adopt(tap)
        return True

    def adopt(self, tap: Tap) -> None:
        """Start reading a tap that is open (opened here, or received from the supervisor)."""
        spec = tap.spec
        if spec.key in self.taps:
            self._close(spec.key)
        self.taps[spec.key] = tap
        self._by_fd[tap.fd] = tap
        self._poller.register(tap.fd, select.POLLIN)
        self.counters.inc("capture.tap_opened")
        self.counters.set_gauge("capture.taps", len(self.taps))
        log.info("tap %s on %s (%s)", spec.kind, spec.interface, spec.netns)

    def wake_on(self, fd: int) -> None:
        """End a poll wait also when ``fd`` (not a tap: a worker's control socket) is readable, so
        the caller can wait long with nothing to read and still answer it at once; a turn woken by
        it reads nothing and the caller looks at ``fd`` itself."""
        self._poller.register(fd, select.POLLIN)

    def drop_tap(self, key: tuple[str, str, str]) -> None:
        """Stop reading a tap the plan no longer has (told by the supervisor)."""
        if key in self.taps:
            self._close(key)
            self.counters.inc("capture.tap_closed")
            self.counters.set_gauge("capture.taps", len(self.taps))

    def _close(self, key: tuple[str, str, str]) -> None:
        tap = self.taps.pop(key)
        self._account(tap)
        self._by_fd.pop(tap.fd, None)
        try:
            self._poller.unregister(tap.fd)
        except (KeyError, ValueError):
            pass
        tap.close()

    def close_all(self) -> None:
        for key in list(self.taps):
            self._close(key)
        self.counters.set_gauge("capture.taps", 0)

    # -- reading ------------------------------------------------------------------------------
    def poll_once(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for any tap, then dispatch each ready tap (bounded). Returns the
        number of packets handed on."""
        try:
            events = self._poller.poll(int(timeout_s * 1000))
        except InterruptedError:
            return 0
        total = 0
        for fd, ev in events:
            tap = self._by_fd.get(fd)
            if tap is None:
                continue
            try:
                total += tap.dispatch(self.cfg.dispatch_max, self.on_packet)
            except OSError as e:
                self._vanished(tap, str(e))
                continue
            except Exception:  # noqa: BLE001 - a bug on one packet must not stop the capture
                self.counters.drop("pipeline_error")
                if self.counters.dropped("pipeline_error") <= 5:
                    log.exception("processing a packet from %s failed", tap.spec.interface)
                continue
            if ev & _POLL_ERR and tap.spec.key in self.taps:
                self._vanished(tap, f"poll event {ev:#x}")
        self.last_turn = total
        self.counters.inc("capture.packets", total)
        return total

    def _vanished(self, tap: Tap, why: str) -> None:
        """The device went away under us (pod deleted): close the tap, count it, carry on."""
        self.counters.inc("capture.tap_vanished")
        log.info("tap on %s (%s) vanished: %s", tap.spec.interface, tap.spec.netns, why)
        if tap.spec.key in self.taps:
            self._close(tap.spec.key)
        self.counters.set_gauge("capture.taps", len(self.taps))

    # -- statistics ---------------------------------------------------------------------------
    def _account(self, tap: Tap) -> None:
        if tap.handle is None:
            return
        try:
            drop, ifdrop = tap.refresh_stats()
        except OSError:
            return
        if drop:
            self.counters.drop("capture_kernel", drop)
        if ifdrop:
            self.counters.drop("capture_interface", ifdrop)

    def refresh_stats(self) -> None:
        """Pull kernel counters of every tap into Counters (call about once a second)."""
        for tap in list(self.taps.values()):
            self._account(tap)

    def tap_stats(self) -> list[tuple[dict[str, str], TapStats]]:
        return [(tap.source, tap.stats) for tap in self.taps.values()]
