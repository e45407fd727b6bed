"""Capture file reading: pcap (µs and ns), pcapng (multi-interface, tsresol), gzip, and damage."""

import gzip
import struct
from pathlib import Path

import pytest

from interceptor.capture.pcapfile import CaptureError, CaptureReader
from tests.interceptor.packetgen import write_pcap


def read_all(path: Path) -> list[tuple[float, int, bytes]]:
    with CaptureReader(path) as reader:
        return list(reader)


def test_pcap_microseconds(tmp_path: Path) -> None:
    write_pcap(str(tmp_path / "a.pcap"), [(1.5, b"x" * 60), (2.25, b"y" * 70)])
    assert read_all(tmp_path / "a.pcap") == [(1.5, 1, b"x" * 60), (2.25, 1, b"y" * 70)]


def test_pcap_nanoseconds_big_endian(tmp_path: Path) -> None:
    data = struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 113)
    data += struct.pack(">IIII", 10, 500_000_000, 3, 3) + b"abc"
    (tmp_path / "ns.pcap").write_bytes(data)
    assert read_all(tmp_path / "ns.pcap") == [(10.5, 113, b"abc")]


def pcapng_block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def test_pcapng_interfaces_and_resolution(tmp_path: Path) -> None:
    shb = pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb0 = pcapng_block(1, struct.pack("<HHI", 1, 0, 0))
    tsresol = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)  # nanoseconds
    idb1 = pcapng_block(1, struct.pack("<HHI", 276, 0, 0) + tsresol)
    ts_us, ts_ns = 3_000_000, 4_500_000_000
    epb0 = pcapng_block(6, struct.pack("<IIIII", 0, ts_us >> 32, ts_us & 0xFFFFFFFF, 5, 5) + b"hello")
    epb1 = pcapng_block(6, struct.pack("<IIIII", 1, ts_ns >> 32, ts_ns & 0xFFFFFFFF, 2, 2) + b"hi")
    (tmp_path / "a.pcapng").write_bytes(shb + idb0 + idb1 + epb0 + epb1)
    assert read_all(tmp_path / "a.pcapng") == [(3.0, 1, b"hello"), (4.5, 276, b"hi")]


def test_gzip_compressed(tmp_path: Path) -> None:
    write_pcap(str(tmp_path / "a.pcap"), [(1.0, b"z" * 40)])
    (tmp_path / "a.pcap.gz").write_bytes(gzip.compress((tmp_path / "a.pcap").read_bytes()))
    assert read_all(tmp_path / "a.pcap.gz") == [(1.0, 1, b"z" * 40)]


def test_missing_and_not_a_capture(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no such file"):
        CaptureReader(tmp_path / "nope.pcap")
    (tmp_path / "text.pcap").write_text("hello, I am not a capture")
    with pytest.raises(CaptureError, match="not a pcap or pcapng capture"):
        read_all(tmp_path / "text.pcap")
    (tmp_path / "empty.pcap").write_bytes(b"")
    with pytest.raises(CaptureError, match="empty file"):
        read_all(tmp_path / "empty.pcap")


def test_truncated_capture_yields_what_is_readable_then_names_the_offset(tmp_path: Path) -> None:
    write_pcap(str(tmp_path / "a.pcap"), [(1.0, b"a" * 100), (2.0, b"b" * 100)])
    data = (tmp_path / "a.pcap").read_bytes()
    (tmp_path / "cut.pcap").write_bytes(data[:-30])
    got = []
    with pytest.raises(CaptureError) as err, CaptureReader(tmp_path / "cut.pcap") as reader:
        for rec in reader:
            got.append(rec)
    assert got == [(1.0, 1, b"a" * 100)]
    assert err.value.offset == 24 + 16 + 100 and "cut short" in str(err.value)
