"""The agent's port over TLS (``metrics.tls_cert_file``): the real metrics server with the stream's
``/ws`` route, a real ``websockets`` client over wss:// and urllib over https://; the stage is fed
pair records built with the interceptor's own types (the capture path is covered by
test_stream_agent.py)."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.metrics import Health, MetricsServer
from interceptor.streamagent import StreamStage, serve_ws
from interceptor.webauth import ApiToken, StreamAuth, server_ssl_context
from tests.processor.helpers import make_pair

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def test_agent_port_over_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert), "-days", "1"],
                   check=True, capture_output=True)
    cfg, counters = Config(), Counters()
    stage = StreamStage(cfg, counters, "node-t")
    auth = StreamAuth(ApiToken("tls-token", "config"), None, counters)
    server = MetricsServer("127.0.0.1:0", counters, Health(), routes={"/ws": lambda h: serve_ws(h, stage, auth)},
                           tls=server_ssl_context(str(cert), str(key))).start()
    client_ctx = ssl.create_default_context(cafile=str(cert))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{server.port}/healthz", context=client_ctx, timeout=5) as r:
            assert r.status == 200
        url = f"wss://127.0.0.1:{server.port}/ws"
        with connect(url, ssl=client_ctx, additional_headers={"Authorization": "Bearer tls-token"}) as ws:
            ws.send('request.path.startsWith("/t/") and limit(2)')
            deadline = time.monotonic() + 5
            while not len(stage.fanout) and time.monotonic() < deadline:
                time.sleep(0.02)
            for i in range(3):
                p = make_pair({"email": f"t{i}@example.com"}, target=f"/t/{i}", pair_id=f"t-{i}")
                stage.publish(p)
            frames = [json.loads(ws.recv(timeout=5)) for _ in range(3)]
        assert [f.get("id") for f in frames] == ["t-0", "t-1", None]
        assert frames[2] == {"notice": "limit", "sent": 2}
        assert all("example.com" not in json.dumps(f) for f in frames[:2])
        with pytest.raises(ssl.SSLError):  # a plain client gets nothing of it
            with connect(url, ssl=ssl.create_default_context(), open_timeout=5):
                pass
    finally:
        server.close()
        stage.close(1.0)
