"""bench/tls: cost of the eBPF TLS probes for the traced programs.

    python3 bench/tls.py                      # 2,000 keep-alive HTTPS POSTs: OpenSSL, Go, Node.js, Java;
                                              # 2,000 gRPC unary calls over TLS: grpcio (BoringSSL)
    python3 bench/tls.py --requests 500 --rounds 1 --only openssl

For each stack (OpenSSL: Python http.client → Python ssl server; Go: crypto/tls client → server), the
client's own timer measures N keep-alive POSTs of a 300-byte JSON body, once with no probes and once
with the TLS source attached and its consumer (the real Pipeline, pairs collected) polling in a
thread of this process (tests/fixtures/tls.py TlsHarness), alternating for ``--rounds`` rounds; the
median ratio is printed, with the consumer's CPU time per request. Both ends are traced: by default
one pair per request is kept and the other end is muted in the kernel (the agent's default);
``--both-ends`` keeps both (two pairs per request). Target (issue 6): ratio <= 1.3.
Needs root (BPF). Go programs are built once into /var/cache/privacy-sensor/ebpf/gobin.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from interceptor.config import Config  # noqa: E402
from tests.fixtures.tls import PYTLS, TESTDATA, TlsHarness, build_tlsprog, find_go  # noqa: E402


def benched(pid: int) -> bool:
    """Only the bench's own programs, its children (other JVMs, Pythons and test servers on the
    machine are left alone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    ppid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), 0)
    return ppid == os.getpid()


SIZE = 300
# node: static OpenSSL in node; java: the JSSE agent; boringssl: grpcio (its stripped BoringSSL) unary
# calls over one TLS channel, client and server
STACKS = ["openssl", "gotls", "node", "java", "boringssl"]
GRPCTLS = TESTDATA / "grpctls.py"


def certs(d: Path) -> tuple[str, str]:
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
    return str(cert), str(key)


def commands(stack: str, cert: str, key: str) -> tuple[list[str], object]:
    """(server command, function (port, n) -> client command)."""
    if stack == "boringssl":
        server = [sys.executable, str(GRPCTLS), "server", cert, key]
        return server, lambda port, n: [sys.executable, str(GRPCTLS), "bench", str(port), cert, str(n), str(SIZE)]
    if stack == "openssl":
        server = [sys.executable, str(PYTLS), "server", cert, key]
        return server, lambda port, n: [sys.executable, str(PYTLS), "client", str(port), ",".join([str(SIZE)] * n)]
    client_of = {"node": ["node", str(TESTDATA / "nodetls.js"), "client"],
                 "java": ["java", str(TESTDATA / "JavaTls.java"), "client"]}
    if stack in client_of:  # the Python ssl server; the client is Node.js (static OpenSSL) or Java (JSSE)
        server = [sys.executable, str(PYTLS), "server", cert, key]
        return server, lambda port, n: [*client_of[stack], str(port), ",".join([str(SIZE)] * n)]
    go = find_go()
    if go is None:
        raise SystemExit("bench/tls: no Go toolchain for the gotls stack (use --only openssl)")
    prog = build_tlsprog(go)[0]
    return [prog, "server", cert, key], lambda port, n: [
        prog, "client", f"https://127.0.0.1:{port}/b", ",".join([str(SIZE)] * n)]


def run_once(server_cmd: list[str], client_cmd, n: int, harness: TlsHarness | None = None) -> float:
    """One client run; with a harness, both processes are attached before the client starts."""
    server = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, text=True)
    client = None
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        client = subprocess.Popen(client_cmd(port, n), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        if harness is not None:
            harness.wait_attached(server.pid)
            argv = client_cmd(port, n)
            if argv[0] == "java":  # the JVM gets the agent while it waits for its line
                wait_java(harness)
            elif argv[1] != str(PYTLS):  # Go, Node, grpcio; Python's http.client maps libssl only at 'go'
                harness.wait_attached(client.pid)
            harness.cpu_start = harness.call(lambda: harness.cpu_s)  # attaching is not the consumer's cost
        out, err = client.communicate("go\n", timeout=600)
        lines = out.splitlines()
        if client.returncode != 0 or len(lines) != n + 1:
            raise SystemExit(f"bench/tls: client failed: {err[-500:]}")
        return float(lines[-1].split()[1])
    finally:
        for p in (client, server):
            if p is not None and p.poll() is None:
                p.kill()
            if p is not None:
                p.wait()
        if server.stdout:
            server.stdout.close()


def wait_java(harness: TlsHarness, timeout: float = 60) -> None:
    """Each hooked round has a new harness: its first attach is this client's JVM."""
    deadline = time.monotonic() + timeout
    while harness.counters.get("tls.java.attached") < 1:
        if time.monotonic() > deadline:
            raise SystemExit(f"bench/tls: JVM not attached: {harness.counters.snapshot()['counts']}")
        time.sleep(0.1)


class CountingPipeline:
    """Takes the plaintext and counts request starts: the probes' cost without the HTTP core's."""

    def __init__(self) -> None:
        self.messages = 0

    def feed_stream(self, conn_id, direction, ts, data, a, b, source) -> bool:  # noqa: ANN001
        self.messages += data.startswith(b"POST ")
        return True

    def stream_gap(self, conn_id, direction) -> None:  # noqa: ANN001
        pass

    def stream_close(self, conn_id, ts) -> None:  # noqa: ANN001
        pass

    def tick(self, now: float) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--only", choices=STACKS)
    ap.add_argument("--consumer", choices=["pipeline", "count", "empty"], default="pipeline",
                    help="pipeline: the real HTTP core makes pairs; count: records only counted (probe cost); "
                         "empty: the probes return at once (the cost of the uprobe traps alone)")
    ap.add_argument("--nice", type=int, default=0, help="niceness of the consumer thread (an agent's priority)")
    ap.add_argument("--both-ends", action="store_true", help="pairs from both traced processes (2 per request)")
    args = ap.parse_args()
    cfg = Config()
    cfg.tls.enabled = True
    cfg.tls.include_commands = ["python*", "tlsprog*", "node", "java"]
    cfg.tls.java.enabled = True
    # Client and server are both traced here: by default one pair per request is kept (the agent's
    # default); --both-ends makes each process yield its own pairs (2 per request).
    cfg.tls.one_pair_per_connection = not args.both_ends
    with tempfile.TemporaryDirectory() as d:
        cert, key = certs(Path(d))
        for stack in [args.only] if args.only else STACKS:
            server_cmd, client_cmd = commands(stack, cert, key)
            run_once(server_cmd, client_cmd, 50)  # warm-up (page cache, CPU frequency)
            ratios, base, hooked, pairs, cpu = [], [], [], [], []
            for _ in range(args.rounds):
                base.append(run_once(server_cmd, client_cmd, args.requests))
                pipeline = CountingPipeline() if args.consumer != "pipeline" else None
                cflags = ("-DEMPTY_PROBES",) if args.consumer == "empty" else ()
                harness = TlsHarness(cfg, pipeline, nice=args.nice, extra_cflags=cflags, process_filter=benched)
                if harness.source is None:
                    raise SystemExit(f"bench/tls: TLS source unavailable: {harness.counters.snapshot()['counts']}")
                try:
                    hooked.append(run_once(server_cmd, client_cmd, args.requests, harness))
                    time.sleep(0.5)  # let the consumer finish the last records
                    pairs.append(harness.call(lambda h=harness, p=pipeline: p.messages if p else len(h.pairs)))
                    cpu.append((harness.cpu_s - harness.cpu_start) / args.requests * 1e6)
                finally:
                    harness.close()
                ratios.append(hooked[-1] / base[-1])
            what = "gRPC unary calls over one TLS channel" if stack == "boringssl" else "keep-alive HTTPS POSTs"
            warm = 1 if stack == "boringssl" else 0  # its untimed first call is captured too
            print(f"bench/tls {stack} (consumer {args.consumer}, nice {args.nice}): "
                  f"{args.requests} {what} of {SIZE} B: "
                  f"no probes {statistics.median(base):.3f} s, probes + consumer {statistics.median(hooked):.3f} s, "
                  f"ratio {statistics.median(ratios):.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)}; "
                  f"consumer CPU {statistics.median(cpu):.0f} µs per request; "
                  f"{'pairs' if args.consumer == 'pipeline' else 'requests'} captured per round: {pairs}, "
                  f"expected {(2 if args.both_ends else 1) * (args.requests + warm)})")


if __name__ == "__main__":
    main()
