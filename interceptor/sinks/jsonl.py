"""JSON Lines sink: one pair record per line, to a file or stdout.

Lines are kept in a bounded buffer (``BUFFER_BYTES``) and written out a buffer at a time: when it
is full, at ``poll`` once a second (``tail -f`` on a live run's file sees pairs within about a
second), and at ``close``. A pair counts as written (``sink.jsonl.written``) once its line went
out. A write that fails (full disk, closed pipe) is not retried: the sink stops writing, remembers
the error for the one-line report at the end, and counts every pair whose line did not go out and
every later one (``dropped.sink_write_error``).

``shared_lock`` is for ``capture.workers`` processes (and ``replay --workers``) writing one output
together: each appends (O_APPEND) whole lines only, a buffer at a time, under an exclusive
``flock`` on that lock file, so lines of different workers never interleave, on a file or on a pipe.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from typing import Any

from interceptor.counters import Counters
from interceptor.pairs import Pair

FLUSH_INTERVAL_S = 1.0
BUFFER_BYTES = 1 << 20  # the most a sink holds before writing (~500 pairs of ~2 KB)


class SinkOpenError(Exception):
    """The output cannot be opened; the message is one line naming the path."""


class LineWriter:
    """Whole lines buffered and written out a buffer at a time to a file descriptor -- appended
    under an exclusive lock when ``lock_path`` is given (many processes, one output).

    ``flush`` writes everything buffered or raises ``WriteFailed`` saying how many lines did not
    go out; either way the buffer is empty afterwards, so memory stays bounded."""

    def __init__(self, path: str, lock_path: str | None = None) -> None:
        if path == "-":
            sys.stdout.flush()  # anything printed before goes out first
            self._fd = os.dup(1)
        elif lock_path is not None:  # the output exists (the parent made it): every worker appends
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        else:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        # Our own open file description of the lock file: flock excludes other processes' ones.
        self._lock = -1 if lock_path is None else os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, line: bytes) -> bool:
        """Buffer ``line`` (whole, newline-terminated); True when the buffer is full: flush it."""
        self._parts.append(line)
        self._size += len(line)
        return self._size >= BUFFER_BYTES

    def write(self, line: bytes) -> int:
        """``add``, flushing a full buffer (a file's ``write``)."""
        if self.add(line):
            self.flush()
        return len(line)

    def flush(self) -> int:
        """Write out what is buffered; the number of lines written."""
        parts = self._parts
        if not parts:
            return 0
        lines = len(parts)
        data = memoryview(parts[0] if lines == 1 else b"".join(parts))
        self._parts = []
        self._size = 0
        if self._lock >= 0:
            fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            while data:
                # Two statements: mypyc 2.4.1 evaluates a call inside a memoryview's slice twice
                # (``data[os.write(fd, data):]`` wrote every buffer twice once compiled).
                written = os.write(self._fd, data)
                data = data[written:]
        except OSError as e:
            raise WriteFailed(e, bytes(data).count(b"\n")) from e  # the lines not (wholly) written
        finally:
            if self._lock >= 0:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
        return lines

    def close(self) -> None:
        try:
            self.flush()
        finally:
            os.close(self._fd)
            if self._lock >= 0:
                os.close(self._lock)


class WriteFailed(Exception):
    """A flush that failed part-way: ``lost`` lines did not go out. (Not an ``OSError`` subclass:
    compiled, a class can derive from ``Exception`` but not from ``OSError``.)"""

    def __init__(self, error: OSError, lost: int) -> None:
        super().__init__(error.strerror or str(error))
        self.strerror = error.strerror or str(error)
        self.lost = lost


class JsonlSink:
    def __init__(self, path: str, counters: Counters, shared_lock: str | None = None) -> None:
        self.path = path
        self.counters = counters
        self.error: str | None = None  # the first write error, for the report
        try:
            self._out = LineWriter(path, shared_lock)
        except OSError as e:
            raise SinkOpenError(f"--out {path}: cannot write: {e.strerror or e}") from None
        self._flushed_at = time.monotonic()

    def publish(self, pair: Pair) -> None:
        if self.error is not None:
            self.counters.drop("sink_write_error")
            return
        if self._out.add(pair.to_json_line()):
            self._flush()

    def _flush(self) -> None:
        try:
            written = self._out.flush()
        except WriteFailed as e:
            if self.error is None:
                self.error = f"--out {self.path}: write failed: {e.strerror}"
            self.counters.drop("sink_write_error", e.lost)
            return
        if written:
            self.counters.inc("sink.jsonl.written", written)

    def poll(self) -> None:
        # Called by the agent's housekeeping and replay's loop: the buffer stays for speed, but is
        # emptied at least once a second so a live file can be followed.
        now = time.monotonic()
        if now - self._flushed_at >= FLUSH_INTERVAL_S:
            self._flushed_at = now
            self._flush()

    def close(self, timeout_s: float = 0.0) -> dict[str, Any]:
        self._flush()
        try:
            self._out.close()
        except (OSError, WriteFailed) as e:
            if self.error is None:
                self.error = f"--out {self.path}: close failed: {e.strerror or e}"
        report: dict[str, Any] = {"sink": "jsonl", "path": self.path, "written": self.counters.get("sink.jsonl.written")}
        if self.error is not None:
            report["error"] = self.error
        return report
