"""Process start-up: what a command imports and what the collector does around its work.

Start-up is paid by every replay (and by each ``--workers`` process) and by every agent restart, so
what a command does not use must not be imported; these tests keep it that way.
"""

import json
import subprocess
import sys
from pathlib import Path

from tests.interceptor.packetgen import Conn, http_request, http_response, write_pcap

# Imported only by `run`, `discover`, Kafka, Kubernetes, TLS, YAML or the processor: never by a replay
# to a file (each is megabytes of code to load, or a C library to initialise).
NOT_ON_REPLAY = ("kubernetes", "confluent_kafka", "prometheus_client", "yaml", "websockets", "psutil", "ssl",
                 "interceptor.agent", "interceptor.capture.live", "interceptor.capture.ring", "interceptor.tls",
                 "interceptor.enrich", "interceptor.sinks.kafka", "interceptor.kafkaclient", "interceptor.metrics",
                 "interceptor.discovery", "interceptor.demo", "interceptor.workers", "processor")

SCRIPT = """
import atexit, gc, json, sys
from interceptor.cli import main
code = main(sys.argv[1:])
mods = sorted(sys.modules)
# registered after main()'s own handler: runs before it, so it sees the heap not yet frozen
atexit.register(lambda: print(json.dumps({"code": code, "modules": mods, "frozen_at_exit": gc.get_freeze_count()})))
"""

LATE_CHECK = """
import atexit, gc, json, sys
atexit.register(lambda: print(json.dumps({"frozen_at_exit": gc.get_freeze_count()})))  # runs last
from interceptor.cli import main
main(sys.argv[1:])
"""


def capture(path: Path) -> Path:
    conn = Conn().handshake()
    for i in range(3):
        conn.request(http_request(target=f"/users/{i}", body=b'{"email":"u%d@example.com"}' % i))
        conn.response(http_response(body=b'{"ok":true}'))
    write_pcap(str(path), conn.close().frames)
    return path


def run(script: str, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def test_replay_imports_only_what_it_uses(tmp_path: Path) -> None:
    out, stats = tmp_path / "pairs.jsonl", tmp_path / "stats.json"
    got = run(SCRIPT, "replay", str(capture(tmp_path / "c.pcap")), "--out", str(out), "--stats", str(stats))
    assert got["code"] == 0
    assert len(out.read_bytes().splitlines()) == 3  # the replay did its work
    loaded = [m for m in got["modules"] if any(m == n or m.startswith(n + ".") for n in NOT_ON_REPLAY)]
    assert loaded == []
    assert "interceptor.pipeline" in got["modules"] and "interceptor.sinks.jsonl" in got["modules"]


def test_the_heap_is_frozen_at_exit(tmp_path: Path) -> None:
    """The interpreter's full collections at shutdown then walk nothing (interceptor.collector)."""
    args = ("replay", str(capture(tmp_path / "c.pcap")), "--out", str(tmp_path / "p.jsonl"))
    assert run(SCRIPT, *args)["frozen_at_exit"] == 0  # not while the command runs, nor after it
    assert run(LATE_CHECK, *args)["frozen_at_exit"] > 1000  # then everything, at exit
    assert len((tmp_path / "p.jsonl").read_bytes().splitlines()) == 3


AGENT_IMPORTS = """
import json, sys
import interceptor.agent, interceptor.captures.service, interceptor.enrich
before = sorted(sys.modules)
from interceptor.enrich import KubeWatcher
print(json.dumps({"before": before, "after": sorted(sys.modules)}))
"""


def test_the_agent_imports_the_kubernetes_client_only_to_watch() -> None:
    """`run` with the capture API (the default) reads the enrich package's pod model; the Kubernetes
    client under it (pydantic, requests...: ~1.2G instructions) loads only when a watch needs it."""
    got = run(AGENT_IMPORTS)
    heavy = ("kubernetes", "pydantic", "requests", "interceptor.enrich.watch")
    assert [m for m in got["before"] if m.split(".")[0] in heavy or m in heavy] == []
    assert "kubernetes" in got["after"] and "interceptor.enrich.watch" in got["after"]


STREAM_IMPORTS = """
import json, sys
import interceptor.agent, interceptor.streamagent, interceptor.stream
before = sorted(sys.modules)
from interceptor.stream import parse_query
query = parse_query("http and response.status == 200")
print(json.dumps({"before": before, "after": sorted(sys.modules), "query": type(query).__name__}))
"""


def test_the_stream_filter_language_loads_with_the_first_query() -> None:
    """The agent's /ws stream is set up at every start; KFL's parser and compiler (~60M instructions
    of node types) load only when a client sends a query."""
    got = run(STREAM_IMPORTS)
    assert "interceptor.kfl" in got["before"]  # (its error type)
    assert "interceptor.kfl.parser" not in got["before"] and "interceptor.kfl.compiler" not in got["before"]
    assert got["query"] == "Query" and "interceptor.kfl.compiler" in got["after"]
