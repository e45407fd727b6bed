"""JSON Lines sink: one pair record per line, to a file or stdout.

A write that fails (full disk, closed pipe) is not retried: the sink stops writing, remembers the
error for the one-line report at the end, and counts every pair it could not write
(``dropped.sink_write_error``).

``shared_lock`` is for ``capture.workers`` processes writing one output together: each worker
appends (O_APPEND) whole lines only, a buffer at a time, under an exclusive ``flock`` on that lock
file, so lines of different workers never interleave, on a file or on a pipe."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from typing import Any, BinaryIO

from interceptor.counters import Counters
from interceptor.pairs import Pair

FLUSH_INTERVAL_S = 1.0  # `tail -f` on a live run's file sees pairs within about a second


class SinkOpenError(Exception):
    """The output cannot be opened; the message is one line naming the path."""


class JsonlSink:
    def __init__(self, path: str, counters: Counters, shared_lock: str | None = None) -> None:
        self.path = path
        self.counters = counters
        self.error: str | None = None  # the first write error, for the report
        self._own = path != "-" or shared_lock is not None
        try:
            if shared_lock is not None:
                self._out: BinaryIO = SharedAppender(path, shared_lock)  # type: ignore[assignment]
            else:
                self._out = open(path, "wb", buffering=1 << 20) if self._own else sys.stdout.buffer  # noqa: SIM115
        except OSError as e:
            raise SinkOpenError(f"--out {path}: cannot write: {e.strerror or e}") from None
        self._flushed_at = time.monotonic()

    def publish(self, pair: Pair) -> None:
        if self.error is not None:
            self.counters.drop("sink_write_error")
            return
        try:
            self._out.write(pair.to_json_line())
        except OSError as e:
            self._failed(e)
            self.counters.drop("sink_write_error")
            return
        self.counters.inc("sink.jsonl.written")

    def _failed(self, e: OSError) -> None:
        if self.error is None:
            self.error = f"--out {self.path}: write failed: {e.strerror or e}"

    def poll(self) -> None:
        # Called by the agent's housekeeping and replay's loop: the 1 MiB buffer stays for speed,
        # but is emptied at least once a second so a live file can be followed.
        now = time.monotonic()
        if now - self._flushed_at >= FLUSH_INTERVAL_S:
            self._flushed_at = now
            if self.error is None:
                try:
                    self._out.flush()
                except OSError as e:
                    self._failed(e)

    def close(self, timeout_s: float = 0.0) -> dict[str, Any]:
        try:
            self._out.flush()
        except OSError as e:  # the buffered tail did not fit: those pairs are lost, say so
            self._failed(e)
        if self._own:
            try:
                self._out.close()
            except OSError as e:
                self._failed(e)
        report: dict[str, Any] = {"sink": "jsonl", "path": self.path, "written": self.counters.get("sink.jsonl.written")}
        if self.error is not None:
            report["error"] = self.error
        return report


BUFFER_BYTES = 1 << 20


class SharedAppender:
    """A write buffer that goes out whole lines at a time, appended under an exclusive lock (many
    processes, one output). Looks enough like a binary file for ``JsonlSink``."""

    def __init__(self, path: str, lock_path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC) if path != "-" else os.dup(1)
        # Our own open file description of the lock file: flock excludes other processes' ones.
        self._lock = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._parts: list[bytes] = []
        self._size = 0

    def write(self, line: bytes) -> int:
        self._parts.append(line)
        self._size += len(line)
        if self._size >= BUFFER_BYTES:
            self.flush()
        return len(line)

    def flush(self) -> None:
        if not self._parts:
            return
        data = memoryview(b"".join(self._parts))
        self._parts.clear()
        self._size = 0
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            while data:
                data = data[os.write(self._fd, data):]
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            os.close(self._fd)
            os.close(self._lock)
