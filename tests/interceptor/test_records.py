"""capture.records (cutting records out of a block read), sharding on raw bytes, the replay loop
(replayfeed.Feeder), and the reader's block-wise reading: from bytes, both builds."""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

import pytest

from interceptor.capture.pcapfile import CHUNK, CaptureError, CaptureReader
from interceptor.capture.records import PcapCutter, PcapngCutter
from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.pipeline import Pipeline
from interceptor.replayfeed import Feeder
from interceptor.sharding import Sharder
from tests.interceptor.packetgen import Conn, http_request, http_response, write_pcap

Packet = tuple[float, int, bytes]


def pcap_record(ts_s: int, ts_us: int, data: bytes) -> bytes:
    return struct.pack("<IIII", ts_s, ts_us, len(data), len(data)) + data


def test_pcap_cutter_cuts_whole_records_and_says_what_the_next_needs() -> None:
    buf = pcap_record(1, 500_000, b"a" * 10) + pcap_record(2, 0, b"b" * 30)
    cutter = PcapCutter(True, 1e-6, 1, 65535, set())
    out: list[Packet] = []
    # the second record cut short: the first is cut, the position and size of the second said
    pos = cutter.cut(buf[:-5], 0, out, False)
    assert out == [(1.5, 1, b"a" * 10)] and pos == 26 and cutter.need == 46 and not cutter.problem
    pos = cutter.cut(buf, pos, out, False)
    assert out[1:] == [(2.0, 1, b"b" * 30)] and pos == len(buf) and cutter.records == 2
    assert cutter.cut(buf, pos, out, True) == len(buf) and not cutter.problem  # a clean end
    cutter.cut(buf[:-5], 26, [], True)
    assert cutter.problem == "truncated record (capture cut short)"


def test_pcap_cutter_refuses_a_length_over_the_limit_before_slicing() -> None:
    cutter = PcapCutter(False, 1e-9, 1, 100, set())
    big = struct.pack(">IIII", 1, 0, 101, 101) + b"x" * 8
    assert cutter.cut(big, 0, [], False) == 0
    assert cutter.problem == "record length 101 exceeds the limit of 100 (corrupt file)"


def block(btype: int, body: bytes, little: bool = True) -> bytes:
    e = "<" if little else ">"
    body += b"\0" * (-len(body) % 4)
    return struct.pack(e + "II", btype, len(body) + 12) + body + struct.pack(e + "I", len(body) + 12)


def test_pcapng_cutter_sections_change_byte_order_and_interfaces() -> None:
    linktypes: set[int] = set()
    little = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)) + block(1, struct.pack("<HHI", 1, 0, 0))
    little += block(6, struct.pack("<IIIII", 0, 0, 2_000_000, 3, 3) + b"abc")
    big = block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1), False)
    big += block(1, struct.pack(">HHI", 101, 0, 0), False) + block(3, struct.pack(">I", 2) + b"hi", False)
    cutter, out = PcapngCutter(linktypes), []
    assert cutter.cut(little + big, 0, out, True) == len(little + big) and not cutter.problem
    assert out == [(2.0, 1, b"abc"), (0.0, 101, b"hi")] and linktypes == {1, 101} and cutter.records == 2
    # an EPB naming an interface the new section did not declare: located at that block
    wrong = big + block(6, struct.pack(">IIIII", 1, 0, 0, 0, 0), False)
    assert cutter.cut(wrong, 0, [], True) == len(big)
    assert cutter.problem == "enhanced packet block: names interface 1, the section declared 1 (corrupt file)"


def frames_of(connections: int) -> list[tuple[float, bytes]]:
    records: list[tuple[float, bytes]] = []
    for c in range(connections):
        conn = Conn(client=("10.0.0.1", 40000 + c), ts=1_700_000_000.0 + c).handshake()
        conn.request(http_request())
        conn.response(http_response())
        records += conn.close().frames
    return sorted(records, key=lambda r: r[0])


def test_sharded_batches_give_each_packet_to_exactly_one_worker(tmp_path: Path) -> None:
    write_pcap(str(tmp_path / "a.pcap"), frames_of(5) + [(1_800_000_000.0, b"not a frame")])
    with CaptureReader(tmp_path / "a.pcap") as reader:
        every = list(reader)
    shares = []
    for index in range(3):
        with CaptureReader(tmp_path / "a.pcap") as reader:
            shares.append([p for batch in reader.batches(Sharder(3), index) for p in batch])
            assert reader.packets == len(every)  # every record is counted, whoever owns it
    assert sorted(p for share in shares for p in share) == sorted(every)
    judge = Sharder(3)  # the in-place reading agrees with the reading of a sliced frame, in file order
    owners = [judge.owner(lt, frame) for _, lt, frame in every]
    assert shares == [[p for p, o in zip(every, owners, strict=True) if o == index] for index in range(3)]
    assert all(shares)
    assert (1_800_000_000.0, 1, b"not a frame") in shares[0]  # what is not TCP: worker 0 counts it


def test_a_record_larger_than_a_block_through_a_pipe_in_small_pieces(tmp_path: Path) -> None:
    big = bytes(range(256)) * ((CHUNK + 12345) // 256)
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 4 << 20, 1)
    data += pcap_record(1, 0, b"small") + pcap_record(2, 0, big) + pcap_record(3, 0, b"after")
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)

    def writer() -> None:
        with open(fifo, "wb") as f:
            for i in range(0, len(data), 65000):
                f.write(data[i : i + 65000])

    t = threading.Thread(target=writer)
    t.start()
    with CaptureReader(fifo) as reader:
        got = list(reader)
    t.join(10)
    assert got == [(1.0, 1, b"small"), (2.0, 1, big), (3.0, 1, b"after")]


def test_the_error_offset_follows_everything_yielded(tmp_path: Path) -> None:
    records = [(1.0 + i, bytes([i % 256]) * (400 + i % 7)) for i in range(3000)]  # 1.2 MB: two reads
    write_pcap(str(tmp_path / "a.pcap"), records)
    data = (tmp_path / "a.pcap").read_bytes()
    (tmp_path / "cut.pcap").write_bytes(data[:-50])
    got: list[Packet] = []
    with pytest.raises(CaptureError) as err, CaptureReader(tmp_path / "cut.pcap") as reader:
        got.extend(reader)
    assert len(got) == 2999 and err.value.offset == len(data) - 16 - (400 + 2999 % 7) and reader.packets == 2999


def test_the_feeder_stops_where_a_tick_falls_due() -> None:
    counters = Counters()
    pipeline = Pipeline(Config(), counters, lambda pair: None)
    feeder = Feeder(pipeline, 1.0)
    batch = [(ts, 1, b"junk") for ts in (10.0, 10.5, 11.0, 11.2, 13.0, 13.1)]
    stops = []
    i = 0
    while i < len(batch):
        i = feeder.feed(batch, i)
        if feeder.tick_due:
            feeder.tick_due = False
            stops.append((i, feeder.due))
    # the first packet sets the first tick 1 s on; each tick sets the next 1 s after it
    assert stops == [(3, 11.0), (5, 13.0)] and feeder.fed == 6 and counters.get("packets") == 6


def test_owner_at_reads_a_frame_in_place_as_owner_reads_it_sliced() -> None:
    from tests.interceptor.test_replay_workers import frame

    frames = [frame(40000), frame(40001, ip_options=True), frame(40000, reply=True), frame(40001, reply=True),
              frame(40002, reply=True, ip_options=True), frame(40002), b"short"]
    buf = b"x" * 7 + b"".join(frames)
    in_place, sliced = Sharder(2), Sharder(2)
    at, got = 7, []
    for f in frames:
        got.append(in_place.owner_at(1, buf, at, len(f)))
        at += len(f)
    assert got == [sliced.owner(1, f) for f in frames] == [0, 1, 0, 1, 0, 0, 0]
