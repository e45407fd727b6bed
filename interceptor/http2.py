"""HTTP/2 for a passive observer: one connection's two byte streams in, exchanges out (sans-I/O).

``Http2Connection.receive(direction, data, ts)`` returns the ``Exchange`` events the bytes
completed; ``gap``, ``expire`` and ``close`` report loss, time and the end. No sockets, no
callbacks: the pipeline's adapter (``h2conversation``) turns events into pairs.

- Frames (RFC 9113 §4, §6): DATA is consumed as it arrives (a 16 MB frame is never buffered whole);
  other frames are taken whole, bounded. HEADERS/PUSH_PROMISE + CONTINUATION are joined into one
  block, padding and priority fields removed. SETTINGS, PING, PRIORITY, WINDOW_UPDATE, GOAWAY and
  unknown extension frames change nothing an observer needs (the HPACK table size the encoder
  uses is announced inside the blocks, SETTINGS only allow it).
- Header blocks are decoded by one tolerant HPACK decoder per direction (``hpack_decoder``), every
  block, even of a stream we do not follow, so the table stays in step.
- Streams are paired by id: the client's HEADERS open one, the server's answer it (1xx
  interim headers replaced, trailers appended to the headers), END_STREAM ends a half, the end of
  the response emits the exchange. RST_STREAM before that drops it, counted.
- Joining late (no SYN seen) or after a gap: the reader searches for two frame headers in a row,
  HPACK goes to its joined-late state, and exchanges whose headers referenced unknown table
  entries are marked ``headers_incomplete`` (the fields are left out, never guessed).
- Bounds (all counted): header block (``max_header_bytes``), message body (``max_message_bytes``;
  gRPC streams are cut rather than dropped, a stream has no size to honour), streams per
  connection, the pipeline's shared byte budget.
"""

from __future__ import annotations

import enum
import struct
import zlib
from typing import Final

import brotli  # type: ignore[import-untyped]

from interceptor.counters import Counters
from interceptor.descriptors import Schemas
from interceptor.grpc import GrpcCall, call_of, framed, is_grpc
from interceptor.hotcounts import HotCounts
from interceptor.hpack_decoder import Appended, Decoder, HeaderBlock, Headers, HpackError
from interceptor.http import UnsupportedEncoding, decode_content
from interceptor.pairs import Request, Response
from interceptor.reassembly import Budget

# Module constants are ``Final``: compiled, mypyc inlines them (a plain global is a dict lookup and
# a boxed comparison each time the frame loop reads one: ~46 lookups per gRPC call, callgrind).
PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
VERSION: Final = "HTTP/2"
_HEAD: Final = struct.Struct(">HBBBL")  # 24-bit length as 16 + 8 bits, type, flags, stream id

DATA: Final = 0
HEADERS: Final = 1
PRIORITY: Final = 2
RST_STREAM: Final = 3
SETTINGS: Final = 4
PUSH_PROMISE: Final = 5
PING: Final = 6
GOAWAY: Final = 7
WINDOW_UPDATE: Final = 8
CONTINUATION: Final = 9
END_STREAM: Final = 0x1
END_HEADERS: Final = 0x4
PADDED: Final = 0x8
PRIORITY_FLAG: Final = 0x20
# Flags each type defines (a frame header with others set is not a plausible resync point).
_FLAGS: Final = {DATA: 0x09, HEADERS: 0x2D, PRIORITY: 0, RST_STREAM: 0, SETTINGS: 0x01, PUSH_PROMISE: 0x0C,
                 PING: 0x01, GOAWAY: 0, WINDOW_UPDATE: 0, CONTINUATION: 0x04}
_ON_STREAM: Final = {DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE, CONTINUATION}
_FIXED_LENGTH: Final = {PRIORITY: 5, RST_STREAM: 4, PING: 8, WINDOW_UPDATE: 4}
# Frames whose payload the reader needs; every other type (SETTINGS, PING, PRIORITY, WINDOW_UPDATE,
# extensions) is stepped over without being sliced or dispatched: a gRPC call carries as many of
# those (BDP pings, window updates) as frames that matter.
# A bit per type, read once per frame as ``_KEPT_MASK >> ftype & 1`` (compiled, a frozenset lookup
# of a boxed int cost ~100 instructions a frame).
_KEPT_MASK: Final = 1 << HEADERS | 1 << PUSH_PROMISE | 1 << CONTINUATION | 1 << RST_STREAM | 1 << GOAWAY
_BLOCK: Final = frozenset({HEADERS, PUSH_PROMISE, CONTINUATION})  # bounded by max_header_bytes
_PLAIN_BLOCK: Final = END_HEADERS | PADDED | PRIORITY_FLAG
RESYNC_MAX_FRAME: Final = 16_384  # the default SETTINGS_MAX_FRAME_SIZE: larger frames are not resync points
FRAMES_FLUSH: Final = 1024  # frames read before they are added to h2.frames (and at close)
MAX_CONTROL_FRAME: Final = 65_536  # SETTINGS, GOAWAY, unknown types: taken whole up to this, skipped past it


class H2Limits:
    """The layer's bounds (from the config). A plain class: creating a dataclass at import costs
    ~2.5M instructions and three generated functions compiled from source, every process start."""

    __slots__ = ("max_message_bytes", "max_header_bytes", "truncate", "decode", "max_streams", "grpc_max_messages",
                 "schemas")

    def __init__(self, max_message_bytes: int, max_header_bytes: int, truncate: bool, decode: bool = True,
                 max_streams: int = 100, grpc_max_messages: int = 64, schemas: Schemas | None = None) -> None:
        self.max_message_bytes = max_message_bytes
        self.max_header_bytes = max_header_bytes
        self.truncate = truncate
        self.decode = decode
        self.max_streams = max_streams  # concurrently open streams per connection (RFC 9113's usual minimum)
        self.grpc_max_messages = grpc_max_messages  # decoded gRPC messages kept per half
        self.schemas = schemas  # field names from grpc.descriptor_sets

    def __repr__(self) -> str:
        return (f"H2Limits(max_message_bytes={self.max_message_bytes}, max_header_bytes={self.max_header_bytes}, "
                f"truncate={self.truncate}, decode={self.decode}, max_streams={self.max_streams}, "
                f"grpc_max_messages={self.grpc_max_messages})")


class Exchange:
    """A stream's request and response, complete. A plain class: one is made per exchange, and a
    compiled dataclass's ``__init__`` stays interpreted (callgrind: ~2.9k instructions a call)."""

    __slots__ = ("stream_id", "request", "response", "headers_incomplete", "grpc")

    def __init__(self, stream_id: int, request: Request, response: Response, headers_incomplete: bool,
                 grpc: GrpcCall | None = None) -> None:
        self.stream_id = stream_id
        self.request = request
        self.response = response
        self.headers_incomplete = headers_incomplete  # some header fields referenced HPACK entries we never saw
        self.grpc = grpc

    def __repr__(self) -> str:
        return f"<Exchange stream={self.stream_id} {self.request.method} {self.request.target} -> {self.response.status}>"


class ReadState(enum.Enum):
    START = "start"  # the connection's first bytes: the client preface, or the server's frames
    FRAME = "frame"  # at a frame header
    DATA = "data"  # inside a DATA frame's payload
    SKIP = "skip"  # inside a frame we do not keep
    RESYNC = "resync"  # searching for a frame boundary (joined late, after a gap)


class _Half:
    """One side of a stream. A plain class: two are made per stream, and a compiled dataclass's
    default factories cost more than this ``__init__`` (callgrind: ~11k instructions a stream)."""

    __slots__ = ("headers", "index", "status", "ts", "parts", "stored", "body_size", "wire_bytes", "ended",
                 "oversize", "truncated", "unknown")

    def __init__(self) -> None:
        self.headers: Headers | None = None  # possibly shared with the HPACK decoder's memory: replaced, never changed
        self.index: dict[str, str] | None = None  # lower-case name -> first value (shared likewise)
        self.status: int | None = None  # a response's :status
        self.ts = 0.0
        self.parts: list[bytes] = []
        self.stored = 0
        self.body_size = 0
        self.wire_bytes = 0
        self.ended = False
        self.oversize = ""
        self.truncated = False
        self.unknown = 0  # header fields left out (unknown HPACK entries)


class _Stream:
    __slots__ = ("id", "req", "resp", "grpc")

    def __init__(self, sid: int) -> None:
        self.id = sid
        self.req = _Half()
        self.resp = _Half()
        self.grpc = False


class _Reader:
    """One direction: framing state, its HPACK decoder, a header block being continued. (A plain
    class, as ``_Half``: a dataclass costs ~2.5M instructions to create at import.)"""

    __slots__ = ("decoder", "state", "buf", "sid", "content_left", "pad_left", "end_stream", "skip_left", "block",
                 "block_sid", "block_size", "block_end_stream", "block_push", "block_dropped", "held")

    def __init__(self, decoder: Decoder, state: ReadState) -> None:
        self.decoder = decoder
        self.state = state
        self.buf = b""
        self.sid = 0  # DATA being read: stream, payload and padding left, END_STREAM flag
        self.content_left = 0
        self.pad_left = 0
        self.end_stream = False
        self.skip_left = 0
        self.block: list[bytes] | None = None  # HEADERS/PUSH_PROMISE fragments awaiting CONTINUATION
        self.block_sid = 0
        self.block_size = 0
        self.block_end_stream = False
        self.block_push = False
        self.block_dropped = False  # over the bound: its fragments are skipped, the table is lost
        self.held = 0  # bytes of ``buf`` reserved from the budget


class Http2Connection:
    """One HTTP/2 connection; direction 0 and 1 are the two TCP directions."""

    def __init__(self, limits: H2Limits, counters: Counters, budget: Budget, joined_late: bool = False,
                 client: int | None = None) -> None:
        self.limits = limits
        self.counters = counters
        # The counts dict itself, for the per-frame and per-exchange counts: compiled, reading it
        # through ``Counters`` (an interpreted class) was an attribute lookup each time.
        self.counts: dict[str, int] = counters.counts
        self.hot: HotCounts = counters.hot  # (the exchange counts: native ints)
        self.budget = budget
        self.client = client
        state = ReadState.RESYNC if joined_late else ReadState.START
        self.readers = (_Reader(Decoder(joined_late), state), _Reader(Decoder(joined_late), state))
        self.streams: dict[int, _Stream] = {}
        self.events: list[Exchange] = []
        # Frames read and not yet added to ``h2.frames``: added every FRAMES_FLUSH and at the end
        # (close, discard), not once per packet (an increment of the shared dict is ~570 instructions,
        # two per gRPC call). The count lags by less than FRAMES_FLUSH frames per connection.
        self.frames = 0

    def __repr__(self) -> str:
        r0, r1 = self.readers
        return f"<Http2Connection client={self.client} {r0.state.value}/{r1.state.value} streams={len(self.streams)}>"

    # -- input ------------------------------------------------------------------------------------
    def receive(self, direction: int, data: bytes, ts: float) -> list[Exchange]:
        r = self.readers[direction]
        r.buf = r.buf + data if r.buf else data
        self._read(direction, r, ts)
        if r.buf or r.held:
            self._hold(direction, r)
        events = self.events
        if events:  # else the (empty) list itself: read before the next call, no new list per packet
            self.events = []
        return events

    def _hold(self, d: int, r: _Reader) -> None:
        """A partial frame waits for its rest: its bytes count against the shared budget."""
        need = len(r.buf) - r.held
        if need <= 0:
            self.budget.release(-need)
        elif not self.budget.reserve(need):
            self.counters.drop("memory_budget")
            self.budget.release(r.held)
            r.held, r.buf = 0, b""
            self._protocol_error(d, r)  # the frame is lost: resync on the next one
            return
        r.held = len(r.buf)

    def upgraded(self, request: Request, client: int) -> None:
        """``Upgrade: h2c`` was accepted: the HTTP/1 request is stream 1, already sent (RFC 7540 §3.2)."""
        self.client = client
        stream = _Stream(1)
        half = stream.req
        half.headers = [(":method", request.method), (":path", request.target), *request.headers]
        half.index = HeaderBlock.of(half.headers, 0).index
        half.ts, half.ended = request.ts, True
        if request.body and self.budget.reserve(len(request.body)):
            half.parts, half.stored = [request.body], len(request.body)
        half.body_size = half.wire_bytes = len(request.body)
        self.streams[1] = stream

    def gap(self, direction: int) -> None:
        """Bytes of this direction were lost: its HPACK state and the halves in flight are gone."""
        r = self.readers[direction]
        self.counters.inc("h2.gaps")
        if r.decoder.entries or not r.decoder.joined_late:
            self.counters.inc("h2.hpack_state_lost")
        r.decoder.lose_state()
        r.block = None
        r.buf = b""
        self.budget.release(r.held)
        r.held = 0
        r.state = ReadState.RESYNC
        for stream in list(self.streams.values()):
            half = self._half(stream, direction)
            if half is not None and half.headers is not None and not half.ended:
                self._drop(stream, "gap")

    def expire(self, now: float, timeout_s: float) -> None:
        """Drop streams whose request waited longer than ``timeout_s`` without a response begun."""
        limit = now - timeout_s
        for stream in list(self.streams.values()):
            if stream.resp.headers is None and stream.req.ts < limit:
                self._drop(stream, "response_timeout")

    def close(self, reason: str = "no_response") -> list[Exchange]:
        """The connection is over: every stream left open is counted once."""
        self._count_frames()
        for stream in list(self.streams.values()):
            self._drop(stream, reason if stream.resp.headers is None else "incomplete_at_close")
        for r in self.readers:
            r.buf, r.block = b"", None
            self.budget.release(r.held)
            r.held = 0
        events, self.events = self.events, []
        return events

    def discard(self) -> None:
        """Forget everything without counting (after an internal error); held bytes go back."""
        self._count_frames()  # (those were read)
        for r in self.readers:
            self.budget.release(r.held)
            r.held, r.buf = 0, b""
        for stream in self.streams.values():
            self._release(stream.req)
            self._release(stream.resp)
        self.streams.clear()

    # -- framing ----------------------------------------------------------------------------------
    def _read(self, d: int, r: _Reader, ts: float) -> None:
        buf = r.buf
        pos, n = 0, len(buf)
        frames = 0
        while pos < n:
            state = r.state
            if state is not ReadState.FRAME:
                if state is ReadState.DATA:
                    pos = self._data_payload(d, r, buf, pos, n, ts)
                    continue
                if state is ReadState.SKIP:
                    take = min(r.skip_left, n - pos)
                    r.skip_left -= take
                    pos += take
                    if not r.skip_left:
                        r.state = ReadState.FRAME
                    continue
                if state is ReadState.START:
                    if buf.startswith(PREFACE, pos):
                        pos += len(PREFACE)
                        self._set_client(d)
                    elif PREFACE.startswith(buf[pos:pos + len(PREFACE)]):
                        break  # a preface may still be coming
                    r.state = ReadState.FRAME
                    continue
                found = resync_point(buf, pos)  # RESYNC
                if found < 0:
                    skipped = max(0, n - 9 - pos) if n - pos > 9 + MAX_CONTROL_FRAME else 0
                    self.counters.inc("h2.resync_skipped_bytes", skipped)
                    pos += skipped
                    break
                self.counters.inc("h2.resync_skipped_bytes", found - pos)
                self.counters.inc("h2.resyncs")
                pos = found
                r.state = ReadState.FRAME
            if n - pos < 9:
                break
            # The 9-byte frame header read byte by byte, joined by * and + (compiled, inline; mypyc
            # calls out for <<): ~250 instructions a frame, struct's unpack_from and its tuple ~1.3k.
            length = buf[pos] * 65536 + buf[pos + 1] * 256 + buf[pos + 2]
            ftype = buf[pos + 3]
            flags = buf[pos + 4]
            sid = (buf[pos + 5] & 0x7F) * 16777216 + buf[pos + 6] * 65536 + buf[pos + 7] * 256 + buf[pos + 8]
            if r.block is not None and ftype != CONTINUATION:
                self._protocol_error(d, r)  # RFC 9113 §6.10: nothing may interleave a header block
                continue
            end = pos + 9 + length
            if ftype == DATA:
                if flags & PADDED:
                    if n - pos < 10:
                        break
                    pad = buf[pos + 9]
                    if pad >= length:
                        self._protocol_error(d, r)
                        pos += 1
                        continue
                    r.content_left, r.pad_left = length - 1 - pad, pad
                    pos += 10
                elif end <= n:  # the whole frame is here (the usual case): no state to keep
                    frames += 1
                    if length:
                        self._store(d, sid, buf[pos + 9:end])
                    pos = end
                    if flags & END_STREAM:
                        self._end_half(d, sid, ts)
                    continue
                else:
                    r.content_left, r.pad_left = length, 0
                    pos += 9
                frames += 1
                r.sid, r.end_stream = sid, bool(flags & END_STREAM)
                r.state = ReadState.DATA
                pos = self._data_payload(d, r, buf, pos, n, ts)  # an empty DATA ends here and now
                continue
            if not _KEPT_MASK >> ftype & 1 and length <= MAX_CONTROL_FRAME:
                if end > n:
                    break
                frames += 1
                pos = end
                continue
            if ftype == HEADERS and flags & _PLAIN_BLOCK == END_HEADERS and end <= n and length <= self.limits.max_header_bytes:
                frames += 1  # a whole block in one frame, no padding or priority: decoded at once
                self._header_block(d, r, sid, buf[pos + 9:end], bool(flags & END_STREAM), False, ts)
                pos = end
                continue
            bound = self.limits.max_header_bytes if ftype in _BLOCK else MAX_CONTROL_FRAME
            if length > bound:
                pos += 9
                r.skip_left, r.state = length, ReadState.SKIP
                self._oversized(d, r, ftype, flags, sid)
                continue
            if end > n:
                break
            frames += 1
            self._frame(d, r, ftype, flags, sid, buf[pos + 9:end], ts)
            pos = end
        r.buf = buf[pos:] if pos < n else b""
        self.frames += frames
        if self.frames >= FRAMES_FLUSH:
            self._count_frames()

    def _count_frames(self) -> None:
        if self.frames:
            self.counts["h2.frames"] += self.frames
            self.frames = 0

    def _data_payload(self, d: int, r: _Reader, buf: bytes, pos: int, n: int, ts: float) -> int:
        if r.content_left:
            take = min(r.content_left, n - pos)
            self._store(d, r.sid, buf[pos:pos + take] if take < n - pos or pos else buf)
            r.content_left -= take
            pos += take
        if not r.content_left:
            take = min(r.pad_left, n - pos)
            r.pad_left -= take
            pos += take
            if not r.pad_left:
                r.state = ReadState.FRAME
                if r.end_stream:
                    self._end_half(d, r.sid, ts)
        return pos

    def _frame(self, d: int, r: _Reader, ftype: int, flags: int, sid: int, payload: bytes, ts: float) -> None:
        if ftype == HEADERS or ftype == PUSH_PROMISE:
            fragment = _fragment(ftype, flags, payload)
            if fragment is None:
                self._protocol_error(d, r)
                return
            r.block, r.block_sid, r.block_size = [fragment], sid, len(fragment)
            r.block_end_stream, r.block_push, r.block_dropped = bool(flags & END_STREAM), ftype == PUSH_PROMISE, False
            if flags & END_HEADERS:
                self._block_done(d, r, ts)
        elif ftype == CONTINUATION:
            if r.block is None or sid != r.block_sid:
                self._protocol_error(d, r)
                return
            r.block_size += len(payload)
            if r.block_size > self.limits.max_header_bytes and not r.block_dropped:
                self._drop_block(d, r)
            if not r.block_dropped:
                r.block.append(payload)
            if flags & END_HEADERS:
                self._block_done(d, r, ts)
        elif ftype == RST_STREAM:
            self._reset(sid)
        elif ftype == GOAWAY:
            self.counters.inc("h2.goaway")
        # SETTINGS, PING, PRIORITY, WINDOW_UPDATE and extension frames: nothing to keep.

    def _oversized(self, d: int, r: _Reader, ftype: int, flags: int, sid: int) -> None:
        """A frame past its bound is skipped unread; a header block in it costs the HPACK state."""
        if ftype in (HEADERS, PUSH_PROMISE):
            r.block, r.block_sid, r.block_size = [], sid, 0
            r.block_end_stream, r.block_push = bool(flags & END_STREAM), ftype == PUSH_PROMISE
            self._drop_block(d, r)
            if flags & END_HEADERS:
                self._block_done(d, r, 0.0)
        elif ftype == CONTINUATION and r.block is not None:
            if not r.block_dropped:
                self._drop_block(d, r)
            if flags & END_HEADERS:
                self._block_done(d, r, 0.0)
        else:
            self.counters.inc("h2.oversized_frames")

    def _drop_block(self, d: int, r: _Reader) -> None:
        r.block_dropped = True
        r.block = []
        self.counters.drop("header_too_large")
        self._lose_hpack(r)
        stream = self.streams.get(r.block_sid)
        if stream is not None:
            self._discard(stream)

    def _protocol_error(self, d: int, r: _Reader) -> None:
        """The direction's framing cannot be trusted (RFC 9113 would close the connection; an
        observer searches for the next frame boundary): the halves in flight are lost."""
        self.counters.inc("h2.protocol_errors")
        self._lose_hpack(r)
        r.block = None
        r.state = ReadState.RESYNC
        for stream in list(self.streams.values()):
            half = self._half(stream, d)
            if half is not None and half.headers is not None and not half.ended:
                self._drop(stream, "h2_protocol_error")

    def _lose_hpack(self, r: _Reader) -> None:
        self.counters.inc("h2.hpack_state_lost")
        r.decoder.lose_state()

    # -- header blocks ----------------------------------------------------------------------------
    def _block_done(self, d: int, r: _Reader, ts: float) -> None:
        fragments, sid, dropped = r.block, r.block_sid, r.block_dropped
        r.block = None
        if dropped or fragments is None:
            return
        block = fragments[0] if len(fragments) == 1 else b"".join(fragments)
        self._header_block(d, r, sid, block, r.block_end_stream, r.block_push, ts)

    def _header_block(self, d: int, r: _Reader, sid: int, block: bytes, end_stream: bool, push: bool,
                      ts: float) -> None:
        try:
            decoded = r.decoder.decode(block)
        except HpackError:
            self.counters.inc("h2.hpack_errors")
            self._lose_hpack(r)
            stream = self.streams.get(sid)
            if stream is not None:
                self._drop(stream, "h2_hpack_error")
            return
        if decoded.unknown:
            self.counters.inc("h2.header_fields_unknown", decoded.unknown)
        if push:
            self.counters.inc("h2.push_promises")  # decoded for the table; pushed streams not followed
            return
        self._headers(d, sid, decoded, end_stream, ts)

    def _headers(self, d: int, sid: int, block: HeaderBlock, end_stream: bool, ts: float) -> None:
        index = block.index
        if self.client is None:
            if ":method" in index:
                self._set_client(d)
            elif ":status" in index:
                self._set_client(1 - d)
        if sid == 0 or not sid & 1:
            self.counters.inc("h2.pushed_streams" if sid else "h2.protocol_errors")
            return
        client = self.client
        if client is None:
            self.counters.drop("h2_role_unknown")
            return
        stream = self.streams.get(sid)
        if d == client:
            if stream is None:
                if len(self.streams) >= self.limits.max_streams:
                    self.counters.drop("h2_too_many_streams")
                    return
                stream = self.streams[sid] = _Stream(sid)
            half = stream.req
        else:
            if stream is None:
                self.counters.drop("response_without_request")
                return
            half = stream.resp
            if half.status is not None and half.status < 200 and block.status is not None:
                self.counters.inc("h2.interim_responses")
                half.headers = None
        if half.headers is None:
            half.headers, half.index, half.status, half.ts = block.headers, index, block.status, ts
            if d == client:
                stream.grpc = is_grpc(index.get("content-type", ""))
        else:  # trailers follow the headers (joined in new objects, shared as the blocks are)
            assert half.index is not None
            joined = Appended.of(half.headers, half.index, block)
            half.headers, half.index = joined.headers, joined.index
            if half.status is None:
                half.status = block.status
        half.unknown += block.unknown
        if end_stream:
            self._end_half(d, sid, ts)

    # -- bodies and completion --------------------------------------------------------------------
    def _half(self, stream: _Stream, d: int) -> _Half | None:
        if self.client is None:
            return None
        return stream.req if d == self.client else stream.resp

    def _store(self, d: int, sid: int, data: bytes) -> None:
        stream = self.streams.get(sid)
        if stream is None or self.client is None:
            self.counts["h2.data_unfollowed_bytes"] += len(data)
            return
        half = stream.req if d == self.client else stream.resp
        if half.headers is None:
            self.counts["h2.data_unfollowed_bytes"] += len(data)
            return
        half.body_size += len(data)
        half.wire_bytes += len(data)
        if half.oversize:
            return
        room = self.limits.max_message_bytes - half.stored
        if len(data) > room:
            if not (self.limits.truncate or stream.grpc):
                self._shed(half, "request_too_large" if d == self.client else "response_too_large")
                return
            data = data[:room]
            if not half.truncated:
                half.truncated = True
                if stream.grpc:
                    self.counters.inc("grpc.streams_cut")
        if not data:
            return
        if not self.budget.reserve(len(data)):
            self._shed(half, "memory_budget")
            return
        half.parts.append(data)
        half.stored += len(data)

    def _shed(self, half: _Half, reason: str) -> None:
        half.oversize = reason
        self._release(half)

    def _release(self, half: _Half) -> bytes:
        body = half.parts[0] if len(half.parts) == 1 else b"".join(half.parts)
        self.budget.release(half.stored)
        half.parts, half.stored = [], 0
        return body

    def _end_half(self, d: int, sid: int, ts: float) -> None:
        stream = self.streams.get(sid)
        if stream is None or self.client is None:
            return
        half = stream.req if d == self.client else stream.resp
        if half.headers is None:
            return
        half.ended = True
        if d != self.client:
            self.hot.responses += 1
            self._complete(stream)
        else:
            self.hot.requests += 1

    def _reset(self, sid: int) -> None:
        stream = self.streams.get(sid)
        if stream is not None:
            self.counters.inc("h2.streams_reset")
            self._drop(stream, "h2_stream_reset")

    def _drop(self, stream: _Stream, reason: str) -> None:
        """The stream ends without a pair: counted once, by this (its first) reason."""
        half = stream.resp if stream.resp.oversize else stream.req
        self.counters.drop(half.oversize or reason)
        self._discard(stream)

    def _discard(self, stream: _Stream) -> None:
        self.streams.pop(stream.id, None)
        self._release(stream.req)
        self._release(stream.resp)

    def _complete(self, stream: _Stream) -> None:
        del self.streams[stream.id]  # (found there by _end_half)
        req_half, resp_half = stream.req, stream.resp
        req_body, resp_body = self._release(req_half), self._release(resp_half)
        half = req_half if req_half.oversize else resp_half  # the request's reason first
        if half.oversize:
            self.counters.drop(half.oversize)
            return
        status = resp_half.status
        if status is None:
            self.counters.drop("h2_status_unknown")
            return
        req = self._message(req_half, req_body)
        resp = self._message(resp_half, resp_body)
        if req is None or resp is None:
            return
        index = req_half.index
        assert index is not None
        method = index.get(":method", "")
        target = index.get(":path") or (index.get(":authority", "") if method == "CONNECT" else "")
        request = Request(VERSION, req[0], req[1], req[2], req[3], req_half.ts, req_half.wire_bytes, index,
                          method=method, target=target)
        response = Response(VERSION, resp[0], resp[1], resp[2], resp[3], resp_half.ts, resp_half.wire_bytes,
                            resp_half.index, status=status)
        grpc = None
        if not stream.grpc and req_half.unknown and request.header("content-type") is None:
            stream.grpc = framed(request.body) and (not response.body or framed(response.body))
        if stream.grpc:
            limits = self.limits
            grpc = call_of(request, response, target, self.counters, limits.grpc_max_messages,
                           limits.max_message_bytes, limits.schemas)
        self.counts["h2.exchanges"] += 1
        incomplete = bool(req_half.unknown or resp_half.unknown)
        if incomplete:
            self.counters.inc("h2.headers_incomplete")
        self.events.append(Exchange(stream.id, request, response, incomplete, grpc))

    def _message(self, half: _Half, body: bytes) -> tuple[Headers, bytes, int, bool] | None:
        """A half's headers (the pair's own list: the half's may be the decoder's), body with its
        content-encoding removed, size and truncation; None if it is dropped."""
        headers, index = half.headers, half.index
        assert headers is not None and index is not None
        size, truncated = half.body_size, half.truncated
        encoding = index.get("content-encoding")
        if encoding and self.limits.decode and body and (encoding := encoding.strip().lower()):
            decoded = self._decode(encoding, body)
            if decoded is None:
                return None
            body, complete = decoded
            size = len(body) if complete else max(len(body), size)
            truncated = truncated or not complete
        return list(headers), body, size, truncated

    def _decode(self, encoding: str, body: bytes) -> tuple[bytes, bool] | None:
        """Content-Encoding removed as for HTTP/1 (same helper, same bound, same counters)."""
        try:
            decoded, complete = decode_content(encoding, body, self.limits.max_message_bytes)
        except UnsupportedEncoding:
            self.counters.inc("http.unknown_content_encoding")
            return body, True
        except (zlib.error, brotli.error, ValueError):
            self.counters.inc("http.content_decode_errors")
            return body, True
        if not complete:
            self.counters.inc("http.decompression_limit_hits")
            if not self.limits.truncate:
                self.counters.drop("decompression_limit")
                return None
        return decoded, complete

    def _set_client(self, d: int) -> None:
        if self.client is None:
            self.client = d


def _fragment(ftype: int, flags: int, payload: bytes) -> bytes | None:
    """The header block fragment of a HEADERS/PUSH_PROMISE payload (padding, priority, promised id
    removed), or None if the padding does not fit."""
    start, end = 0, len(payload)
    if flags & PADDED:
        if not payload:
            return None
        start, end = 1, end - payload[0]
    if ftype == HEADERS and flags & PRIORITY_FLAG:
        start += 5
    elif ftype == PUSH_PROMISE:
        start += 4
    if start > end:
        return None
    return payload[start:end] if start or end < len(payload) else payload


def resync_point(buf: bytes, pos: int) -> int:
    """The first offset from ``pos`` where a plausible frame header is followed by another one (or
    by the end of the buffer exactly), or -1."""
    n = len(buf)
    if n - 9 < pos:
        return -1
    unpack = _HEAD.unpack_from
    i = pos - 1
    while True:
        # A resync frame is at most 16 KB long: its length starts with a zero byte (text has none).
        i = buf.find(b"\x00", i + 1, n - 8)
        if i < 0:
            return -1
        hi, lo, ftype, flags, sid = unpack(buf, i)
        length = hi << 8 | lo
        if not _plausible(length, ftype, flags, sid):
            continue
        nxt = i + 9 + length
        if nxt == n:
            return i
        if nxt + 9 <= n and _plausible(*_split(unpack(buf, nxt))):
            return i


def _split(head: tuple[int, int, int, int, int]) -> tuple[int, int, int, int]:
    hi, lo, ftype, flags, sid = head
    return hi << 8 | lo, ftype, flags, sid


def _plausible(length: int, ftype: int, flags: int, sid: int) -> bool:
    allowed = _FLAGS.get(ftype)
    if allowed is None or flags & ~allowed or sid & 0x80000000 or length > RESYNC_MAX_FRAME:
        return False
    if (sid != 0) != (ftype in _ON_STREAM) and ftype != WINDOW_UPDATE:
        return False
    fixed = _FIXED_LENGTH.get(ftype)
    if fixed is not None and length != fixed:
        return False
    return not (ftype == SETTINGS and length % 6)
