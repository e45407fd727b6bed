"""The live coverage tests' agent: ``interceptor run --tls --coverage`` started on a node lab's pods
with its metrics/API on a local port, and finished the one way both tests check it — the account
printed by ``interceptor coverage`` from the running agent, a clean exit, every record valid and the
connection count equal to tshark's on the pod interface's capture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from interceptor.schema import validate_connections
from tests.fixtures.netns import Capture
from tests.interceptor.capture.agentrun import wait_for
from tests.interceptor.coverage.test_real_coverage import tshark_conversations

TOKEN = "coverage-test-token"
REPO = Path(__file__).resolve().parents[3]


def summary(records: list[dict]) -> list[tuple]:
    return [(r["verdict"], r["protocol"], r.get("sni"), r.get("library"), r.get("process"), r.get("reason"),
             r.get("source"), r["dst"].get("port"), r["connections"]) for r in records]


@dataclass
class CoverageRun:
    """A running agent and where its account goes."""

    agent: subprocess.Popen[str]
    port: int
    env: dict[str, str]
    out: Path

    def finish(self, cap: Capture) -> tuple[list[dict], str]:
        """Wait out the plaintext-match grace and a tick, print the account from the running agent,
        stop it, stop the capture; the records (checked against the schema and against tshark's count
        of connections) and what ``interceptor coverage`` printed."""
        time.sleep(5)
        shown = subprocess.run([sys.executable, "-m", "interceptor.cli", "coverage", "--url",
                                f"http://127.0.0.1:{self.port}"], capture_output=True, text=True, env=self.env,
                               timeout=30)
        assert shown.returncode == 0, shown.stderr
        self.agent.terminate()
        _, err = self.agent.communicate(timeout=90)
        assert self.agent.returncode == 0, err[-3000:]
        pcap = cap.stop()
        records = [json.loads(line) for line in self.out.read_text().splitlines()]
        for r in records:
            validate_connections(r)
        assert sum(r["connections"] for r in records) == tshark_conversations(pcap), summary(records)
        return records, shown.stdout


@contextmanager
def coverage_agent(pattern: str, tmp_path: Path, port: int) -> Iterator[CoverageRun]:
    """The agent on the namespaces matching ``pattern``, ready; killed on the way out if a test failed
    before finishing it."""
    cfg = tmp_path / "sensor.yaml"
    cfg.write_text("tls:\n  scan_interval_s: 0.5\ncoverage:\n  grace_s: 3\n")
    out = tmp_path / "coverage.jsonl"
    env = {**os.environ, "SENSOR__AUTH__TOKEN": TOKEN, "PYTHONPATH": str(REPO)}
    agent = subprocess.Popen([sys.executable, "-m", "interceptor.cli", "run", "--tls", "--config", str(cfg),
                              "--coverage", str(out), "--metrics", f"127.0.0.1:{port}", "--include-netns",
                              pattern, "--rescan", "1", "--duration", "300"],
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        # ready: /readyz answers 200 (an error status raises, so any body of a 200 will do)
        wait_for(f"http://127.0.0.1:{port}/readyz", "", agent, timeout=120)
        yield CoverageRun(agent, port, env, out)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
