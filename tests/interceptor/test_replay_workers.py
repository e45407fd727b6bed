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
    return sorted(_by_connection(lines)[1])


def _by_connection(lines: list[bytes]) -> tuple[dict[tuple, list[str]], list[str]]:
    """Each connection's records (without their ids) in the order the output holds them; and all."""
    conns: dict[tuple, list[str]] = {}
    out = []
    for line in lines:
        rec: dict[str, Any] = json.loads(line)
        rec.pop("id")
        text = json.dumps(rec, sort_keys=True)
        conns.setdefault((rec["src"]["ip"], rec["src"]["port"], rec["dst"]["ip"], rec["dst"]["port"]), []).append(text)
        out.append(text)
    return conns, out


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("workers") / "ka.pcap"
    synth_keepalive(path, 600, 12)  # 12 connections of 50 exchanges
    return path


def _one_and_two(capture: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[bytes], dict, dict]:
    """Replay ``capture`` in one process and with ``--workers 2``: both succeed with the same 600
    pairs and the same counts; the 2-worker run and both stats files, for the caller's checks."""
    one = _replay(capture, str(tmp_path / "one.jsonl"), tmp_path / "one.json")
    two = _replay(capture, str(tmp_path / "two.jsonl"), tmp_path / "two.json", "--workers", "2")
    assert one.returncode == two.returncode == 0, two.stderr.decode()
    a, b = (tmp_path / "one.jsonl").read_bytes().splitlines(), (tmp_path / "two.jsonl").read_bytes().splitlines()
    assert len(a) == 600 and _pairs(a) == _pairs(b)
    # The order users get (README): each connection's pairs in capture order, as one process gives
    # them; only the connections' interleaving differs.
    assert _by_connection(a)[0] == _by_connection(b)[0]
    sa, sb = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "two.json").read_text())
    assert sa["counts"] == sb["counts"]
    return two, sa, sb


def test_two_workers_give_the_pairs_and_counters_of_one(capture: Path, tmp_path: Path) -> None:
    two, sa, sb = _one_and_two(capture, tmp_path)
    assert sa["dropped"] == sb["dropped"] == {}
    assert sb["workers"] == 2 and len(sb["sinks"]) == 2
    assert b"600 pairs emitted" in two.stderr
    # Where the time went: each worker's steps in order, after the fork, on one clock with the parent's.
    steps = ["forked_s", "ready_s", "first_batch_s", "fed_s", "replayed_s", "closed_s", "joined_s"]
    timeline = sb["timeline"]
    assert [w["worker"] for w in timeline["workers"]] == [0, 1]
    for w in timeline["workers"]:
        marks = [w[step] for step in steps]
        assert 0 <= marks[0] and marks == sorted(marks) and marks[-1] <= sb["elapsed_s"] + 0.001  # (ms)
        assert w["user_s"] > 0 and w["minor_faults"] > 0
    assert timeline["parent"]["start_user_s"] > 0
    with CaptureReader(capture) as reader:  # 12 connections: 6 each
        sharder = Sharder(2)
        shares = [sharder.owner(lt, frame) for _, lt, frame in reader]
    assert sorted(sharder.known.values()) == [0] * 6 + [1] * 6 and shares.count(0) == shares.count(1)


def test_a_gzipped_pcapng_gives_the_pairs_and_counters_of_one(capture: Path, tmp_path: Path) -> None:
    """The pcapng cutter shares out alike (each worker decompresses the whole file)."""
    from tests.interceptor.tools.pcaprewrite import read_records, write_pcapng

    linktype, records = read_records(capture)
    ng = write_pcapng(tmp_path / "ka.pcapng.gz", linktype, records, compress=True)
    _, _, sb = _one_and_two(ng, tmp_path)
    assert sb["format"] == "pcapng"


def frame(sport: int, reply: bool = False, ip_options: bool = False) -> bytes:
    """Ethernet + IPv4 + TCP, no payload: client 10.0.0.1:sport -> server 10.0.0.2:80 (or the reply)."""
    ends = [bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])]
    ports = [sport.to_bytes(2, "big"), (80).to_bytes(2, "big")]
    if reply:
        ends.reverse()
        ports.reverse()
    options = bytes([1, 1, 1, 0]) if ip_options else b""  # NOPs and the end: header length 24
    ip = bytes([0x46 if ip_options else 0x45, 0, 0, 40 + len(options), 0, 0, 0x40, 0, 64, 6, 0, 0]) + ends[0] + ends[1]
    tcp = ports[0] + ports[1] + bytes(8) + bytes([0x50, 0x12 if reply else 0x02]) + bytes(6)
    return bytes(12) + b"\x08\x00" + ip + options + tcp


def test_both_directions_and_both_ways_of_reading_a_frame_give_one_worker() -> None:
    # The common frame is read at fixed offsets, one with IP options is decoded in full: one
    # connection still has one worker, whichever direction or kind of frame comes first.
    a, b = Sharder(2), Sharder(2)
    first = [frame(40000), frame(40001, ip_options=True), frame(40002, reply=True)]
    later = [frame(40000, reply=True, ip_options=True), frame(40001, reply=True), frame(40002, ip_options=True)]
    assert [a.owner(1, f) for f in first] == [0, 1, 0] and [a.owner(1, f) for f in later] == [0, 1, 0]
    assert [b.owner(1, f) for f in later] == [0, 1, 0] and len(a.known) == len(b.known) == 3


def test_past_its_bound_the_table_hashes_the_same_in_every_worker() -> None:

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


def test_a_capture_on_standard_input_is_shared_out_too(capture: Path, tmp_path: Path) -> None:
    """A pipe is read once, by the parent, which sends each worker a copy: the pairs, per-connection
    order and counters of one process reading it; text that is no capture is said once."""
    def from_stdin(name: str, *extra: str) -> subprocess.CompletedProcess[bytes]:
        with capture.open("rb") as stdin:
            return subprocess.run([sys.executable, "-m", "interceptor.cli", "replay", "-", "--out",
                                   str(tmp_path / f"{name}.jsonl"), "--stats", str(tmp_path / f"{name}.json"),
                                   "--keep-all", *extra], stdin=stdin, capture_output=True, timeout=120, cwd=REPO)

    one, two = from_stdin("one"), from_stdin("two", "--workers", "2")
    assert one.returncode == two.returncode == 0, two.stderr.decode()
    a, b = (tmp_path / "one.jsonl").read_bytes().splitlines(), (tmp_path / "two.jsonl").read_bytes().splitlines()
    assert len(a) == 600 and _by_connection(a)[0] == _by_connection(b)[0]
    sa, sb = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "two.json").read_text())
    assert sa["counts"] == sb["counts"] and sb["workers"] == 2
    bad = subprocess.run([sys.executable, "-m", "interceptor.cli", "replay", "-", "--out", str(tmp_path / "x.jsonl"),
                          "--workers", "2"], input=b"no capture here", capture_output=True, timeout=120, cwd=REPO)
    lines = [line for line in bad.stderr.decode().splitlines() if line.startswith("interceptor:")]
    assert bad.returncode == 1 and len(lines) == 1 and "not a pcap or pcapng capture" in lines[0]


def test_a_damaged_gzip_is_reported_as_one_process_reports_it(capture: Path, tmp_path: Path) -> None:
    """The parent decompresses a gzipped file once for every worker: a stream that breaks off
    gives the one process's counts and its one error line (the read error, at the same offset)."""
    import gzip

    data = gzip.compress(capture.read_bytes())
    cut = tmp_path / "cut.pcap.gz"
    cut.write_bytes(data[: len(data) // 2])
    one = _replay(cut, str(tmp_path / "one.jsonl"), tmp_path / "one.json")
    two = _replay(cut, str(tmp_path / "two.jsonl"), tmp_path / "two.json", "--workers", "2")
    assert one.returncode == two.returncode == 0, two.stderr.decode()
    sa, sb = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "two.json").read_text())
    assert sa["counts"] == sb["counts"] and sa["counts"]["pairs.emitted"] > 0
    assert "read error" in sa["error"] and sa["error"] == sb["error"]
    error_lines = [line for line in two.stderr.decode().splitlines() if "processed" in line]
    assert error_lines == [line for line in one.stderr.decode().splitlines() if "processed" in line]
    a, b = (tmp_path / "one.jsonl").read_bytes().splitlines(), (tmp_path / "two.jsonl").read_bytes().splitlines()
    assert _by_connection(a)[0] == _by_connection(b)[0]


@pytest.mark.parametrize("extra,message", [
    (["--workers", "0"], "--workers 0: give 2..64"),
    (["--workers", "2", "--coverage", "cov.jsonl"], "--coverage needs one process"),
])
def test_refused_combinations_say_why(capture: Path, tmp_path: Path, extra: list[str], message: str) -> None:
    res = _replay(capture, str(tmp_path / "o.jsonl"), tmp_path / "s.json", *extra)
    assert res.returncode == 2 and message in res.stderr.decode()
