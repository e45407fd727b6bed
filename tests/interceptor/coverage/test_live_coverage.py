"""The agent live (`interceptor run --tls --coverage`): a pod-like namespace serves HTTPS with Python
(OpenSSL, traced) and with a Java HttpsServer (JSSE, no probe), plus Redis and plain HTTP; node-local
clients (Java HttpClient, gnutls-cli, curl, a Go client, redis-cli, curl over HTTP) call them. Each
connection gets its verdict, each end's process and TLS library, the SNI, the reason when unread;
`interceptor coverage` prints the account from the running agent; the counts equal tshark's on a
capture of the pod's interface.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.node import NodeLab, node_lab  # noqa: F401 - fixture
from tests.fixtures.tls import go_tlsprog, tls_certs  # noqa: F401 - fixtures
from tests.interceptor.coverage.liveagent import coverage_agent, summary
from tests.interceptor.coverage.test_real_coverage import (  # noqa: F401 - fixtures
    TESTDATA,
    java_client,
    java_cp,
)

pytestmark = [pytest.mark.slow, pytest.mark.netns, pytest.mark.ebpf]
PY_TLS, JAVA_TLS, REDIS, HTTP = 8443, 9443, 6379, 8080


def test_live_agent_names_libraries_and_reasons(node_lab: NodeLab, tmp_path: Path,  # noqa: F811
                                                tls_certs: tuple[str, str], go_tlsprog: tuple[str, str],  # noqa: F811
                                                java_cp: list[str], java_client: list[str]) -> None:  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("eBPF needs root")
    for tool in ("gnutls-cli", "redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (scripts/setup.d/coverage.apt)")
    cert, key = tls_certs
    lab = node_lab.lab
    pod = node_lab.pod("web")
    ip = pod.pod_ip
    lab.start_server(pod.ns, [sys.executable, str(TESTDATA / "httpsd.py"), str(PY_TLS), cert, key], PY_TLS,
                     name="httpsd")
    keystore = tmp_path / "server.p12"
    subprocess.run(["openssl", "pkcs12", "-export", "-in", cert, "-inkey", key, "-out", str(keystore), "-passout",
                    "pass:changeit"], check=True, capture_output=True)
    lab.start_server(pod.ns, [*java_cp, "HttpsEcho", str(JAVA_TLS), str(keystore), "changeit"], JAVA_TLS,
                     timeout=60, name="java-server")
    lab.start_server(pod.ns, ["redis-server", "--port", str(REDIS), "--save", "", "--appendonly", "no",
                              "--protected-mode", "no"], REDIS, name="redis")
    lab.start_server(pod.ns, [sys.executable, "-m", "http.server", "-b", "0.0.0.0", str(HTTP), "-d", str(tmp_path)],
                     HTTP, name="httpd")
    (tmp_path / "data.json").write_text('{"name":"x"}')
    pcap = tmp_path / "veth.pcap"
    cap = lab.capture(pod.ns, "eth0", pcap)
    with coverage_agent(node_lab.pattern, tmp_path, 20000 + os.getpid() % 20000) as run:
        time.sleep(3)  # the TLS source has scanned the servers' and its first processes
        hosts = tmp_path / "hosts"
        hosts.write_text(f"{ip} java.example\n")
        res = subprocess.run([*java_client[:1], f"-Djdk.net.hosts.file={hosts}", *java_client[1:],
                              f"https://java.example:{JAVA_TLS}", "1", "3000"], capture_output=True, text=True, timeout=120)
        assert "200 11" in res.stdout, res.stderr[-2000:]
        res = subprocess.run([*java_client[:1], f"-Djdk.net.hosts.file={hosts}", *java_client[1:],
                              f"https://java.example:{PY_TLS}", "2", "3000"], capture_output=True, text=True, timeout=120)
        assert res.stdout.count("200 11") == 2, res.stderr[-2000:]
        # The first program mapping libgnutls lives a few scans, so the source attaches to the library
        # (its own connection began before: decrypted, or unread as attached_too_late).
        warm = subprocess.Popen(["gnutls-cli", "--insecure", "--sni-hostname", "warmup.example", "-p", str(JAVA_TLS),
                                 ip], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2.5)
        warm.communicate(b"", timeout=30)
        subprocess.run(["gnutls-cli", "--insecure", "--sni-hostname", "gnutls.example", "-p", str(JAVA_TLS), ip],
                       input="GET / HTTP/1.0\r\n\r\n", capture_output=True, text=True, timeout=60)
        subprocess.run(["curl", "-sk", "--resolve", f"curl.example:{JAVA_TLS}:{ip}", f"https://curl.example:{JAVA_TLS}/"],
                       capture_output=True, timeout=60, check=True)
        go = subprocess.Popen([go_tlsprog[0], "client", f"https://{ip}:{JAVA_TLS}", "64"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
        time.sleep(2)  # its exec was seen and its crypto/tls probed before it dials
        go_out, _ = go.communicate("\n", timeout=60)
        subprocess.run(["redis-cli", "-h", ip, "-p", str(REDIS), "ping"], capture_output=True, timeout=30, check=True)
        subprocess.run(["curl", "-s", f"http://{ip}:{HTTP}/data.json"], capture_output=True, timeout=30, check=True)
        records, shown = run.finish(cap)

    def one(**want: object) -> dict:
        found = [r for r in records if all(r.get(k) == v for k, v in want.items())]
        if not found:
            pytest.fail(f"no record {want} in\n" + "\n".join(map(str, summary(records))))
        return found[0]

    java_unread = one(verdict="tls-unread", sni="java.example")
    assert (java_unread["library"], java_unread["process"], java_unread["reason"]) == (
        "jsse", "java", "no_probe_for_library")
    assert java_unread["src"]["library"] == java_unread["dst"]["library"] == "jsse"
    to_python = one(verdict="tls-decrypted", sni="java.example")  # the Python server's side was read
    assert (to_python["source"], to_python["library"], to_python["dst"]["port"]) == ("openssl", "openssl", PY_TLS)
    assert (to_python["src"]["process"], to_python["src"]["library"]) == ("java", "jsse")
    assert one(sni="gnutls.example")["source"] == "gnutls"  # gnutls-cli's side
    warm = one(sni="warmup.example")
    assert warm["verdict"] == "tls-decrypted" or (warm["library"], warm["reason"]) == ("gnutls", "attached_too_late")
    assert one(sni="curl.example")["source"] == "openssl"
    go_rec = [r for r in records if r["dst"]["port"] == JAVA_TLS and not r.get("sni")]
    assert go_rec and (go_rec[0]["verdict"], go_rec[0]["source"]) == ("tls-decrypted", "gotls"), (
        go_out, summary(records))
    assert one(protocol="redis")["verdict"] == "other-protocol"
    assert one(protocol="http/1.1", verdict="inspected")["pairs"] == 1
    assert "tls-unread" in shown and "java (jsse)" in shown, shown
