"""Helpers of the tests that run ``interceptor run`` live: a free local port for its metrics, and
waiting until its metrics page shows something (a tap opened on an interface)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, needle: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, "interceptor run exited early"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if needle in r.read().decode():
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{needle!r} never appeared at {url}"
        time.sleep(0.2)
