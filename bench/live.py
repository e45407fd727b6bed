"""bench/live: `interceptor run` the way a node runs it — client, server and agent on one machine, the
agent not pinned — with the CPU it spends per pair next to `interceptor replay`'s on the same traffic.

    python3 bench/live.py                              # ring source, 1 and 2 workers, at 10k and 20k req/s offered
    python3 bench/live.py --rates 20000 --modes ring:2 --seconds 10
    python3 bench/live.py --rates 20000 --repeat 3 --no-baseline   # ring:1, ring:2 three times, alternating
    python3 bench/live.py --cpu 1                       # pin the agent to core 1, load to the others
    python3 bench/live.py --kafka 127.0.0.1:9092         # the agent publishes to Kafka (JSONL to /dev/null otherwise)
    python3 bench/live.py --load wrk --conns 10,20      # wrk paced by 1 ms per request instead of h2load
    python3 bench/live.py --load python                 # neither: a bounded Python keep-alive client
    python3 bench/live.py --uris 1000                   # h2load cycles 1000 distinct URIs (heads differ exchange to exchange)

A test "node": one pod (network namespace with a veth to the root namespace) runs nginx answering
~1 KB JSON; h2load (HTTP/1.1, ``--h1``) in the root namespace loads it over the veth at a fixed
offered rate (``--rps`` per keep-alive connection, 100 connections by default, no pipelining); ``--load wrk``
paces wrk by a 1 ms delay per request instead, so the number of connections sets the offered rate
(~1k req/s each when the machine keeps up). The CPU of the client, of nginx and of tcpdump is
printed too: they share the 2 cores with the agent, as on a node. For each
mode (capture.source:capture.workers) and step a fresh ``interceptor run --out /dev/null`` taps the
pod's host-side veth while tcpdump records the same interface; the step prints the client's request
rate, the pairs emitted per second, the kernel drops of the agent's taps (every worker's ring), the
agent's CPU per pair (its whole process tree, from the start of the load until it has read its
backlog; split into user and system time, with its page faults, sleeps and preemptions), the
traffic's packets per pair (and how many carry no payload), and the CPU per pair of ``interceptor replay`` (to the same sink) on tcpdump's file of that very traffic (its start-up
cost, measured on an empty capture, subtracted). Before each rate a step with no agent (and no tcpdump)
shows what the load generator reaches against nginx alone on the machine as it is loaded then: a
rate the machine cannot offer is printed as not reached, never assumed. Needs root. Target (issue 11): 0 kernel drops at
20k pairs/s offered and <= 25 us CPU per pair on 2 cores shared with the load.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PORT = 8080
NGINX_CONF = """
user root;
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d};
    keepalive_requests 10000000;
    server {{
        listen {port};
        location / {{
            default_type application/json;
            return 200 '{{"uri":"$uri","owner":{{"name":"Jane Roe","email":"jane.roe@example.com","phone":"+1-202-555-0143"}},"notes":"{pad}"}}';
        }}
    }}
}}
"""

PY_CLIENT = textwrap.dedent("""
    import socket, sys, time
    host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    s = socket.create_connection((host, port))
    req = f"GET /api/users/42 HTTP/1.1\\r\\nHost: {host}\\r\\nAccept: application/json\\r\\n\\r\\n".encode()
    n, end, buf = 0, time.monotonic() + seconds, b""
    while time.monotonic() < end:
        s.sendall(req)
        while True:
            buf += s.recv(65536)
            i = buf.find(b"\\r\\n\\r\\n")
            if i < 0:
                continue
            cl = int(buf[:i].lower().split(b"content-length:")[1].split(b"\\r\\n")[0])
            if len(buf) >= i + 4 + cl:
                buf = buf[i + 4 + cl:]
                break
        n += 1
    print(n)
""")


# wrk has no rate option; a 1 ms delay before each request caps a connection at ~1k req/s, so the
# number of connections sets the offered rate (wrk2 is not in Debian).
WRK_DELAY = "function delay()\n  return 1\nend\n"
LOAD_CPU: list[str] = []  # taskset prefix for the load generator and nginx (the other core)
# Client and agent each in its own session (nginx is in one already: tests/fixtures/netns.py): with
# the kernel's autogroup scheduling (sched_autogroup_enabled) a session is one scheduling group, as
# a pod's cgroup is one on a node; in one session client and agent would split one group's share
# of a machine busy with other work (measured at load ~9: the agent's two workers then held h2load
# to ~7k of 20k req/s offered, which h2load reached alone). --one-group: both in the bench's.
SESSION: list[str] = ["setsid"]
BUFFER_MIB = [64]  # kernel buffer of the tap (capture.buffer_bytes)
KAFKA: list[str] = []  # --kafka BOOTSTRAP: the agent publishes there instead of writing /dev/null
IDLE_S = [0.0]  # --idle S: the agent's CPU with its taps open and no traffic, measured before each load
REPLAY_UNDER_LOAD = [False]  # --replay-under-load: also replay each step's capture while its load runs alone


def load_wrk(host: str, conns: int, seconds: float, paced: bool = True) -> tuple[int, float]:
    script = Path(tempfile.gettempdir()) / "bench-live-delay.lua"
    script.write_text(WRK_DELAY)
    out = subprocess.run(
        [*SESSION, *LOAD_CPU, "wrk", "-t1", f"-c{conns}", f"-d{seconds:g}s", "-H", "Accept: application/json",
         *(["-s", str(script)] if paced else []), f"http://{host}:{PORT}/api/users/42"],
        capture_output=True, text=True, timeout=seconds + 60,
    ).stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if not m:
        raise RuntimeError(f"unexpected wrk output: {out}")
    took = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    return int(m.group(1)), took


H2LOAD_CONNS = [100]  # --clients: keep-alive connections of h2load
URIS = [1]
H2LOAD_URIS: list[Path] = []  # --uris: a file of distinct URIs h2load cycles through (empty: one URI)


def uri_file(path: Path, n: int, host: str) -> Path:
    """``n`` distinct request targets of varied length (seeded, so runs compare), one per line, for
    h2load's ``-i``: each connection walks them in turn, so consecutive exchanges on a connection
    differ in the request line and — nginx echoes the path in its JSON — in the response's
    Content-Length and body, as an API's traffic does (one repeated URI lets per-connection
    memos of the last head hit on every exchange)."""
    import random

    rnd = random.Random(11)
    kinds = ("users", "orders", "accounts", "invoices", "sessions")
    lines = []
    for i in range(n):
        uid = rnd.randrange(1, 10 ** rnd.randrange(1, 9))
        target = f"/api/{kinds[i % len(kinds)]}/{uid}"
        if rnd.random() < 0.5:
            target += f"?page={rnd.randrange(1, 500)}&sort={rnd.choice(('created', 'name', 'id'))}"
        lines.append(f"http://{host}:{PORT}{target}")
    path.write_text("\n".join(lines) + "\n")
    return path


def load_h2load(host: str, rate: int, seconds: float, conns: int | None = None) -> tuple[int, float]:
    """h2load at ``rate`` requests/s offered in total (``rate / conns`` per connection, HTTP/1.1
    keep-alive, one request in flight per connection): unlike wrk it offers a rate, not a
    closed loop, so a slow machine shows as fewer requests reached, never as a lower offer. A
    connection cannot send faster than one request per round trip, so ``rate / conns`` must stay
    well under 1 / RTT: with 20 connections (1k req/s each at 20k) a round trip over 1 ms — nginx
    waiting for a core behind the agent's workers on a busy machine — already lowers what is
    reached; 100 connections (200 req/s each) leave 5 ms."""
    conns = conns or H2LOAD_CONNS[0]
    out = subprocess.run(
        [*SESSION, *LOAD_CPU, "h2load", "--h1", f"-c{conns}", "-t1", f"--rps={max(1, rate // conns)}", f"-D{seconds:g}",
         "-H", "Accept: application/json",
         *(["-i", str(uri_file(H2LOAD_URIS[0], URIS[0], host))] if H2LOAD_URIS else [f"http://{host}:{PORT}/api/users/42"])],
        capture_output=True, text=True, timeout=seconds + 60,
    ).stdout
    m = re.search(r"finished in ([\d.]+)(m?s)", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done", out)
    if not m or not done:
        raise RuntimeError(f"unexpected h2load output: {out}")
    took = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    return int(done.group(1)), took


def load_python(host: str, conns: int, seconds: float) -> tuple[int, float]:
    t0 = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", PY_CLIENT, host, str(PORT), str(seconds)],
                              stdout=subprocess.PIPE, text=True) for _ in range(conns)]
    total = sum(int(p.communicate(timeout=seconds + 60)[0].strip() or 0) for p in procs)
    return total, time.monotonic() - t0


def free_local_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """Until the agent's /readyz says its first discovery pass opened the taps."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"interceptor not ready after {timeout_s:g}s")


def tapped_packets(port: int) -> float:
    """Packets the agent has read from its taps so far (its /metrics, all workers summed)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("interceptor_tap_packets_total{"))


def wait_caught_up(port: int, timeout_s: float = 120.0) -> float:
    """Seconds until the agent has read what its taps hold (its packet count stops moving; workers
    report once a second, hence two still readings 1.2 s apart). The CPU it spends meanwhile is the
    traffic's too: an agent slower than the load catches up after it, from the kernel's buffer."""
    start = time.monotonic()
    last, still = -1.0, 0
    while time.monotonic() - start < timeout_s:
        now = tapped_packets(port)
        still = still + 1 if now == last else 0
        if still >= 2:
            return max(0.0, time.monotonic() - start - 2.4)
        last = now
        time.sleep(1.2)
    return timeout_s


def tree_cpu(proc: psutil.Process) -> float:
    """User + system seconds of a process and its children (the workers)."""
    t = tree_times(proc)
    return t.user + t.system


@dataclass(slots=True)
class ProcTimes:
    """What a process tree spent: CPU split into user and kernel time, the times it went to sleep
    (voluntary context switches: one per poll that found nothing ready), the times it was
    preempted, and minor page faults (fresh memory touched)."""

    user: float = 0.0
    system: float = 0.0
    sleeps: int = 0
    preempted: int = 0
    minor_faults: int = 0

    def __sub__(self, other: ProcTimes) -> ProcTimes:
        return ProcTimes(self.user - other.user, self.system - other.system, self.sleeps - other.sleeps,
                         self.preempted - other.preempted, self.minor_faults - other.minor_faults)


def tree_times(proc: psutil.Process) -> ProcTimes:
    """``ProcTimes`` of a process and its children (the workers), 0 for those gone."""
    total = ProcTimes()
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t, ctx = p.cpu_times(), p.num_ctx_switches()
            stat = Path(f"/proc/{p.pid}/stat").read_text()
        except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            continue
        total.user += t.user
        total.system += t.system
        total.sleeps += ctx.voluntary
        total.preempted += ctx.involuntary
        total.minor_faults += int(stat.rsplit(")", 1)[1].split()[7])  # field 10, minflt (comm may hold spaces)
    return total


@dataclass(slots=True)
class TrafficShape:
    """Packets of a step's capture, per pair: how many, and how many carry no TCP payload (pure
    ACKs, SYN/FIN handshakes), which the core reads for ACK gating but cannot parse."""

    packets: int
    bare: int
    payload_bytes: int


def traffic_shape(path: Path) -> TrafficShape:
    from interceptor.capture.packets import Segment, decode
    from interceptor.capture.pcapfile import CaptureReader

    packets = bare = payload = 0
    reader = CaptureReader(str(path))
    try:
        for _ts, linktype, frame in reader:
            packets += 1
            seg = decode(linktype, frame)
            if type(seg) is Segment:
                payload += len(seg.payload)
                bare += not seg.payload
    finally:
        reader.close()
    return TrafficShape(packets, bare, payload)


def cpu_of(procs: list[psutil.Process]) -> float:
    """User + system seconds of these processes and their children (0 for those gone)."""
    return sum(tree_cpu(p) for p in procs)


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat: the share the step left idle."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return total - idle, total


def build_env(build: str) -> dict[str, str]:
    """The environment that makes ``interceptor`` import ``build``: ``pure`` forces pure Python
    (interceptor/compiled.py), ``default`` takes the compiled build when one matches the sources."""
    env = {k: v for k, v in os.environ.items() if k != "PRIVACY_SENSOR_PURE"}
    if build == "pure":
        env["PRIVACY_SENSOR_PURE"] = "1"
    return env


def replay_cpu(path: Path, build: str = "default") -> float:
    """CPU seconds of ``interceptor replay PATH --out /dev/null`` (a child process; its own
    rusage, so a load generator ending meanwhile is not counted in it)."""
    sink = ["--kafka", KAFKA[0], "--topic", f"bench-replay-{os.getpid()}"] if KAFKA else ["--out", "/dev/null"]
    proc = subprocess.Popen([sys.executable, "-m", "interceptor.cli", "replay", str(path), *sink,
                             "--keep-all", "--no-progress"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=build_env(build))
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"interceptor replay {path} exited with {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def replay_under_load(pod, path: Path, build: str, load: str, conns: int, paced: bool,
                      replay_s: float) -> tuple[float, int]:
    """(CPU seconds, req/s the load reached) of the same replay while the step's load runs alone
    against nginx (no agent, no tcpdump): what the machine's sharing with client and server costs
    the same work, next to the agent's figure. The load starts first and outlasts the replay."""
    import threading

    done: dict[str, tuple[int, float]] = {}
    seconds = float(max(4, math.ceil(3 * replay_s + 2)))  # whole seconds: h2load -D takes no fraction

    def offer() -> None:
        try:
            done["r"] = run_load(pod, load, conns, seconds, paced)
        except (RuntimeError, subprocess.SubprocessError) as e:  # shown as 0 req/s reached
            print(f"bench/live: the load beside the replay failed: {e}", file=sys.stderr)

    thread = threading.Thread(target=offer)
    thread.start()
    time.sleep(1.0)
    try:
        cpu = replay_cpu(path, build)
    finally:
        thread.join()
    requests, took = done.get("r", (0, 1.0))
    return cpu, round(requests / took)


def empty_pcap(path: Path) -> Path:
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    return path


def agent_command(node, mode: str, build: str, stats: Path, metrics_port: int) -> tuple[list[str], dict[str, str]]:
    """``interceptor run`` for one mode (``capture.source:capture.workers``) and core build."""
    source, workers = mode.split(":")
    sink = ["--kafka", KAFKA[0], "--topic", f"bench-live-{os.getpid()}"] if KAFKA else ["--out", "/dev/null"]
    cmd = [sys.executable, "-m", "interceptor.cli", "run", *sink, "--stats", str(stats),
           "--include-netns", node.pattern, "--metrics", f"127.0.0.1:{metrics_port}", "--keep-all"]
    env = {**build_env(build), "SENSOR__CAPTURE__BUFFER_BYTES": str(BUFFER_MIB[0] << 20),
           "SENSOR__CAPTURE__SOURCE": source, "SENSOR__CAPTURE__WORKERS": workers,
           # The metrics port is on (for /readyz); the live stream and the capture API beside it are
           # off in every mode, so the modes compare the pair path alone.
           "SENSOR__STREAM__ENABLED": "false", "SENSOR__CAPTURES__ENABLED": "false"}
    return cmd, env


CACHEGRIND = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]


def instructions_of(stderr: str) -> int:
    """Instructions of every process valgrind followed (the workers are forks: each one prints its
    own summary when it exits)."""
    found = re.findall(r"I\s+refs:\s+([\d,]+)", stderr)
    if not found:
        raise RuntimeError(f"no instruction count from valgrind: {stderr[-500:]}")
    return sum(int(n.replace(",", "")) for n in found)


def agent_instructions(node, pod, mode: str, rate: int, seconds: float, work: Path, build: str,
                       pcap_path: Path | None) -> tuple[int, int, int, float, int]:
    """(instructions, pairs, requests, seconds from ready to stop, kernel drops) of the agent under cachegrind
    from start to exit, with ``rate`` req/s offered for ``seconds``, then until it caught up
    (``rate`` 0: no load, idle for ``seconds``)."""
    stats = work / "stats-instructions.json"
    metrics_port = free_local_port()
    cmd, env = agent_command(node, mode, build, stats, metrics_port)
    proc = subprocess.Popen([*CACHEGRIND, *cmd], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)
    dump = None
    if pcap_path is not None:
        dump = subprocess.Popen(["tcpdump", "-Z", "root", "-i", pod.host_dev, "-n", "-s", "262144", "-B", "262144",
                                 "-w", str(pcap_path), "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_ready(metrics_port, proc, timeout_s=600)
    ready = time.monotonic()
    time.sleep(2.0)
    requests = 0
    if rate:
        requests, _took = load_h2load(pod.pod_ip, rate, seconds, conns=min(H2LOAD_CONNS[0], rate))
        wait_caught_up(metrics_port, timeout_s=600)
    else:
        time.sleep(seconds)
    ran = time.monotonic() - ready
    if dump is not None:
        dump.send_signal(signal.SIGINT)
        dump.communicate(timeout=60)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=600)[1]
    data = json.loads(stats.read_text())
    return (instructions_of(err), data["counts"].get("pairs.emitted", 0), requests, ran,
            data["dropped"].get("capture_kernel", 0))


def replay_instructions(path: Path, build: str) -> int:
    out = subprocess.run([*CACHEGRIND, sys.executable, "-m", "interceptor.cli", "replay", str(path), "--out", "/dev/null",
                          "--keep-all", "--no-progress"], cwd=REPO, check=True, capture_output=True, text=True,
                         timeout=3600, env=build_env(build))
    return instructions_of(out.stderr)


def instruction_steps(node, pod, modes: list[str], builds: list[str], rate: int, seconds: float, work: Path) -> None:
    """Instructions per pair, live end to end against replay end to end on the same capture: each
    agent run under load minus the same agent idle for as long (start-up, the poll loop's idle
    turns, the once-a-second work, shutdown; idle as long as the loaded run lasted, catch-up
    included), each replay minus a replay of an empty capture. A low rate, as the agent runs ~50x
    slower under valgrind; load-independent, unlike CPU time."""
    empty = empty_pcap(work / "empty.pcap")
    print(f"instructions (cachegrind), {rate} req/s offered for {seconds:g}s, h2load; agent minus the same agent "
          f"idle, replay of tcpdump's capture minus an empty replay")
    print(f"{'mode':>12} {'pairs':>6} {'live instr/pair':>15} {'replay instr/pair':>17} {'live/replay':>11}")
    for build in builds:
        replay_base = replay_instructions(empty, build)
        for mode in modes:
            cap = work / "instructions.pcap"
            busy, pairs, requests, ran, kdrops = agent_instructions(node, pod, mode, rate, seconds, work, build, cap)
            idle = agent_instructions(node, pod, mode, 0, ran, work, build, None)[0]
            replayed = replay_instructions(cap, build) - replay_base
            cap.unlink()
            live = (busy - idle) / max(1, pairs)
            rep = replayed / max(1, requests)
            name = mode if build == "default" else f"{mode}/{build}"
            print(f"{name:>12} {pairs:>6} {live:>15,.0f} {rep:>17,.0f} {live / max(rep, 1):>11.2f}"
                  + ("" if pairs == requests else f"  pairs {pairs} != requests {requests}")
                  + (f"  kernel drops {kdrops} (the agent runs ~50x slower under valgrind)" if kdrops else ""),
                  flush=True)


def run_load(pod, load: str, conns: int, seconds: float, paced: bool) -> tuple[int, float]:
    """(requests done, seconds) of one load step: ``conns`` is the offered rate with h2load, the
    connection count otherwise."""
    if load == "h2load":
        return load_h2load(pod.pod_ip, conns, seconds)
    if load == "wrk":
        return load_wrk(pod.pod_ip, conns, seconds, paced)
    return load_python(pod.pod_ip, conns, seconds)


def baseline_step(pod, conns: int, seconds: float, load: str, paced: bool, server: list[psutil.Process]) -> dict:
    """The load alone, no agent and no tcpdump: what the client reaches against nginx on this
    machine as loaded now (if 20k is not reached here, no agent can be shown keeping up with it)."""
    server0, client0, busy0 = cpu_of(server), resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy()
    requests, took = run_load(pod, load, conns, seconds, paced)
    busy1, client1 = machine_busy(), resource.getrusage(resource.RUSAGE_CHILDREN)
    client_s = (client1.ru_utime - client0.ru_utime) + (client1.ru_stime - client0.ru_stime)
    return {"mode": "no agent", "conns": conns, "offered": conns if load == "h2load" else None,
            "req_per_s": round(requests / took), "requests": requests,
            "client_cores": round(client_s / took, 3), "server_cores": round((cpu_of(server) - server0) / took, 3),
            "machine_busy": round((busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 3),
            "load_average": round(os.getloadavg()[0], 1)}


def run_step(node, pod, mode: str, conns: int, seconds: float, cpu: int | None, load: str, work: Path,
             paced: bool, startup_cpu: float, server: list[psutil.Process], build: str = "default",
             keep: Path | None = None) -> dict:
    """One step: ``conns`` is the offered rate (req/s) with h2load, the connection count otherwise."""
    stats = work / f"stats-{conns}.json"
    metrics_port = free_local_port()
    cmd, env = agent_command(node, mode, build, stats, metrics_port)
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=bool(SESSION))
    me = psutil.Process(proc.pid)
    pcap_path = work / "step.pcap"
    dump = subprocess.Popen(["tcpdump", "-Z", "root", "-i", pod.host_dev, "-n", "-s", "262144", "-B", "262144",
                             "-w", str(pcap_path), "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Load only once the taps are open (and handed to the workers): connections that start before
    # are followed from mid-stream, and their first exchanges are not paired.
    wait_ready(metrics_port, proc)
    time.sleep(0.5)
    if proc.poll() is not None:
        raise RuntimeError(f"interceptor exited: {proc.stderr.read() if proc.stderr else ''}")
    idle = None
    if IDLE_S[0]:  # the agent with its taps open and no traffic: its background work, per second
        i0, w0 = tree_times(me), time.monotonic()
        time.sleep(IDLE_S[0])
        d = tree_times(me) - i0
        idle = ((d.user + d.system) / (time.monotonic() - w0), d.sleeps / (time.monotonic() - w0))
    t0 = tree_times(me)
    others0 = (cpu_of(server), cpu_of([psutil.Process(dump.pid)]), resource.getrusage(resource.RUSAGE_CHILDREN))
    busy0 = machine_busy()
    requests, took = run_load(pod, load, conns, seconds, paced)
    busy1 = machine_busy()
    client = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_s = (client.ru_utime - others0[2].ru_utime) + (client.ru_stime - others0[2].ru_stime)
    server_s = cpu_of(server) - others0[0]
    dump_s = cpu_of([psutil.Process(dump.pid)]) - others0[1]
    lag = wait_caught_up(metrics_port)  # what the taps still hold is read (blocks retire every 50 ms)
    spent = tree_times(me) - t0
    rss = sum(p.memory_info().rss for p in [me, *me.children(recursive=True)])
    dump.send_signal(signal.SIGINT)
    dump_err = dump.communicate(timeout=60)[1].decode(errors="replace")
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=120)[1]
    data = json.loads(stats.read_text())
    pairs = data["counts"].get("pairs.emitted", 0)
    cpu_s = spent.user + spent.system
    replay_s = max(0.0, replay_cpu(pcap_path, build) - startup_cpu)
    loaded = (replay_under_load(pod, pcap_path, build, load, conns, paced, replay_s) if REPLAY_UNDER_LOAD[0]
              else None)
    shape = traffic_shape(pcap_path)
    m = re.search(r"(\d+) packets dropped by kernel", dump_err)
    if keep is not None:  # for bench/livepath.py: the same traffic, stage by stage
        keep.mkdir(parents=True, exist_ok=True)
        shutil.move(str(pcap_path), keep / f"{mode.replace(':', '-')}-{build}-{conns}.pcap")
    else:
        pcap_path.unlink()
    return {
        "mode": mode if build == "default" else f"{mode}/{build}",
        "conns": conns,
        "offered": conns if load == "h2load" else None,
        "req_per_s": round(requests / took),
        "client_cores": round(client_s / took, 3),
        "server_cores": round(server_s / took, 3),
        "tcpdump_cores": round(dump_s / took, 3),
        # all cores' busy share during the load: the agent, the load, and other work on the machine
        "machine_busy": round((busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 3),
        "pairs": pairs,
        "requests": requests,
        "pairs_per_s": round(pairs / took),
        "kernel_drops": data["dropped"].get("capture_kernel", 0),
        "other_drops": {k: v for k, v in data["dropped"].items() if k != "capture_kernel"},
        "agent_cores": round(cpu_s / (took + lag), 3),
        "catch_up_s": round(lag, 1),  # how long after the load the agent was still reading its backlog
        "agent_us_per_pair": round(cpu_s / max(pairs, 1) * 1e6, 1),
        # per request the client completed, as replay's figure is: with kernel drops the agent still
        # spends CPU on the exchanges the drops broke, which per pair emitted inflates by
        # requests / pairs (replay reads tcpdump's capture, which has them all)
        "agent_us_per_request": round(cpu_s / max(requests, 1) * 1e6, 1),
        "agent_user_us_per_pair": round(spent.user / max(pairs, 1) * 1e6, 1),
        "agent_sys_us_per_pair": round(spent.system / max(pairs, 1) * 1e6, 1),
        # wake-ups: the agent's voluntary sleeps (a poll that found no block ready) per second of
        # load and catch-up; faults: fresh pages touched per pair
        "agent_sleeps_per_s": round(spent.sleeps / (took + lag)),
        "agent_preempted_per_s": round(spent.preempted / (took + lag)),
        "agent_faults_per_pair": round(spent.minor_faults / max(pairs, 1), 2),
        "packets_per_pair": round(shape.packets / max(requests, 1), 2),
        "bare_per_pair": round(shape.bare / max(requests, 1), 2),
        "replay_us_per_pair": round(replay_s / max(requests, 1) * 1e6, 1),
        # the same replay while the step's load runs alone (--replay-under-load), and what it reached
        "replay_loaded_us_per_pair": (round(max(0.0, loaded[0] - startup_cpu) / max(requests, 1) * 1e6, 1)
                                      if loaded else None),
        "replay_load_req_per_s": loaded[1] if loaded else None,
        # --idle S: the agent's CPU (ms a second) and wake-ups a second before the load, taps open
        "agent_idle_ms_per_s": round(idle[0] * 1e3, 2) if idle else None,
        "agent_idle_sleeps_per_s": round(idle[1]) if idle else None,
        "tcpdump_drops": int(m.group(1)) if m else None,
        "rss_mib": round(rss / 2**20, 1),
        "load_average": round(os.getloadavg()[0], 1),
        "workers": [w["pairs"] for w in data.get("workers", [])],
        "log_tail": err.strip().splitlines()[-1:] if err else [],
    }


def print_spread(results: list[dict]) -> None:
    """Each mode and rate over its repeated runs: every run's agent and replay CPU per pair, and the
    median of their ratio (live over replay on the same capture, in the same minutes: the figure a
    slow stretch of the VM moves least)."""
    import statistics

    keys: list[tuple[str, int]] = []
    for r in results:
        if (r["mode"], r["conns"]) not in keys:
            keys.append((r["mode"], r["conns"]))
    for mode, conns in keys:
        runs = [r for r in results if r["mode"] == mode and r["conns"] == conns]
        ratios = [r["agent_us_per_pair"] / r["replay_us_per_pair"] for r in runs if r["replay_us_per_pair"]]
        per_request = [r["agent_us_per_request"] / r["replay_us_per_pair"] for r in runs if r["replay_us_per_pair"]]
        print(f"{mode} at {conns}: agent us/pair {[r['agent_us_per_pair'] for r in runs]} (median "
              f"{statistics.median(r['agent_us_per_pair'] for r in runs):.1f}), replay {[r['replay_us_per_pair'] for r in runs]}, "
              f"live/replay median {statistics.median(ratios) if ratios else float('nan'):.2f} per pair, "
              f"{statistics.median(per_request) if per_request else float('nan'):.2f} per request done"
              + (f", replay under the load alone {[r['replay_loaded_us_per_pair'] for r in runs]}"
                 if runs[0]["replay_loaded_us_per_pair"] is not None else "")
              + f", kernel drops {[r['kernel_drops'] for r in runs]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="10000,20000", help="h2load: offered req/s to step through")
    ap.add_argument("--clients", type=int, default=100, help="h2load: keep-alive connections (rate / clients each)")
    ap.add_argument("--uris", type=int, default=1,
                    help="h2load: distinct URIs cycled per connection (varied lengths; 1: the same GET every time)")
    ap.add_argument("--conns", default="10,20", help="wrk/python: connection counts to step through (~1k req/s each with wrk)")
    ap.add_argument("--load", choices=("h2load", "wrk", "python"), default=None,
                    help="load generator (default h2load, else wrk, else the Python client)")
    ap.add_argument("--modes", default="ring:1,ring:2", help="capture.source:capture.workers to compare (pcap:1 too)")
    ap.add_argument("--seconds", type=float, default=8.0, help="load per step")
    ap.add_argument("--cpu", type=int, default=None, help="pin the interceptor to this core (load to the others)")
    ap.add_argument("--buffer-mib", type=int, default=64, help="kernel buffer of each tap (capture.buffer_bytes)")
    ap.add_argument("--unpaced", action="store_true", help="wrk at full speed (no 1 ms delay per request)")
    ap.add_argument("--kafka", metavar="BOOTSTRAP", help="the agent's sink: Kafka at BOOTSTRAP (default --out /dev/null)")
    ap.add_argument("--builds", default="default",
                    help="core builds to compare: default (compiled when built), pure (PRIVACY_SENSOR_PURE=1)")
    ap.add_argument("--keep-pcap", metavar="DIR", help="keep each step's tcpdump capture there (bench/livepath.py)")
    ap.add_argument("--instructions", type=int, metavar="RATE", default=0,
                    help="instead: instructions per pair (cachegrind) of the agent and of replay at RATE req/s")
    ap.add_argument("--no-baseline", action="store_true", help="skip the load-alone step before each rate")
    ap.add_argument("--idle", type=float, default=0.0, metavar="S",
                    help="before each step's load, measure the agent's CPU for S seconds with its taps open "
                         "and no traffic (its background work: polls, housekeeping, workers' reports; CPU times come in "
                         "10 ms ticks: 10 s or more)")
    ap.add_argument("--replay-under-load", action="store_true",
                    help="also replay each step's capture while the step's load runs alone (no agent): "
                         "the machine's sharing with client and server, apart from the live path")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run each rate's modes N times, alternating (ring:1, ring:2, ring:1, ...), each run "
                         "printed: a slow stretch of the VM shows as one run, not as a mode's figure")
    ap.add_argument("--one-group", action="store_true",
                    help="client and agent in this process's session (one autogroup) instead of one each")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/live needs root (network namespaces)", file=sys.stderr)
        return 2
    load = args.load or next((t for t in ("h2load", "wrk") if shutil.which(t)), "python")
    steps = args.rates if load == "h2load" else args.conns
    BUFFER_MIB[0] = args.buffer_mib
    H2LOAD_CONNS[0] = args.clients
    URIS[0] = args.uris
    if args.one_group:
        SESSION.clear()
    KAFKA[:] = [args.kafka] if args.kafka else []
    REPLAY_UNDER_LOAD[0] = args.replay_under_load
    IDLE_S[0] = args.idle
    if args.cpu is not None:
        others = [str(c) for c in range(os.cpu_count() or 1) if c != args.cpu]
        LOAD_CPU[:] = ["taskset", "-c", ",".join(others)] if others else []
    from bench.livepath import core_build
    from tests.fixtures.netns import NetnsLab
    from tests.fixtures.node import NodeLab

    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    node = NodeLab(NetnsLab(work / "netns"))
    results = []
    try:
        builds = args.builds.split(",")
        startup = {b: min(replay_cpu(empty_pcap(work / "empty.pcap"), b) for _ in range(3)) for b in builds}
        pod = node.pod("bench")
        (work / "ng").mkdir()
        conf = work / "ng" / "nginx.conf"
        conf.write_text(NGINX_CONF.format(d=work / "ng", port=PORT, pad="n" * 700))
        if args.instructions:
            node.lab.start_server(pod.ns, ["nginx", "-p", str(work / "ng"), "-c", str(conf)], PORT, name="nginx")
            instruction_steps(node, pod, args.modes.split(","), args.builds.split(","), args.instructions,
                              args.seconds, work)
            return 0
        nginx = node.lab.start_server(pod.ns, [*LOAD_CPU, "nginx", "-p", str(work / "ng"), "-c", str(conf)], PORT,
                                      name="nginx")
        server = [psutil.Process(nginx.pid)]
        if args.uris > 1:
            H2LOAD_URIS.append(work / "uris.txt")
        what = {"h2load": f"h2load --h1, {args.clients} keep-alive conns, offered rate per step, "
                          + (f"{args.uris} distinct URIs in turn" if args.uris > 1 else "one URI"),
                "wrk": "wrk" + ("" if args.unpaced else " paced ~1k req/s per conn"), "python": "python client"}[load]
        print(f"core: {core_build()}; load: {what}, "
              f"{args.seconds:g}s per step, agent on {'core ' + str(args.cpu) if args.cpu is not None else 'any core'}, "
              f"tap buffer {args.buffer_mib} MiB, {'client and agent in one session' if args.one_group else 'client, nginx, agent each in its own session (autogroup)'}, sink {'Kafka ' + args.kafka if args.kafka else '--out /dev/null'}; "
              f"{os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}; replay start-up "
              f"{', '.join(f'{v * 1e3:.0f}' for v in startup.values())} ms CPU (subtracted)")
        print(f"{'mode':>7} {'offer' if load == 'h2load' else 'conns':>5} {'req/s':>7} {'pairs/s':>7} {'kdrops':>7} "
              f"{'agent':>6} {'client':>6} {'nginx':>6} {'tcpdump':>7} {'busy':>5} "
              f"{'agent us/pair':>13} {'replay us/pair':>14} {'lag s':>5} {'RSS MiB':>8} {'loadavg':>7}  pairs per worker"
              "   (agent..tcpdump: cores used; busy: share of all cores; lag: agent's catch-up after the load)")
        for conns in [int(c) for c in steps.split(",")]:
            if not args.no_baseline:
                b = baseline_step(pod, conns, args.seconds, load, not args.unpaced, server)
                results.append(b)
                print(f"{b['mode']:>7} {b['conns']:>5} {b['req_per_s']:>7} {'-':>7} {'-':>7} {'-':>6} "
                      f"{b['client_cores']:>6} {b['server_cores']:>6} {'-':>7} {b['machine_busy']:>5} {'-':>13} "
                      f"{'-':>14} {'-':>5} {'-':>8} {b['load_average']:>7}  (the load alone: offered "
                      f"{b['offered'] or '?'}, reached {b['req_per_s']} req/s)", flush=True)
            runs = [(m, b) for m in args.modes.split(",") for b in builds] * max(1, args.repeat)
            for i, (mode, build) in enumerate(runs):
                r = run_step(node, pod, mode, conns, args.seconds, args.cpu, load, work, not args.unpaced,
                             startup[build], server, build, Path(args.keep_pcap) if args.keep_pcap else None)
                r["run"] = i * max(1, args.repeat) // len(runs) + 1
                results.append(r)
                print(f"{r['mode']:>7} {r['conns']:>5} {r['req_per_s']:>7} {r['pairs_per_s']:>7} {r['kernel_drops']:>7} "
                      f"{r['agent_cores']:>6} {r['client_cores']:>6} {r['server_cores']:>6} {r['tcpdump_cores']:>7} "
                      f"{r['machine_busy']:>5} {r['agent_us_per_pair']:>13} {r['replay_us_per_pair']:>14} {r['catch_up_s']:>5} "
                      f"{r['rss_mib']:>8} {r['load_average']:>7}  {r['workers'] or ''}"
                      + (f"  other drops {r['other_drops']}" if r["other_drops"] else "")
                      + ("" if r["pairs"] >= r["requests"] else f"  pairs {r['pairs']} < requests {r['requests']}")
                      + (f"  (run {r['run']} of {args.repeat})" if args.repeat > 1 else ""),
                      flush=True)
                print(f"{'':>15} agent per request done {r['agent_us_per_request']} us (replay's unit); "
                      f"per pair: user {r['agent_user_us_per_pair']} + sys {r['agent_sys_us_per_pair']} us, "
                      f"{r['agent_faults_per_pair']} page faults; {r['agent_sleeps_per_s']} sleeps/s, "
                      f"{r['agent_preempted_per_s']} preemptions/s; traffic {r['packets_per_pair']} packets per pair "
                      f"({r['bare_per_pair']} without payload)"
                      + (f"; replay under the load alone {r['replay_loaded_us_per_pair']} us/pair (load reached "
                         f"{r['replay_load_req_per_s']} req/s)" if r["replay_loaded_us_per_pair"] is not None else "")
                      + (f"; idle before the load {r['agent_idle_ms_per_s']} ms CPU/s, {r['agent_idle_sleeps_per_s']} "
                         f"wake-ups/s ({r['agent_idle_ms_per_s'] / max(1, r['pairs_per_s']) * 1e3:.2f} us a pair at "
                         "the step's pairs/s)" if r["agent_idle_ms_per_s"] is not None else ""),
                      flush=True)
    finally:
        node.close()
        shutil.rmtree(work, ignore_errors=True)
    for b in (r for r in results if r["mode"] == "no agent"):
        print(f"load alone: {b['offered'] or b['conns']} {'req/s offered' if b['offered'] else 'connections'}, "
              f"{b['req_per_s']} reached (client {b['client_cores']} + nginx {b['server_cores']} cores, "
              f"load average {b['load_average']})")
    agent_modes = [r["mode"] for r in results if r["mode"] != "no agent"]
    for mode in sorted(set(agent_modes), key=agent_modes.index):
        clean = [r for r in results if r["mode"] == mode and r["kernel_drops"] == 0]
        best = max(clean, key=lambda r: r["pairs_per_s"]) if clean else None
        if best is None:
            print(f"{mode}: kernel drops at every step")
            continue
        print(f"{mode}: highest rate with 0 kernel drops {best['pairs_per_s']} pairs/s"
              + (f" ({best['offered']} req/s offered)" if best["offered"] else "") + ", "
              f"{best['agent_us_per_pair']} us CPU per pair (user {best['agent_user_us_per_pair']} + sys "
              f"{best['agent_sys_us_per_pair']}; replay {best['replay_us_per_pair']}); "
              f"target 0 drops at 20k pairs/s offered (and reached) and <= 25 us per pair: "
              f"{'met' if best['req_per_s'] >= 19000 and best['agent_us_per_pair'] <= 25 else 'NOT met'}")
    if args.repeat > 1:
        print_spread([r for r in results if r["mode"] != "no agent"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
