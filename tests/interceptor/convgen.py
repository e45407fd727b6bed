"""Generated HTTP/1.1 conversations over TCP with known ground truth, and the oracle that scores pairs.

The generator plays both ends of a keep-alive connection the way real stacks do: every segment
carries the sender's cumulative ACK of the other direction at the moment it was sent (a
non-pipelined client sends request k+1 only after all of response k; a pipelining client sends a
burst of requests, then the server answers them in order). Exchanges mix GET/POST/HEAD, 204, 304,
``Expect: 100-continue`` with an interim 100, 103 Early Hints, chunked bodies, a close-delimited
last response, pipelined bursts. Each exchange has an id carried in a header *and* the body of both
halves, so the oracle never needs the code under test to know which response answers which request.

What a tap would have seen is then made from the true packet list: random capture loss in the
client direction, the server direction or both (single packets and bursts, the handshake too),
reordering of neighbours, duplicates, and optionally a second tap with its own loss and a lag.

``score`` classifies the pipeline's output: a pair whose halves carry different ids is *wrong*; an
id emitted twice is a *duplicate*; a pair equal to the truth is *exact*; one whose damaged halves
are flagged ``body_incomplete`` (with the missing byte count adding up) is *partial*; anything else
emitted is *corrupt*. Exchanges not emitted must be covered by drop counters.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

from interceptor.capture.packets import LINKTYPE_ETHERNET
from tests.interceptor.packetgen import ACK, FIN, PSH, RST, SYN, frame, ip_packet, tcp_segment

Record = tuple[float, bytes, int]  # ts, frame, tap


@dataclass
class Exchange:
    xid: str
    method: str
    target: str
    request: bytes  # wire bytes
    request_body: bytes
    interim: bytes  # 1xx responses sent before the final one (after the head for 100-continue)
    expect_continue: bool
    response: bytes  # wire bytes of the final response
    status: int
    response_body: bytes  # decoded
    close_delimited: bool = False
    c0: int = 0  # client stream offset of the request's first byte
    s0: int = 0  # server stream offset of the response's first byte (its 1xx, if any)


@dataclass
class Segment:
    ts: float
    from_client: bool
    seq: int  # relative to the stream start (first data byte is 0)
    ack: int  # relative offset of the other direction
    flags: int
    payload: bytes = b""


@dataclass
class Truth:
    exchanges: list[Exchange]
    pipelined: bool
    segments: list[Segment] = field(default_factory=list)  # the true packets, in send order
    frames: list[Record] = field(default_factory=list)
    lost: dict[str, int] = field(default_factory=dict)  # what the tap model did, for the report
    loss_mode: str = "none"
    two_taps: bool = False
    visible: set[str] = field(default_factory=set)  # exchanges with a first byte captured on some tap


_PAD = "".join(random.Random(0).choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(20_000))


def _body(xid: str, rng: random.Random, size: int) -> bytes:
    start = rng.randrange(len(_PAD) - 10_000)
    pad = _PAD[start:start + max(0, size)]
    return b'{"id":"%s","email":"u%s@example.com","pad":"%s"}' % (xid.encode(), xid.encode(), pad.encode())


def _chunked(body: bytes, rng: random.Random) -> bytes:
    out, i = [], 0
    while i < len(body):
        n = rng.randint(1, 900)
        out.append(b"%x\r\n%s\r\n" % (len(body[i:i + n]), body[i:i + n]))
        i += n
    return b"".join(out) + b"0\r\n\r\n"


def make_exchange(xid: str, rng: random.Random, last: bool, pipelined: bool) -> Exchange:
    method = rng.choice(["GET", "GET", "POST", "POST", "PUT", "HEAD"])
    target = f"/api/{xid}?q={rng.randint(0, 999)}"
    req_body = _body(xid, rng, rng.choice([0, 20, 300, 2500])) if method in ("POST", "PUT") else b""
    expect = bool(req_body) and not pipelined and rng.random() < 0.15
    head = [f"{method} {target} HTTP/1.1", "Host: svc", f"X-Id: {xid}"]
    if req_body:
        head += ["Content-Type: application/json", f"Content-Length: {len(req_body)}"]
    if expect:
        head.append("Expect: 100-continue")
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + req_body
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" if expect else b""
    if not expect and rng.random() < 0.05:
        interim = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    kind = rng.random()
    status, body, close = 200, _body(xid, rng, rng.choice([10, 200, 1200, 4000, 9000])), False
    hs = [f"X-Id: {xid}", "Content-Type: application/json"]
    if method == "HEAD":
        hs.append(f"Content-Length: {len(body)}")  # what a GET would have had; no body follows
        wire_body, body = b"", b""
    elif kind < 0.08:
        status, wire_body, body = 204, b"", b""
    elif kind < 0.12:
        status, wire_body, body = 304, b"", b""
    elif kind < 0.35:
        hs.append("Transfer-Encoding: chunked")
        wire_body = _chunked(body, rng)
    elif last and kind > 0.93:  # close-delimited: the server ends the connection after it
        hs.append("Connection: close")
        wire_body, close = body, True
    else:
        hs.append(f"Content-Length: {len(body)}")
        wire_body = body
    response = (f"HTTP/1.1 {status} X\r\n" + "".join(h + "\r\n" for h in hs) + "\r\n").encode() + wire_body
    return Exchange(xid, method, target, request, req_body, interim, expect, response, status, body, close)


class _Wire:
    """Both ends' sequence state; appends true segments in send order."""

    def __init__(self, rng: random.Random, t0: float) -> None:
        self.rng = rng
        self.ts = t0
        self.c = 0  # client bytes sent
        self.s = 0  # server bytes sent
        self.segs: list[Segment] = []

    def tick(self) -> float:
        self.ts += self.rng.uniform(0.00002, 0.0004)
        return self.ts

    def send(self, from_client: bool, data: bytes, ack: int, mss: int | None = None) -> None:
        i = 0
        while i < len(data):
            n = mss or self.rng.choice([1448, 1448, 536, self.rng.randint(1, 1448)])
            piece = data[i:i + n]
            seq = self.c if from_client else self.s
            self.segs.append(Segment(self.tick(), from_client, seq, ack, ACK | PSH, piece))
            if from_client:
                self.c += len(piece)
            else:
                self.s += len(piece)
            i += n

    def bare_ack(self, from_client: bool) -> None:
        if self.rng.random() < 0.5:
            seq, ack = (self.c, self.s) if from_client else (self.s, self.c)
            self.segs.append(Segment(self.tick(), from_client, seq, ack, ACK))


def conversation(seed: int, n: int | None = None, pipelined: bool | None = None) -> Truth:
    """The true packets of one connection (relative sequence numbers, ts), and its exchanges."""
    rng = random.Random(seed)
    n = n if n is not None else rng.randint(1, 12)
    pipelined = rng.random() < 0.2 if pipelined is None else pipelined
    exchanges = [make_exchange(f"{seed:x}-{k}", rng, k == n - 1, pipelined) for k in range(n)]
    w = _Wire(rng, 1_700_000_000.0 + rng.random())
    w.segs.append(Segment(w.tick(), True, -1, 0, SYN))
    w.segs.append(Segment(w.tick(), False, -1, 0, SYN | ACK))
    w.segs.append(Segment(w.tick(), True, 0, 0, ACK))
    k = 0
    while k < n:
        burst = rng.randint(2, 3) if pipelined else 1
        group = exchanges[k:k + burst]
        if any(x.close_delimited for x in group[:-1]):
            group = group[:1]
        ends = []
        for x in group:  # the client sends the burst having received all earlier responses
            x.c0 = w.c
            if x.expect_continue:
                head_len = x.request.index(b"\r\n\r\n") + 4
                w.send(True, x.request[:head_len], w.s)
                x.s0 = w.s
                w.send(False, x.interim, w.c)  # 100 Continue once the head is in
                w.send(True, x.request[head_len:], w.s)
            else:
                w.send(True, x.request, w.s)
            ends.append(w.c)
        for j, x in enumerate(group):
            # The server had at least this request; in a burst maybe the later ones too.
            ack = ends[j] if len(group) == 1 else rng.randint(ends[j], ends[-1])
            ack = max(ack, ends[j - 1] if j else 0)
            if not x.expect_continue:
                x.s0 = w.s
            if x.interim and not x.expect_continue:
                w.send(False, x.interim, ack)
            w.send(False, x.response, ack)
            w.bare_ack(True)
        k += len(group)
        if group[-1].close_delimited:
            break
    if exchanges[k - 1].close_delimited:
        w.segs.append(Segment(w.tick(), False, w.s, w.c, FIN | ACK))
        w.segs.append(Segment(w.tick(), True, w.c, w.s + 1, FIN | ACK))
    elif rng.random() < 0.1:
        w.segs.append(Segment(w.tick(), True, w.c, w.s, RST | ACK))
    else:
        w.segs.append(Segment(w.tick(), True, w.c, w.s, FIN | ACK))
        w.segs.append(Segment(w.tick(), False, w.s, w.c + 1, FIN | ACK))
    w.segs.append(Segment(w.tick(), True, w.c + 1, w.s + 1, ACK))
    return Truth(exchanges[:k], pipelined, w.segs)


@dataclass
class Endpoints:
    client: tuple[str, int]
    server: tuple[str, int]
    cisn: int
    sisn: int


def _frame(seg: Segment, ep: Endpoints, linktype: int) -> bytes:
    src, dst = (ep.client, ep.server) if seg.from_client else (ep.server, ep.client)
    own, other = (ep.cisn, ep.sisn) if seg.from_client else (ep.sisn, ep.cisn)
    seq = own + 1 + seg.seq
    ack = other + 1 + seg.ack if seg.flags & ACK else 0
    return frame(linktype, ip_packet(src[0], dst[0], tcp_segment(src[1], dst[1], seq, ack, seg.flags, seg.payload)))


LOSS_MODES = ("none", "client", "server", "both", "burst")


def tap_view(truth: Truth, seed: int, port: int = 40000, loss_mode: str | None = None,
             two_taps: bool | None = None, linktype: int = LINKTYPE_ETHERNET) -> Truth:
    """Fill ``truth.frames`` with what the tap(s) captured: loss, reordering, duplicates, lag."""
    rng = random.Random(seed * 7919 + 1)
    loss_mode = loss_mode or rng.choice(LOSS_MODES)
    two_taps = rng.random() < 0.25 if two_taps is None else two_taps
    ep = Endpoints(("10.1.0.1", port), ("10.2.0.2", 8080), rng.choice([1000, 2**32 - 3000, rng.getrandbits(32)]),
                   rng.choice([5000, 2**32 - 5000, rng.getrandbits(32)]))
    segs = _wire_copy(truth, rng)
    records: list[Record] = []
    for tap in (0, 1) if two_taps else (0,):
        lag = 0.0 if tap == 0 else rng.choice([0.00005, 0.0005, 0.003, 0.02])
        kept = _lossy(segs, rng, loss_mode, truth)
        _mark_visible(truth, kept)
        kept = _reorder(kept, rng)
        for seg in kept:
            records.append((seg.ts + lag, _frame(seg, ep, linktype), tap))
    records.sort(key=lambda r: r[0])
    truth.frames = records
    truth.loss_mode = loss_mode
    truth.two_taps = two_taps
    return truth


def _mark_visible(truth: Truth, kept: list[Segment]) -> None:
    """An exchange whose request head and response head were both cut by capture loss left the
    pipeline nothing to count but the gap (``tcp.gaps``); all others must be paired or counted."""
    for from_client in (True, False):
        covered = _coverage(kept, from_client)
        for x in truth.exchanges:
            start = x.c0 if from_client else x.s0
            wire = x.request if from_client else (x.interim or x.response)
            head = wire.index(b"\r\n\r\n") + 4
            i = bisect.bisect_right(covered, (start, 1 << 62)) - 1
            if i >= 0 and covered[i][0] <= start and covered[i][1] >= start + head:
                truth.visible.add(x.xid)


def _coverage(kept: list[Segment], from_client: bool) -> list[tuple[int, int]]:
    """Merged [start, end) byte ranges of one direction that a tap captured."""
    out: list[tuple[int, int]] = []
    for a, b in sorted((s.seq, s.seq + len(s.payload)) for s in kept if s.payload and s.from_client == from_client):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _wire_copy(truth: Truth, rng: random.Random) -> list[Segment]:
    out = []
    for seg in truth.segments:
        out.append(seg)
        if seg.payload and rng.random() < 0.03:  # a retransmission, a little later
            out.append(Segment(seg.ts + 0.0003, seg.from_client, seg.seq, seg.ack, seg.flags, seg.payload))
    out.sort(key=lambda s: s.ts)
    return out


def _lossy(segs: list[Segment], rng: random.Random, mode: str, truth: Truth) -> list[Segment]:
    if mode == "none":
        return list(segs)
    p = rng.choice([0.01, 0.03, 0.08, 0.2])
    drop_c = mode in ("client", "both")
    drop_s = mode in ("server", "both")
    gone: set[int] = set()
    if mode == "burst":  # one or two runs of consecutive packets, both directions (a full queue)
        for _ in range(rng.randint(1, 2)):
            start = rng.randrange(len(segs))
            gone.update(range(start, start + rng.randint(2, 12)))
    for i, seg in enumerate(segs):
        if (seg.from_client and drop_c or not seg.from_client and drop_s) and rng.random() < p:
            gone.add(i)
    out = []
    for i, seg in enumerate(segs):
        if i in gone:
            truth.lost["client" if seg.from_client else "server"] = truth.lost.get(
                "client" if seg.from_client else "server", 0) + 1
            continue
        out.append(seg)
        if rng.random() < 0.01:  # the tap delivered it twice
            out.append(Segment(seg.ts, seg.from_client, seg.seq, seg.ack, seg.flags, seg.payload))
    return out


def _reorder(segs: list[Segment], rng: random.Random) -> list[Segment]:
    """Neighbours swapped now and then (per-CPU capture queues): their timestamps are exchanged too,
    so the order survives the merge of two taps by time."""
    segs = [Segment(s.ts, s.from_client, s.seq, s.ack, s.flags, s.payload) for s in segs]
    for i in range(len(segs) - 1):
        if rng.random() < 0.03:
            segs[i], segs[i + 1] = segs[i + 1], segs[i]
            segs[i].ts, segs[i + 1].ts = segs[i + 1].ts, segs[i].ts
    return segs


def build(seed: int, port: int = 40000, **kw: object) -> Truth:
    """One generated conversation and its tap view (``kw`` goes to ``tap_view``)."""
    return tap_view(conversation(seed), seed, port=port, **kw)  # type: ignore[arg-type]


# -- the oracle -----------------------------------------------------------------------------------
@dataclass
class Score:
    conversations: int = 0
    exchanges: int = 0
    exact: int = 0
    partial: int = 0
    wrong: int = 0
    duplicate: int = 0
    corrupt: int = 0
    unaccounted: int = 0  # exchanges neither emitted nor covered by a drop counter
    invisible: int = 0  # not emitted, and both first bytes lost by every tap (only tcp.gaps says so)
    by_mode: dict[str, list[int]] = field(default_factory=dict)  # mode -> [exchanges, exact, partial]
    examples: list[str] = field(default_factory=list)

    def add(self, other: Score) -> None:
        for name in ("conversations", "exchanges", "exact", "partial", "wrong", "duplicate", "corrupt",
                     "unaccounted", "invisible"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mode, v in other.by_mode.items():
            mine = self.by_mode.setdefault(mode, [0, 0, 0])
            for i in range(3):
                mine[i] += v[i]
        self.examples += other.examples[: max(0, 10 - len(self.examples))]

    @property
    def failures(self) -> int:
        return self.wrong + self.duplicate + self.corrupt + self.unaccounted


def _xid(headers: list[tuple[str, str]]) -> str | None:
    for k, v in headers:
        if k.lower() == "x-id":
            return v
    return None


def _half_ok(body: bytes, truth: bytes, incomplete: bool, missing: int) -> str:
    """'exact', 'partial' or 'bad' for one half's body."""
    if not incomplete:
        return "exact" if body == truth else "bad"
    if len(body) + missing != len(truth) and missing >= 0:
        # Chunk framing lost inside a gap: the missing count is what the capture lost, an upper bound.
        if len(body) > len(truth):
            return "bad"
    # every captured byte must be a true byte, in order (holes removed)
    it = iter(truth)
    return "partial" if all(b in it for b in body) else "bad"


def score(truth: Truth, pairs: list, drops: int, tag: str = "") -> Score:
    sc = Score(conversations=1, exchanges=len(truth.exchanges))
    by_id = {x.xid: x for x in truth.exchanges}
    seen: set[str] = set()
    mode = truth.loss_mode + ("+2taps" if truth.two_taps else "") + ("+pipelined" if truth.pipelined else "")
    stats = sc.by_mode.setdefault(mode, [len(truth.exchanges), 0, 0])
    for p in pairs:
        rid, sid = _xid(p.request.headers), _xid(p.response.headers)
        if rid != sid or rid not in by_id:
            sc.wrong += 1
            if len(sc.examples) < 10:
                sc.examples.append(f"{tag} wrong pair: request {rid} {p.request.target} <- response {sid}")
            continue
        if rid in seen:
            sc.duplicate += 1
            if len(sc.examples) < 10:
                sc.examples.append(f"{tag} duplicate pair {rid}")
            continue
        seen.add(rid)
        x = by_id[rid]
        head_ok = p.request.method == x.method and p.request.target == x.target and p.response.status == x.status
        req = _half_ok(p.request.body, x.request_body, getattr(p.request, "body_incomplete", False),
                       getattr(p.request, "body_missing", 0))
        resp = _half_ok(p.response.body, x.response_body, getattr(p.response, "body_incomplete", False),
                        getattr(p.response, "body_missing", 0))
        if not head_ok or "bad" in (req, resp):
            sc.corrupt += 1
            if len(sc.examples) < 10:
                sc.examples.append(f"{tag} corrupt pair {rid}: head_ok={head_ok} request={req} response={resp}")
        elif req == resp == "exact":
            sc.exact += 1
            stats[1] += 1
        else:
            sc.partial += 1
            stats[2] += 1
    missing = len(truth.visible - seen)
    sc.invisible = len(set(by_id) - truth.visible - seen)
    if missing > drops:
        sc.unaccounted += missing - drops
        if len(sc.examples) < 10:
            sc.examples.append(f"{tag} {missing} exchanges not emitted, {drops} drops counted")
    return sc


def score_truth(truth: Truth, config: object = None, tag: str = "") -> Score:
    """Replay one tap view through a fresh pipeline and score it."""
    from interceptor.config import Config
    from interceptor.counters import Counters
    from interceptor.pipeline import Pipeline

    if config is None:
        config = Config()
        config.filters.keep_all = True  # type: ignore[attr-defined]
    pairs: list = []
    counters = Counters()
    pipe = Pipeline(config, counters, pairs.append)  # type: ignore[arg-type]
    for ts, data, tap in truth.frames:
        pipe.feed_packet(ts, data, LINKTYPE_ETHERNET, {"kind": "pcap-veth", "interface": f"tap{tap}"})
    pipe.close()
    drops = sum(v for k, v in counters.drops().items() if k not in ("internal_error", "decode_error"))
    sc = score(truth, pairs, drops, tag=tag)
    if counters.dropped("internal_error"):
        sc.corrupt += 1
        sc.examples.append(f"{tag} internal_error")
    return sc


def run(seeds: range, config: object = None, **kw: object) -> Score:
    """Generate, replay (one fresh pipeline per conversation) and score."""
    total = Score()
    for seed in seeds:
        truth = build(seed, **kw)
        total.add(score_truth(truth, config, f"seed={seed} mode={truth.loss_mode} "
                              f"taps={2 if truth.two_taps else 1} pipelined={truth.pipelined}"))
    return total
