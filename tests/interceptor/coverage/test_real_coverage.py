"""Real programs in network namespaces, captured by tcpdump and replayed with ``--coverage``: each
connection gets its verdict and SNI, and the account's connections equal tshark's TCP conversations.

Clients (client namespace): Java HttpClient (JSSE), gnutls-cli, curl (OpenSSL), a Go client,
redis-cli, curl over plain HTTP/1. Servers (server namespace): Python's ssl HTTPS server, Python's
http.server, redis-server. Names resolve through the namespace's own /etc/netns/<ns>/hosts (which
``ip netns exec`` mounts over /etc/hosts), so every TLS client sends its SNI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from interceptor.schema import validate_connections
from tests.fixtures.netns import NetnsLab, make_pair
from tests.fixtures.tls import go_tlsprog, tls_certs  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow, pytest.mark.netns]
TESTDATA = Path(__file__).resolve().parent / "testdata"
HTTPS, HTTP, REDIS = 8443, 8080, 6379
NAMES = ("java.example", "gnutls.example", "curl.example", "go.example")


def tshark_conversations(pcap: Path) -> int:
    out = subprocess.run(["tshark", "-n", "-r", str(pcap), "-q", "-z", "conv,tcp"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return sum(1 for line in out.splitlines() if "<->" in line)


@pytest.fixture(scope="module")
def java_cp(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``java ... -cp DIR``: the test's Java client (HttpsGet) and server (HttpsEcho), compiled once."""
    if shutil.which("java") is None or shutil.which("javac") is None:
        pytest.skip("no JDK (Debian openjdk-17: java, javac)")
    out = tmp_path_factory.mktemp("java")
    subprocess.run(["javac", "-d", str(out), str(TESTDATA / "HttpsGet.java"), str(TESTDATA / "HttpsEcho.java")],
                   check=True, timeout=180)
    return ["java", "-Djdk.internal.httpclient.disableHostnameVerification=true", "-cp", str(out)]


@pytest.fixture(scope="module")
def java_client(java_cp: list[str]) -> list[str]:
    return [*java_cp, "HttpsGet"]


@pytest.fixture
def hosts_dir(netns_lab: NetnsLab) -> Iterator[list[Path]]:
    made: list[Path] = []
    yield made
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


def test_replay_coverage_of_real_programs(netns_lab: NetnsLab, tmp_path: Path, tls_certs: tuple[str, str],  # noqa: F811
                                          go_tlsprog: tuple[str, str], java_client: list[str],  # noqa: F811
                                          hosts_dir: list[Path]) -> None:
    for tool in ("gnutls-cli", "redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (scripts/setup.d/coverage.apt)")
    lab = netns_lab
    pair = make_pair(lab)
    etc = Path("/etc/netns") / pair.client.name
    etc.mkdir(parents=True)
    hosts_dir.append(etc)
    (etc / "hosts").write_text("".join(f"{pair.server_ip} {n}\n" for n in NAMES))
    cert, key = tls_certs
    lab.start_server(pair.server, [sys.executable, str(TESTDATA / "httpsd.py"), str(HTTPS), cert, key], HTTPS,
                     name="httpsd")
    lab.start_server(pair.server, [sys.executable, "-m", "http.server", "-b", "0.0.0.0", str(HTTP),
                                   "-d", str(tmp_path)], HTTP, name="httpd")
    lab.start_server(pair.server, ["redis-server", "--port", str(REDIS), "--save", "", "--appendonly", "no",
                                   "--protected-mode", "no"], REDIS, name="redis")
    (tmp_path / "data.json").write_text('{"name":"x"}')
    pcap = tmp_path / "coverage.pcap"
    cap = pair.capture(pcap)
    c = pair.client
    out = c.run([*java_client, f"https://java.example:{HTTPS}", "3"], timeout=120).stdout
    assert out.count("200 11") == 3, out
    c.run(["gnutls-cli", "--insecure", "-p", str(HTTPS), "gnutls.example"], input="GET / HTTP/1.0\r\n\r\n",
          timeout=60, check=False)
    assert '"ok"' in c.run(["curl", "-sk", f"https://curl.example:{HTTPS}/curl"], timeout=60).stdout
    assert "ELAPSED" in c.run([go_tlsprog[0], "client", f"https://go.example:{HTTPS}", "64,64"], input="\n",
                              timeout=60).stdout
    assert c.run(["redis-cli", "-h", pair.server_ip, "-p", str(REDIS), "set", "k", "v"], timeout=30).stdout.strip() == "OK"
    assert c.run(["redis-cli", "-h", pair.server_ip, "-p", str(REDIS), "get", "k"], timeout=30).stdout.strip() == "v"
    assert "name" in c.run(["curl", "-s", f"http://{pair.server_ip}:{HTTP}/data.json"], timeout=30).stdout
    cap.stop()

    cov = tmp_path / "coverage.jsonl"
    res = subprocess.run([sys.executable, "-m", "interceptor.cli", "replay", str(pcap), "--coverage", str(cov),
                          "--keep-all"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in cov.read_text().splitlines()]
    # Counts add up: every TCP conversation tshark sees is one connection in the account.
    assert sum(r["connections"] for r in records) == tshark_conversations(pcap)
    verdicts = Counter()
    for r in records:
        validate_connections(r)
        verdicts[r["verdict"]] += r["connections"]
        assert set(r) >= {"verdict", "protocol", "src", "dst", "connections", "bytes", "pairs"}
    assert "joined-mid-stream" not in verdicts, records  # Java's tail after its close is its connection's
    unread = {r["sni"]: r for r in records if r["verdict"] == "tls-unread"}
    assert set(unread) == set(NAMES), records
    for r in unread.values():
        assert (r["protocol"], r["dst"]["port"], r["reason"]) == ("tls", HTTPS, "no_plaintext_source")
        assert r["tls_version"] == "TLS1.3" and r["bytes"] > 1000
    assert unread["java.example"]["alpn"] == "h2,http/1.1" and unread["java.example"]["connections"] == 1
    redis = [r for r in records if r["dst"]["port"] == REDIS]
    assert [(r["verdict"], r["protocol"], r["connections"]) for r in redis] == [("other-protocol", "redis", 2)]
    http = [r for r in records if r["dst"]["port"] == HTTP]
    assert [(r["verdict"], r["protocol"], r["pairs"]) for r in http] == [("inspected", "http/1.1", 1)]
    text = cov.read_bytes()
    assert b"name" not in text.replace(b"hostname", b"") and b'"ok"' not in text  # no payload
