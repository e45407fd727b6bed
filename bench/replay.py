"""bench/replay: the end-to-end CLI (`interceptor replay FILE --out F`, process start to exit) and
the replay core alone, on one core, vs tshark on the same file in the same run; `--workers 2`; and
peak RSS with 10k concurrent open flows.

    python3 bench/replay.py                 # generate (once, cached) + measure
    python3 bench/replay.py --exchanges 20000 --skip-tshark
    python3 bench/replay.py --profile       # + cProfile top functions of the core
    python3 bench/replay.py --http2         # HTTP/2 (h2load -> nghttpd) and gRPC (Go) captures instead
    python3 bench/replay.py --workers-only  # only --workers 2 vs one process (4 and 32 connections)

The large capture is real traffic: a raw-socket keep-alive client POSTing ~1 KB JSON to nginx, which
answers ~1 KB JSON, in two network namespaces joined by a veth, captured by tcpdump (needs root).
Without namespaces (``--synthetic`` or not root) an equivalent valid TCP stream is synthesised.
Captures are cached in /var/cache/privacy-sensor/bench (or $BENCH_CACHE) and reused.

Targets (issue 2): >= 50k pairs/s on one core, >= 5x tshark, <= 200 MiB peak RSS with 10k open flows;
(issue 12): >= 10x tshark end to end.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CACHE = Path(os.environ.get("BENCH_CACHE", "/var/cache/privacy-sensor/bench"))
NGINX_PORT = 8080
LINKTYPE_ETHERNET = 1


def cache_dir() -> Path:
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        return CACHE
    except OSError:
        d = Path(tempfile.gettempdir()) / "privacy-sensor-bench"
        d.mkdir(exist_ok=True)
        return d


def request_body(i: int) -> bytes:
    """~1 KB of JSON with personal-looking fields, different per exchange."""
    people = ",".join(
        f'{{"id":{i * 8 + k},"name":"Person {i}-{k}","email":"p{i}.{k}@example.com","phone":"+1-202-555-{k:04d}"}}'
        for k in range(10)
    )
    return f'{{"batch":{i},"people":[{people}]}}'.encode()


# -- real capture ---------------------------------------------------------------------------------
CLIENT = textwrap.dedent('''
    import socket, sys, time
    sys.path.insert(0, sys.argv[5])
    from bench.replay import request_body
    host, port, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    deadline = time.monotonic() + 600
    buf = b""
    for i in range(first, first + n):
        body = request_body(i)
        s.sendall(b"POST /api/v1/users/%d HTTP/1.1\\r\\nHost: api\\r\\nContent-Type: application/json\\r\\n"
                  b"Content-Length: %d\\r\\n\\r\\n%s" % (i, len(body), body))
        while b"\\r\\n\\r\\n" not in buf:
            buf += s.recv(65536)
        head, _, buf = buf.partition(b"\\r\\n\\r\\n")
        clen = int(head.lower().split(b"content-length:")[1].split(b"\\r\\n")[0])
        while len(buf) < clen:
            buf += s.recv(65536)
        buf = buf[clen:]
        if time.monotonic() > deadline:
            break
    s.close()
''')

NGINX_CONF = '''
user root;
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d};
    keepalive_requests 1000000;
    server {{
        listen {port};
        location / {{
            default_type application/json;
            return 200 '{{"request":"$request_id","time":"$msec","uri":"$uri","status":"stored","owner":{{"name":"Jane Roe","email":"jane.roe@example.com","phone":"+1-202-555-0143","address":"1600 Pennsylvania Ave NW, Washington, DC 20500"}},"tags":["alpha","beta","gamma","delta","epsilon"],"history":[{{"ts":1700000000,"event":"created","by":"svc-accounts"}},{{"ts":1700000100,"event":"updated","by":"svc-billing"}},{{"ts":1700000200,"event":"verified","by":"svc-kyc"}},{{"ts":1700000300,"event":"exported","by":"svc-reports"}}],"notes":"{pad}"}}';
        }}
    }}
}}
'''


def generate_real(path: Path, exchanges: int, conns: int) -> dict:
    from tests.fixtures.netns import NetnsLab, make_pair

    work = Path(tempfile.mkdtemp(prefix="bench-netns-"))
    try:
        with NetnsLab(work) as lab:
            pair = make_pair(lab)
            (work / "ng").mkdir()
            conf = work / "ng" / "nginx.conf"
            conf.write_text(NGINX_CONF.format(d=work / "ng", port=NGINX_PORT, pad="n" * 300))
            lab.start_server(pair.server, ["nginx", "-p", str(work / "ng"), "-c", str(conf)], NGINX_PORT, name="nginx")
            cap = lab.capture(pair.server, pair.link.dev_b, path, f"tcp port {NGINX_PORT}", extra=["-B", "262144"])
            t0 = time.monotonic()
            per = exchanges // conns
            procs = [pair.client.popen([sys.executable, "-c", CLIENT, pair.server_ip, str(NGINX_PORT),
                                        str(k * per), str(per), str(REPO)]) for k in range(conns)]
            for p in procs:
                p.wait(timeout=900)
            took = time.monotonic() - t0
            cap.stop(timeout=60)
            return {"kind": "real", "exchanges": per * conns, "connections": conns,
                    "tcpdump_dropped": cap.kernel_dropped(), "generate_s": round(took, 1)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- synthetic captures ---------------------------------------------------------------------------
class Synth:
    """Valid Ethernet/IPv4/TCP frames of client↔server conversations, written as a pcap."""

    def __init__(self, f) -> None:
        self.f = f
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKTYPE_ETHERNET))
        self.ts = 1_700_000_000.0

    def frame(self, src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
              payload: bytes = b"") -> None:
        import socket

        tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags,
                          65535, 0, 0)
        total = 20 + len(tcp) + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0,
                         socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
        data = eth + ip + tcp + payload
        self.ts += 0.00001
        sec = int(self.ts)
        self.f.write(struct.pack("<IIII", sec, int((self.ts - sec) * 1e6), len(data), len(data)) + data)


def _checksum(b: bytes) -> int:
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


SYN, ACK, PSH = 0x02, 0x10, 0x08


def synth_keepalive(path: Path, exchanges: int, conns: int) -> dict:
    """The same shape as the real capture, synthesised (1 request + 1 response segment each)."""
    resp_body = (b'{"status":"stored","owner":{"name":"Jane Roe","email":"jane.roe@example.com"},"notes":"'
                 + b"n" * 850 + b'"}')
    with open(path, "wb") as f:
        s = Synth(f)
        per = exchanges // conns
        for c in range(conns):
            cli, srv = ("198.18.0.1", 40000 + c), ("198.18.0.2", NGINX_PORT)
            cseq, sseq = 1000, 5000
            s.frame(cli, srv, cseq, 0, SYN)
            s.frame(srv, cli, sseq, cseq + 1, SYN | ACK)
            cseq, sseq = cseq + 1, sseq + 1
            for i in range(c * per, (c + 1) * per):
                body = request_body(i)
                req = (b"POST /api/v1/users/%d HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (i, len(body), body))
                resp = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n%s" % (len(resp_body), resp_body))
                s.frame(cli, srv, cseq, sseq, PSH | ACK, req)
                cseq += len(req)
                s.frame(srv, cli, sseq, cseq, PSH | ACK, resp)
                sseq += len(resp)
    return {"kind": "synthetic", "exchanges": per * conns, "connections": conns, "tcpdump_dropped": 0}


def synth_open_flows(path: Path, flows: int) -> dict:
    """``flows`` connections that each send a ~1 KB JSON request and stay open (no response, no FIN)."""
    with open(path, "wb") as f:
        s = Synth(f)
        for c in range(flows):
            cli = (f"198.18.{1 + c // 50000}.{1 + (c // 250) % 200}", 10000 + c % 50000)
            srv = ("198.19.0.2", 8080 + c % 7)
            s.frame(cli, srv, 1000, 0, SYN)
            s.frame(srv, cli, 5000, 1001, SYN | ACK)
            body = request_body(c)
            req = (b"POST /api/v1/users/%d HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n%s" % (c, len(body), body))
            s.frame(cli, srv, 1001, 5001, PSH | ACK, req)
    return {"kind": "synthetic-open-flows", "flows": flows}


def get_capture(name: str, regen: bool, make) -> tuple[Path, dict]:
    path = cache_dir() / f"{name}.pcap"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists() and not regen:
        return path, json.loads(meta.read_text())
    tmp = path.with_suffix(".partial")
    info = make(tmp)
    tmp.replace(path)
    info["bytes"] = path.stat().st_size
    meta.write_text(json.dumps(info))
    return path, info


# -- measurements ---------------------------------------------------------------------------------
ALL_CPUS = os.sched_getaffinity(0)  # before pin_one_core: what --workers may use


def pin_one_core() -> int:
    cpu = sorted(os.sched_getaffinity(0))[-1]
    os.sched_setaffinity(0, {cpu})
    return cpu


def run_core(path: Path, profile: bool = False, repeat: int = 1) -> dict:
    """Read + decode + reassemble + parse + pair + filter, in this process on one core."""
    from interceptor.capture.pcapfile import CaptureReader
    from interceptor.config import Config
    from interceptor.counters import Counters
    from interceptor.pipeline import Pipeline

    with CaptureReader(path) as reader:
        frames = list(reader)  # read once, outside the timed loop (file I/O is not the core)
    pairs = 0

    def on_pair(_pair) -> None:
        nonlocal pairs
        pairs += 1

    # Best of ``repeat`` passes (a fresh pipeline each): on a shared machine the minimum is the
    # figure least disturbed by other processes.
    core_s = core_cpu = float("inf")
    for _ in range(repeat):
        pairs = 0
        counters = Counters()
        pipe = Pipeline(Config(), counters, on_pair, source={"kind": "pcap-file", "file": str(path)})
        t0, c0 = time.perf_counter(), time.process_time()
        for ts, linktype, frame in frames:
            pipe.feed_packet(ts, frame, linktype)
        pipe.close()
        core_s = min(core_s, time.perf_counter() - t0)
        core_cpu = min(core_cpu, time.process_time() - c0)
    t1 = time.perf_counter()
    with CaptureReader(path) as reader:
        n = sum(1 for _ in reader)
    read_s = time.perf_counter() - t1
    out = {"pairs": pairs, "packets": len(frames), "core_s": core_s, "cpu_s": core_cpu, "read_s": read_s,
           "drops": counters.drops()}
    if profile:  # a separate, profiled pass over the first 40k packets (the profiler slows it down ~5x)
        import cProfile
        import io
        import pstats

        pipe = Pipeline(Config(), Counters(), on_pair, source={"kind": "pcap-file"})
        prof = cProfile.Profile()
        prof.enable()
        for ts, linktype, frame in frames[:40_000]:
            pipe.feed_packet(ts, frame, linktype)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
        out["profile"] = buf.getvalue()
    assert n == len(frames)
    return out


def build_modes() -> list[str]:
    """'compiled' when a compiled build exists for these sources (interceptor/compiled.py), then 'pure'."""
    from interceptor import compiled

    return (["compiled"] if compiled.find_build(compiled.build_key()) else []) + ["pure"]


def mode_env(mode: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PRIVACY_SENSOR_PURE"}
    if mode == "pure":
        env["PRIVACY_SENSOR_PURE"] = "1"
    return env


def run_core_child(path: Path, cpu: int, mode: str, repeat: int) -> dict:
    """``run_core`` in a new process on ``cpu``, on the compiled build or forced pure."""
    argv = ["taskset", "-c", str(cpu), sys.executable, str(Path(__file__).resolve()), "--core-json", str(path),
            "--repeat", str(repeat)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=1800, cwd=REPO, env=mode_env(mode))
    if res.returncode != 0:
        raise RuntimeError(f"core ({mode}) failed: {res.stderr[-2000:]}")
    out = json.loads(res.stdout.splitlines()[-1])
    if not out["status"].startswith(mode):
        raise RuntimeError(f"asked for {mode}, ran {out['status']}")
    return out


def run_tshark(path: Path, cpu: int) -> dict:
    argv = ["taskset", "-c", str(cpu), "tshark", "-r", str(path), "-Y", "http.response", "-T", "fields",
            "-e", "http.request.method", "-e", "http.response.code", "-e", "http.response_for.uri"]
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, timeout=1800)
    took = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"pairs": sum(1 for line in res.stdout.splitlines() if line.strip()), "s": took, "cpu_s": cpu}


PEAK_RSS_CHILD = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[2])
    from interceptor.capture.pcapfile import CaptureReader
    from interceptor.config import Config
    from interceptor.counters import Counters
    from interceptor.pipeline import Pipeline
    def hwm():  # VmHWM: ru_maxrss would keep the parent's high-water mark across fork+exec
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    base = hwm()
    counters = Counters()
    pipe = Pipeline(Config(), counters, lambda p: None, source={"kind": "pcap-file"})
    with CaptureReader(sys.argv[1]) as reader:
        for ts, lt, frame in reader:  # streamed, as `interceptor replay` does
            pipe.feed_packet(ts, frame, lt)
    peak = hwm()
    print(base, peak, f"flows={len(pipe.flows)} buffered={pipe.budget.used} drops={counters.drops()}")
''')


def run_peak_rss(path: Path) -> dict:
    res = subprocess.run([sys.executable, "-c", PEAK_RSS_CHILD, str(path), str(REPO)], capture_output=True,
                         text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"peak RSS run failed: {res.stderr[-1500:]}")
    base, peak, state = res.stdout.split(" ", 2)
    return {"baseline_mib": int(base) / 1024, "peak_mib": int(peak) / 1024, "state": state.strip()}


# -- HTTP/2 and gRPC (issue 13) -------------------------------------------------------------------
H2_PORT, GRPC_PORT = 8443, 50051


def generate_h2load(path: Path, requests: int, conns: int) -> dict:
    """h2load (nghttp2) POSTing ~1 KB JSON to nghttpd --echo-upload over h2c, in namespaces."""
    from tests.fixtures.netns import NetnsLab, make_pair

    work = Path(tempfile.mkdtemp(prefix="bench-h2-"))
    try:
        with NetnsLab(work) as lab:
            pair = make_pair(lab)
            (work / "docroot").mkdir()
            (work / "body.json").write_bytes(request_body(1))
            lab.start_server(pair.server, ["nghttpd", "--no-tls", "--echo-upload", "-d", str(work / "docroot"),
                                           str(H2_PORT)], H2_PORT, name="nghttpd")
            cap = lab.capture(pair.server, pair.link.dev_b, path, f"tcp port {H2_PORT}", extra=["-B", "262144"])
            t0 = time.monotonic()
            pair.client.run(["h2load", "-n", str(requests), "-c", str(conns), "-m", "8", "-d", str(work / "body.json"),
                             "-H", "content-type: application/json",
                             f"http://{pair.server_ip}:{H2_PORT}/api/v1/users"], timeout=900)
            took = time.monotonic() - t0
            cap.stop(timeout=60)
            return {"kind": "real-h2load", "requests": requests, "connections": conns, "port": H2_PORT,
                    "tcpdump_dropped": cap.kernel_dropped(), "generate_s": round(took, 1)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def generate_grpc(path: Path, calls: int, conns: int) -> dict:
    """The Go gRPC client (tests/interceptor/tools/grpcapp) making unary calls, in namespaces."""
    from tests.fixtures.netns import NetnsLab, make_pair
    from tests.interceptor.tools.h2traffic import grpcapp_binary

    binary = grpcapp_binary()
    if binary is None:
        raise RuntimeError("no Go toolchain for tests/interceptor/tools/grpcapp")
    work = Path(tempfile.mkdtemp(prefix="bench-grpc-"))
    try:
        with NetnsLab(work) as lab:
            pair = make_pair(lab)
            lab.start_server(pair.server, [str(binary), "server", str(GRPC_PORT)], GRPC_PORT, name="grpcapp")
            cap = lab.capture(pair.server, pair.link.dev_b, path, f"tcp port {GRPC_PORT}", extra=["-B", "262144"])
            t0 = time.monotonic()
            procs = [pair.client.popen([str(binary), "client", pair.server_ip, str(GRPC_PORT), str(calls // conns)],
                                       stdout=subprocess.DEVNULL) for _ in range(conns)]
            for p in procs:
                p.wait(timeout=900)
            took = time.monotonic() - t0
            cap.stop(timeout=60)
            return {"kind": "real-grpc-go", "calls": calls // conns * conns, "connections": conns, "port": GRPC_PORT,
                    "tcpdump_dropped": cap.kernel_dropped(), "generate_s": round(took, 1)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def compile_bytecode() -> None:
    """Write interceptor's bytecode (__pycache__, git-ignored) before timing the CLI, as an installed
    package has it (pip compiles at install; the image's does). With PYTHONDONTWRITEBYTECODE set,
    as on this machine, every CLI start would otherwise compile ~35 modules from source (~0.2 s,
    measured: nearly half of the start-up's instructions)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "interceptor")], check=True,
                   stdout=subprocess.DEVNULL, timeout=300)


def run_cli(path: Path, cpu: int | None, workers: int = 1, mode: str = "") -> dict:
    """``interceptor replay FILE --out OUT --keep-all [--workers N]`` end to end: process start to
    exit, every pair built, serialised and written. ``cpu``: pinned to that core (None: every core);
    ``mode``: 'pure' forces pure Python, else the compiled build runs when there is one."""
    out = Path(tempfile.mkdtemp(prefix="bench-cli-")) / "pairs.jsonl"
    stats = out.with_name("stats.json")
    cpus = str(cpu) if cpu is not None else ",".join(str(c) for c in sorted(ALL_CPUS))
    argv = ["taskset", "-c", cpus, sys.executable, "-c", "import sys; from interceptor.cli import main; sys.exit(main())",
            "replay", str(path), "--out", str(out), "--stats", str(stats), "--keep-all",
            *(["--workers", str(workers)] if workers > 1 else [])]
    t0, c0 = time.perf_counter(), _children_cpu()
    subprocess.run(argv, check=True, capture_output=True, timeout=1800, cwd=REPO, env=mode_env(mode))
    took, cpu_s = time.perf_counter() - t0, _children_cpu() - c0
    with open(out, "rb") as f:
        pairs = sum(1 for _ in f)
    report = json.loads(stats.read_text())
    shutil.rmtree(out.parent, ignore_errors=True)
    return {"pairs": pairs, "s": took, "cpu_s": cpu_s, "worker_cpu_s": report.get("worker_cpu_s"),
            "start_cpu_s": report.get("start_cpu_s", 0.0), "timeline": report.get("timeline")}


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_tshark_h2(path: Path, port: int, cpu: int) -> dict:
    """tshark's HTTP/2 dissection of the same file: one line per response HEADERS (its pairs)."""
    argv = ["taskset", "-c", str(cpu), "tshark", "-r", str(path), "-d", f"tcp.port=={port},http2",
            "-Y", "http2.headers.status", "-T", "fields", "-e", "http2.streamid", "-e", "http2.headers.status"]
    t0, c0 = time.perf_counter(), _children_cpu()
    res = subprocess.run(argv, capture_output=True, timeout=1800)
    took, cpu_s = time.perf_counter() - t0, _children_cpu() - c0
    pairs = sum(len(line.split(b"\t")[1].split(b",")) for line in res.stdout.splitlines() if b"\t" in line)
    return {"pairs": pairs, "s": took, "cpu_s": cpu_s}


def bench_http2(args: argparse.Namespace) -> None:
    """HTTP/2 (h2load → nghttpd) and gRPC (Go client → Go server): the core per build, then the CLI
    end to end per build alternating with tshark on the same file (best of ``--cli-repeat`` each,
    by CPU time: the machine is shared), and each side's fixed start-up cost."""
    if os.geteuid() != 0 or not (shutil.which("tcpdump") and shutil.which("nghttpd") and shutil.which("h2load")):
        print("http2 bench: needs root, tcpdump, nghttpd and h2load (apt nghttp2-server nghttp2-client)")
        return
    n = args.h2_exchanges
    cases = [("h2", f"h2load-{n}", lambda p: generate_h2load(p, n, 4)),
             ("grpc", f"grpc-go-{n}", lambda p: generate_grpc(p, n, 2))]
    cases = [case for case in cases if case[0] in args.h2_cases.split(",")]
    cpu = pin_one_core()
    compile_bytecode()
    modes = build_modes()
    tshark = shutil.which("tshark") and not args.skip_tshark
    print(f"builds: {', '.join(modes)}")
    for label, name, make in cases:
        path, info = get_capture(name, args.regen, make)
        print(f"{label} capture: {path} ({info['bytes'] / 1e6:.0f} MB, {info})")
        for mode in modes:
            core = run_core_child(path, cpu, mode, args.repeat)
            print(f"  core, {mode} (cpu {cpu}, best of {args.repeat}): {core['pairs']} pairs, "
                  f"{core['cpu_s'] / core['pairs'] * 1e6:.1f} us CPU per pair; drops: {core['drops']}")
        if args.profile:  # in this process (its build: see interceptor.compiled.STATUS)
            print(run_core(path, True, 1)["profile"])
        best: dict[str, dict] = {}
        for _ in range(max(1, args.cli_repeat)):
            for key in [*modes, "tshark"] if tshark else modes:
                res = run_tshark_h2(path, info["port"], cpu) if key == "tshark" else run_cli(path, cpu, mode=key)
                if key not in best or res["cpu_s"] < best[key]["cpu_s"]:
                    best[key] = res
        for mode in modes:
            cli = best[mode]
            line = (f"  interceptor replay --out FILE --keep-all, {mode}, end to end (best of {args.cli_repeat}): "
                    f"{cli['pairs']} pairs, {cli['cpu_s']:.2f} cpu-s = {cli['cpu_s'] / cli['pairs'] * 1e6:.1f} us per pair")
            if "tshark" in best:
                line += f" -> {best['tshark']['cpu_s'] / cli['cpu_s']:.1f}x tshark by CPU (target >= 5x)"
            print(line)
        if "tshark" in best:
            ts = best["tshark"]
            print(f"  tshark -d tcp.port=={info['port']},http2 -Y http2.headers.status (best of {args.cli_repeat}): "
                  f"{ts['pairs']} responses, {ts['cpu_s']:.2f} cpu-s = {ts['cpu_s'] / ts['pairs'] * 1e6:.1f} us per pair")
    if tshark:  # what neither side can amortise on a 20k-pair file: start-up on an empty capture
        empty, _ = get_capture("open-flows-10", False, lambda p: synth_open_flows(p, 10))
        ours = {mode: min(run_cli(empty, cpu, mode=mode)["cpu_s"] for _ in range(3)) for mode in modes}
        theirs = min(run_tshark_h2(empty, H2_PORT, cpu)["cpu_s"] for _ in range(3))
        print(f"  start-up (10-flow capture, best of 3): tshark {theirs:.2f} cpu-s, interceptor replay "
              + ", ".join(f"{m} {v:.2f} cpu-s" for m, v in ours.items()))
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: the machine is shared, figures are noisy)")


def bench_workers(args: argparse.Namespace, captures: list[tuple[str, Path]]) -> None:
    """``--workers N`` against one process on each capture (the main one's 4 connections and a
    capture of many), fairly: the file read once first (warm page cache), the same output folder,
    every core allowed to both, alternating in turns whose order flips each round (the VM's speed
    drifts), the best of ``--cli-repeat`` by wall and by CPU time taken separately. Then where the
    best 2-worker run's time went (``--stats``' timeline), and the machine's own ceiling: two
    one-process replays at once, one pinned to each core, against one alone: no --workers can beat
    what two independent processes get out of these cores."""
    for label, path in captures:
        with open(path, "rb") as f:  # warm: both sides read it from the page cache
            while f.read(1 << 24):
                pass
        runs: dict[int, list[dict]] = {1: [], args.workers: []}
        load0 = os.getloadavg()[0]
        for r in range(args.workers_repeat):
            for w in ((1, args.workers) if r % 2 == 0 else (args.workers, 1)):
                runs[w].append(run_cli(path, None, w))
        load1 = os.getloadavg()[0]
        one, many = runs[1], runs[args.workers]
        wall1, walln = min(x["s"] for x in one), min(x["s"] for x in many)
        cpu1, cpun = min(x["cpu_s"] for x in one), min(x["cpu_s"] for x in many)
        best = min(many, key=lambda x: x["s"])
        largest = min(x["start_cpu_s"] + max(x["worker_cpu_s"] or [float("nan")]) for x in many)
        print(f"--workers {args.workers} vs one process, {label} ({path.name}), best of {args.workers_repeat} alternating, "
              f"load {load0:.1f} -> {load1:.1f} on {os.cpu_count()} cores:")
        print(f"  one process: {one[0]['pairs']} pairs, {wall1:.2f} s wall, {cpu1:.2f} cpu-s; --workers {args.workers}: "
              f"{best['pairs']} pairs, {walln:.2f} s wall, {cpun:.2f} cpu-s in all -> {wall1 / walln:.2f}x wall "
              f"(every run, one: {walls(one)}; workers: {walls(many)} s)")
        print(f"  CPU model: one process's CPU / (start-up + the largest worker's) = {cpu1 / largest:.2f}x (the "
              f"speed-up on {args.workers} free cores)")
        print("  " + timeline_text(best))
    side_by_side(args, captures[-1][1])


def walls(runs: list[dict]) -> str:
    return ", ".join(f"{x['s']:.2f}" for x in runs)


def workers_capture(args: argparse.Namespace, real: bool, kind: str) -> tuple[str, Path]:
    """The capture of many connections (``--workers-connections``) of the same exchanges (cached)."""
    conns, n = args.workers_connections, args.exchanges
    make = (lambda p: generate_real(p, n, conns)) if real else (lambda p: synth_keepalive(p, n, conns))
    path, info = get_capture(f"keepalive-{kind}-{n}-c{conns}", args.regen, make)
    print(f"workers capture: {path} ({info['bytes'] / 1e6:.0f} MB, {info})")
    return f"{conns} connections", path


def timeline_text(run: dict) -> str:
    """The ``--stats`` timeline of a ``--workers`` run as one line: seconds after the first fork."""
    tl = run.get("timeline") or {}
    parent = tl.get("parent", {})
    parts = [f"start-up {parent.get('start_user_s', 0) + parent.get('start_sys_s', 0):.2f} cpu-s, parent after "
             f"the fork {parent.get('after_fork_cpu_s', 0):.3f} cpu-s"]
    for w in tl.get("workers", []):
        parts.append(f"worker {w['worker']}: forked +{w.get('forked_s', 0):.3f}, ready +{w.get('ready_s', 0):.3f}, "
                     f"first block +{w.get('first_batch_s', 0):.3f}, fed +{w.get('fed_s', 0):.2f}, closed "
                     f"+{w.get('closed_s', 0):.2f}, exit seen +{w.get('joined_s', 0):.2f} s; {w.get('user_s', 0):.2f} "
                     f"user + {w.get('sys_s', 0):.2f} sys cpu-s, {w.get('minor_faults', 0)} faults")
    return "timeline of the best: " + "; ".join(parts)


def side_by_side(args: argparse.Namespace, path: Path) -> None:
    """Two one-process replays of ``path`` at once (one pinned to each of two cores) against one
    alone, alternating: 2 x alone / together is what two cores of this machine give over one."""
    cpus = sorted(ALL_CPUS)[:2]
    alone, together = [], []
    for _ in range(args.workers_repeat):
        alone.append(run_cli(path, cpus[0])["s"])
        with concurrent.futures.ThreadPoolExecutor(2) as pool:  # each run waits on its own process
            together.append(max(pool.map(lambda c: run_cli(path, c)["s"], cpus)))
    a, t = min(alone), min(together)
    print(f"machine ceiling ({path.name}, best of {args.workers_repeat}, load {os.getloadavg()[0]:.1f}): one process "
          f"pinned alone {a:.2f} s, two at once (one per core) {t:.2f} s -> two cores give {2 * a / t:.2f}x one "
          "(what --workers 2 could reach at most here)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exchanges", type=int, default=100_000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--flows", type=int, default=10_000)
    ap.add_argument("--synthetic", action="store_true", help="synthesise the keep-alive capture (no netns)")
    ap.add_argument("--regen", action="store_true", help="regenerate cached captures")
    ap.add_argument("--skip-tshark", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes of the core (best is printed)")
    ap.add_argument("--cli-repeat", type=int, default=2, help="alternating end-to-end runs of each (best printed)")
    ap.add_argument("--workers", type=int, default=2, help="also time replay --workers N (1: skip)")
    ap.add_argument("--workers-connections", type=int, default=32,
                    help="connections of the capture --workers is measured on (its own cached capture)")
    ap.add_argument("--workers-repeat", type=int, default=3,
                    help="alternating runs of one process and --workers N per capture, and of the ceiling (best printed)")
    ap.add_argument("--workers-only", action="store_true",
                    help="only --workers N vs one process on both captures, and the machine's two-core ceiling")
    ap.add_argument("--skip-rss", action="store_true", help="skip the 10k open flows peak RSS run")
    ap.add_argument("--profile", action="store_true", help="print the core's top functions (cProfile)")
    ap.add_argument("--http2", action="store_true", help="HTTP/2 and gRPC captures instead of HTTP/1")
    ap.add_argument("--h2-exchanges", type=int, default=20_000)
    ap.add_argument("--h2-cases", default="h2,grpc", help="with --http2: which captures (h2 = h2load, grpc = Go gRPC)")
    ap.add_argument("--core-json", type=Path, help=argparse.SUPPRESS)  # (run_core_child: the core on this file)
    args = ap.parse_args()
    if args.core_json:
        from interceptor import compiled

        out = run_core(args.core_json, False, args.repeat)
        print(json.dumps(out | {"status": compiled.STATUS}))
        return 0
    if args.http2:
        bench_http2(args)
        return 0

    real = not args.synthetic and os.geteuid() == 0 and shutil.which("nginx") and shutil.which("tcpdump")
    kind = "real" if real else "synth"
    name = f"keepalive-{kind}-{args.exchanges}"
    make = (lambda p: generate_real(p, args.exchanges, args.connections)) if real else (
        lambda p: synth_keepalive(p, args.exchanges, args.connections))
    path, info = get_capture(name, args.regen, make)
    print(f"capture: {path} ({info['bytes'] / 1e6:.0f} MB, {info})")
    if args.workers_only:  # only --workers N against one process (and the machine's ceiling)
        from interceptor import compiled

        print(f"build: {compiled.STATUS}")
        compile_bytecode()
        bench_workers(args, [(f"{args.connections} connections", path), workers_capture(args, bool(real), kind)])
        return 0

    cpu = pin_one_core()
    modes = build_modes()
    from interceptor import compiled

    print(f"builds: {', '.join(modes)} (this process: {compiled.STATUS})")
    # The core alone per build, each in a new process on this core, alternating (best of --repeat).
    cores: dict[str, dict] = {}
    for _ in range(max(1, args.repeat)):
        for mode in modes:
            res = run_core_child(path, cpu, mode, 1)
            if mode not in cores or res["cpu_s"] < cores[mode]["cpu_s"]:
                cores[mode] = res
    for mode in modes:
        core = cores[mode]
        pps, cps = core["pairs"] / core["core_s"], core["pairs"] / core["cpu_s"]
        print(f"interceptor core, {mode} (cpu {cpu}, best of {args.repeat}): {core['pairs']} pairs from "
              f"{core['packets']} packets in {core['core_s']:.2f} s = {pps:,.0f} pairs/s, {1e6 / pps:.1f} us/pair; "
              f"by CPU time {core['cpu_s']:.2f} cpu-s = {1e6 / cps:.1f} us/pair (+ reading the file: "
              f"{core['read_s']:.2f} s); drops: {core['drops']}")
    if len(modes) > 1:
        print(f"  compiled / pure, core by CPU time: {cores['pure']['cpu_s'] / cores['compiled']['cpu_s']:.2f}x")
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: the machine is shared, figures are noisy)")
    if args.profile:  # in this process (its build: see above)
        print(run_core(path, True, 1)["profile"])
    # End to end, alternating with tshark in the same window (the machine is shared: each side's
    # best of ``--cli-repeat``), one process pinned to the core tshark gets, per build; then --workers 2.
    compile_bytecode()
    best: dict[str, dict] = {}
    for _ in range(args.cli_repeat):
        runs = [(f"cli-{mode}", lambda mode=mode: run_cli(path, cpu, mode=mode)) for mode in modes]
        if not args.skip_tshark and shutil.which("tshark"):
            runs.append(("tshark", lambda: run_tshark(path, cpu)))
        if len(ALL_CPUS) > 1 and args.workers > 1:
            runs.append(("workers", lambda: run_cli(path, None, args.workers)))
        for name, run in runs:
            res = run()
            if name not in best or res["s"] < best[name]["s"]:
                best[name] = res
    for mode in modes:
        cli = best[f"cli-{mode}"]
        print(f"interceptor replay FILE --out F --keep-all, end to end, {mode} (process start to exit, cpu {cpu}, "
              f"best of {args.cli_repeat}): {cli['pairs']} pairs in {cli['s']:.2f} s = "
              f"{cli['pairs'] / cli['s']:,.0f} pairs/s; {cli['cpu_s']:.2f} cpu-s = "
              f"{1e6 * cli['cpu_s'] / max(cli['pairs'], 1):.1f} us/pair")
    if len(modes) > 1:
        print(f"  compiled / pure, end to end by CPU time: "
              f"{best['cli-pure']['cpu_s'] / best['cli-compiled']['cpu_s']:.2f}x")
    cli = best[f"cli-{modes[0]}"]
    if "workers" in best:
        w = best["workers"]
        print(f"  --workers {args.workers} on {len(ALL_CPUS)} cores ({modes[0]}): {w['pairs']} pairs in {w['s']:.2f} s = "
              f"{w['pairs'] / w['s']:,.0f} pairs/s ({cli['s'] / w['s']:.2f}x one process); {w['cpu_s']:.2f} cpu-s")
    if "tshark" in best:
        ts = best["tshark"]
        tps = ts["pairs"] / ts["s"] if ts["s"] else 0
        tcps = ts["pairs"] / ts["cpu_s"] if ts["cpu_s"] else 0
        print(f"tshark -Y http.response -T fields (cpu {cpu}, best of {args.cli_repeat}): {ts['pairs']} pairs in "
              f"{ts['s']:.2f} s = {tps:,.0f} pairs/s; {ts['cpu_s']:.2f} cpu-s = {tcps:,.0f} pairs/cpu-s")
        if tps and tcps:
            for mode in modes:
                c = best[f"cli-{mode}"]
                print(f"ratio end to end / tshark, {mode}: {ts['s'] / c['s']:.1f}x wall, {ts['cpu_s'] / c['cpu_s']:.1f}x cpu"
                      + (f"; --workers {args.workers}: {ts['s'] / best['workers']['s']:.1f}x wall"
                         if "workers" in best and mode == modes[0] else "") + " (target >= 10x)")
            for mode in modes:
                k = cores[mode]
                print(f"ratio core alone / tshark, {mode}: {k['pairs'] / k['core_s'] / tps:.1f}x wall, "
                      f"{k['pairs'] / k['cpu_s'] / tcps:.1f}x cpu (targets: >= 5x tshark, >= 50,000 pairs/s on one core)")
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end)")

    if len(ALL_CPUS) > 1 and args.workers > 1:
        bench_workers(args, [(f"{args.connections} connections", path), workers_capture(args, bool(real), kind)])
    if args.skip_rss:
        return 0
    flows_path, _ = get_capture(f"open-flows-{args.flows}", args.regen,
                                lambda p: synth_open_flows(p, args.flows))
    rss = run_peak_rss(flows_path)
    print(f"peak RSS with {args.flows} open flows (each with a pending ~1 KB request): {rss['peak_mib']:.0f} MiB "
          f"(interpreter + imports: {rss['baseline_mib']:.0f} MiB; target <= 200 MiB); {rss['state']}")
    return 0


if __name__ == "__main__":
    random.seed(0)
    sys.exit(main())
