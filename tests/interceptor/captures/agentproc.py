"""Runs `interceptor run` with the capture API for tests, and talks to it with curl (as a user would)."""

from __future__ import annotations

import atexit
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

TOKEN = "test-capture-token-0123456789"
_RUNNING: list[subprocess.Popen] = []


@atexit.register
def _kill_leftovers() -> None:
    """An agent a test could not stop (it timed out) does not outlive the test run."""
    for proc in _RUNNING:
        if proc.poll() is None:
            proc.kill()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class HubClient:
    """curl against an API that is not an agent process (the hub's capture API)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def curl(self, method: str, path: str, body: Any = None, auth: bool = True, out: Path | None = None
             ) -> tuple[int, Any]:
        return AgentProc.curl(self, method, path, body, auth, out)  # type: ignore[arg-type]


class AgentProc:
    def __init__(self, tmp: Path, name: str, config: dict[str, Any], include_netns: list[str], node: str,
                 host: str = "127.0.0.1", port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port(host)
        self.base = f"http://{host}:{self.port}"
        cfg = {"auth": {"token": TOKEN}, **config}
        cfg.setdefault("captures", {}).setdefault("dir", str(self.dir / "captures"))
        (self.dir / "config.yaml").write_text(yaml.safe_dump(cfg))
        self.err = self.dir / "run.err"
        argv = [sys.executable, "-m", "interceptor.cli", "run", "--config", str(self.dir / "config.yaml"),
                "--out", str(self.dir / "pairs.jsonl"), "--stats", str(self.dir / "stats.json"),
                "--metrics", f"{host}:{self.port}", "--rescan", "0.5", "--node", node]
        for pattern in include_netns:
            argv += ["--include-netns", pattern]
        with open(self.err, "wb") as errf:
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errf, env=env)
        _RUNNING.append(self.proc)
        try:
            self._wait_ready()
        except BaseException:
            self.kill()  # never leave an agent running behind a failed start
            raise

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def _wait_ready(self, timeout: float = 120) -> None:  # eBPF compile on a loaded machine takes long
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"agent exited early: {self.err.read_text()[-3000:]}"
            if self.curl("GET", "/readyz", auth=False)[0] == 200:
                return
            assert time.monotonic() < deadline, "agent not ready"
            time.sleep(0.2)

    def curl(self, method: str, path: str, body: Any = None, auth: bool = True, out: Path | None = None
             ) -> tuple[int, Any]:
        """curl's status and the JSON answer (or the text)."""
        argv = ["curl", "-sS", "-X", method, "-o", str(out) if out else "-", "-w", "\n%{http_code}", "--max-time", "30"]
        if auth:
            argv += ["-H", f"Authorization: Bearer {TOKEN}"]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        res = subprocess.run([*argv, self.base + path], capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            return 0, res.stderr
        text, _, code = res.stdout.rpartition("\n")
        try:
            return int(code), json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            return int(code), text

    def wait_state(self, cap_id: str, state: str = "done", timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            code, doc = self.curl("GET", f"/api/v1/captures/{cap_id}")
            assert code == 200, doc
            if doc["state"] == state or time.monotonic() > deadline:
                return doc
            time.sleep(0.2)

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        log = self.err.read_text()
        assert rc == 0, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        return json.loads((self.dir / "stats.json").read_text())


def tshark(path: Path, *fields: str, display: str = "", opts: tuple[str, ...] = ()) -> list[list[str]]:
    argv = ["tshark", "-n", "-r", str(path), *opts, "-T", "fields", "-E", "separator=|"]
    if display:
        argv += ["-Y", display]
    for f in fields:
        argv += ["-e", f]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    return [line.split("|") for line in res.stdout.splitlines()]


def capinfos(path: Path) -> str:
    return subprocess.run(["capinfos", "-M", str(path)], capture_output=True, text=True, timeout=60, check=True).stdout
