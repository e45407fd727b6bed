"""Several processes writing one JSON Lines output (``capture.workers``): lines never interleave,
on a pipe (where writes above PIPE_BUF are not atomic) as on a file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from interceptor.sinks.jsonl import LineWriter

WRITERS = 3
LINES = 400


def _write_lines(path: str, lock: Path, writer: int) -> None:
    out = LineWriter(path, str(lock))
    for i in range(LINES):
        # 2-12 KB lines: larger than PIPE_BUF (4 KiB), so only the lock keeps them whole
        out.write(json.dumps({"w": writer, "i": i, "pad": "x" * (2000 + 97 * (i % 100))}).encode() + b"\n")
        if i % 37 == 0:
            out.flush()
    out.close()


def _run_writers(path: str, lock: Path) -> None:
    pids = []
    for w in range(WRITERS):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _write_lines(path, lock, w)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        assert os.waitpid(pid, 0)[1] == 0


def _check(text: bytes) -> None:
    seen = [json.loads(line) for line in text.splitlines()]
    assert len(seen) == WRITERS * LINES
    for w in range(WRITERS):
        assert [r["i"] for r in seen if r["w"] == w] == list(range(LINES))  # each writer's order kept


def test_processes_appending_to_one_file_write_whole_lines(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    out.write_bytes(b"")
    _run_writers(str(out), tmp_path / "lock")
    _check(out.read_bytes())


def test_processes_writing_one_pipe_write_whole_lines(tmp_path: Path) -> None:
    r, w = os.pipe()
    reader = os.fork()
    if reader == 0:  # drains the pipe into a file while the writers run
        code = 1
        try:
            os.close(w)
            with open(tmp_path / "read.jsonl", "wb") as f:
                while chunk := os.read(r, 1 << 16):
                    f.write(chunk)
            code = 0
        finally:
            os._exit(code)
    os.close(r)
    saved = os.dup(1)
    os.dup2(w, 1)  # "-" is standard output
    try:
        _run_writers("-", tmp_path / "lock")
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(w)
    assert os.waitpid(reader, 0)[1] == 0
    _check((tmp_path / "read.jsonl").read_bytes())
