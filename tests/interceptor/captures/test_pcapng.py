"""The pcapng writer and the plaintext synthesizer, checked by tshark and capinfos (the oracles)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from interceptor.capture.pcapfile import CaptureReader
from interceptor.captures.pcapng import InterfaceInfo, InterfaceStats, PcapngWriter
from interceptor.captures.plaintext import LINKTYPE_RAW, Address, PlaintextSynth, tcp_packet

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None or shutil.which("capinfos") is None,
                                  reason="tshark/capinfos not installed")
ETH = bytes.fromhex("020000000001020000000002") + b"\x08\x00"


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout


def _fields(path: Path, *fields: str, display: str = "") -> list[list[str]]:
    argv = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=|"]
    if display:
        argv += ["-Y", display]
    for f in fields:
        argv += ["-e", f]
    return [line.split("|") for line in _run(*argv).splitlines()]


def _write(path: Path, synth_ip: bool = False) -> None:
    w = PcapngWriter()
    out = [w.section(["node node-a", "pod shop/cart-0 (uid 1234)", "trigger: Falco rule 'Terminal shell'"],
                     os_name="Linux", hardware="x86_64")]
    a, b = Address("10.1.0.5", 40000), Address("10.1.0.9", 8080)
    eth_if, idb = w.interface(InterfaceInfo(1, 262144, "hveth1", "host side of cart-0's eth0",
                                            ("pod shop/cart-0", "containers cart"), bpf_filter="tcp"))
    out.append(idb)
    raw_if, idb = w.interface(InterfaceInfo(LINKTYPE_RAW, 262144, "tls-plaintext", "decrypted TLS (eBPF)",
                                            ("synthesized TCP/IP",)))
    out.append(idb)
    pkt = ETH + tcp_packet(a, b, 1, 1, 0x18, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    out.append(w.packet(eth_if, 1700000000.25, pkt[:40], orig_len=len(pkt)))  # cut by the snaplen
    out.append(w.packet(eth_if, 1700000000.5, pkt))
    s = PlaintextSynth()
    conn = ("tls", "openssl", 1, 2, 3)
    # a server process: it reads the request first (direction 1: b -> a), then writes the response
    server, client = Address("10.1.0.9", 8443), Address("10.1.0.5", 51000)
    body = b'{"email": "a@example.com"}' * 4000  # > one synthesized segment
    req = b"POST /api/users HTTP/1.1\r\nHost: cart\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    resp = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"id\": 42}\n"
    packets = s.data(conn, 1700000001.0, 1, req + body, server, client) or []
    packets += s.data(conn, 1700000001.1, 0, resp, server, client) or []
    packets += s.close(conn, 1700000001.2)
    for p in packets:
        out.append(w.packet(raw_if, p.ts, p.data))
    out.append(w.statistics(eth_if, InterfaceStats(1700000000.0, 1700000002.0, received=2, kernel_dropped=0,
                                                   os_dropped=0, delivered=2, comments=("byte cap not reached",))))
    path.write_bytes(b"".join(out))


@needs_tshark
def test_writer_output_is_read_by_capinfos_tshark_and_our_reader(tmp_path: Path) -> None:
    path = tmp_path / "c.pcapng"
    _write(path)
    info = _run("capinfos", "-M", str(path))
    assert "File type:           pcapng" in info
    assert "Number of interfaces in file: 2" in info
    assert "Capture comment:     pod shop/cart-0 (uid 1234)" in info
    assert "trigger: Falco rule 'Terminal shell'" in info
    assert "Interface #0 info:" in info and "Name = hveth1" in info and "Name = tls-plaintext" in info
    assert "Capture length = 262144" in info and "Time precision = nanoseconds (9)" in info
    assert "Filter string = tcp" in info and "Comment = pod shop/cart-0" in info
    assert "Number of packets = 2" in info
    frames = _fields(path, "frame.interface_name", "frame.time_epoch", "frame.len", "frame.cap_len")
    assert frames[0] == ["hveth1", "1700000000.250000000", str(len(ETH) + 40 + 27), "40"]
    # tshark's view of the synthesized stream: a handshake, valid checksums, HTTP dissected
    assert _fields(path, "tcp.flags.str", display="tcp.flags.syn==1") == [["··········S·"], ["·······A··S·"]]
    http = _fields(path, "http.request.method", "http.request.uri", "http.file_data", "tcp.checksum.status",
                   display="http.request && frame.interface_name == tls-plaintext")
    assert len(http) == 1 and http[0][:2] == ["POST", "/api/users"]
    assert http[0][2] == '{"email": "a@example.com"}' * 4000  # reassembled across segments
    check = _run("tshark", "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
                 "-Y", "tcp.checksum.status==0 || ip.checksum.status==0")
    assert check == ""  # no bad checksum anywhere
    assert _fields(path, "http.response.code", "http.file_data", display="http.response") == [["201", '{"id": 42}\\n']]
    assert "tcp.analysis.lost_segment" not in _run("tshark", "-n", "-r", str(path), "-T", "ek",
                                                  "-Y", "tcp.analysis.flags")
    # our own reader reads it too (the replay path)
    with CaptureReader(path) as r:
        recs = list(r)
    assert [lt for _, lt, _ in recs][:2] == [1, 1] and {lt for _, lt, _ in recs[2:]} == {LINKTYPE_RAW}


@needs_tshark
def test_ipv6_and_loss_in_synthesized_stream(tmp_path: Path) -> None:
    w = PcapngWriter()
    out = [w.section(["v6"])]
    if_id, idb = w.interface(InterfaceInfo(LINKTYPE_RAW, 65535, "tls-plaintext"))
    out.append(idb)
    s = PlaintextSynth()
    a, b = Address("fd00::1", 40001), Address("fd00::2", 443)
    pkts = s.data("c", 1.0, 0, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n", a, b) or []
    s.gap("c", 0)
    pkts += s.data("c", 2.0, 0, b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n", a, b) or []
    assert s.data("d", 2.0, 0, b"x", Address("", 0), b) is None  # unknown address: refused
    out += [w.packet(if_id, p.ts, p.data) for p in pkts]
    path = tmp_path / "v6.pcapng"
    path.write_bytes(b"".join(out))
    rows = _fields(path, "ipv6.src", "tcp.dstport", "http.request.uri", display="http.request")
    assert ["fd00::1", "443", "/a"] in rows
    flags = json.dumps(_run("tshark", "-n", "-r", str(path), "-Y", "tcp.analysis.lost_segment"))
    assert "fd00::1" in flags  # the loss shows as a hole before /b


def test_stream_hold_releases_after_the_connection_or_at_its_bound() -> None:
    from interceptor.captures.plaintext import StreamHold, SynthPacket

    hold = StreamHold(max_bytes=250, linger_s=1.0)
    assert hold.add("a", [SynthPacket(1.0, b"x" * 100)]) == []
    assert hold.add("b", [SynthPacket(1.1, b"y" * 100)]) == []
    hold.close("a", now=10.0)
    assert hold.due(10.5) == []  # the real connection may still be closing on the wire
    assert [p.data[:1] for p in hold.due(11.0)] == [b"x"]
    early = hold.add("b", [SynthPacket(1.2, b"y" * 200)])  # 300 held > 250: the biggest goes now
    assert [len(p.data) for p in early] == [100, 200] and hold.released_early == 1 and hold.size == 0
    hold.add("c", [SynthPacket(2.0, b"z")])
    assert [p.data for p in hold.release_all()] == [b"z"] and hold.held == {}
