"""`capture.workers: 2` end to end on a test node: the two workers share the pod's veth through a
fanout group and together emit exactly the pairs one worker emits for the same traffic — each
exchange once, never a request paired with another exchange's response — with one metrics
endpoint adding up both workers' counters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.interceptor.capture.test_agent_run import _free_local_port, _get, _wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.netns]

# 24 keep-alive connections at once, 8 POSTs each; every request carries its id, the server echoes
# the body, so the client's record says which response belongs to which request.
CLIENT = textwrap.dedent("""
    import json, socket, sys, threading
    host, port, conns, per, run = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    out, lock = [], threading.Lock()
    def one(c):
        s = socket.create_connection((host, port), timeout=10)
        buf = b""
        for i in range(per):
            ident = f"{c}-{i}"
            body = json.dumps({"id": ident, "email": f"u{c}.{i}@example.com", "pad": "x" * (40 * i)}).encode()
            s.sendall(f"POST /api/{ident} HTTP/1.1\\r\\nHost: t\\r\\nContent-Type: application/json\\r\\n"
                      f"Content-Length: {len(body)}\\r\\n\\r\\n".encode() + body)
            while b"\\r\\n\\r\\n" not in buf:
                buf += s.recv(65536)
            head, _, buf = buf.partition(b"\\r\\n\\r\\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\\r\\n")[0])
            while len(buf) < length:
                buf += s.recv(65536)
            resp, buf = buf[:length], buf[length:]
            assert json.loads(resp)["echo"]["id"] == ident
            with lock:
                out.append(ident)
        s.close()
    threads = [threading.Thread(target=one, args=(c,)) for c in range(conns)]
    for t in threads: t.start()
    for t in threads: t.join(60)
    print(json.dumps(sorted(out)))
""")


def _run(node_lab, pod, tmp_path: Path, workers: int) -> tuple[list[str], list[tuple], dict, str]:
    out, stats, err = tmp_path / f"pairs-{workers}.jsonl", tmp_path / f"stats-{workers}.json", tmp_path / f"run-{workers}.err"
    port = _free_local_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SENSOR__CAPTURE__SOURCE": "ring", "SENSOR__CAPTURE__WORKERS": str(workers)}
    with open(err, "wb") as errf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "interceptor.cli", "run", "--out", str(out), "--stats", str(stats),
             "--include-netns", node_lab.pattern, "--metrics", f"127.0.0.1:{port}", "--keep-all"],
            stdout=subprocess.DEVNULL, stderr=errf, env=env)
    try:
        _wait_ready(base, proc)
        time.sleep(0.3)  # the taps reached the workers
        res = subprocess.run([sys.executable, "-c", CLIENT, pod.pod_ip, "8080", "24", "8", str(workers)],
                             capture_output=True, text=True, timeout=90)
        assert res.returncode == 0, res.stderr[-2000:]
        time.sleep(1.5)  # a worker reports its numbers once a second
        metrics = _get(base + "/metrics")[1]
    finally:
        proc.send_signal(signal.SIGINT if workers > 1 else signal.SIGTERM)  # Ctrl-C stops it the same way
        rc = proc.wait(60)
    log = err.read_text()
    assert rc == 0, log
    assert "Traceback" not in log, log
    pairs = []
    for line in out.read_text().splitlines():
        rec = json.loads(line)  # every line whole: the workers' appends never interleave
        echo = json.loads(rec["response"]["body"])["echo"]
        pairs.append((rec["request"]["target"], json.loads(rec["request"]["body"])["id"], echo["id"],
                      rec["response"]["status"]))
    return json.loads(res.stdout), sorted(pairs), json.loads(stats.read_text()), metrics


def test_two_workers_emit_exactly_the_pairs_of_one(node_lab, tmp_path: Path) -> None:
    pod = node_lab.pod("web")
    node_lab.app(pod, "server", "8080", port=8080, name="server")
    sent1, pairs1, stats1, _ = _run(node_lab, pod, tmp_path, workers=1)
    sent2, pairs2, stats2, metrics2 = _run(node_lab, pod, tmp_path, workers=2)
    assert len(sent1) == len(sent2) == 24 * 8
    expect = sorted((f"/api/{i}", i, i, 200) for i in sent2)
    assert pairs1 == expect
    assert pairs2 == expect  # each exchange once, each response with its own request
    for stats in (stats1, stats2):
        assert stats["dropped"] == {}, stats["dropped"]
        assert stats["counts"]["pairs.emitted"] == len(expect)
    per_worker = [w["pairs"] for w in stats2["workers"]]
    assert sum(per_worker) == len(expect) and min(per_worker) > 0, per_worker  # both took connections
    assert all(w["final"] for w in stats2["workers"])
    # One endpoint, both workers' numbers: the merged count is what the two emitted together.
    emitted = next(float(line.split()[-1]) for line in metrics2.splitlines()
                   if line.startswith("interceptor_pairs_emitted_total "))
    assert emitted == len(expect)
    assert 'interceptor_tap_packets_total{interface="' + pod.host_dev in metrics2


def test_a_worker_that_dies_stops_the_agent_with_an_error(node_lab, tmp_path: Path) -> None:
    import psutil

    pod = node_lab.pod("web")
    node_lab.app(pod, "server", "8080", port=8080, name="server")
    port = _free_local_port()
    err = tmp_path / "run.err"
    env = {**os.environ, "SENSOR__CAPTURE__SOURCE": "ring", "SENSOR__CAPTURE__WORKERS": "2"}
    with open(err, "wb") as errf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "interceptor.cli", "run", "--out", str(tmp_path / "p.jsonl"),
             "--include-netns", node_lab.pattern, "--metrics", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=errf, env=env)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc)
        workers = psutil.Process(proc.pid).children()
        assert len(workers) == 2
        workers[1].kill()
        rc = proc.wait(30)  # the supervisor notices, stops the other worker and exits
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = err.read_text()
    assert rc == 1, log
    assert "exited unexpectedly" in log, log
    assert not psutil.pid_exists(workers[0].pid) or workers[0].status() == psutil.STATUS_ZOMBIE


def test_kernel_drops_of_a_stalled_worker_are_counted(node_lab, tmp_path: Path) -> None:
    """One worker stops reading for 1.5 s (SIGSTOP): its ring (4 blocks, retired every 5 ms)
    overflows, the kernel drops its share; the merged stats count those drops."""
    import psutil

    pod = node_lab.pod("web")
    node_lab.app(pod, "server", "8080", port=8080, name="server")
    port = _free_local_port()
    stats, err = tmp_path / "stats.json", tmp_path / "run.err"
    env = {**os.environ, "SENSOR__CAPTURE__SOURCE": "ring", "SENSOR__CAPTURE__WORKERS": "2",
           "SENSOR__CAPTURE__BUFFER_BYTES": "1", "SENSOR__CAPTURE__BLOCK_TIMEOUT_MS": "5"}
    with open(err, "wb") as errf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "interceptor.cli", "run", "--out", str(tmp_path / "p.jsonl"), "--stats", str(stats),
             "--include-netns", node_lab.pattern, "--metrics", f"127.0.0.1:{port}", "--keep-all"],
            stdout=subprocess.DEVNULL, stderr=errf, env=env)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc)
        time.sleep(0.3)
        stalled = psutil.Process(proc.pid).children()[0]
        stalled.suspend()
        client = subprocess.Popen([sys.executable, "-c", CLIENT, pod.pod_ip, "8080", "24", "8", "x"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        stalled.resume()
        out, cerr = client.communicate(timeout=90)
        assert client.returncode == 0, cerr[-2000:]
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
    assert rc == 0, err.read_text()
    data = json.loads(stats.read_text())
    assert data["dropped"].get("capture_kernel", 0) > 0, data["dropped"]
    assert all(w["final"] for w in data["workers"])
    assert data["counts"]["pairs.emitted"] < 24 * 8  # what the stalled worker lost is missing, and counted
