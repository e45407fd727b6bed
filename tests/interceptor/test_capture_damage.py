"""Damaged and hostile capture files, built with struct as an attacker would: the reader yields what
is readable, then ends with one CaptureError naming the offset; lengths are checked before they are
read, so a record claiming gigabytes allocates nothing. A hypothesis fuzz over random block
structures checks that no other exception escapes and that memory stays bounded."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interceptor.capture.pcapfile import MAX_RECORD, CaptureError, CaptureReader

SHB_BODY = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)


def block(btype: int, body: bytes, length: int | None = None, trailer: int | None = None) -> bytes:
    body += b"\0" * (-len(body) % 4)
    real = len(body) + 12
    return struct.pack("<II", btype, real if length is None else length) + body + struct.pack(
        "<I", real if trailer is None else trailer)


def shb() -> bytes:
    return block(0x0A0D0D0A, SHB_BODY)


def idb(linktype: int = 1, options: bytes = b"") -> bytes:
    return block(1, struct.pack("<HHI", linktype, 0, 0) + options)


def epb(data: bytes, iface: int = 0, ts: int = 1_000_000) -> bytes:
    return block(6, struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data)


def pcap_header(snaplen: int = 65535, linktype: int = 1) -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def read(path: Path) -> tuple[list[tuple[float, int, bytes]], CaptureError | None]:
    got: list[tuple[float, int, bytes]] = []
    try:
        with CaptureReader(path) as reader:
            for rec in reader:
                got.append(rec)
    except CaptureError as e:
        return got, e
    return got, None


GOOD = shb() + idb() + epb(b"first packet")
CASES = {
    # name: (file bytes, offset of the damage, words of the message)
    "short_epb": (GOOD + block(6, b"\0" * 8), len(GOOD), "enhanced packet block: body of 8 bytes"),
    "epb_caplen_past_end": (GOOD + block(6, struct.pack("<IIIII", 0, 0, 0, 500, 500) + b"x" * 8), len(GOOD),
                            "captured length 500 runs past the block end"),
    "empty_idb": (shb() + block(1, b""), 28, "interface description block: body of 0 bytes"),
    "short_spb": (shb() + idb() + block(3, b""), 28 + 20, "simple packet block: body of 0 bytes"),
    "tsresol_past_end": (shb() + block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HH", 9, 40)), 28,
                         "option 9 of 40 bytes runs past the block end"),
    "valid_section_then_short_block": (GOOD + b"\x06\0\0\0\x20\0", len(GOOD), "truncated block header"),
    "block_claims_4gb": (GOOD + struct.pack("<II", 6, 0xFFFFFFFC) + b"\0" * 64, len(GOOD), "block length 4294967292"),
    "length_not_multiple_of_4": (GOOD + block(6, b"\0" * 20, length=33), len(GOOD), "block length 33"),
    "trailer_mismatch": (GOOD + block(6, b"\0" * 20, trailer=99), len(GOOD), "trailer does not repeat"),
    "unknown_interface": (GOOD + epb(b"x", iface=7), len(GOOD), "names interface 7"),
    "pcap_record_over_snaplen": (pcap_header(65535) + struct.pack("<IIII", 1, 0, 300_000, 300_000) + b"\0" * 64, 24,
                                 "record length 300000 exceeds the limit of 262144"),
    "pcap_record_200mb": (pcap_header(0xFFFFFFFF) + struct.pack("<IIII", 1, 0, 200 << 20, 200 << 20), 24,
                          f"exceeds the limit of {MAX_RECORD}"),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_damage_is_one_error_with_the_offset(tmp_path: Path, name: str, compressed: bool) -> None:
    data, offset, words = CASES[name]
    path = tmp_path / (name + (".gz" if compressed else ""))
    path.write_bytes(gzip.compress(data) if compressed else data)
    tracemalloc.start()
    try:
        got, err = read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err is not None and err.offset == offset and words in err.message, err
    assert str(err).startswith(f"{path} at offset {offset}: ")
    if data.startswith(GOOD):
        assert got == [(1.0, 1, b"first packet")]  # what came before the damage was read
    assert peak < 4 * MAX_RECORD // 3  # nothing was allocated for a claimed length past the cap


def test_corrupt_deflate_stream(tmp_path: Path) -> None:
    import zlib

    plain = GOOD + b"".join(epb(bytes([i]) * 200, ts=i) for i in range(50))
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
    good_part = deflate.compress(plain) + deflate.flush(zlib.Z_FULL_FLUSH)  # a block boundary
    header = b"\x1f\x8b\x08\x00" + b"\0" * 4 + b"\x00\xff"
    path = tmp_path / "bad.pcapng.gz"
    path.write_bytes(header + good_part + b"\x07" + b"\xa5" * 200)  # BTYPE 11: an invalid deflate block
    got, err = read(path)
    assert err is not None and "read error (error: Error -3" in err.message, err
    # gzip decompresses ahead (8 KiB), so the error surfaces at the block being read then; everything
    # before that block was yielded.
    assert 0 < err.offset <= len(plain) and len(got) == 1 + (err.offset - len(GOOD)) // 232


def test_gzip_cut_short(tmp_path: Path) -> None:
    packed = gzip.compress(GOOD + epb(b"y" * 3000))
    path = tmp_path / "cut.pcapng.gz"
    path.write_bytes(packed[: len(packed) - 20])
    _got, err = read(path)
    assert err is not None and "read error" in err.message


def test_a_fifo_is_read(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    payload = gzip.compress(GOOD + epb(b"second", ts=2_000_000))

    def writer() -> None:
        with open(fifo, "wb") as f:
            for i in range(0, len(payload), 7):  # in small writes, as a pipe delivers
                f.write(payload[i : i + 7])
                f.flush()

    t = threading.Thread(target=writer)
    t.start()
    got, err = read(fifo)
    t.join(10)
    assert err is None and got == [(1.0, 1, b"first packet"), (2.0, 1, b"second")]


# -- fuzz -----------------------------------------------------------------------------------------
BLOCK_TYPES = [0x0A0D0D0A, 1, 2, 3, 5, 6, 0xBAD]


@st.composite
def block_structures(draw: st.DrawFn) -> bytes:
    """A pcapng file of random blocks: real types with random bodies, lengths honest or lying."""
    out = [shb()]
    for _ in range(draw(st.integers(0, 8))):
        btype = draw(st.sampled_from(BLOCK_TYPES))
        body = draw(st.binary(max_size=64))
        if btype == 0x0A0D0D0A:
            body = draw(st.sampled_from([SHB_BODY, b"\x1a\x2b\x3c\x4d" + body, body]))
        elif btype in (2, 6) and len(body) >= 20 and draw(st.booleans()):
            body = body[:12] + struct.pack("<I", draw(st.integers(0, 2**32 - 1))) + body[16:]
        length = draw(st.one_of(st.none(), st.integers(0, 2**32 - 1), st.integers(0, 100)))
        trailer = draw(st.one_of(st.none(), st.integers(0, 2**32 - 1)))
        out.append(block(btype, body, length, trailer))
    data = b"".join(out)
    cut = draw(st.integers(0, len(data)))
    return data[: cut if draw(st.booleans()) else len(data)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=block_structures(), compressed=st.booleans(), snaplen=st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_fuzz_random_block_structures(tmp_path: Path, data: bytes, compressed: bool, snaplen: int | None) -> None:
    if snaplen is not None:  # the same random bytes read as pcap records
        data = pcap_header(snaplen) + data[28:]
    path = tmp_path / "fuzz"
    path.write_bytes(gzip.compress(data, compresslevel=1) if compressed else data)
    tracemalloc.start()
    try:
        got, err = read(path)  # only CaptureError may come out
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MAX_RECORD + (1 << 20)
    assert err is None or err.offset is None or err.offset <= len(data)
    assert all(len(frame) <= len(data) for _ts, _lt, frame in got)
