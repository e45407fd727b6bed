"""Capture-file rewriting with dpkt: what a lossy, reordering or duplicating tap would have seen.

This kernel has no netem, so reordering, duplication and capture loss are made by rewriting a real
capture: records are ``(ts, frame)`` tuples; the functions here return new lists, deterministic for
a given ``random.Random``. Only records carrying TCP payload are disturbed (handshakes stay put),
which is where a real tap's troubles matter for pairing.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import dpkt

Record = tuple[float, bytes]


def _open(path: Path):
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller through the reader's file
    if raw.read(2) == b"\x1f\x8b":
        raw.close()
        return gzip.open(path, "rb")
    raw.seek(0)
    return raw


def read_records(path: Path | str) -> tuple[int, list[Record]]:
    """(linktype, records) of a pcap or pcapng file, gzip-compressed or not."""
    with _open(Path(path)) as f:
        magic = f.read(4)
        f.seek(0)
        reader = dpkt.pcapng.Reader(f) if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(f)
        # float(): dpkt gives Decimal timestamps for nanosecond pcaps, which its pcapng writer rejects
        return reader.datalink(), [(float(ts), bytes(buf)) for ts, buf in reader]


def write_pcap(path: Path | str, linktype: int, records: list[Record], nano: bool = False,
               compress: bool = False) -> Path:
    path = Path(path)
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as f:
        w = dpkt.pcap.Writer(f, linktype=linktype, nano=nano, snaplen=262144)
        for ts, buf in records:
            w.writepkt(buf, ts)
    return path


def write_pcapng(path: Path | str, linktype: int, records: list[Record], compress: bool = False) -> Path:
    path = Path(path)
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as f:
        w = dpkt.pcapng.Writer(f, linktype=linktype, snaplen=262144)
        for ts, buf in records:
            w.writepkt(buf, ts)
    return path


def tcp_payload_len(frame: bytes, linktype: int = dpkt.pcap.DLT_EN10MB) -> int:
    """TCP payload length of an Ethernet or raw-IP frame (0 when not TCP)."""
    info = _tcp_info(frame, linktype)
    return info[1] if info else 0


def _tcp_info(frame: bytes, linktype: int) -> tuple[tuple, int] | None:
    """((src, sport, dst, dport), payload length) of a TCP frame, else None."""
    try:
        if linktype == dpkt.pcap.DLT_EN10MB:
            ip = dpkt.ethernet.Ethernet(frame).data
        elif linktype in (dpkt.pcap.DLT_RAW, 101):
            ip = dpkt.ip.IP(frame) if frame[0] >> 4 == 4 else dpkt.ip6.IP6(frame)
        else:
            return None
        tcp = ip.data
        if not isinstance(tcp, dpkt.tcp.TCP):
            return None
        return (ip.src, tcp.sport, ip.dst, tcp.dport), len(tcp.data)
    except (dpkt.UnpackError, IndexError, AttributeError):
        return None


def _data_indexes(records: list[Record], linktype: int) -> list[int]:
    return [i for i, (_, buf) in enumerate(records) if tcp_payload_len(buf, linktype) > 0]


def swap_neighbours(records: list[Record], rng: random.Random, fraction: float,
                    linktype: int = dpkt.pcap.DLT_EN10MB, across: bool = False) -> tuple[list[Record], int]:
    """Swap a fraction of data records with the next data record (timestamps stay in file order,
    as a tap's would). Returns (records, swaps).

    ``across=False`` (TCP reordering): only when both carry data of the same direction of the same
    connection, so causality between request and response is kept. ``across=True``: only when the
    next data record is the other direction of the same connection (a tap whose per-direction
    queues are read out of step: a response's first segment may come before the end of its
    request)."""
    out = list(records)
    idx = _data_indexes(out, linktype)
    swaps, last = 0, -1
    for a, b in zip(idx, idx[1:], strict=False):
        if a <= last:
            continue
        ka, kb = _tcp_info(out[a][1], linktype), _tcp_info(out[b][1], linktype)
        if ka is None or kb is None:
            continue
        (sa, pa, da, qa), (sb, pb, db, qb) = ka[0], kb[0]
        wanted = (sb, pb, db, qb) == (da, qa, sa, pa) if across else ka[0] == kb[0]
        if wanted and rng.random() < fraction:
            (t1, b1), (t2, b2) = out[a], out[b]
            out[a], out[b] = (t1, b2), (t2, b1)
            swaps, last = swaps + 1, b
    return out, swaps


def duplicate(records: list[Record], rng: random.Random, fraction: float,
              linktype: int = dpkt.pcap.DLT_EN10MB) -> tuple[list[Record], int]:
    """Repeat a fraction of data records, 0–3 records later. Returns (records, duplicates)."""
    dup_at: dict[int, list[bytes]] = {}
    n = 0
    for i in _data_indexes(records, linktype):
        if rng.random() < fraction:
            dup_at.setdefault(min(len(records) - 1, i + rng.randint(0, 3)), []).append(records[i][1])
            n += 1
    out: list[Record] = []
    for i, (ts, buf) in enumerate(records):
        out.append((ts, buf))
        out.extend((ts, d) for d in dup_at.get(i, []))
    return out, n


def remove(records: list[Record], rng: random.Random, count: int,
           linktype: int = dpkt.pcap.DLT_EN10MB) -> tuple[list[Record], list[int]]:
    """Remove ``count`` data records (a tap that fell behind). Returns (records, removed indexes)."""
    idx = _data_indexes(records, linktype)
    gone = sorted(rng.sample(idx, min(count, len(idx))))
    drop = set(gone)
    return [r for i, r in enumerate(records) if i not in drop], gone


def retransmissions(records: list[Record], linktype: int = dpkt.pcap.DLT_EN10MB) -> int:
    """Data segments whose (connection direction, sequence number, length) was already seen: TCP
    retransmissions (frame bytes differ from the original: TCP timestamps change)."""
    seen: set[tuple] = set()
    n = 0
    for _, buf in records:
        try:
            eth = dpkt.ethernet.Ethernet(buf) if linktype == dpkt.pcap.DLT_EN10MB else None
            ip = eth.data if eth is not None else None
            tcp = ip.data if ip is not None else None
        except (dpkt.UnpackError, IndexError):
            continue
        if not isinstance(tcp, dpkt.tcp.TCP) or not tcp.data:
            continue
        key = (ip.src, tcp.sport, ip.dst, tcp.dport, tcp.seq, len(tcp.data))
        n += key in seen
        seen.add(key)
    return n


def wrap_sequences(records: list[Record], before_wrap: int = 3000) -> list[Record]:
    """Rewrite TCP sequence/ack numbers (Ethernet/IPv4 or IPv6) so that every direction of every
    connection wraps past 2**32 ``before_wrap`` bytes after its first sequence number: real traffic
    with a sequence wrap-around in the middle of its messages. Checksums are recomputed."""
    shift: dict[tuple, int] = {}
    out: list[Record] = []
    for ts, buf in records:
        try:
            eth = dpkt.ethernet.Ethernet(buf)
        except dpkt.UnpackError:
            out.append((ts, buf))
            continue
        ip = eth.data
        tcp = getattr(ip, "data", None)
        if not isinstance(tcp, dpkt.tcp.TCP):
            out.append((ts, buf))
            continue
        me, peer = (ip.src, tcp.sport, ip.dst, tcp.dport), (ip.dst, tcp.dport, ip.src, tcp.sport)
        if me not in shift:
            shift[me] = (2**32 - before_wrap - tcp.seq) & 0xFFFFFFFF
        tcp.seq = (tcp.seq + shift[me]) & 0xFFFFFFFF
        if tcp.flags & dpkt.tcp.TH_ACK and peer in shift:
            tcp.ack = (tcp.ack + shift[peer]) & 0xFFFFFFFF
        tcp.sum = 0
        if isinstance(ip, dpkt.ip.IP):
            ip.sum = 0
        out.append((ts, bytes(eth)))
    return out


def two_taps(records: list[Record], delay: float = 0.00002) -> list[Record]:
    """Every frame seen twice, as by two taps on one path (pod veth and host side): the copy follows
    ``delay`` seconds later, interleaved by time."""
    doubled = [(ts, buf) for ts, buf in records] + [(ts + delay, buf) for ts, buf in records]
    return sorted(doubled, key=lambda r: r[0])


def data_records_by_connection(records: list[Record], linktype: int = dpkt.pcap.DLT_EN10MB) -> list[list[int]]:
    """Indexes of data records grouped by TCP connection, connections in order of first appearance."""
    groups: dict[frozenset, list[int]] = {}
    for i, (_, buf) in enumerate(records):
        info = _tcp_info(buf, linktype)
        if info and info[1]:
            (src, sport, dst, dport), _ = info
            groups.setdefault(frozenset({(src, sport), (dst, dport)}), []).append(i)
    return list(groups.values())
