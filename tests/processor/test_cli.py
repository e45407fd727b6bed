"""The ``processor`` command as a user runs it (subprocesses, real files)."""

import json
import subprocess
import sys
from pathlib import Path

from tests.processor.helpers import make_pair

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    import os
    return subprocess.run([sys.executable, "-m", "processor.cli", *args], cwd=ROOT, capture_output=True, input=stdin, timeout=60,
                          env={**os.environ, **(env or {})})


def test_detect_offline_with_poison_lines(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    good = [make_pair({"email": f"u{i}@example.com"}, target=f"/u/{i}") for i in range(5)]
    pairs.write_bytes(b"\n".join(p.to_json() for p in good) + b"\nnot json\n{\"schema_version\": 1}\n")
    out = tmp_path / "det.jsonl"
    proc = run("detect", str(pairs), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["pair_id"] for r in recs] == [p.id for p in good]
    assert all(r["types"] == ["email"] and r["path_template"] == "/u/{id}" for r in recs)
    err = proc.stderr.decode()
    assert f"{pairs}:6: skipped: invalid_json" in err and f"{pairs}:7: skipped: schema_mismatch" in err
    assert '"processor.invalid_json":1' in err


def test_detect_stdin_to_stdout() -> None:
    proc = run("detect", stdin=make_pair({"card": {"number": "4111111111111111"}}).to_json() + b"\n")
    assert proc.returncode == 0 and json.loads(proc.stdout)["types"] == ["card_number"]


def test_config_errors_are_one_line_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("processor:\n  custom_types:\n    - {name: x, value_regex: '('}\n")
    proc = run("--config", str(cfg), "detect", "/dev/null")
    assert proc.returncode == 2
    assert proc.stderr.decode().strip().splitlines() == [proc.stderr.decode().strip()]
    assert "processor.custom_types[0]: bad regex" in proc.stderr.decode()
    proc = run("detect", "/dev/null", env={"SENSOR__PROCESSOR__MAX_LEAVES": "lots"})
    assert proc.returncode == 2 and "processor.max_leaves: expected an integer" in proc.stderr.decode()
    proc = run("detect", str(tmp_path / "missing.jsonl"))
    assert proc.returncode == 2 and "missing.jsonl: No such file or directory" in proc.stderr.decode()


def test_consume_without_a_broker_fails_in_one_line() -> None:
    proc = run("consume", "--bootstrap", "127.0.0.1:1", env={"SENSOR__PROCESSOR__FLUSH_TIMEOUT_S": "1"})
    err = proc.stderr.decode().strip()
    assert proc.returncode == 1, err
    # librdkafka's own threads may log a connection failure after ours: look among our lines
    ours = [line for line in err.splitlines() if line.startswith("processor:")]
    assert ours and ours[-1].startswith("processor: Kafka at 127.0.0.1:1:"), err
    assert "Traceback" not in err
