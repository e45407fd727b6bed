"""``interceptor demo``: a live node on this machine, captured by the real agent, shown on the map.

Steps (each printed as it happens): the local Kafka broker (scripts/kafka.sh) → a node of pods
(``DemoNode``) running the demo services → the agent (``interceptor run``: veth taps, the meshed
pod's loopback, eBPF TLS) publishing to Kafka → the processor (detections) → the map service. It
waits until the map shows a flow to each service, prints the map URL and its token, keeps the
traffic flowing until Ctrl-C (or ``--duration``), then removes every namespace and process it made.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interceptor.demo import grpcapp
from interceptor.demo.gobuild import GoBuild
from interceptor.demo.node import PREFIX, DemoError, DemoNode, stop_group
from processor.maptable import render

REPO = Path(__file__).resolve().parents[2]
XOR_KEY = 0x5A
# name -> (host octet, tapped by the agent, what it is); the octets outside .0/25 are "external"
SERVICES = {
    "users": (11, True, "HTTP/1.1 JSON API"),
    "payments": (12, True, "HTTPS via OpenSSL (read by eBPF)"),
    "contacts": (13, True, "meshed pod: sidecar on the veth, plaintext on its loopback"),
    "frontend": (14, True, "the client calling the others"),
    "analytics": (200, False, "an external vendor"),
    "profiles": (15, True, "gRPC via grpcio (HTTP/2 cleartext)"),  # when grpcio is installed
    "kyc": (16, True, "HTTPS via Go crypto/tls (read by eBPF)"),  # when the machine has Go
}
PATHS = {"users": "/api/users", "payments": "/v1/charges", "contacts": "/contacts", "analytics": "/v2/track",
         "profiles": "/demo.profiles.v1.Profiles/", "kyc": "/v1/verifications"}


@dataclass
class Demo:
    duration_s: float | None  # traffic keeps flowing this long after the map shows every flow
    rate: float
    wait_s: float = 120.0  # how long to wait for every flow to reach the map
    kafka: str = ""  # an existing broker; empty: start the local one (scripts/kafka.sh)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="privacy-sensor-demo-")))
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    node: DemoNode | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # agent, processor, map
    map_port: int = 0
    agent_port: int = field(default_factory=lambda: _free_port())
    skipped: dict[str, str] = field(default_factory=dict)  # optional pod -> why it does not run here

    @property
    def expected_paths(self) -> list[str]:
        """The endpoint each running pod serves: the demo waits until all of them are on the map."""
        return [p for name, p in PATHS.items() if name not in self.skipped]

    @property
    def bootstrap(self) -> str:
        return self.kafka or f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"

    def say(self, msg: str) -> None:
        print(f"demo: {msg}", flush=True)

    # -- steps --------------------------------------------------------------------------------
    def start(self) -> None:
        gobuild = GoBuild.start()  # in the background while the broker starts (a cached binary: at once)
        if not grpcapp.available():
            self.skipped["profiles"] = "grpcio is not installed (bash scripts/setup.sh installs it: pip install -e '.[demo]')"
        self.say("1/5 Kafka broker on " + self.bootstrap)
        if not self.kafka:
            self._start_kafka()
        kyc = gobuild.wait(timeout_s=240)
        if kyc is None:
            self.skipped["kyc"] = gobuild.why
        for name, why in self.skipped.items():
            self.say(f"   no {name} pod ({SERVICES[name][2]}): {why}")
        self.say("2/5 a node of pods (network namespaces on the bridge psdemo0)")
        self.node = DemoNode()
        self._start_services(kyc)
        self.say("3/5 the agent: veth taps, the meshed pod's loopback, eBPF TLS")
        self._start_agent()
        self.say("4/5 processor (personal-data detection) and map service")
        self._start_processor()
        self._wait_agent_ready()
        self.say("5/5 traffic: the frontend calls every service")
        self._start_traffic()

    def _start_kafka(self) -> None:
        kafka = REPO / "scripts" / "kafka.sh"
        if not kafka.exists():
            raise DemoError(f"{kafka} not found: run the demo from a clone of the repository")
        res = subprocess.run(["bash", str(kafka), "start"], capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise DemoError(f"scripts/kafka.sh start failed: {res.stderr.strip()[-400:]}")

    def _log(self, name: str) -> int:
        return os.open(self.workdir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def _start_services(self, kyc: Path | None) -> None:
        assert self.node is not None
        for name, (octet, tapped, _) in SERVICES.items():
            if name not in self.skipped:
                self.node.add_pod(name, octet, tapped)
        cert, key = self.workdir / "tls.crt", self.workdir / "tls.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=payments.demo", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=60)
        app = [sys.executable, "-m", "interceptor.demo.apps"]
        pods = self.node.pods
        self.node.spawn(pods["users"], [*app, "users", "8080"], self._log("users"))
        self.node.spawn(pods["payments"], [*app, "payments", "8443", str(cert), str(key)], self._log("payments"))
        self.node.spawn(pods["contacts"], [*app, "contacts", "8080"], self._log("contacts"))
        self.node.spawn(pods["contacts"], [*app, "sidecar", "4143", "8080", str(XOR_KEY)], self._log("sidecar"))
        self.node.spawn(pods["analytics"], [*app, "analytics", "8080"], self._log("analytics"))
        listening = [("users", 8080), ("payments", 8443), ("contacts", 4143), ("analytics", 8080)]
        if "profiles" in pods:
            self.node.spawn(pods["profiles"], [*app, "profiles", str(grpcapp.PORT)], self._log("profiles"))
            listening.append(("profiles", grpcapp.PORT))
        if kyc is not None and "kyc" in pods:
            self.node.spawn(pods["kyc"], [str(kyc), "kyc", "8443", str(cert), str(key)], self._log("kyc"))
            listening.append(("kyc", 8443))
        for name, port in listening:
            _wait_listening(pods[name].netns, port)

    def _start_agent(self) -> None:
        cfg = self.workdir / "agent.yaml"
        cfg.write_text(json.dumps({  # JSON is YAML
            "capture": {"include_namespaces": [PREFIX + "*"], "rescan_interval_s": 2.0},
            # the demo's own programs only (demo-*, named by apps.name_process): never the machine's other TLS
            # no hold at exec (tls.hold_new_programs): it is for short-lived clients, and would stop
            # every new program on this machine for a moment while the demo runs; the demo's servers
            # are attached before any traffic starts
            "tls": {"enabled": True, "include_commands": ["demo-*"], "hold_new_programs": False},
            "coverage": {"topic": self.topic("connections")},  # this run's account, read by this run's map
            "metrics": {"listen": f"127.0.0.1:{self.agent_port}"},  # its /ws live stream too
        }))
        env = {**os.environ, "SENSOR__AUTH__TOKEN": self.token}
        self._spawn("agent", [sys.executable, "-m", "interceptor.cli", "run", "--config", str(cfg),
                              "--kafka", self.bootstrap, "--topic", self.topic("pairs")], env)

    def _wait_agent_ready(self, timeout_s: float = 60.0) -> None:
        """Until the agent taps every pod. Traffic starts only then: the gRPC client keeps one HTTP/2
        connection for the whole demo, and a capture that joins it late has lost the HPACK table
        that names its calls (the pairs would be counted ``headers_incomplete``, without a path)."""
        assert self.node is not None
        want = sum(1 for name in self.node.pods if SERVICES[name][1])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            if self._agent_gauge("interceptor_capture_taps") >= want:
                return
            time.sleep(0.2)
        raise DemoError(f"the agent did not tap the {want} pods within {timeout_s:.0f} s "
                        f"(log: {self.workdir / 'agent.log'})")

    def _agent_gauge(self, name: str) -> float:
        req = urllib.request.Request(f"http://127.0.0.1:{self.agent_port}/metrics",
                                     headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                text = resp.read().decode()
        except OSError:
            return 0.0  # not listening yet
        return next((float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " ")), 0.0)

    def progress(self) -> str:
        """Where the flows got to, to say which stage is stuck when they do not reach the map."""
        made = self._agent_gauge("interceptor_pairs_emitted_total")
        sent = self._agent_gauge("interceptor_sink_kafka_delivered_total")
        return f"the agent made {made:.0f} pairs, Kafka acknowledged {sent:.0f}"

    def topic(self, name: str) -> str:
        return f"demo-{self.run_id}-{name}"  # this run's topics: the map shows this run only

    def _start_processor(self) -> None:
        env = {**os.environ, "SENSOR__AUTH__TOKEN": self.token,
               "SENSOR__PROCESSOR__CONNECTIONS_TOPIC": self.topic("connections")}
        common = ["--bootstrap", self.bootstrap, "--stats-interval", "0"]
        self._spawn("processor", [sys.executable, "-m", "processor.cli", "consume", *common,
                                  "--group", self.topic("processor"), "--pairs-topic", self.topic("pairs"),
                                  "--detections-topic", self.topic("detections")], env)
        port_file = self.workdir / "map.port"
        self._spawn("map", [sys.executable, "-m", "processor.cli", "map", *common, "--group", self.topic("map"),
                            "--detections-topic", self.topic("detections"), "--db",
                            f"sqlite:///{self.workdir / 'map.db'}", "--listen", "127.0.0.1:0",
                            "--port-file", str(port_file)], env)
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline:
                raise DemoError(f"the map service did not start (log: {self.workdir / 'map.log'})")
            time.sleep(0.2)
        self.map_port = int(port_file.read_text())

    def _start_traffic(self) -> None:
        assert self.node is not None
        pods = self.node.pods
        plan = {**{name: pod.ip for name, pod in pods.items() if name != "frontend"}, "key": XOR_KEY, "rate": self.rate,
                "duration_s": self.wait_s + self.duration_s + 30 if self.duration_s else 3600}
        self.node.spawn(pods["frontend"], [sys.executable, "-m", "interceptor.demo.apps", "frontend",
                                           json.dumps(plan)], self._log("frontend"))

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.procs[name] = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=self._log(name),
                                            stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)

    # -- watching -----------------------------------------------------------------------------
    def edges(self) -> list[dict[str, Any]]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.map_port}/api/edges",
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return list(json.load(resp))

    def wait_for_flows(self, timeout_s: float = 120.0) -> list[dict[str, Any]]:
        """Until the map has a flow for every demo endpoint; prints which ones arrived."""
        deadline, seen = time.monotonic() + timeout_s, set()
        edges: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                edges = self.edges()
            except OSError:
                edges = []
            expected = self.expected_paths
            for path in expected:
                if path not in seen and any(e.get("path", "").startswith(path) for e in edges):
                    seen.add(path)
                    self.say(f"   on the map: {path} ({len(seen)}/{len(expected)})")
            if len(seen) == len(expected):
                break
            time.sleep(1.0)
        return edges

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise DemoError(f"{name} exited ({proc.returncode}); logs in {self.workdir}")

    def legend(self) -> str:
        assert self.node is not None
        return "\n".join(f"   {p.ip:<16} {name:<10} {SERVICES[name][2]}" for name, p in self.node.pods.items())

    def names(self) -> dict[str, str]:
        """Map labels of the pods (``ip:198.19.250.11``) → their demo names, for the text map."""
        assert self.node is not None
        return {f"ip:{p.ip}": name for name, p in self.node.pods.items()}

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            stop_group(proc, timeout=15)
        self.procs.clear()
        if self.node is not None:
            self.node.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(netns: str, port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run(["ip", "netns", "exec", netns, "ss", "-Hltn", f"sport = :{port}"],
                             capture_output=True, text=True, timeout=10).stdout
        if out.strip():
            return
        time.sleep(0.1)
    raise DemoError(f"nothing listens on port {port} in {netns} after {timeout_s:.0f}s")


def unavailable() -> str | None:
    """Why a live demo cannot run here (the replay quickstart still can), or None."""
    if os.geteuid() != 0:
        return "the live demo needs root (network namespaces, packet capture, eBPF)"
    for tool in ("ip", "ss", "openssl", "java"):  # java: the local Kafka broker
        if shutil.which(tool) is None:
            return f"{tool} not found (run bash scripts/setup.sh)"
    return None


def run(args: argparse.Namespace) -> int:
    why = unavailable()
    if why:
        print(f"interceptor demo: {why}; the replay quickstart needs none of it: bash scripts/quickstart.sh --replay",
              file=sys.stderr)
        return 2
    demo = Demo(duration_s=args.duration, rate=args.rate, wait_s=args.wait, kafka=args.kafka or "")
    try:
        demo.start()
        edges = demo.wait_for_flows(args.wait)
        missing = [p for p in demo.expected_paths if not any(e.get("path", "").startswith(p) for e in edges)]
        if missing:
            raise DemoError(f"not on the map after {args.wait:.0f} s: {', '.join(missing)} ({demo.progress()}); "
                            f"logs in {demo.workdir}")
        demo.say(f"the map: http://127.0.0.1:{demo.map_port}/#token={demo.token}  (bearer token: {demo.token})")
        demo.say(f"the live stream: processor tail --node 127.0.0.1:{demo.agent_port} --token {demo.token} "
                 "--compact 'request.method == \"POST\"'")
        demo.say(f"   e.g. curl -H 'Authorization: Bearer {demo.token}' http://127.0.0.1:{demo.map_port}/api/edges")
        demo.say("pods:\n" + demo.legend())
        print(render(edges, demo.names()), flush=True)
        demo.say(f"logs in {demo.workdir}")
        demo.say("traffic keeps flowing " + (f"for {args.duration:.0f} s" if args.duration else "until Ctrl-C"))
        end = time.monotonic() + args.duration if args.duration else None
        while end is None or time.monotonic() < end:
            demo._check_alive()
            time.sleep(1.0)
        return 0
    except DemoError as e:
        print(f"interceptor demo: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        demo.say("stopping: processes, namespaces, bridge")
        demo.stop()


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="a live demo node on this machine: pods, agent, Kafka, processor, map")
    p.add_argument("--duration", type=float, metavar="S", help="stop by itself after S seconds (default: Ctrl-C)")
    p.add_argument("--rate", type=float, default=5.0, metavar="N", help="requests per second of the frontend")
    p.add_argument("--kafka", metavar="BOOTSTRAP", help="use this Kafka broker instead of starting the local one")
    p.add_argument("--wait", type=float, default=120.0, metavar="S", help="how long to wait for every flow")
    p.set_defaults(func=run)
