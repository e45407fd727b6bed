"""The replay command as a user runs it: output, stats, errors, exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import orjson

from interceptor.schema import validate_pair
from tests.interceptor.packetgen import Conn, http_request, http_response, write_pcap


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "interceptor.cli", *args], capture_output=True, text=True, timeout=60)


def sample(path: Path, n: int = 4) -> Path:
    conn = Conn().handshake()
    for i in range(n):
        conn.request(http_request(target=f"/users/{i}", body=b'{"email":"u%d@example.com"}' % i))
        conn.response(http_response(body=b'{"ok":true}'))
    conn.request(http_request(method="GET", target="/metrics", body=b""))
    conn.response(http_response())
    write_pcap(str(path), conn.close().frames)
    return path


def test_replay_writes_valid_records_and_stats(tmp_path: Path) -> None:
    pcap = sample(tmp_path / "s.pcap")
    out, stats = tmp_path / "pairs.jsonl", tmp_path / "stats.json"
    r = run("replay", str(pcap), "--out", str(out), "--stats", str(stats))
    assert r.returncode == 0, r.stderr
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [rec["request"]["target"] for rec in records] == [f"/users/{i}" for i in range(4)]
    for rec in records:
        validate_pair(rec)
        assert rec["source"] == {"kind": "pcap-file", "file": str(pcap)}
    st = json.loads(stats.read_text())
    assert st["counts"]["pairs.emitted"] == 4 and st["dropped"] == {"filtered_url": 1}
    assert "4 pairs emitted, 1 dropped" in r.stderr and "dropped filtered_url: 1" in r.stderr


def test_keep_all_and_stdout(tmp_path: Path) -> None:
    r = run("replay", str(sample(tmp_path / "s.pcap")), "--keep-all", "--out", "-")
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == 5


def test_config_file_and_env(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("filters:\n  drop_urls: ['/users/0']\n")
    r = run("replay", str(sample(tmp_path / "s.pcap")), "--config", str(cfg), "--out", "-")
    assert len(r.stdout.splitlines()) == 4  # /metrics no longer filtered, /users/0 is
    cfg.write_text("core:\n  max_mesage_bytes: 5\n")
    r = run("replay", str(sample(tmp_path / "s.pcap")), "--config", str(cfg))
    assert r.returncode == 2 and "core.max_mesage_bytes: unknown key" in r.stderr


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    r = run("replay", str(tmp_path / "missing.pcap"))
    assert r.returncode == 1 and r.stderr.strip() == f"interceptor: {tmp_path / 'missing.pcap'}: no such file"
    (tmp_path / "notes.txt").write_text("just text\n")
    r = run("replay", str(tmp_path / "notes.txt"))
    assert r.returncode == 1 and "not a pcap or pcapng capture" in r.stderr and "Traceback" not in r.stderr


def test_truncated_capture_processes_what_is_readable(tmp_path: Path) -> None:
    pcap = sample(tmp_path / "s.pcap")
    data = pcap.read_bytes()
    (tmp_path / "cut.pcap").write_bytes(data[: len(data) - 50])
    r = run("replay", str(tmp_path / "cut.pcap"), "--out", "-")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 4
    assert "cut short" in r.stderr and "offset" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "header-only.pcap").write_bytes(data[:30])
    r = run("replay", str(tmp_path / "header-only.pcap"))
    assert r.returncode == 1 and "processed 0 packets" in r.stderr
