"""Link/IP/TCP decoding from bytes, for every supported link type."""

import struct

import pytest

from interceptor.capture import packets
from interceptor.capture.packets import Rejected, decode, ip_text
from tests.interceptor.packetgen import frame, ip_packet, tcp_segment

TCP = tcp_segment(40000, 80, 123, 456, 0x18, b"GET / HTTP/1.1\r\n\r\n")


@pytest.mark.parametrize("linktype", [packets.LINKTYPE_ETHERNET, packets.LINKTYPE_LINUX_SLL,
                                      packets.LINKTYPE_LINUX_SLL2, packets.LINKTYPE_RAW])
@pytest.mark.parametrize("src,dst", [("10.0.0.1", "10.0.0.2"), ("fd00::1", "fd00::2")])
def test_link_types_and_ip_versions(linktype: int, src: str, dst: str) -> None:
    seg = decode(linktype, frame(linktype, ip_packet(src, dst, TCP)))
    assert not isinstance(seg, Rejected)
    assert (ip_text(seg.src), seg.sport, ip_text(seg.dst), seg.dport) == (src, 40000, dst, 80)
    assert (seg.seq, seg.ack, seg.flags) == (123, 456, 0x18)
    assert seg.payload == b"GET / HTTP/1.1\r\n\r\n"


def test_vlan_tags_are_skipped() -> None:
    f = frame(packets.LINKTYPE_ETHERNET, ip_packet("10.0.0.1", "10.0.0.2", TCP), vlan=42)
    qinq = f[:12] + struct.pack("!HH", 0x88A8, 7) + f[12:]
    for data in (f, qinq):
        seg = decode(packets.LINKTYPE_ETHERNET, data)
        assert not isinstance(seg, Rejected) and seg.payload.startswith(b"GET")


def test_ethernet_padding_is_trimmed_by_ip_total_length() -> None:
    ack = tcp_segment(1, 2, 3, 4, 0x10)
    data = frame(packets.LINKTYPE_ETHERNET, ip_packet("10.0.0.1", "10.0.0.2", ack)) + b"\0" * 6
    seg = decode(packets.LINKTYPE_ETHERNET, data)
    assert not isinstance(seg, Rejected) and seg.payload == b""


def test_ipv6_extension_headers() -> None:
    ip = ip_packet("fd00::1", "fd00::2", TCP)
    hop_by_hop = bytes([6, 0]) + b"\0" * 6  # next header TCP, length 8 bytes
    ip6 = ip[:4] + struct.pack("!H", len(TCP) + 8) + bytes([0]) + ip[7:40] + hop_by_hop + ip[40:]
    seg = decode(packets.LINKTYPE_RAW, ip6)
    assert not isinstance(seg, Rejected) and seg.dport == 80 and seg.payload.startswith(b"GET")


def test_loopback_null_linktype() -> None:
    ip = ip_packet("127.0.0.1", "127.0.0.1", TCP)
    seg = decode(packets.LINKTYPE_NULL, struct.pack("<I", 2) + ip)
    assert not isinstance(seg, Rejected) and seg.sport == 40000


@pytest.mark.parametrize("data,reason", [
    (b"\x01" * 10, "truncated_link"),
    (b"\x02" * 12 + b"\x08\x06" + b"\0" * 28, "not_ip"),
    (b"\x02" * 12 + b"\x08\x00" + b"\x45\0", "truncated_ip"),
])
def test_bad_frames_give_reasons(data: bytes, reason: str) -> None:
    assert decode(packets.LINKTYPE_ETHERNET, data) == Rejected(reason, dropped=reason != "not_ip")


def test_fragments_and_non_tcp_are_reported() -> None:
    ip = bytearray(ip_packet("10.0.0.1", "10.0.0.2", TCP))
    ip[6:8] = struct.pack("!H", 0x2000)  # more fragments
    assert decode(packets.LINKTYPE_RAW, bytes(ip)) == packets.IP_FRAGMENT
    ip = bytearray(ip_packet("10.0.0.1", "10.0.0.2", TCP))
    ip[9] = 17
    assert decode(packets.LINKTYPE_RAW, bytes(ip)) == packets.NOT_TCP
    assert decode(9999, b"x" * 64) == packets.UNSUPPORTED_LINKTYPE and not packets.UNSUPPORTED_LINKTYPE.dropped
