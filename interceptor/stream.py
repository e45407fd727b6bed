"""The live stream's sans-I/O core, shared by the agent's ``/ws`` and the hub's ``/api/wsFull``.

Records in (``Fanout.offer``), text frames out (``Subscriber.take``); no sockets here. Each client is a
``Subscriber`` with its compiled query and a bounded queue of frames: the producer side never waits
(a full queue loses the record, counted per client and in ``dropped.stream_slow_client``), and the
client is told how many it lost by a notice frame before its next record. Evaluation, masking and
serialisation happen once per record and privacy level (``RecordView``), not once per client.

Frames (one JSON object per text frame):

- a record: the pair record (masked unless the caller may see raw values), plus ``types`` /
  ``sensitivity`` / ``detections`` when the hub joined the processor's findings;
- ``{"notice": "lost", "lost": N, "lost_total": M[, "skipped": K]}``: N records did not fit this
  client's queue; K records the source did not stream at all (the agent's ``stream.max_records_per_s``);
- ``{"notice": "limit", "sent": N}``: ``limit(n)`` reached; the server closes normally;
- ``{"error": "...", "position": P, "query": "..."}``: the query did not compile; the server closes
  with 1008 (policy violation).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from interceptor.counters import Counters
from interceptor.kfl import KflError

if TYPE_CHECKING:
    from interceptor.kfl import Query

POLICY_VIOLATION = 1008
DEFAULT_QUEUE = 1000
Masker = Callable[[dict[str, Any]], dict[str, Any]]


def error_frame(err: KflError) -> str:
    return orjson.dumps({"error": err.message, "position": err.pos, "query": err.query}).decode()


def parse_query(text: str) -> Query | KflError:
    from interceptor.kfl import compile_query  # (with the first query: interceptor/kfl/__init__.py)

    try:
        return compile_query(text)
    except KflError as e:
        return e


class RecordView:
    """One record as the clients see it: raw, or masked (computed once, when first needed)."""

    __slots__ = ("raw", "_masked", "_masker", "_frames")

    def __init__(self, raw: dict[str, Any], masker: Masker) -> None:
        self.raw = raw
        self._masker = masker
        self._masked: dict[str, Any] | None = None
        self._frames: dict[bool, str] = {}

    def masked(self) -> dict[str, Any]:
        if self._masked is None:
            self._masked = self._masker(self.raw)
        return self._masked

    def record(self, raw: bool) -> dict[str, Any]:
        return self.raw if raw else self.masked()

    def frame(self, raw: bool) -> str:
        f = self._frames.get(raw)
        if f is None:
            f = self._frames[raw] = orjson.dumps(self.record(raw)).decode()
        return f


@dataclass(eq=False)
class Subscriber:
    """One client: its query, what it may see, its bounded queue and what it lost."""

    query: Query
    raw: bool  # may see detected personal data unmasked
    name: str  # for logs: peer address and token name, never the token
    max_queue: int = DEFAULT_QUEUE
    wake: Callable[[], None] = lambda: None  # the adapter's "frames are waiting" signal
    queue: deque[str] = field(default_factory=deque)
    matched: int = 0
    lost: int = 0  # since the last notice
    lost_total: int = 0
    skipped: int = 0  # since the last notice: records the source did not stream at all (its budget)
    finished: bool = False  # limit reached: no more records
    # The agent counts losses on its dispatcher thread and takes them on the connection's thread.
    _loss_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def offer(self, view: RecordView, counters: Counters) -> None:
        if self.finished:
            return
        q = self.query
        rec = view.raw if self.raw or not q.touches_values else view.masked()
        if not q.match(rec):
            return
        self.matched += 1
        if len(self.queue) >= self.max_queue:
            with self._loss_lock:
                self.lost += 1
                self.lost_total += 1
            counters.drop("stream_slow_client")
            return
        frame = view.frame(self.raw) if not q.redactions else orjson.dumps(q.redact(view.record(self.raw))).decode()
        self.queue.append(frame)
        counters.inc("stream.records_sent")
        if q.limit is not None and self.matched >= q.limit:
            self.finished = True
            self.queue.append(orjson.dumps({"notice": "limit", "sent": self.matched}).decode())
        self.wake()

    def take(self, max_frames: int = 256) -> list[str]:
        """Frames to write now; a notice of what was lost comes first."""
        out: list[str] = []
        if self.lost or self.skipped:
            with self._loss_lock:
                lost, total, skipped, self.lost, self.skipped = self.lost, self.lost_total, self.skipped, 0, 0
            notice: dict[str, Any] = {"notice": "lost", "lost": lost, "lost_total": total}
            if skipped:
                notice["skipped"] = skipped
            out.append(orjson.dumps(notice).decode())
        q = self.queue
        while q and len(out) < max_frames:
            out.append(q.popleft())
        return out

    @property
    def pending(self) -> bool:
        """Frames (or a loss notice) are waiting to be taken."""
        return bool(self.queue) or self.lost > 0 or self.skipped > 0

    @property
    def done(self) -> bool:
        """Limit reached and everything written: the adapter closes normally."""
        return self.finished and not self.queue


class Fanout:
    """The set of clients; ``offer`` hands one record to each. Thread-safe membership (the agent's
    dispatcher thread offers while handler threads join and leave)."""

    def __init__(self, counters: Counters, masker: Masker) -> None:
        self.counters = counters
        self.masker = masker
        self._subs: tuple[Subscriber, ...] = ()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._subs)

    def add(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs = (*self._subs, sub)
            self.counters.set_gauge("stream.clients", len(self._subs))
        self.counters.inc("stream.connections")

    def remove(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs = tuple(s for s in self._subs if s is not sub)
            self.counters.set_gauge("stream.clients", len(self._subs))

    def skipped(self, n: int) -> None:
        """``n`` records were not streamed at all (the source's budget or backlog): every client is told."""
        for sub in self._subs:
            with sub._loss_lock:
                sub.skipped += n
            sub.wake()

    def offer(self, record: dict[str, Any]) -> None:
        subs = self._subs  # a snapshot: joins and leaves take effect from the next record
        if not subs:
            return
        view = RecordView(record, self.masker)
        for sub in subs:
            try:
                sub.offer(view, self.counters)
            except Exception:  # noqa: BLE001 - one client's query must not stop the others
                self.counters.drop("stream_eval_error")
