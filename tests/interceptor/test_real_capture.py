"""Real traffic, end to end: real servers and clients in network namespaces, tcpdump on the veth,
``interceptor replay`` on the capture, every pair checked against what the client recorded.

Servers (not ours): nginx (static JSON, gzip → chunked, 204, 304, proxy with 100-continue) and
Python's ``http.server`` in three framings (Content-Length keep-alive, chunked, HTTP/1.0
close-delimited). Clients (not ours): ``requests``, ``http.client``, curl, and a raw socket that
pipelines. The client's record is the truth; tshark on the same file is the bar to beat.
Loss is real (iptables random drop → TCP retransmits); reordering, duplication and capture loss are
made by rewriting the capture (no netem on this kernel). See docs/testing.md.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.netns import Link, NetnsLab, NetnsPair, make_pair
from tests.interceptor.tools import nginx, pcaprewrite
from tests.interceptor.tools.echo_server import json_doc
from tests.interceptor.tools.realtraffic import (
    Exchange,
    assert_covers_tshark,
    assert_same,
    assert_subset,
    count,
    drops,
    go_client,
    goapp_binary,
    replay,
    run_client,
    tshark_available,
)

pytestmark = [pytest.mark.slow, pytest.mark.netns]

TOOLS = Path(__file__).parent / "tools"
NGINX, ECHO, CHUNKED, HTTP10 = 8080, 9000, 9001, 9002
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"


@dataclass
class Site:
    pair: NetnsPair
    workdir: Path

    @property
    def ip(self) -> str:
        return self.pair.server_ip

    @property
    def link(self) -> Link:
        return self.pair.link


@pytest.fixture(scope="module")
def site(netns_module_lab: NetnsLab) -> Site:
    """client/server namespaces; in the server: nginx on 8080 and the Python servers on 9000-9002."""
    if not nginx.available():
        pytest.skip("nginx not installed (apt nginx-light)")
    lab = netns_module_lab
    pair = make_pair(lab)
    py = sys.executable
    for port, mode in ((ECHO, "keepalive"), (CHUNKED, "chunked"), (HTTP10, "http10")):
        lab.start_server(pair.server, [py, str(TOOLS / "echo_server.py"), str(port), mode], port, name=mode)
    lab.start_server(pair.server, nginx.write_config(lab.workdir / "nginx", NGINX, ECHO), NGINX, name="nginx")
    return Site(pair, lab.workdir)


def captured(site: Site, tmp_path: Path, name: str, fn, **capture_kw):
    """Run ``fn()`` (the client) while tcpdump captures the veth; returns (truth, capture path).
    If tcpdump could not keep up (the machine is shared), the exchange is run once more."""
    for _attempt in range(2):
        cap = site.pair.capture(tmp_path / f"{name}.pcap", **capture_kw)
        try:
            truth = fn()
        finally:
            cap.stop()
        if cap.complete():
            return truth, cap.path
    raise AssertionError(f"tcpdump did not write every packet (twice): {cap.log}")


def body(obj: object) -> str:
    return json.dumps(obj)


def mixed_plan(n: int = 1) -> list[dict]:
    """GET (gzip-able JSON of several sizes), POST/PUT echo, 204, HEAD, 304, fixed JSON."""
    plan: list[dict] = []
    for i in range(n):
        plan += [
            {"method": "GET", "path": f"/static/doc{nginx.STATIC_SIZES[i % 4]}.json"},
            {"method": "POST", "path": f"/echo/users?i={i}", "body": body({"email": f"a{i}@example.com", "n": i}),
             "headers": {"Content-Type": "application/json"}},
            {"method": "GET", "path": "/nocontent"},
            {"method": "HEAD", "path": "/static/doc1000.json"},
            {"method": "GET", "path": "/static/doc200.json", "headers": {"If-Modified-Since": FUTURE}},
            {"method": "PUT", "path": "/echo/profile", "body": body({"name": "Jane Roe", "pad": "x" * (50 * i)}),
             "headers": {"Content-Type": "application/json"}},
            {"method": "GET", "path": "/json"},
        ]
    return plan


def python_plan() -> list[dict]:
    """For the Python servers (their routes: /json/<n>, /echo, /nocontent, /etag)."""
    return [
        {"method": "GET", "path": "/json/3000"},
        {"method": "POST", "path": "/echo", "body": body({"card": "4111 1111 1111 1111", "pad": "p" * 2000}),
         "headers": {"Content-Type": "application/json"}},
        {"method": "GET", "path": "/nocontent"},
        {"method": "HEAD", "path": "/json/500"},
        {"method": "GET", "path": "/etag", "headers": {"If-None-Match": '"v1"'}},
        {"method": "GET", "path": "/etag"},
        {"method": "GET", "path": "/json/20"},
    ]


def check(truth: list[Exchange], capture: Path, tmp_path: Path, tshark_finds: bool = True) -> tuple[list, dict]:
    """Replay equals the client's record; every pair tshark finds we find (``tshark_finds``: tshark
    is expected to find some, so the oracle is not vacuous)."""
    records, stats = replay(capture, tmp_path)
    assert_same(truth, records)
    if tshark_available():
        n = assert_covers_tshark(capture, records)
        assert n > 0 or not tshark_finds, "tshark found no pair: the oracle checked nothing"
    return records, stats


# -- framings and clients ------------------------------------------------------------------------
def test_keepalive_requests_nginx_gzip(site: Site, tmp_path: Path) -> None:
    """One requests.Session: gzip'd (hence chunked) nginx responses, echo, 204, HEAD, 304."""
    truth, cap = captured(site, tmp_path, "keepalive",
                          lambda: run_client(site.pair.client, "requests", site.ip, NGINX, mixed_plan(3)))
    assert len(truth) == 21 and {t.status for t in truth} == {200, 204, 304}
    records, _ = check(truth, cap, tmp_path)
    gz = [r for r in records if r["request"]["target"].startswith("/static/doc5000")]
    assert gz and any(k.lower() == "content-encoding" and v == "gzip" for k, v in gz[0]["response"]["headers"])
    assert len({(r["src"]["ip"], r["src"]["port"]) for r in records}) == 1, "one keep-alive connection"
    assert all(r["dst"] == {"ip": site.ip, "port": NGINX} for r in records)


def test_pipelining_raw_socket(site: Site, tmp_path: Path) -> None:
    """Every request in one write (shared segments); nginx answers in order."""
    plan = mixed_plan(2)
    truth, cap = captured(site, tmp_path, "pipeline", lambda: run_client(site.pair.client, "pipeline", site.ip, NGINX, plan))
    check(truth, cap, tmp_path, tshark_finds=False)  # tshark pairs none of the requests sharing a segment


@pytest.mark.parametrize("port,lib", [(CHUNKED, "httpclient"), (ECHO, "requests"), (HTTP10, "httpclient")],
                         ids=["chunked-trailers", "content-length", "http10-close-delimited"])
def test_python_server_framings(site: Site, tmp_path: Path, port: int, lib: str) -> None:
    truth, cap = captured(site, tmp_path, f"py{port}",
                          lambda: run_client(site.pair.client, lib, site.ip, port, python_plan()))
    assert {t.status for t in truth} == {200, 204, 304}
    check(truth, cap, tmp_path)


def test_expect_100_continue_curl(site: Site, tmp_path: Path) -> None:
    """curl with a large POST and Expect: 100-continue, to nginx (proxy) and to http.server: the
    interim 100 is not the response."""
    payload = body({"records": [{"email": f"u{i}@example.com"} for i in range(8000)]}).encode()
    (tmp_path / "big.json").write_bytes(payload)
    ns = site.pair.client

    def client() -> list[Exchange]:
        out = []
        for port, path in ((NGINX, "/echo/upload"), (ECHO, "/upload")):
            res = ns.run(["curl", "-sS", "-v", "-H", "Content-Type: application/json", "-H", "Expect: 100-continue",
                          "--data-binary", f"@{tmp_path / 'big.json'}", "-o", str(tmp_path / "resp"),
                          "-w", "%{http_code}", f"http://{site.ip}:{port}{path}"])
            assert "HTTP/1.1 100 Continue" in res.stderr, res.stderr[-500:]
            out.append(Exchange("POST", path, int(res.stdout), payload, (tmp_path / "resp").read_bytes()))
        return out

    truth, cap = captured(site, tmp_path, "continue", client)
    check(truth, cap, tmp_path)


def test_curl_keepalive_compressed_ipv6(site: Site, tmp_path: Path) -> None:
    """curl reusing one connection for several URLs over IPv6, gzip decoded (--compressed)."""
    ns, ip6 = site.pair.client, site.link.ip6_b
    sizes = nginx.STATIC_SIZES

    def client() -> list[Exchange]:
        argv = ["curl", "-sS", "-g", "--compressed"]
        for s in sizes:
            argv += ["-o", str(tmp_path / f"o{s}"), f"http://[{ip6}]:{NGINX}/static/doc{s}.json"]
        ns.run(argv)
        return [Exchange("GET", f"/static/doc{s}.json", 200, b"", (tmp_path / f"o{s}").read_bytes()) for s in sizes]

    truth, cap = captured(site, tmp_path, "curl6", client)
    assert truth[0].resp_body == json_doc(sizes[0])
    records, _ = check(truth, cap, tmp_path)
    assert records[0]["dst"]["ip"] == ip6


@pytest.mark.parametrize("offloads", [True, False], ids=["offloads-on", "offloads-off"])
def test_offloads(site: Site, tmp_path: Path, offloads: bool) -> None:
    """Large bodies without gzip: with TSO/GSO tcpdump sees super-MTU segments, without it wire-sized."""
    plan = [{"method": "GET", "path": "/static/doc40000.json"},
            {"method": "POST", "path": "/echo/big", "body": body({"blob": "b" * 60000}),
             "headers": {"Content-Type": "application/json"}}] * 3
    site.link.set_offloads(offloads)
    try:
        truth, cap = captured(site, tmp_path, "offloads",
                              lambda: run_client(site.pair.client, "httpclient", site.ip, NGINX, plan))
    finally:
        site.link.set_offloads(True)
    linktype, recs = pcaprewrite.read_records(cap)
    biggest = max(len(b) for _, b in recs)
    assert (biggest > 1514) == offloads, f"largest frame {biggest} bytes"
    check(truth, cap, tmp_path)


def test_go_client_and_server(site: Site, tmp_path: Path) -> None:
    """Go's net/http on both ends: keep-alive, gzip negotiation, chunked bodies from several Flushes."""
    binary = goapp_binary()
    if binary is None:
        pytest.skip("no Go toolchain")
    port = 9100
    proc = site.pair.lab.start_server(site.pair.server, [str(binary), "server", str(port)], port, name="goapp")
    try:
        truth, cap = captured(site, tmp_path, "go", lambda: go_client(site.pair.client, binary, site.ip, port, 9))
    finally:
        site.pair.lab.stop(proc)
    assert len(truth) == 9
    records, _ = check(truth, cap, tmp_path)
    chunked = [r for r in records if r["request"]["target"].startswith("/big/")]
    assert chunked and all(any(k.lower() == "transfer-encoding" for k, _ in r["response"]["headers"]) for r in chunked)


# -- capture formats -----------------------------------------------------------------------------
def test_capture_formats(site: Site, tmp_path: Path) -> None:
    """The same traffic as nanosecond pcap from tcpdump, and rewritten as pcapng, gzip pcap, gzip pcapng."""
    truth, cap = captured(site, tmp_path, "formats",
                          lambda: run_client(site.pair.client, "requests", site.ip, NGINX, mixed_plan(1)),
                          extra=["--time-stamp-precision=nano"])
    assert cap.read_bytes()[:4] == b"\x4d\x3c\xb2\xa1", "tcpdump wrote a nanosecond pcap"
    linktype, recs = pcaprewrite.read_records(cap)
    variants = [cap,
                pcaprewrite.write_pcapng(tmp_path / "f.pcapng", linktype, recs),
                pcaprewrite.write_pcap(tmp_path / "f.pcap.gz", linktype, recs, compress=True),
                pcaprewrite.write_pcapng(tmp_path / "f.pcapng.gz", linktype, recs, compress=True)]
    first = None
    for v in variants:
        records, _ = replay(v, tmp_path)
        assert_same(truth, records)
        ts = sorted((r["ts_request"], r["ts_response"]) for r in records)
        first = first or ts
        assert all(abs(a - b) < 2e-6 for x, y in zip(ts, first, strict=True) for a, b in zip(x, y, strict=True)), v


# -- loss, reordering, duplication ---------------------------------------------------------------
def test_real_loss_retransmissions(site: Site, tmp_path: Path) -> None:
    """iptables drops 6% of TCP packets at random after the tap (INPUT) in both namespaces: the
    capture holds every original and its retransmissions; all exchanges are paired exactly once and
    the retransmitted segments are counted, not parsed twice."""
    plan = mixed_plan(6)
    for ns in (site.pair.client, site.pair.server):
        site.pair.lab.random_drop(ns, 0.06, chain="INPUT")
    try:
        truth, cap = captured(site, tmp_path, "loss",
                              lambda: run_client(site.pair.client, "requests", site.ip, NGINX, plan))
    finally:
        for ns in (site.pair.client, site.pair.server):
            ns.run(["iptables", "-F", "INPUT"])
    linktype, recs = pcaprewrite.read_records(cap)
    retransmitted = pcaprewrite.retransmissions(recs, linktype)
    records, stats = replay(cap, tmp_path)
    assert_same(truth, records)
    if retransmitted == 0:
        pytest.skip("random drop hit no data segment this time (p ~ 1e-4)")
    assert count(stats, "tcp.retransmitted_segments") >= retransmitted, (retransmitted, stats["counts"])


def _rewrite_case(site: Site, tmp_path: Path, name: str):
    """Pipelined and keep-alive exchanges plus multi-segment bodies (no gzip, offloads off) so that
    consecutive data segments of one direction exist to be reordered."""
    big = [{"method": "GET", "path": "/static/doc40000.json"},
           {"method": "POST", "path": "/echo/bulk", "body": body({"rows": ["r" * 100] * 150}),
            "headers": {"Content-Type": "application/json"}}]
    site.link.set_offloads(False)
    try:
        truth, cap = captured(site, tmp_path, name,
                              lambda: run_client(site.pair.client, "pipeline", site.ip, NGINX, mixed_plan(2))
                              + run_client(site.pair.client, "requests", site.ip, NGINX, mixed_plan(2))
                              + run_client(site.pair.client, "httpclient", site.ip, NGINX, big * 2))
    finally:
        site.link.set_offloads(True)
    linktype, recs = pcaprewrite.read_records(cap)
    return truth, linktype, recs


def test_reordered_and_duplicated_capture(site: Site, tmp_path: Path) -> None:
    """TCP reordering (consecutive segments of one direction swapped) and duplicated segments:
    every exchange paired exactly once, byte-exact."""
    truth, linktype, recs = _rewrite_case(site, tmp_path, "reorder")
    rng = random.Random(7)
    swapped, n_swaps = pcaprewrite.swap_neighbours(recs, rng, 0.5, linktype)
    duped, n_dups = pcaprewrite.duplicate(recs, rng, 0.3, linktype)
    both, _ = pcaprewrite.duplicate(swapped, rng, 0.2, linktype)
    assert n_swaps > 5 and n_dups > 5, (n_swaps, n_dups)
    for name, variant in (("swapped", swapped), ("duplicated", duped), ("both", both)):
        path = pcaprewrite.write_pcap(tmp_path / f"{name}.pcap", linktype, variant)
        records, stats = replay(path, tmp_path)
        try:
            assert_same(truth, records)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}\ndrops: {drops(stats)}") from None
        if tshark_available():
            assert_covers_tshark(path, records)


def test_cross_direction_reordering_never_corrupts(site: Site, tmp_path: Path) -> None:
    """A tap reading its direction queues out of step: a response segment shows up before the end
    of its request. What is emitted must be exact, and what is not emitted must be counted."""
    truth, linktype, recs = _rewrite_case(site, tmp_path, "cross")
    variant, n = pcaprewrite.swap_neighbours(recs, random.Random(11), 0.3, linktype, across=True)
    assert n > 3
    path = pcaprewrite.write_pcap(tmp_path / "cross.pcap", linktype, variant)
    records, stats = replay(path, tmp_path)
    assert_subset(truth, records)
    lost = len(truth) - len(records)
    assert sum(drops(stats).values()) >= lost > -1, f"{lost} exchanges lost, drops counted: {drops(stats)}"


def test_capture_loss_counted(site: Site, tmp_path: Path) -> None:
    """A tap that missed packets: what is emitted is exact, what is lost is counted, the rest of the
    connection is still paired (resynchronisation)."""
    truth, linktype, recs = _rewrite_case(site, tmp_path, "caploss")
    variant, gone = pcaprewrite.remove(recs, random.Random(3), 3, linktype)
    path = pcaprewrite.write_pcap(tmp_path / "lossy.pcap", linktype, variant)
    records, stats = replay(path, tmp_path)
    assert_subset(truth, records)
    assert len(records) >= len(truth) - 2 * len(gone), (len(records), len(truth), gone)
    # Each loss shows: as a pair flagged body_incomplete (core.on_gap: partial) or as a drop.
    flagged = sum(1 for r in records if r["request"].get("body_incomplete") or r["response"].get("body_incomplete"))
    assert flagged <= count(stats, "http.incomplete_bodies")
    assert len(records) < len(truth) or flagged > 0
    assert flagged + sum(drops(stats).values()) > 0, f"nothing shows the {len(gone)} missing data packets: {stats}"


def test_sequence_wraparound_two_taps_and_midstream_start(site: Site, tmp_path: Path) -> None:
    """The same real traffic (1) with every sequence space wrapping past 2**32 inside the messages,
    (2) seen by two taps (every frame twice), (3) captured from the middle of the connections
    (the first third of the records missing): exact pairs for (1) and (2); for (3) exact pairs
    after resynchronisation, nothing invented."""
    truth, linktype, recs = _rewrite_case(site, tmp_path, "wrap")
    wrapped = pcaprewrite.write_pcap(tmp_path / "wrapped.pcap", linktype, pcaprewrite.wrap_sequences(recs))
    records, _ = replay(wrapped, tmp_path)
    assert_same(truth, records)
    doubled = pcaprewrite.write_pcap(tmp_path / "doubled.pcap", linktype, pcaprewrite.two_taps(recs))
    records, stats = replay(doubled, tmp_path)
    assert_same(truth, records)
    assert count(stats, "tcp.retransmitted_segments") > 0
    # Start the capture in the middle of the second connection (the requests Session: 14 exchanges).
    conns = pcaprewrite.data_records_by_connection(recs, linktype)
    second = conns[1]
    cut_at = second[len(second) // 2] + 1  # just after a data segment: mid-conversation, maybe mid-message
    cut = pcaprewrite.write_pcap(tmp_path / "midstream.pcap", linktype, recs[cut_at:])
    records, stats = replay(cut, tmp_path)
    assert_subset(truth, records)
    # The rest of the second connection (~7 exchanges, minus the one cut through) and the whole third.
    assert len(records) >= 4 + 5, (len(records), drops(stats))
    assert count(stats, "flows.midstream") > 0


@pytest.mark.parametrize("seed", range(6))
def test_capture_loss_many_seeds(site: Site, tmp_path: Path, seed: int, _loss_capture) -> None:
    """Capture loss at different places (2-6 data segments removed): never a wrong pair."""
    truth, linktype, recs = _loss_capture
    rng = random.Random(100 + seed)
    variant, gone = pcaprewrite.remove(recs, rng, 2 + seed % 5, linktype)
    if seed % 2:
        variant, _ = pcaprewrite.swap_neighbours(variant, rng, 0.3, linktype, across=True)
    path = pcaprewrite.write_pcap(tmp_path / f"lossy{seed}.pcap", linktype, variant)
    records, stats = replay(path, tmp_path)
    assert_subset(truth, records)
    lost = len(truth) - len(records)
    assert sum(drops(stats).values()) >= lost, f"{lost} exchanges lost, drops counted: {drops(stats)}"


@pytest.fixture(scope="module")
def _loss_capture(site: Site, tmp_path_factory: pytest.TempPathFactory):
    return _rewrite_case(site, tmp_path_factory.mktemp("loss"), "loss")


def test_concurrent_keepalive_under_loss(netns_lab: NetnsLab, tmp_path: Path) -> None:
    """The benchmark's traffic at small scale with real loss: 4 concurrent keep-alive connections x
    120 POSTs of ~1 KB JSON to nginx, offloads off, 3% random drop after the tap on both sides.
    Every exchange is paired exactly once; each request body is the one the client sent for that
    target; each response is nginx's JSON naming that target."""
    import orjson

    from bench.replay import CLIENT, NGINX_CONF, NGINX_PORT, REPO, request_body

    pair = make_pair(netns_lab, offloads=False)
    ng = netns_lab.workdir / "ng"
    ng.mkdir()
    (ng / "nginx.conf").write_text(NGINX_CONF.format(d=ng, port=NGINX_PORT, pad="n" * 300))
    netns_lab.start_server(pair.server, ["nginx", "-p", str(ng), "-c", str(ng / "nginx.conf")], NGINX_PORT,
                           name="nginx")
    for ns in (pair.client, pair.server):
        netns_lab.random_drop(ns, 0.03, chain="INPUT")
    conns, per = 4, 120
    for _attempt in range(2):  # once more if tcpdump could not keep up on a busy machine
        cap = pair.capture(tmp_path / "conc.pcap")
        procs = [pair.client.popen([sys.executable, "-c", CLIENT, pair.server_ip, str(NGINX_PORT), str(k * per),
                                    str(per), str(REPO)]) for k in range(conns)]
        for p in procs:
            assert p.wait(timeout=120) == 0
        cap.stop()
        if cap.complete():
            break
    assert cap.complete(), cap.log
    records, stats = replay(cap.path, tmp_path, keep_all=False)  # default filters: all JSON, all 200
    targets = sorted(r["request"]["target"] for r in records)
    assert targets == sorted(f"/api/v1/users/{i}" for i in range(conns * per)), drops(stats)
    for r in records:
        i = int(r["request"]["target"].rsplit("/", 1)[1])
        assert r["request"]["body"].encode() == request_body(i)
        assert r["response"]["status"] == 200
        assert orjson.loads(r["response"]["body"])["uri"] == r["request"]["target"]
    linktype, recs = pcaprewrite.read_records(cap.path)
    assert count(stats, "tcp.retransmitted_segments") >= pcaprewrite.retransmissions(recs, linktype) > 0
    if tshark_available():
        assert assert_covers_tshark(cap.path, records, distinct=True) > 0


# -- the lab itself ------------------------------------------------------------------------------
def test_netns_lab_cleans_up(tmp_path: Path) -> None:
    """The fixture library leaves no namespace or process behind, even when the body raises."""
    import subprocess

    from tests.fixtures.netns import NetnsUnavailable

    try:
        lab = NetnsLab(tmp_path / "lab")
    except NetnsUnavailable as e:
        pytest.skip(str(e))
    names: list[str] = []
    with pytest.raises(RuntimeError, match="boom"), lab:
        p = make_pair(lab)
        names = [p.client.name, p.server.name]
        srv = lab.start_server(p.server, [sys.executable, "-m", "http.server", "8000"], 8000)
        p.capture(tmp_path / "x.pcap")
        raise RuntimeError("boom")
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names)
    assert srv.poll() is not None
