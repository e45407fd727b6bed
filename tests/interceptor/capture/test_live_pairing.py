"""Never a wrong pair, live: ``interceptor run`` with a kernel capture buffer far too small for the
rate, so the kernel drops packets in both directions, on real traffic between two pods (a Go
client making 1 KB JSON POSTs on many keep-alive connections, a Go echo server). Every exchange
carries an id in its target, an ``X-Id`` header and the body (the server echoes header and body);
the client prints the ids it completed: the truth.

- one tap (the server pod's veth): no pair joins a request with another exchange's response, and
  the kernel's drops are counted;
- both pods' veths tapped (the same connection seen twice, each tap dropping on its own): still no
  wrong pair, and no exchange paired twice.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.interceptor.capture.agentrun import free_port, wait_for
from tests.interceptor.tools.realtraffic import goapp_binary

pytestmark = [pytest.mark.slow, pytest.mark.netns]

SECONDS = 5.0  # of load per run
CONNECTIONS = 24
BODY_ID = re.compile(r'"id":"([0-9]+-[0-9]+)"')


def _run(node_lab, tmp_path: Path, include: str, taps: list[str], binary: Path, server_ip: str,
         client) -> tuple[list[dict], dict, set[str]]:
    """The agent on ``taps`` while the client loads the server; (pair records, stats, truth ids)."""
    out, stats, err = tmp_path / f"{include}.jsonl", tmp_path / f"{include}.stats.json", tmp_path / f"{include}.err"
    port = free_port()
    env = {**os.environ, "SENSOR__CAPTURE__BUFFER_BYTES": str(256 * 1024)}  # ~100 packets of room
    with open(err, "wb") as errf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "interceptor.cli", "run", "--out", str(out), "--stats", str(stats),
             "--include-netns", include, "--metrics", f"127.0.0.1:{port}", "--rescan", "0.5", "--keep-all"],
            stdout=subprocess.DEVNULL, stderr=errf, env=env,
        )
    try:
        for dev in taps:
            wait_for(f"http://127.0.0.1:{port}/metrics", f'interface="{dev}"', proc)
        res = client.ns.run([str(binary), "load", server_ip, "8080", str(CONNECTIONS), str(SECONDS)],
                            timeout=SECONDS + 40)
        time.sleep(1.0)  # the agent catches up with what the kernel still holds
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
    assert rc == 0, err.read_text()[-3000:]
    truth = set(res.stdout.split())
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return records, json.loads(stats.read_text()), truth


def _score(records: list[dict], truth: set[str]) -> tuple[list[str], Counter, int]:
    """(wrong pairs, pairs per id, partial pairs)."""
    wrong, per_id, partial = [], Counter(), 0
    for rec in records:
        req, resp = rec["request"], rec["response"]
        rid = req["target"].rsplit("/", 1)[-1]
        sid = next((v for k, v in resp["headers"] if k.lower() == "x-id"), None)
        ids = {sid} | set(BODY_ID.findall(resp["body"])) | set(BODY_ID.findall(req["body"]))
        ids.discard(None)
        if ids != {rid} or rid not in truth:
            wrong.append(f"{req['target']} <- {sorted(ids)}")
        per_id[rid] += 1
        partial += bool(req.get("body_incomplete") or resp.get("body_incomplete"))
    return wrong, per_id, partial


def test_kernel_drops_never_make_a_wrong_pair_one_tap_and_two(node_lab, tmp_path: Path) -> None:
    binary = goapp_binary()
    if binary is None:
        pytest.skip("no Go toolchain to build tests/interceptor/tools/goapp")
    server, client = node_lab.pod("srv"), node_lab.pod("cli")
    node_lab.lab.start_server(server.ns, [str(binary), "server", "8080"], 8080, name="goapp")
    # Pod to pod through the host: the packets cross the client's veth, then the server's.
    client.ns.run(["ip", "route", "add", server.pod_ip, "via", client.host_ip])
    server.ns.run(["ip", "route", "add", client.pod_ip, "via", server.host_ip])
    forwarding = Path("/proc/sys/net/ipv4/ip_forward")
    before = forwarding.read_text().strip()
    forwarding.write_text("1")
    try:
        runs = [_run(node_lab, tmp_path, include, taps, binary, server.pod_ip, client) + (taps,)
                for include, taps in ((server.ns.name, [server.host_dev]),
                                      (node_lab.pattern, [server.host_dev, client.host_dev]))]
    finally:
        forwarding.write_text(before)
    for records, stats, truth, taps in runs:
        wrong, per_id, partial = _score(records, truth)
        dups = {i: n for i, n in per_id.items() if n > 1}
        kernel = stats["dropped"].get("capture_kernel", 0)
        summary = (f"{len(taps)} tap(s): {len(truth)} exchanges, {len(records)} pairs ({partial} partial), "
                   f"kernel drops {kernel}, drops {stats['dropped']}")
        print(summary)
        assert len(truth) > 2000, summary  # the load ran
        assert kernel > 0, f"the kernel was meant to drop packets: {summary}"
        assert not wrong, f"{len(wrong)} wrong pairs, e.g. {wrong[:5]}; {summary}"
        assert not dups, f"{len(dups)} exchanges paired more than once, e.g. {list(dups.items())[:5]}; {summary}"
        assert len(records) > 0.02 * len(truth), summary  # it still pairs under loss
        assert sum(stats["dropped"].values()) > 0
