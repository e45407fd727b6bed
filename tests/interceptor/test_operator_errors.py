"""Operator errors and damaged input as a user meets them on the command line: one line on stderr,
never a traceback; the stats written and the pairs read before the damage flushed."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interceptor.config import ConfigError, load_config
from tests.interceptor.packetgen import Conn, http_request, http_response, write_pcap
from tests.interceptor.test_capture_damage import CASES, GOOD


def run(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "interceptor.cli", *args], capture_output=True, timeout=120,
                          env={**os.environ, **(env or {})}, input=stdin)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("interceptor:")]
    assert len(lines) == 1, stderr
    return lines[0]


def sample(path: Path, n: int = 3, linktype: int = 1) -> Path:
    conn = Conn().handshake()
    for i in range(n):
        conn.request(http_request(target=f"/users/{i}"))
        conn.response(http_response())
    write_pcap(str(path), conn.close().frames, linktype)
    return path


def pcapng_sample(n: int = 3) -> bytes:
    """The sample's frames as pcapng blocks (for damage appended after a valid section)."""
    from tests.interceptor.test_capture_damage import epb, idb, shb

    conn = Conn().handshake()
    for i in range(n):
        conn.request(http_request(target=f"/users/{i}"))
        conn.response(http_response())
    blocks = [epb(frame, ts=int(ts * 1e6)) for ts, frame in conn.close().frames]
    return shb() + idb() + b"".join(blocks)


@pytest.mark.parametrize("name", ["short_epb", "tsresol_past_end", "block_claims_4gb", "trailer_mismatch",
                                  "valid_section_then_short_block"])
def test_damaged_capture_one_line_stats_written_pairs_flushed(tmp_path: Path, name: str) -> None:
    damage = CASES[name][0][len(GOOD):] if CASES[name][0].startswith(GOOD) else CASES[name][0][28:]
    good = pcapng_sample()
    path = tmp_path / f"{name}.pcapng.gz"
    path.write_bytes(gzip.compress(good + damage))
    out, stats = tmp_path / "pairs.jsonl", tmp_path / "stats.json"
    r = run("replay", str(path), "--keep-all", "--out", str(out), "--stats", str(stats))
    line = one_line(r.stderr)
    assert line.startswith(f"interceptor: {path} at offset {len(good)}: "), line
    assert r.returncode == 0  # packets were read: the pairs before the damage count
    assert len(out.read_bytes().splitlines()) == 3
    st = json.loads(stats.read_text())
    assert st["error"].startswith(f"{path} at offset {len(good)}") and st["counts"]["pairs.emitted"] == 3


def test_corrupt_deflate_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.pcap.gz"
    packed = gzip.compress(sample(tmp_path / "s.pcap").read_bytes())
    path.write_bytes(packed[:10] + b"\x07" + packed[11:])  # an invalid deflate block type at the start
    r = run("replay", str(path), "--stats", str(tmp_path / "st.json"))
    assert "invalid block type" in one_line(r.stderr) and r.returncode == 1
    assert "invalid block type" in json.loads((tmp_path / "st.json").read_text())["error"]


def test_out_to_a_missing_folder(tmp_path: Path) -> None:
    r = run("replay", str(sample(tmp_path / "s.pcap")), "--out", str(tmp_path / "no" / "pairs.jsonl"))
    assert r.returncode == 2
    assert one_line(r.stderr) == f"interceptor: --out {tmp_path / 'no' / 'pairs.jsonl'}: cannot write: No such file or directory"


def test_out_to_a_full_disk(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    r = run("replay", str(sample(tmp_path / "s.pcap")), "--keep-all", "--out", "/dev/full", "--stats", str(stats))
    assert r.returncode == 1
    assert one_line(r.stderr) == "interceptor: --out /dev/full: write failed: No space left on device"
    assert json.loads(stats.read_text())["sinks"][0]["error"].endswith("No space left on device")


def test_bad_stats_path_fails_before_the_work(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    r = run("replay", str(sample(tmp_path / "s.pcap")), "--out", str(out), "--stats", str(tmp_path / "no" / "s.json"))
    assert r.returncode == 2 and "--stats" in one_line(r.stderr) and "No such file or directory" in r.stderr
    assert not out.exists()  # nothing was done
    r = run("replay", str(sample(tmp_path / "s.pcap")), "--stats", str(tmp_path))
    assert r.returncode == 2 and "Is a directory" in one_line(r.stderr)


def test_config_that_is_binary_or_a_directory(tmp_path: Path) -> None:
    pcap = sample(tmp_path / "s.pcap")
    r = run("replay", str(pcap), "--config", str(tmp_path))
    assert r.returncode == 2 and one_line(r.stderr) == f"interceptor: config error: {tmp_path}: is a directory, not a config file"
    binary = tmp_path / "true.bin"
    shutil.copy(shutil.which("true") or "/bin/true", binary)
    r = run("replay", str(pcap), "--config", str(binary))
    assert r.returncode == 2 and "not a YAML text file" in one_line(r.stderr)


def test_stdout_for_both_pairs_and_stats_is_refused(tmp_path: Path) -> None:
    r = run("replay", str(sample(tmp_path / "s.pcap")), "--out", "-", "--stats", "-")
    assert r.returncode == 2 and "both name standard output" in one_line(r.stderr) and r.stdout == ""
    r = run("replay", str(sample(tmp_path / "s.pcap")), "--keep-all", "--stats", "-")
    assert json.loads(r.stdout)["counts"]["pairs.emitted"] == 3  # stats alone on stdout still work


def test_unknown_link_type_counts_skipped_packets(tmp_path: Path) -> None:
    pcap = sample(tmp_path / "s.pcap", linktype=147)  # LINKTYPE_USER0
    r = run("replay", str(pcap), "--stats", str(tmp_path / "st.json"))
    packets = json.loads((tmp_path / "st.json").read_text())["counts"]["packets"]
    assert f"skipped unsupported_linktype: {packets}" in r.stderr
    assert one_line(r.stderr) == f"interceptor: {pcap}: link type 147 is not supported: {packets} packets skipped"


def test_replay_from_stdin(tmp_path: Path) -> None:
    data = gzip.compress(sample(tmp_path / "s.pcap").read_bytes())
    r = run("replay", "-", "--keep-all", "--out", "-", stdin=data)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3, r.stderr


def test_config_rejects_nan_and_zero_bounds() -> None:
    for key, value, words in [("CORE__RESPONSE_TIMEOUT_S", ".nan", "must be a finite number"),
                              ("KUBERNETES__REQUEST_TIMEOUT_S", ".inf", "must be a finite number"),
                              ("CORE__MAX_FLOWS", "0", "core.max_flows: must be at least 1")]:
        with pytest.raises(ConfigError, match=words):
            load_config(env={"SENSOR__" + key: value})


@pytest.mark.parametrize("password", ["abc #x", "123456", "yes", "*star", "@at", "!bang", "%pct", "[bracket", "{x: 1}"])
def test_env_string_keys_are_verbatim(password: str) -> None:
    cfg = load_config(env={"SENSOR__KAFKA__SASL_PASSWORD": password, "SENSOR__CORE__MAX_FLOWS": "7"})
    assert cfg.kafka.sasl_password == password and cfg.core.max_flows == 7


def test_secret_values_never_in_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("kafka:\n  sasl_password: 987654321\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert "987654321" not in str(err.value) and "kafka.sasl_password: expected a string, got <hidden>" in str(err.value)


def test_second_agent_on_the_same_port_fails_fast(tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        started = time.monotonic()
        r = run("run", "--metrics", f"127.0.0.1:{port}", "--duration", "5", "--stats", str(tmp_path / "st.json"))
        elapsed = time.monotonic() - started
    finally:
        holder.close()
    assert r.returncode == 2 and elapsed < 30
    assert one_line(r.stderr) == (f"interceptor: metrics.listen 127.0.0.1:{port}: cannot listen: Address already in use "
                                  "(is another agent running on this node?)")
    assert "tap" not in r.stderr.lower()  # nothing was set up
