"""Without BPF permission the TLS source is off with one log line and a metric; packets still flow.

The child process runs as root with CAP_SYS_ADMIN, CAP_BPF and CAP_PERFMON dropped from its
bounding set (setpriv), so it keeps CAP_NET_RAW: it must still capture packets on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.tls.source import start_tls_source

REPO = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent("""
    import json, logging, socket, sys, threading, time
    import pcap
    from interceptor.config import Config
    from interceptor.counters import Counters
    from interceptor.tls.source import start_tls_source

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    cfg = Config(); cfg.tls.enabled = True
    counters = Counters()
    source = start_tls_source(cfg, counters, pipeline=None)
    cap = pcap.pcap(name="lo", snaplen=256, promisc=False, timeout_ms=100, immediate=True)
    cap.setfilter("udp port 47923")
    cap.setnonblock(True)
    marker = b"still-capturing-%d" % time.time_ns()
    def send():
        time.sleep(0.3)
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(marker, ("127.0.0.1", 47923))
    threading.Thread(target=send).start()
    seen, deadline = False, time.time() + 10
    def on_packet(_ts, pkt, *args):
        global seen
        seen = seen or marker in bytes(pkt)
    while not seen and time.time() < deadline:
        if cap.dispatch(16, on_packet) == 0:
            time.sleep(0.05)
    print(json.dumps({"source": source is not None, "counts": counters.snapshot()["counts"], "captured": seen}))
""")


@pytest.mark.slow
@pytest.mark.ebpf
def test_no_bpf_permission_keeps_packet_capture() -> None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv")
    cmd = ["setpriv", "--bounding-set=-sys_admin,-bpf,-perfmon", "--inh-caps=-sys_admin,-bpf,-perfmon",
           sys.executable, "-c", CHILD]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out == {"source": False, "counts": {"tls.unavailable.no_permission": 1}, "captured": True}
    lines = [line for line in r.stderr.splitlines() if "interceptor.tls" in line]
    assert len(lines) == 1 and "no BPF permission" in lines[0] and lines[0].startswith("WARNING"), r.stderr


def test_disabled_is_silent_none() -> None:
    counters = Counters()
    assert start_tls_source(Config(), counters, pipeline=None) is None
    assert counters.snapshot()["counts"] == {}


def test_missing_headers_named_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (the permission check comes first)")
    cfg = Config()
    cfg.tls.enabled = True
    cfg.tls.kernel_headers = "/nonexistent/kernel-headers"
    counters = Counters()
    with caplog.at_level("WARNING", logger="interceptor.tls.source"):
        assert start_tls_source(cfg, counters, pipeline=None) is None
    assert counters.get("tls.unavailable.no_headers") == 1
    (rec,) = caplog.records
    assert "tls.kernel_headers: /nonexistent/kernel-headers is not a directory" in rec.getMessage()
