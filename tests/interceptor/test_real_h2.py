"""HTTP/2 and gRPC, real traffic end to end: real servers and clients (not ours) in network
namespaces, tcpdump on the veth, ``interceptor replay`` on the capture; every exchange checked
against what the client recorded and against tshark (``-d tcp.port==P,http2``) on the same file.

- Go gRPC (google.golang.org/grpc, tools/grpcapp): unary (plain and gzip), an error (trailers-only),
  server streaming, client streaming.
- Python grpcio (tools/pygrpc.py): unary (plain and gzip), server streaming.
- curl --http2-prior-knowledge and nghttp (nghttp2-client) against nghttpd (h2c, --echo-upload);
  curl --http2 (``Upgrade: h2c``) against Go's golang.org/x/net/http2/h2c server (tools/grpcapp h2c).
- A capture that starts after the connection did: pairs from the static table and literals, marked
  ``headers_incomplete``, never a value the client did not send.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter as Multiset
from pathlib import Path
from typing import Any

import pytest

from interceptor import protobuf
from tests.fixtures.netns import NetnsLab, NetnsPair, free_port, make_pair
from tests.interceptor.tools import pcaprewrite
from tests.interceptor.tools.h2traffic import assert_grpc_calls, calls_of, grpcapp_binary, tshark_h2
from tests.interceptor.tools.realtraffic import TOOLS, replay, tshark_available
from tests.interceptor.tools.realtraffic import _body as body_of

pytestmark = [pytest.mark.slow, pytest.mark.netns]


@pytest.fixture(scope="module")
def site(netns_module_lab: NetnsLab) -> NetnsPair:
    return make_pair(netns_module_lab)


def capture_run(site: NetnsPair, tmp_path: Path, name: str, port: int, *clients: list[str], **kw: Any) -> tuple[str, Path]:
    """Run the clients one after the other while tcpdump captures the server's port; returns
    (the clients' stdout, capture)."""
    cap = site.capture(tmp_path / f"{name}.pcap", bpf=f"tcp port {port}")
    try:
        out = "".join(site.client.run(client, timeout=90, **kw).stdout for client in clients)
    finally:
        cap.stop()
    assert cap.complete(), cap.log
    return out, cap.path


def assert_matches_tshark(capture: Path, port: int, records: list[dict[str, Any]], decode_as: bool = True) -> int:
    """Every stream tshark pairs is a pair of ours with the same path, status, grpc-status and
    bodies (DATA as on the wire), and we have no other pair. Returns the number compared."""
    if not tshark_available():
        pytest.skip("tshark not installed")
    theirs = Multiset()
    for s in tshark_h2(capture, port, decode_as):
        if s.header(":path") is None or s.header(":status", response=True) is None:
            continue
        theirs[(s.header(":path"), int(s.header(":status", True) or 0), s.header("grpc-status", True),
                s.request_data, s.response_data)] += 1
    ours = Multiset()
    for r in records:
        headers = dict((k, v) for k, v in r["response"]["headers"])
        ours[(r["request"]["target"], r["response"]["status"], headers.get("grpc-status"), body_of(r["request"]),
              body_of(r["response"]))] += 1
    assert theirs and ours == theirs, f"tshark only: {_short(theirs - ours)}\nours only: {_short(ours - theirs)}"
    return sum(theirs.values())


def _short(items: Multiset) -> list[str]:
    return [f"{path} {status} grpc-status={g} {len(req)}B/{len(resp)}B" for path, status, g, req, resp in items][:6]


# -- gRPC -----------------------------------------------------------------------------------------
def test_go_grpc_unary_streaming_errors(site: NetnsPair, tmp_path: Path) -> None:
    binary = grpcapp_binary()
    if binary is None:
        pytest.skip("no Go toolchain")
    port = free_port()
    site.lab.start_server(site.server, [str(binary), "server", str(port)], port, name="grpcapp")
    out, cap = capture_run(site, tmp_path, "go-grpc", port, [str(binary), "client", site.server_ip, str(port), "6"])
    calls = calls_of(out)
    records, stats = replay(cap, tmp_path)
    assert_grpc_calls(calls, records)
    assert assert_matches_tshark(cap, port, records) == len(calls) == 9
    assert not stats["dropped"], stats["dropped"]


def test_python_grpcio(site: NetnsPair, tmp_path: Path) -> None:
    pytest.importorskip("grpc")
    port = free_port()
    tool = str(TOOLS / "pygrpc.py")
    site.lab.start_server(site.server, [sys.executable, tool, "server", str(port)], port, name="pygrpc")
    out, cap = capture_run(site, tmp_path, "py-grpc", port, [sys.executable, tool, "client", site.server_ip, str(port), "4"])
    calls = calls_of(out)
    records, stats = replay(cap, tmp_path, keep_all=False)  # application/grpc passes the default filters
    assert_grpc_calls(calls, records)
    assert assert_matches_tshark(cap, port, records) == 5


def test_capture_starting_mid_connection(site: NetnsPair, tmp_path: Path) -> None:
    """The first exchanges are cut from the capture: later calls are still paired, marked, and
    carry only what the client really sent."""
    binary = grpcapp_binary()
    if binary is None:
        pytest.skip("no Go toolchain")
    port = free_port()
    site.lab.start_server(site.server, [str(binary), "server", str(port)], port, name="grpcapp-late")
    out, cap = capture_run(site, tmp_path, "go-grpc-late", port, [str(binary), "client", site.server_ip, str(port), "12"])
    calls = calls_of(out)
    linktype, recs = pcaprewrite.read_records(cap)
    data = [i for i in range(len(recs)) if pcaprewrite.tcp_payload_len(recs[i][1], linktype)]
    late = pcaprewrite.write_pcap(tmp_path / "late.pcap", linktype, recs[data[len(data) // 3]:])
    records, stats = replay(late, tmp_path)
    assert stats["counts"].get("h2.connections_joined_late") == 1
    assert len(records) >= 4
    sent = [protobuf.decode(m) for c in calls for m in c.requests]
    for rec in records:
        assert rec["headers_incomplete"] is True  # :path and friends were indexed before the cut
        assert rec["request"]["method"] == "POST"  # static table
        for m in rec["grpc"]["request_messages"]:
            assert m in sent
    assert stats["dropped"].get("response_without_request", 0) + stats["dropped"].get("gap", 0) <= 3


# -- curl and nghttp against nghttpd --------------------------------------------------------------
@pytest.fixture(scope="module")
def nghttpd(site: NetnsPair, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    if shutil.which("nghttpd") is None:
        pytest.skip("nghttpd not installed (apt nghttp2-server)")
    docroot = tmp_path_factory.mktemp("docroot")
    (docroot / "users.json").write_text('{"users":[{"email":"ann@example.com","phone":"+14155550100"}]}')
    (docroot / "big.json").write_text("[" + ",".join(f'{{"id":{i},"email":"u{i}@x.io"}}' for i in range(3000)) + "]")
    port = free_port()
    site.lab.start_server(site.server, ["nghttpd", "--no-tls", "--echo-upload", "-d", str(docroot), str(port)], port,
                          name="nghttpd")
    return port, docroot


def test_curl_prior_knowledge(site: NetnsPair, nghttpd: tuple[int, Path], tmp_path: Path) -> None:
    port, docroot = nghttpd
    base = f"http://{site.server_ip}:{port}"
    out_dir = tmp_path / "curl"
    out_dir.mkdir()
    upload = tmp_path / "upload.json"
    upload.write_text('{"name":"Ann Lee","email":"ann@example.com"}' * 40)
    # One URL per curl: curl 7.88 reports "Error in the HTTP2 framing layer" after a second stream
    # on one connection to nghttpd (the bodies arrive whole; the exit code would fail the test).
    curl = ["curl", "-sS", "--http2-prior-knowledge"]
    _, cap = capture_run(site, tmp_path, "curl-h2", port,
                         [*curl, "-o", str(out_dir / "u"), f"{base}/users.json"],
                         [*curl, "-o", str(out_dir / "b"), f"{base}/big.json"],
                         [*curl, "-H", "content-type: application/json", "--data-binary", f"@{upload}",
                          "-o", str(out_dir / "e"), f"{base}/echo"])
    records, stats = replay(cap, tmp_path)
    got = {r["request"]["target"]: r for r in records}
    assert sorted(got) == ["/big.json", "/echo", "/users.json"]
    for target, name in (("/users.json", "u"), ("/big.json", "b"), ("/echo", "e")):
        assert body_of(got[target]["response"]) == (out_dir / name).read_bytes()  # what curl received
        assert got[target]["protocol"] == "h2" and got[target]["request"]["version"] == "HTTP/2"
    assert body_of(got["/echo"]["request"]) == upload.read_bytes()
    assert assert_matches_tshark(cap, port, records) == 3


def test_nghttp_client(site: NetnsPair, nghttpd: tuple[int, Path], tmp_path: Path) -> None:
    """nghttp multiplexes both GETs on one connection and prints the bodies as they complete;
    then a POST whose body nghttpd echoes."""
    port, docroot = nghttpd
    base = f"http://{site.server_ip}:{port}"
    upload = tmp_path / "form.json"
    upload.write_text('{"iban":"DE89370400440532013000"}')
    out, cap = capture_run(site, tmp_path, "nghttp", port, ["nghttp", f"{base}/users.json", f"{base}/big.json"],
                           ["nghttp", "-d", str(upload), f"{base}/echo"])
    records, stats = replay(cap, tmp_path)
    got = {r["request"]["target"]: r for r in records}
    assert sorted(got) == ["/big.json", "/echo", "/users.json"]
    users, big = (body_of(got[t]["response"]) for t in ("/users.json", "/big.json"))
    assert users == (docroot / "users.json").read_bytes() and big == (docroot / "big.json").read_bytes()
    echo = upload.read_bytes()
    assert body_of(got["/echo"]["request"]) == body_of(got["/echo"]["response"]) == echo
    assert out.encode() in (users + big + echo, big + users + echo)  # what nghttp printed
    assert assert_matches_tshark(cap, port, records) == 3


def test_curl_upgrade_h2c_to_go(site: NetnsPair, tmp_path: Path) -> None:
    """curl --http2 asks for ``Upgrade: h2c``; the Go server switches after its 101: the upgrading
    request is stream 1 and its answer comes in HTTP/2, the next request on stream 3."""
    binary = grpcapp_binary()
    if binary is None:
        pytest.skip("no Go toolchain")
    port = free_port()
    site.lab.start_server(site.server, [str(binary), "h2c", str(port)], port, name="h2c")
    out_dir = tmp_path / "up"
    out_dir.mkdir()
    base = f"http://{site.server_ip}:{port}"
    _, cap = capture_run(site, tmp_path, "h2c-upgrade", port,
                         ["curl", "-sS", "--http2", "-o", str(out_dir / "u"), f"{base}/users", "-o", str(out_dir / "a"),
                          f"{base}/again"])
    records, stats = replay(cap, tmp_path)
    assert [(r["protocol"], r["response"]["status"]) for r in records][:1] == [("http/1.1", 101)]
    got = {r["request"]["target"]: r for r in records[1:]}
    assert sorted(got) == ["/again", "/users"]
    for target, name in (("/users", "u"), ("/again", "a")):
        assert body_of(got[target]["response"]) == (out_dir / name).read_bytes()
        assert got[target]["protocol"] == "h2"
    assert ["Upgrade", "h2c"] in got["/users"]["request"]["headers"]  # the HTTP/1 request, as sent
    assert stats["counts"].get("h2.upgrades") == 1 and not stats["dropped"]
    # tshark follows the upgrade too; its stream 1 has no HTTP/2 request headers, so it pairs stream 3 only.
    assert assert_matches_tshark(cap, port, [got["/again"]], decode_as=False) == 1
