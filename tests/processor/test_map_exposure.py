"""The map service as an attacker meets it: raw sockets and plain HTTP against a real server.

Bearer token on the API (the page and probes open), loopback by default, Host allow-list against
DNS rebinding, bounded connections and socket timeouts (idle half-sent requests cannot pin threads),
and the generated local token printed once by the real command."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from interceptor.config import ProcessorConfig
from interceptor.counters import Counters
from interceptor.webauth import ApiToken, BearerAuth
from processor.mapstore import MapStore
from processor.server import MapServer, host_allowed
from tests.processor.test_mapstore import records

TOKEN = "exposure-test-token"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[MapServer, Counters]]:
    store = MapStore(f"sqlite:///{tmp_path}/map.db")
    store.apply_many(records())
    counters = Counters()
    srv = MapServer(store, "127.0.0.1:0", counters.snapshot, auth=BearerAuth(ApiToken(TOKEN, "config"), counters),
                    allowed_hosts=["privacy-sensor-map", ".svc.cluster.local"], max_connections=8, timeout_s=1.0,
                    counters=counters).start()
    try:
        yield srv, counters
    finally:
        srv.stop()
        store.close()


def raw(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_loopback_by_default() -> None:
    assert ProcessorConfig().map_listen.startswith("127.0.0.1:")


def test_api_needs_the_token(server: tuple[MapServer, Counters]) -> None:
    srv, counters = server
    base = f"http://127.0.0.1:{srv.port}"
    r = requests.get(f"{base}/api/map", timeout=5)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(f"{base}/api/edges", headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    assert requests.get(f"{base}/api/stats", headers={"Authorization": "Basic eDp5"}, timeout=5).status_code == 401
    ok = requests.get(f"{base}/api/map", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert ok.status_code == 200 and len(ok.json()["edges"]) == 3
    for path in ("/", "/app.js", "/healthz", "/metrics"):  # no personal data: open (page, probes, scraping)
        assert requests.get(base + path, timeout=5).status_code == 200, path
    assert counters.get("auth.rejected.missing") == 1 and counters.get("auth.rejected.wrong") == 1


def test_host_allow_list_refuses_rebinding_names(server: tuple[MapServer, Counters]) -> None:
    srv, counters = server
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()
    for host, ok in [("attacker.example", False), ("privacy-sensor-map:8080", True), ("127.0.0.1", True),
                     ("[::1]:8080", True), ("map.ns.svc.cluster.local", True), ("localhost:1", True),
                     ("evil.svc.cluster.local.attacker.example", False)]:
        resp = raw(srv.port, b"GET /api/types HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n" % (host.encode(), auth))
        assert resp.startswith(b"HTTP/1.0 200" if ok else b"HTTP/1.0 421"), (host, resp[:40])
    resp = raw(srv.port, b"GET /api/types HTTP/1.0\r\n" + auth + b"\r\n")  # no Host at all
    assert resp.startswith(b"HTTP/1.0 421")
    assert counters.get("map.http.rejected.host") == 3
    assert host_allowed("10.0.0.7:8080", frozenset()) and not host_allowed("intranet", frozenset())


def test_idle_half_sent_requests_are_bounded_and_time_out(server: tuple[MapServer, Counters]) -> None:
    srv, counters = server
    before = threading.active_count()
    socks = []
    for _ in range(40):  # half-sent requests: no blank line, never finished
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /api/map HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(s)
    time.sleep(0.3)
    assert threading.active_count() - before <= 8  # max_connections threads, not 40
    deadline = time.monotonic() + 15
    for s in socks:  # the server closes every one: the kept ones after the 1 s socket timeout
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            closed = s.recv(100) == b""  # a socket.timeout here would mean the server kept it open
        except ConnectionResetError:
            closed = True
        s.close()
        assert closed
    assert counters.get("map.http.rejected.busy") >= 20  # beyond max_connections: closed at once
    time.sleep(1.5)
    r = requests.get(f"http://127.0.0.1:{srv.port}/api/types", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert r.status_code == 200  # served again once the slots came back
    assert threading.active_count() <= before + 1


def test_the_command_prints_a_generated_token_once(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENSOR__AUTH__")}
    proc = subprocess.Popen([sys.executable, "-m", "processor.cli", "map", "--no-kafka", "--db",
                             f"sqlite:///{tmp_path}/m.db", "--listen", "127.0.0.1:0", "--port-file", str(port_file),
                             "--exit-when-idle", "20"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "generated bearer token (shown once):" in line
        token = line.rsplit(" ", 1)[1].strip()
        for _ in range(100):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port_file.read_text().strip()}"
        assert requests.get(f"{base}/api/map", timeout=5).status_code == 401
        assert requests.get(f"{base}/api/map", headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=30)[1]
    assert token not in rest  # printed once, never again
