"""``interceptor replay --workers N``: the same pairs and the same counters as one process, each
connection in one worker, the problems said once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.replay import synth_keepalive
from interceptor.capture.pcapfile import CaptureReader
from interceptor.replayshard import Sharder

REPO = Path(__file__).resolve().parents[2]


def _replay(capture: Path, out: str, stats: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-c", "import sys; from interceptor.cli import main; sys.exit(main())", "replay",
            str(capture), "--out", out, "--stats", str(stats), "--keep-all", *extra]
    return subprocess.run(argv, capture_output=True, timeout=120, cwd=REPO)


def _pairs(lines: list[bytes]) -> list[str]:
    """The records without their ids (unique per process), sorted: order across workers is not kept."""
    out = []
    for line in lines:
        rec: dict[str, Any] = json.loads(line)
        rec.pop("id")
        out.append(json.dumps(rec, sort_keys=True))
    return sorted(out)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("workers") / "ka.pcap"
    synth_keepalive(path, 600, 12)  # 12 connections of 50 exchanges
    return path


def test_two_workers_give_the_pairs_and_counters_of_one(capture: Path, tmp_path: Path) -> None:
    one = _replay(capture, str(tmp_path / "one.jsonl"), tmp_path / "one.json")
    two = _replay(capture, str(tmp_path / "two.jsonl"), tmp_path / "two.json", "--workers", "2")
    assert one.returncode == two.returncode == 0, two.stderr.decode()
    a, b = (tmp_path / "one.jsonl").read_bytes().splitlines(), (tmp_path / "two.jsonl").read_bytes().splitlines()
    assert len(a) == 600 and _pairs(a) == _pairs(b)
    sa, sb = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "two.json").read_text())
    assert sa["counts"] == sb["counts"] and sa["dropped"] == sb["dropped"] == {}
    assert sb["workers"] == 2 and len(sb["sinks"]) == 2
    assert b"600 pairs emitted" in two.stderr
    with CaptureReader(capture) as reader:  # 12 connections: 6 each
        sharder = Sharder(2)
        shares = [sharder.owner(lt, frame) for _, lt, frame in reader]
    assert sorted(sharder.known.values()) == [0] * 6 + [1] * 6 and shares.count(0) == shares.count(1)


def test_past_its_bound_the_table_hashes_the_same_in_every_worker() -> None:
    def frame(sport: int) -> bytes:  # Ethernet + IPv4 + TCP, no payload
        ip = bytes([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
        tcp = sport.to_bytes(2, "big") + (80).to_bytes(2, "big") + bytes(8) + bytes([0x50, 0x02]) + bytes(6)
        return bytes(12) + b"\x08\x00" + ip + tcp

    a, b = Sharder(3, max_known=4), Sharder(3, max_known=4)
    frames = [frame(40000 + i) for i in range(50)]
    assert [a.owner(1, f) for f in frames] == [b.owner(1, f) for f in frames]
    assert len(a.known) == 4 and {a.owner(1, f) for f in frames} == {0, 1, 2}
    assert a.owner(1, b"short") == 0


def test_workers_to_stdout_write_whole_lines(capture: Path, tmp_path: Path) -> None:
    res = _replay(capture, "-", tmp_path / "s.json", "--workers", "3")
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.splitlines()
    assert len(lines) == 600 and all(json.loads(line)["response"]["status"] == 200 for line in lines)


def test_a_cut_file_is_reported_once_with_the_same_counts(capture: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(capture.read_bytes()[: capture.stat().st_size // 2 + 7])  # ends inside a packet
    one = _replay(cut, str(tmp_path / "one.jsonl"), tmp_path / "one.json")
    two = _replay(cut, str(tmp_path / "two.jsonl"), tmp_path / "two.json", "--workers", "2")
    assert one.returncode == two.returncode
    sa, sb = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "two.json").read_text())
    assert sa["counts"] == sb["counts"] and sa["dropped"] == sb["dropped"]
    assert two.stderr.decode().count("processed") == 1


@pytest.mark.parametrize("extra,message", [
    (["--workers", "0"], "--workers 0: give 2..64"),
    (["--workers", "2", "--coverage", "cov.jsonl"], "--coverage needs one process"),
    (["--workers", "2", "-"], "- is not a regular file"),
])
def test_refused_combinations_say_why(capture: Path, tmp_path: Path, extra: list[str], message: str) -> None:
    if "-" in extra:  # the capture from stdin instead of the file
        extra, capture = [e for e in extra if e != "-"], Path("-")
    res = _replay(capture, str(tmp_path / "o.jsonl"), tmp_path / "s.json", *extra)
    assert res.returncode == 2 and message in res.stderr.decode()
