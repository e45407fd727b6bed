"""Passive HTTP/1.x message framing for one direction of a connection.

A ``MessageParser`` is fed the ordered bytes of one direction (``feed``) and gives back events one
at a time (``next_event``, as h11 does; see ``httpevents``): complete messages (head + decoded
body), failed ones, the direction's role, an upgrade. It parses lazily, one event ahead at most,
so its owner can act on each message before the next is framed (a response's framing depends on
the request it answers). It is a small explicit state machine (``State``), detects HTTP by
content rather than port, and can start anywhere: after a gap, or on a capture that began
mid-connection, it searches for the next request or status line (``resync``). Bodies are framed by
Content-Length, chunked encoding (extensions, trailers) or connection close; bodies are stored up
to the message bound and Content-Encoding (gzip, deflate, br) is removed with the same bound, so a
decompression bomb stops at the limit.
"""

from __future__ import annotations

import enum
import re
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import brotli

from interceptor.counters import Counters
from interceptor.httpevents import Complete, Event, Failed, RoleKnown, Span, Upgraded
from interceptor.httpsyntax import (
    CHUNK_LINE,
    FIELDS_ANY_EOL,
    HEAD_ANY_EOL,
    HEAD_CRLF,
    HEAD_END,
    MAX_BLOCK,
    FramingError,
    body_framing,
    content_length,
    crlf_lines,
    decode_text,
    known_fields,
    remember,
)
from interceptor.pairs import Headers, Request, Response
from interceptor.reassembly import Budget

# After a gap only well-known methods count, so body bytes are not taken for a request line.
RESYNC_REQUEST = re.compile(
    rb"(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|TRACE|CONNECT|PROPFIND|PROPPATCH|MKCOL|COPY|MOVE|"
    rb"LOCK|UNLOCK|REPORT|SEARCH|PURGE) [^ \r\n]+ HTTP/1\.[01]\r\n"
)
RESYNC_STATUS = re.compile(rb"HTTP/1\.[01] [1-9][0-9][0-9][^\r\n]*\r\n")
# A message start, or the beginning of one (a method of up to 32 token characters may arrive split).
START_PREFIX = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}(?: |\Z)|HTTP/1\.")
# (Final, here and below: compiled, read as constants, not looked up in the module's dict per use)
CRLF2: Final = b"\r\n\r\n"
CRLF_START: Final = (b"\r", b"\n")
HTTP_VERSIONS: Final = ("HTTP/1.1", "HTTP/1.0")
METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # any token (RFC 9110 9.1)
KNOWN_METHODS: Final = frozenset(("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"))
WSP: Final = (" ", "\t")
BODILESS: Final = ("HEAD", "CONNECT")  # a response to these has no body whatever its headers say


class State(enum.Enum):
    DETECT = "detect"  # expecting a message start at the buffer's beginning
    RESYNC = "resync"  # searching for the next message start after damage
    BODY_LENGTH = "body_length"
    CHUNK_SIZE = "chunk_size"
    CHUNK_DATA = "chunk_data"
    CHUNK_END = "chunk_end"
    TRAILERS = "trailers"
    BODY_CLOSE = "body_close"
    DEAD = "dead"  # not HTTP, or upgraded to another protocol: ignore the rest


# The states tested for every segment, as constants: compiled, ``State.X`` is a generic attribute
# lookup on the enum class each time (an enum is not a native class), a Final a C static.
DETECT: Final = State.DETECT
DEAD: Final = State.DEAD


# Small records of the hot path are plain classes (one or two per message or segment): compiled,
# they are built and read natively (a NamedTuple takes a Python-level call to build, a frozen
# dataclass ~1 µs); in pure Python they cost about what a NamedTuple does.
class RequestLine:
    __slots__ = ("method", "target", "version")

    def __init__(self, method: str, target: str, version: str) -> None:
        self.method = method
        self.target = target
        self.version = version

    def __eq__(self, other: object) -> bool:
        return (type(other) is RequestLine and self.method == other.method and self.target == other.target
                and self.version == other.version)

    def __hash__(self) -> int:
        return hash((self.method, self.target, self.version))

    def __repr__(self) -> str:
        return f"RequestLine({self.method!r}, {self.target!r}, {self.version!r})"


class StatusLine:
    __slots__ = ("version", "status", "reason")

    def __init__(self, version: str, status: int, reason: str) -> None:
        self.version = version
        self.status = status
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return (type(other) is StatusLine and self.version == other.version and self.status == other.status
                and self.reason == other.reason)

    def __hash__(self) -> int:
        return hash((self.version, self.status, self.reason))

    def __repr__(self) -> str:
        return f"StatusLine({self.version!r}, {self.status}, {self.reason!r})"


StartLine = RequestLine | StatusLine


MAX_CHUNK_ENDS: Final = 8  # chunk ends kept for ``prior_ack`` (a response's lead is among the last few)


class ExpressHead:
    """A head the express path can frame the message of, parsed: its bytes through the blank line
    (``raw``; ``end``: where the blank line starts), the start line, the fields, their index and
    the Content-Length (0: none). Each parser keeps the last one (``MessageParser.memo``): most
    heads of a connection repeat the one before byte for byte (a client asking one endpoint again,
    a server's responses within one second of their Date), and a repeated head costs a memcmp
    instead of the search for its end, the decoding, the checks and the table lookups. Its lists
    are never changed (each message gets copies)."""

    __slots__ = ("raw", "end", "start", "headers", "index", "length", "encoded")

    def __init__(self, raw: bytes, end: int, start: StartLine, headers: Headers, index: dict[str, str],
                 length: int, encoded: bool) -> None:
        self.raw = raw
        self.end = end
        self.start = start
        self.headers = headers
        self.index = index
        self.length = length
        self.encoded = encoded  # it has a Content-Encoding


# The longest head a parser keeps as its memo: bounds what an idle connection holds (two of these
# at most), as httpsyntax bounds its table of field blocks.
MAX_MEMO_HEAD: Final = MAX_BLOCK


class MethodSource:
    """Base of what a response reader asks the method of the request it answers (the conversation,
    which holds both directions): compiled, a native call, where a function kept by the reader
    (``functools.partial`` of a bound method) is a generic one per response."""

    __slots__ = ()

    def request_method(self, direction: int) -> str | None:
        raise NotImplementedError


class AckMark:
    """A fed chunk: from ``offset`` on (up to the next mark), the direction's bytes came in
    segments that acknowledged ``ack`` of the other direction; ``end``: just past the chunk. (One
    per segment, in the parser's list of chunks still buffered and its ring of the last chunk
    ends: a plain class, which compiled is built by a native call.)"""

    __slots__ = ("offset", "ack", "end")

    def __init__(self, offset: int, ack: int | None, end: int) -> None:
        self.offset = offset
        self.ack = ack
        self.end = end

    def __repr__(self) -> str:
        return f"AckMark({self.offset}, {self.ack}, {self.end})"


NO_MARK: Final = AckMark(-1, None, -1)  # an empty place of the ring of chunk ends (no offset is -1)


def drop_marks_before(marks: list[AckMark], offset: int) -> None:
    """Drop the leading marks whose bytes all lie before ``offset`` (the mark holding it stays
    first), in one deletion."""
    i = 0
    n = len(marks)
    while i + 1 < n and marks[i + 1].offset <= offset:
        i += 1
    if i:
        del marks[:i]


@dataclass(slots=True)
class Limits:
    max_message_bytes: int
    max_header_bytes: int
    truncate: bool  # True: keep the first bytes and mark truncated; False: drop oversize messages
    decode: bool = True
    partial: bool = True  # a body the capture lost bytes of: kept and flagged (core.on_gap), else dropped


@dataclass(slots=True)
class Partial:
    """A message whose head has been parsed and whose body is being framed."""

    is_request: bool
    start: StartLine
    headers: Headers
    index: dict[str, str]  # lower-case name -> first value
    ts: float
    content_encoding: str
    parts: list[bytes] = field(default_factory=list)
    stored: int = 0
    body_size: int = 0
    remaining: int = 0
    oversize: str = ""  # drop reason once the body can no longer be kept
    truncated: bool = False
    wire_bytes: int = 0
    offset: int | None = None  # stream offset of the first byte (TCP only)
    ack: int | None = None  # other direction's offset acknowledged when the first byte was sent
    span: Span | None = None
    missing: int = 0  # body bytes the capture lost (framing kept: Content-Length, chunk sizes)
    incomplete: bool = False  # the body has holes (or its end was lost)
    hole_at: int = -1  # stored body length at the first hole: Content-Encoding is undone before it
    unsure: bool = False  # a response framed with a body though its request is unknown (maybe HEAD)


class HeadWait:
    """An unfinished head's later pieces, kept apart until a blank line can have arrived.

    Joining and re-searching the whole head for every segment would cost quadratic time for a head
    sent one byte per segment; a piece without a line feed cannot end a head, so it is only kept."""

    __slots__ = ("parts", "size", "tail")

    def __init__(self, tail: bytes) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.tail = tail  # the last bytes seen, for a blank line split across pieces

    def keep(self, data: bytes, room: int) -> bool:
        """Keep ``data`` when it cannot complete the head and fits in ``room``; else False."""
        if b"\n" in data:
            probe = self.tail + data
            if b"\n\n" in probe or b"\n\r\n" in probe:
                return False
        if len(data) > room - self.size:
            return False
        self.parts.append(data)
        self.size += len(data)
        self.tail = data[-3:] if len(data) >= 3 else (self.tail + data)[-3:]
        return True


class MessageParser:
    """Frames messages in one direction; ``role`` is 'request', 'response' or None (not yet known).

    Loss handling: a gap whose size is known (TCP offsets) and that falls inside a body framed by
    Content-Length, a chunk, or the connection's close costs that body the lost bytes only: the
    message is completed flagged ``body_incomplete`` and the framing carries on. Any other gap, or
    bytes skipped while searching for a message start, means messages may have gone unseen: the
    parser's ``epoch`` is incremented so the conversation stops pairing by order (see Span).
    """

    def __init__(
        self,
        limits: Limits,
        counters: Counters,
        budget: Budget,
        request_method: Callable[[], str | None] | None,
        synced: bool,
        owner: MethodSource | None = None,
        direction: int = 0,
    ) -> None:
        self.limits = limits
        self.counters = counters
        self.budget = budget
        # The method of the request the response being framed answers (HEAD and CONNECT frame it):
        # asked of the owner of both directions, as h11's connection remembers the request method —
        # ``owner.request_method(direction)``, else the function given.
        self.request_method = request_method
        self.owner = owner
        self.direction = direction
        self.events: deque[Event] = deque()  # produced, not taken by next_event yet
        self.done: Complete | None = None  # the message _express completed (next_event returns it at once)
        self.settled = False  # everything fed is framed and accounted: next_event would only say None
        self.role: str | None = None
        self.state = State.DETECT if synced else State.RESYNC
        self.epoch = 0 if synced else 1
        self.buf = b""
        self.buf_ts = 0.0
        # TCP sequence space (None for TLS byte streams): the stream offset just past the data fed so
        # far; per fed chunk its start offset and the acknowledgement it carried (only the chunks
        # still in ``buf``), and the last chunks' end offsets with their acks (for ``prior_ack``).
        self.stream_end: int | None = None
        # (Lists, not deques: compiled, a list's append and del are native, a deque's methods are
        # generic Python calls, three a segment.)
        self.acks: list[AckMark] = []
        # The last MAX_CHUNK_ENDS chunks (for their ends), a ring: ``next_end`` is where the next goes.
        # (A slot written per segment: no append, and no deletion now and then.)
        self.chunk_ends: list[AckMark] = [NO_MARK] * MAX_CHUNK_ENDS
        self.next_end = 0
        self.cur_ack: int | None = None
        self.cur_ts = 0.0
        self.cur_len = 0
        self.head: Span | None = None  # span of the message whose head was parsed last
        self.run_start: int | None = None  # a run of complete 1xx responses: where it starts...
        self.run_end: int | None = None  # ...and ends
        self.msg: Partial | None = None
        self.messages = 0
        self.wait: HeadWait | None = None  # pieces of an unfinished head (DETECT only)
        self.memo: ExpressHead | None = None  # the last head the express path framed
        self.held = 0  # bytes of ``buf`` and ``wait`` reserved in the budget

    def __repr__(self) -> str:
        return f"<MessageParser {self.role} {self.state.value} buf={len(self.buf)} epoch={self.epoch}>"

    # -- input -------------------------------------------------------------------------------
    def feed(self, data: bytes, ts: float, offset: int | None = None, ack: int | None = None) -> None:
        """Take the next bytes of the direction; ``offset``: their stream offset, ``ack``: the other
        direction's offset their segment acknowledged (both None for byte streams). Call
        ``next_event`` until it returns None afterwards."""
        if self.state is DEAD:
            return
        self.settled = False
        n = len(data)
        self.cur_ack = ack
        self.cur_ts = ts
        self.cur_len = n
        mark = NO_MARK
        if offset is None:
            self.stream_end = None
        else:
            self.stream_end = offset + n
            mark = AckMark(offset, ack, offset + n)
            i = self.next_end
            self.chunk_ends[i] = mark
            self.next_end = i + 1 if i + 1 < MAX_CHUNK_ENDS else 0
        wait = self.wait
        if wait is not None:
            if wait.keep(data, self.limits.max_header_bytes + 4 - len(self.buf)):
                self._hold()
                return
            self._unwait()
        if offset is not None:  # bytes that wait in ``buf``: remember the ack they came with
            acks = self.acks
            if self.buf or self.wait is not None:
                acks.append(mark)
            elif len(acks) == 1:  # (the list kept: a slot written, no new list per segment)
                acks[0] = mark
            else:
                self.acks = [mark]
        if self.buf:
            self.buf += data
        else:
            self.buf = data
            self.buf_ts = ts

    def next_event(self) -> Event | None:
        """The next event from the bytes fed so far; None when more input is needed. Framing runs
        only until one event is ready: the owner acts on it before the next message is read."""
        events = self.events
        if events:
            return events.popleft()
        if self.wait is not None:
            return None  # an unfinished head's piece was only kept (and accounted) by feed
        ts = self.cur_ts
        while self.buf and self.wait is None:
            if self.state is DETECT:
                progressed = None
                if self.role is not None and self.buf[:1] not in CRLF_START:
                    progressed = self._express(ts)  # the common case, in one pass
                    done = self.done
                    if done is not None:
                        self.done = None
                        return done
                if progressed is None:
                    progressed = self._head(ts)
            else:
                progressed = self._step(ts)
            if events:
                return events.popleft()
            if not progressed:
                break
        if not self.buf:
            self.buf_ts = ts
            if self.held:
                self._hold()
        else:
            self._hold()  # (which may drop the message it starts: an event)
        if len(self.acks) > 1:
            self._trim_acks()
        return events.popleft() if events else None

    def _request_method(self) -> str | None:
        owner = self.owner
        if owner is not None:
            return owner.request_method(self.direction)
        assert self.request_method is not None
        return self.request_method()

    def _trim_acks(self) -> None:
        """Keep only the chunks that hold bytes still in the buffer (or waiting head pieces)."""
        acks = self.acks
        if len(acks) > 1 and self.stream_end is not None:
            first = self.stream_end - len(self.buf) - (self.wait.size if self.wait is not None else 0)
            drop_marks_before(acks, first)

    def _pos(self) -> int | None:
        """Stream offset of the first byte not consumed yet."""
        if self.stream_end is None:
            return None
        return self.stream_end - len(self.buf) - (self.wait.size if self.wait is not None else 0)

    def _ack_at(self, offset: int | None) -> int | None:
        """The acknowledgement carried by the segment that brought the byte at ``offset``."""
        if offset is None:
            return None
        acks = self.acks
        drop_marks_before(acks, offset)
        return acks[0].ack if acks and acks[0].offset <= offset else None

    def _span(self, start: int | None, ack: int | None, is_request: bool) -> Span:
        span = Span(start, None, ack, self.epoch)
        if not is_request:
            span.lead = self.run_start if self.run_end is not None and self.run_end == start else start
            lead = span.lead
            if lead is not None:  # (byte streams have no offsets; an int compared natively)
                ends = self.chunk_ends
                i = self.next_end
                k = 0
                while k < MAX_CHUNK_ENDS:  # the newest first (indexed: compiled, reversed() is a generic call)
                    i = i - 1 if i else MAX_CHUNK_ENDS - 1
                    mark = ends[i]
                    if mark.end == lead:
                        span.prior_ack = mark.ack
                        break
                    k += 1
        self.head = span
        return span

    def _unwait(self) -> None:
        """Join an unfinished head's pieces back into ``buf``."""
        wait = self.wait
        if wait is not None:
            self.wait = None
            self.buf = b"".join([self.buf, *wait.parts])

    def _hold(self) -> None:
        """Keep the bytes waiting in ``buf`` (heads, chunk lines, trailers) inside the global budget:
        when they do not fit, the message they start is dropped as ``memory_budget``."""
        size = len(self.buf) + (self.wait.size if self.wait is not None else 0)
        delta = size - self.held
        if delta <= 0:
            self.budget.release(-delta)
            self.held = size
            return
        if self.budget.reserve(delta):
            self.held = size
            return
        self.wait = None
        if self.msg is not None:
            self._abandon("memory_budget")
        elif self.state is State.RESYNC:  # no message yet: skipped bytes, not a dropped message
            self.counters.inc("http.resync_skipped_bytes", len(self.buf))
        else:
            self.counters.drop("memory_budget")
        self._lose_sync()
        self.budget.release(self.held)
        self.held = 0

    def _express(self, ts: float) -> bool | None:
        """The common case in one pass: a whole message with a Content-Length body (or none) at
        the start of ``buf``, of a direction whose role is known. None when the message needs the
        general path (``_head``): that is the one that defines the behaviour, this only skips work
        (the regex search for the head's end, the Partial of a body already all here)."""
        data = self.buf
        head = self.memo
        # A head that begins ``buf`` byte for byte as the last one did is that head again: its end
        # is the first blank line, inside those bytes, and what the checks made of it depends on
        # nothing else (the role is set once). (``startswith`` of bytes is a native memcmp.)
        if head is None or not data.startswith(head.raw):
            head = self._express_head(data)
            if head is None:
                return None
            if len(head.raw) <= MAX_MEMO_HEAD:
                self.memo = head
        start = head.start
        length = head.length
        end = head.end
        is_request = type(start) is RequestLine
        body_end = end + 4 + length
        stream_end = self.stream_end  # (no head pieces wait in DETECT: _pos() is this)
        here = None if stream_end is None else stream_end - len(data)
        # The ack of the segment that brought the first byte: the latest one's, when all of the
        # buffer came with it (the common case), else looked up.
        span = self._span(here, self.cur_ack if len(data) <= self.cur_len else self._ack_at(here), is_request)
        if not is_request and self._request_method() in BODILESS:
            return None
        msg_ts = self.buf_ts
        headers = list(head.headers)  # (the message's own: the memo keeps the originals)
        index = head.index.copy()
        if body_end > len(data):  # the body comes later (often the next write): frame it from here
            self.buf = data[end + 4:]
            self.buf_ts = ts
            return self._begin(is_request, start, headers, index, msg_ts, end + 4, span)
        body = data[end + 4 : body_end]
        if head.encoded and self.limits.decode and body:
            return None  # decoding has its own bounds and accounting: the general path
        self.messages += 1
        self.run_start = self.run_end = None
        if here is not None:
            span.end = here + body_end
        if isinstance(start, RequestLine):
            out: Request | Response = Request(start.version, headers, body, length, False, msg_ts, body_end, index,
                                              method=start.method, target=start.target)
        else:
            out = Response(start.version, headers, body, length, False, msg_ts, body_end, index,
                           status=start.status, reason=start.reason)
        self.done = Complete(out, msg_ts, span)  # (next_event returns it: no trip through the deque)
        self.buf_ts = ts
        if body_end < len(data):
            self.buf = data[body_end:]
        else:  # all consumed: settle now what the next next_event would (its caller may skip it)
            self.buf = b""
            if self.held:
                self._hold()
            if len(self.acks) > 1:
                self._trim_acks()
            self.settled = True
        return True

    def _express_head(self, data: bytes) -> ExpressHead | None:
        """The head at the start of ``data`` when the express path can frame its message: the
        usual head, checked by tables of the lines (and field blocks) met before and
        ``str.isprintable``; any other (bare LF, a tab, folding, an unusual name...) by the regex,
        in the general path for its start line, here for its fields (HEAD_CRLF: no refusal, CRLF
        line ends). None when the general path must decide (or the head is not all here)."""
        limits = self.limits
        end = data.find(CRLF2)
        if end < 0 or end > limits.max_header_bytes:
            return None
        # (Start line and fields are decoded apart: CRLF is ASCII, so this gives what decoding the
        # whole head and splitting it at the first CRLF gives. The first line end found by a native
        # loop: a ``find`` is a generic method call, ~1k instructions; a start line is tens of
        # bytes. A bare CR before it: the general path.)
        # (The same loop notes the spaces and whether the line is printable ASCII (``plain``), for requests.)
        eol = 0
        spaces = sp1 = sp2 = 0
        plain = True
        while eol < end:
            c = data[eol]
            if c == 13:
                break
            if c == 32:
                spaces += 1
                if spaces == 1:
                    sp1 = eol
                elif spaces == 2:
                    sp2 = eol
            elif c < 33 or c > 126:
                plain = False
            eol += 1
        line_end = eol
        if eol == end:
            eol = -1
        elif eol + 1 >= end or data[eol + 1] != 10:
            return None
        start: StartLine | None
        if plain and spaces == 2 and self.role == "request" and not data.startswith(b"HTTP/1."):
            start = ascii_request_line(decode_text(data[:line_end]), sp1, sp2)
        else:
            start = plain_start_line(decode_text(data[:line_end]), data, self.role)
        if start is None:
            return None
        if eol < 0:
            fields: tuple[Headers, dict[str, str]] | None = ([], {})
        else:
            raw_block = data[eol + 2:end]
            fields = known_fields(raw_block)
            if fields is None:
                if not HEAD_CRLF.fullmatch(data, 0, end):
                    return None
                fields = parse_headers(decode_text(raw_block))
        assert fields is not None
        headers, index = fields
        if "transfer-encoding" in index or len(index) != len(headers):  # framing rules: general path
            return None
        cl = index.get("content-length")
        if isinstance(start, RequestLine):
            if start.method == "CONNECT":
                return None
        elif start.status < 200 or start.status in (204, 304) or cl is None:
            return None
        length = content_length(cl) if cl is not None else 0
        if length < 0 or length > limits.max_message_bytes:
            return None
        return ExpressHead(data[:end + 4], end, start, headers, index, length, bool(index.get("content-encoding")))

    def gap(self, size: int | None = None) -> None:
        """``size`` bytes were lost (None: an unknown amount). Inside a body whose framing survives,
        only that body is damaged; anywhere else, search for the next message start."""
        if self.state is State.DEAD:
            return
        self._unwait()
        msg = self.msg
        if msg is not None:
            if self._gap_in_body(msg, size):
                return
            # Framing lost: what arrived of the message is all there will be (after the last chunk
            # only trailers or the final CRLF can be missing: the body is whole).
            if self.state is not State.TRAILERS:
                self._incomplete(msg, msg.remaining if self.state in (State.BODY_LENGTH, State.CHUNK_DATA) else 0)
            self._complete(None)
        elif self.buf and self.state is State.DETECT and self._guess_role():
            start = self._pos()
            span = Span(start, None, self._ack_at(start), self.epoch)
            self.events.append(Failed("gap", self.buf_ts, span))  # the head of a message was cut
        self._lose_sync()

    def _gap_in_body(self, msg: Partial, size: int | None) -> bool:
        """Account for a gap inside a body whose framing survives; False when it does not."""
        state = self.state
        if size is None:
            if state is not State.BODY_CLOSE:
                return False
            self._incomplete(msg, 0)
            return True
        if state is State.BODY_CLOSE:
            self._incomplete(msg, size)
            return True
        if state not in (State.BODY_LENGTH, State.CHUNK_DATA):
            return False
        remaining = msg.remaining
        take = min(size, remaining)
        self._incomplete(msg, take)
        msg.remaining -= take
        if size < remaining:
            return True
        pos = None if self.stream_end is None else self.stream_end + take
        if state is State.CHUNK_DATA:
            if size == remaining:
                self.state = State.CHUNK_END
                return True
            return False  # the chunk's CRLF and size line were lost too
        self._complete(pos)  # Content-Length: the body ends inside the gap
        if size > remaining:
            self._lose_sync()  # and whatever followed it is lost too
        return True

    def _incomplete(self, msg: Partial, lost: int) -> None:
        if not msg.incomplete:
            msg.incomplete = True
            msg.hole_at = msg.stored
            self.counters.inc("http.incomplete_bodies")
        msg.missing += lost
        msg.body_size += lost
        msg.wire_bytes += lost

    def distrust(self) -> None:
        """The last message was framed for the wrong request method: what follows it is unsure."""
        if self.state is not State.DEAD:
            self.epoch += 1
            self.state = State.RESYNC
            self.run_start = self.run_end = None

    def _lose_sync(self) -> None:
        """Messages may have gone unseen here: search for the next start, in a new epoch."""
        self.epoch += 1
        self.wait = None
        self.buf = b""
        self.state = State.RESYNC
        self.run_start = self.run_end = None

    def stop(self) -> None:
        """Nothing more of this direction is HTTP/1 (the other one upgraded)."""
        self.state = State.DEAD

    def discard(self) -> None:
        """Stop for good, returning the partial body's bytes to the budget."""
        self.events.clear()
        self.done = None
        if self.msg is not None:
            self._release(self.msg)
            self.msg = None
        self.wait = None
        self.buf = b""
        self.state = State.DEAD
        self._hold()

    def _guess_role(self) -> bool:
        """Before its first head is complete, tell a direction's role from the bytes it has."""
        if self.role is None and START_PREFIX.match(self.buf):
            self._found_role("response" if self.buf.startswith(b"HTTP/1.") else "request")
        return self.role is not None

    def _found_role(self, role: str) -> None:
        self.role = role
        self.events.append(RoleKnown(role))

    def close(self, ts: float, clean: bool = True) -> None:
        """The direction ended: a body delimited by close is complete (``clean``: its end was seen,
        else it is flagged incomplete); anything else is cut."""
        self._unwait()
        msg = self.msg
        if self.state is State.BODY_CLOSE and msg is not None:
            if not clean:
                self._incomplete(msg, 0)
            self._complete(self._pos())
        elif msg is not None and self.state in (State.BODY_LENGTH, State.CHUNK_DATA, State.CHUNK_SIZE,
                                                State.CHUNK_END) and self.limits.partial:
            self._incomplete(msg, msg.remaining if self.state is State.BODY_LENGTH else 0)
            self._complete(None)  # the end of the body never came (or the capture lost it)
        elif msg is not None:
            self._abandon("incomplete_at_close")
        elif self.state is State.DETECT and self.buf.strip(b"\r\n") and START_PREFIX.match(self.buf.lstrip(b"\r\n")):
            self.counters.drop("head_incomplete_at_close")  # a head that never ended: counted, not silent
        self.buf = b""
        self.state = State.DEAD
        self._hold()

    # -- state machine -------------------------------------------------------------------------
    def _step(self, ts: float) -> bool:
        """Make progress on the buffer; False when more input is needed."""
        state = self.state
        if state is State.DETECT:
            return self._head(ts)
        if state is State.BODY_LENGTH:
            return self._body_length()
        if state is State.CHUNK_SIZE:
            return self._chunk_size()
        if state is State.CHUNK_DATA:
            return self._chunk_data()
        if state is State.CHUNK_END:
            return self._chunk_end()
        if state is State.TRAILERS:
            return self._trailers()
        if state is State.BODY_CLOSE:
            self._store(self.buf)
            self.buf = b""
            return False
        if state is State.RESYNC:
            return self._resync()
        self.buf = b""  # DEAD
        return False

    def _resync(self) -> bool:
        buf = self.buf
        patterns = []
        if self.role != "response":
            patterns.append(RESYNC_REQUEST)
        if self.role != "request":
            patterns.append(RESYNC_STATUS)
        best = -1
        for pattern in patterns:
            m = pattern.search(buf)
            if m and (best < 0 or m.start() < best):
                best = m.start()
        if best < 0:
            # Keep only a possible partial start line: what follows the last line break.
            cut = buf.rfind(b"\n") + 1
            skipped = cut if len(buf) - cut <= self.limits.max_header_bytes else len(buf)
            self.counters.inc("http.resync_skipped_bytes", skipped)
            self.buf = buf[skipped:]
            self._rebase()
            return False
        self.counters.inc("http.resync_skipped_bytes", best)
        self.counters.inc("http.resyncs")
        self.buf = buf[best:]
        self._rebase()
        self.state = State.DETECT
        return True

    def _rebase(self) -> None:
        """The buffer was cut at the front: if what is left came with the latest chunk, the next
        message's first byte has that chunk's time, not the old buffer's."""
        if len(self.buf) <= self.cur_len:
            self.buf_ts = self.cur_ts

    def _head(self, ts: float) -> bool:
        buf = self.buf
        if buf[:1] in CRLF_START:  # stray line breaks between messages are tolerated (RFC 9112 2.2)
            self.buf = buf = buf.lstrip(b"\r\n")
            if not buf:
                return False
        m = HEAD_END.search(buf)
        if m is None:
            if len(buf) >= 8 and not START_PREFIX.match(buf):
                return self._not_http()
            if len(buf) > self.limits.max_header_bytes:
                self.counters.drop("header_too_large")
                self._lose_sync()
            elif len(buf) >= 8:
                self.wait = HeadWait(buf[-3:])  # feed() collects until a blank line can be there
            return False
        end, after = m.start(), m.end()
        if end > self.limits.max_header_bytes:
            self.counters.drop("header_too_large")
            self._lose_sync()
            self.buf = buf[after:]
            return True
        raw_head = buf[:end]
        if not HEAD_CRLF.fullmatch(raw_head):
            if not HEAD_ANY_EOL.fullmatch(raw_head):
                return self._bad_head(raw_head, after, ts)
            raw_head = crlf_lines(raw_head)  # bare LF line ends, accepted (RFC 9112 2.2)
        first, _, block = decode_text(raw_head).partition("\r\n")
        start = parse_start_line(first, self.role)
        if start is None:
            return self._not_http()
        is_request = type(start) is RequestLine
        if self.role is None:
            self._found_role("request" if is_request else "response")
        headers, index = parse_headers(block)
        here = self._pos()
        span = self._span(here, self._ack_at(here), is_request)
        self.buf = buf[after:]
        msg_ts = self.buf_ts
        self.buf_ts = ts
        return self._begin(is_request, start, headers, index, msg_ts, after, span)

    def _bad_head(self, raw_head: bytes, after: int, ts: float) -> bool:
        """A head a strict server refuses (bare CR, a control byte or ``@`` in a field name, space
        before the colon, whitespace after the start line...). If it starts like a message of this
        direction it is one, refused: counted, reported (its answer, a 400, has a request to
        absorb it) and skipped; otherwise the bytes are not HTTP."""
        first = raw_head.split(b"\n", 1)[0].rstrip(b"\r")
        start = parse_start_line(decode_text(first), self.role)
        if start is None or not START_PREFIX.match(raw_head):
            return self._not_http()
        is_request = type(start) is RequestLine
        if self.role is None:
            self._found_role("request" if is_request else "response")
        here = self._pos()
        span = self._span(here, self._ack_at(here), is_request)
        self.msg = Partial(is_request, start, [], {}, self.buf_ts, "", wire_bytes=after,
                           offset=span.start, ack=span.ack, span=span)
        rest = self.buf[after:]
        self.buf_ts = ts
        self._abandon("http_parse_error")
        self._lose_sync()
        self.buf = rest
        return True

    def _not_http(self) -> bool:
        if self.messages == 0 and self.state is State.DETECT:
            # The connection's first bytes are not HTTP (TLS, a database protocol...): ignore it.
            self.counters.inc("http.non_http_streams")
            self.state = State.DEAD
            self.buf = b""
            return False
        self.counters.drop("http_parse_error")
        rest = self.buf[1:]
        self._lose_sync()
        self.buf = rest
        return True

    def _begin(
        self, is_request: bool, start: StartLine, headers: Headers, index: dict[str, str],
        ts: float, head_len: int, span: Span,
    ) -> bool:
        encoding = index.get("content-encoding", "").strip().lower()
        msg = Partial(is_request, start, headers, index, ts, encoding, wire_bytes=head_len,
                      offset=span.start, ack=span.ack, span=span)
        self.msg = msg
        if type(start) is StatusLine:
            status = start.status
            if status < 200:
                return self._interim(status, span)
            self.run_start = self.run_end = None  # the 1xx run before it is its lead (in ``span``)
            method = self._request_method()
            span.bodiless = method in BODILESS
            msg.unsure = method is None
            if method == "HEAD" or status in (204, 304):
                return self._no_body()
            if method == "CONNECT" and status < 300:  # a tunnel: the pair, then not HTTP any more
                return self._upgrade(complete=True)
        if type(start) is RequestLine and start.method == "CONNECT":  # RFC 9110 9.3.6: no content; a tunnel follows
            return self._no_body()
        try:
            framing = body_framing(is_request, headers, index)
        except FramingError as e:  # RFC 9112 6.3: a strict server refuses it (400) or closes
            self._abandon(e.reason)
            rest = self.buf
            self._lose_sync()
            self.buf = rest
            return True
        if framing.kind == "chunked":
            self.state = State.CHUNK_SIZE
        elif framing.kind == "length":
            msg.remaining = framing.length
            self.state = State.BODY_LENGTH
        elif framing.kind == "none":
            return self._no_body()
        else:
            self.state = State.BODY_CLOSE
        return True

    def _no_body(self) -> bool:
        self._complete(self._pos())
        return True

    def _interim(self, status: int, span: Span) -> bool:
        if status == 101:
            return self._upgrade(complete=True)
        self.msg = None
        self.counters.inc("http.interim_responses")  # 100 Continue & co: not the final response
        self.state = State.DETECT
        end = self._pos()
        if span.start is not None and end is not None:  # part of the next final response's lead
            self.run_start = span.lead if span.lead is not None else span.start
            self.run_end = end
        return True

    def _upgrade(self, complete: bool = False) -> bool:
        """WebSocket (101) and CONNECT tunnels (2xx): the exchange that switched is a pair of its own
        (``complete``), what follows is not HTTP."""
        self.counters.inc("http.upgraded_connections")
        msg = self.msg
        protocol = msg.index.get("upgrade", "").strip().lower() if complete and msg is not None else ""
        if complete and msg is not None:
            self._complete(self._pos())
        self.msg = None
        self.state = State.DEAD
        leftover, self.buf = self.buf, b""  # after h2c, HTTP/2 frames the new layer reads
        self.events.append(Upgraded(protocol, leftover))
        return False

    def _bodiless_after_all(self, msg: Partial) -> bool:
        """A response whose request is unknown (lost) framed with a body, and the next response's
        status line is where its body should start: it answered a HEAD. Framed so, not paired."""
        if msg.unsure and msg.body_size == 0 and not msg.incomplete and RESYNC_STATUS.match(self.buf):
            assert msg.span is not None
            msg.span.bodiless = True
            msg.remaining = 0
            self.counters.inc("http.bodiless_by_content")
            self._complete(self._pos())
            return True
        msg.unsure = False
        return False

    def _body_length(self) -> bool:
        msg = self.msg
        assert msg is not None
        if msg.unsure and self._bodiless_after_all(msg):
            return True
        buf = self.buf
        n = msg.remaining
        if len(buf) < n:
            self._store(buf)
            msg.remaining -= len(buf)
            msg.wire_bytes += len(buf)
            self.buf = b""
            return False
        self._store(buf[:n] if len(buf) > n else buf)
        msg.wire_bytes += n
        msg.remaining = 0
        self.buf = buf[n:]
        self._complete(self._pos())
        return True

    def _chunk_size(self) -> bool:
        msg = self.msg
        if msg is not None and msg.unsure and self._bodiless_after_all(msg):
            return True
        buf = self.buf
        m = CHUNK_LINE.match(buf)
        if m is None:
            if b"\n" in buf[:1024] or len(buf) > 1024:  # a whole line that is not a chunk size
                return self._framing_error()
            return False
        size = int(m[1], 16)
        msg = self.msg
        assert msg is not None
        msg.wire_bytes += m.end()
        self.buf = buf[m.end() :]
        if size == 0:
            self.state = State.TRAILERS
        else:
            msg.remaining = size
            self.state = State.CHUNK_DATA
        return True

    def _chunk_data(self) -> bool:
        msg = self.msg
        assert msg is not None
        buf = self.buf
        n = msg.remaining
        take = buf[:n] if len(buf) > n else buf
        self._store(take)
        msg.remaining -= len(take)
        msg.wire_bytes += len(take)
        self.buf = buf[len(take) :]
        if msg.remaining:
            return False
        self.state = State.CHUNK_END
        return True

    def _chunk_end(self) -> bool:
        buf = self.buf
        if buf[:1] == b"\n":  # bare LF (RFC 9112 2.2)
            self.buf = buf[1:]
        elif len(buf) < 2:
            return False
        elif buf[:2] == b"\r\n":
            self.buf = buf[2:]
        else:
            return self._framing_error()
        self.state = State.CHUNK_SIZE
        return True

    def _trailers(self) -> bool:
        buf = self.buf
        if buf.startswith(b"\r\n") or buf.startswith(b"\n"):
            self.buf = buf[2:] if buf[:1] == b"\r" else buf[1:]
        elif buf == b"\r":
            return False
        else:
            m = HEAD_END.search(buf)
            if m is None:
                if len(buf) > self.limits.max_header_bytes:
                    return self._framing_error()
                return False
            end = m.start()
            raw = buf[:end]
            if not FIELDS_ANY_EOL.fullmatch(raw):
                return self._framing_error()
            assert self.msg is not None
            trailers, index = parse_headers(decode_text(crlf_lines(raw)))
            self.msg.headers.extend(trailers)  # trailer fields follow the headers
            for name, value in index.items():
                self.msg.index.setdefault(name, value)
            self.buf = buf[m.end() :]
        self._complete(self._pos())
        return True

    def _framing_error(self) -> bool:
        self._abandon("chunked_framing_error")
        rest = self.buf
        self._lose_sync()
        self.buf = rest
        return True

    # -- body storage and completion ------------------------------------------------------------
    def _store(self, data: bytes) -> None:
        msg = self.msg
        if msg is None or not data:
            return
        msg.body_size += len(data)
        if msg.oversize:
            return
        room = self.limits.max_message_bytes - msg.stored
        if len(data) > room:
            if not self.limits.truncate:
                self._shed(msg, "request_too_large" if msg.is_request else "response_too_large")
                return
            data = data[:room]
            msg.truncated = True
        if not data:
            return
        if not self.budget.reserve(len(data)):
            self._shed(msg, "memory_budget")
            return
        msg.parts.append(data)
        msg.stored += len(data)

    def _shed(self, msg: Partial, reason: str) -> None:
        """Stop keeping this message's body; it will be dropped when complete."""
        msg.oversize = reason
        self.budget.release(msg.stored)
        msg.parts = []
        msg.stored = 0

    def _release(self, msg: Partial) -> bytes:
        body = b"".join(msg.parts) if len(msg.parts) != 1 else msg.parts[0]
        self.budget.release(msg.stored)
        msg.parts = []
        msg.stored = 0
        return body

    def _abandon(self, reason: str) -> None:
        msg = self.msg
        if msg is not None:
            self._release(msg)
            self.msg = None
            self.events.append(Failed(msg.oversize or reason, msg.ts, msg.span))  # the first failure is the reason

    def _complete(self, end: int | None) -> None:
        """The message is over; ``end`` is the stream offset just past it (None: not known)."""
        msg = self.msg
        assert msg is not None
        self.msg = None
        self.messages += 1
        self.state = State.DETECT
        body = self._release(msg)
        span = msg.span
        if span is not None:
            span.end = end
        if msg.oversize:
            self.events.append(Failed(msg.oversize, msg.ts, span))
            return
        if msg.incomplete and not self.limits.partial:
            self.events.append(Failed("body_incomplete", msg.ts, span))
            return
        body_size = msg.body_size
        if msg.content_encoding and self.limits.decode and body:
            if msg.incomplete:  # undo the encoding of what precedes the first hole only
                body = body[:msg.hole_at]
            body, body_size, reason = self._decode(msg, body)
            if reason:
                self.events.append(Failed(reason, msg.ts, span))
                return
        start = msg.start
        if type(start) is RequestLine:
            out: Request | Response = Request(
                start.version, msg.headers, body, body_size, msg.truncated, msg.ts, msg.wire_bytes, msg.index,
                msg.incomplete, msg.missing if msg.incomplete else 0, method=start.method, target=start.target,
            )
        else:
            assert type(start) is StatusLine
            out = Response(
                start.version, msg.headers, body, body_size, msg.truncated, msg.ts, msg.wire_bytes, msg.index,
                msg.incomplete, msg.missing if msg.incomplete else 0, status=start.status, reason=start.reason,
            )
        self.events.append(Complete(out, msg.ts, span))

    def _decode(self, msg: Partial, body: bytes) -> tuple[bytes, int, str]:
        limit = self.limits.max_message_bytes
        try:
            decoded, complete = decode_content(msg.content_encoding, body, limit)
        except UnsupportedEncoding:
            self.counters.inc("http.unknown_content_encoding")
            return body, msg.body_size, ""
        except (zlib.error, brotli.error, ValueError):
            self.counters.inc("http.content_decode_errors")
            return body, msg.body_size, ""
        if not complete:
            self.counters.inc("http.decompression_limit_hits")
            if not self.limits.truncate:
                return b"", 0, "decompression_limit"
            msg.truncated = True
        return decoded, len(decoded) if complete else max(len(decoded), msg.body_size), ""


def parse_start_line(line: str, role: str | None) -> StartLine | None:
    """A request line or a status line; None when the line is neither (or not of the expected
    ``role``)."""
    if line.startswith("HTTP/1."):
        if role == "request":
            return None
        parts = line.split(" ", 2)
        if len(parts) < 2 or parts[0] not in HTTP_VERSIONS:
            return None
        status = parts[1]
        if len(status) != 3 or not status.isdigit() or status[0] == "0":
            return None
        return StatusLine(parts[0], int(status), parts[2] if len(parts) == 3 else "")
    if role == "response":
        return None
    parts = line.split(" ")
    if len(parts) != 3 or parts[2] not in HTTP_VERSIONS or not parts[1]:
        return None
    method = parts[0]
    if method not in KNOWN_METHODS and (len(method) > 32 or not METHOD.fullmatch(method)):
        return None
    return RequestLine(method, parts[1], parts[2])


def ascii_request_line(line: str, sp1: int, sp2: int) -> RequestLine | None:
    """``parse_start_line(line, "request")`` of a line of printable ASCII (so ``isprintable``)
    whose only two spaces are at ``sp1`` < ``sp2``, not starting with "HTTP/1.": the three parts
    sliced where the spaces are instead of split, the usual method and version compared first."""
    version = line[sp2 + 1:]
    if (version != "HTTP/1.1" and version != "HTTP/1.0") or sp2 == sp1 + 1:
        return None
    method = line[:sp1]
    if (method != "GET" and method != "POST" and method not in KNOWN_METHODS
            and (len(method) > 32 or not METHOD.fullmatch(method))):
        return None
    return RequestLine(method, line[sp1 + 1:sp2], version)


# Status lines met before (exact text) -> the parsed line (shared: never changed). Bounded as
# httpsyntax's table of field lines. (Request lines are not kept: their targets rarely repeat.)
_STATUSES: dict[str, StatusLine] = {}


def plain_start_line(first: str, raw_head: bytes, role: str | None) -> StartLine | None:
    """``parse_start_line`` of a start line that HEAD_CRLF's start part matches: printable (no
    control character: no tab, no bare CR or LF), ASCII digits in a status (``int`` takes any
    Unicode digit). None for any other: the general path decides."""
    if role != "request":
        known = _STATUSES.get(first)
        if known is not None:
            return known
    start = parse_start_line(first, role)
    if start is None or not first.isprintable():
        return None
    if type(start) is StatusLine:
        # (a status line parsed: "HTTP/1.x " then the three status characters, bytes 9 to 11 if ASCII)
        if not (48 <= raw_head[9] <= 57 and 48 <= raw_head[10] <= 57 and 48 <= raw_head[11] <= 57):
            return None
        remember(_STATUSES, first, start)
    return start


def parse_headers(block: str) -> tuple[Headers, dict[str, str]]:
    """Header lines (CRLF-separated, no final blank line) to [name, value] in wire order, plus an
    index of lower-case name → first value.

    Obsolete line folding is joined to the previous value; a line without a colon is skipped.
    """
    headers: Headers = []
    index: dict[str, str] = {}
    if not block:
        return headers, index
    if "\r\n " in block or "\r\n\t" in block:
        return _parse_folded_headers(block)
    for line in block.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            value = value.strip()
            headers.append((name, value))
            index.setdefault(name.lower(), value)
    return headers, index


def _parse_folded_headers(block: str) -> tuple[Headers, dict[str, str]]:
    headers: Headers = []
    for line in block.split("\r\n"):
        if line[:1] in WSP:
            if headers:
                name, value = headers[-1]
                headers[-1] = (name, value + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name, value.strip()))
    return headers, {name.lower(): value for name, value in reversed(headers)}


class UnsupportedEncoding(ValueError):
    pass


def decode_content(encoding: str, body: bytes, limit: int) -> tuple[bytes, bool]:
    """Undo Content-Encoding (possibly a list, applied in order); at most ``limit`` bytes out.

    Returns (decoded, complete): complete is False when the output would exceed the limit.
    """
    codings = [c.strip() for c in encoding.split(",") if c.strip() and c.strip() != "identity"]
    complete = True
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            body, done = _zlib(body, zlib.MAX_WBITS | 16, limit)
        elif coding == "deflate":
            try:
                body, done = _zlib(body, zlib.MAX_WBITS, limit)
            except zlib.error:  # many servers send raw deflate without the zlib wrapper
                body, done = _zlib(body, -zlib.MAX_WBITS, limit)
        elif coding == "br":
            body, done = _brotli(body, limit)
        else:
            raise UnsupportedEncoding(coding)
        complete = complete and done
    return body, complete


def _zlib(data: bytes, wbits: int, limit: int) -> tuple[bytes, bool]:
    d = zlib.decompressobj(wbits)
    out = d.decompress(data, limit + 1)
    if len(out) > limit:
        return out[:limit], False
    return out, True


def _brotli(data: bytes, limit: int) -> tuple[bytes, bool]:
    d = brotli.Decompressor()
    out = d.process(data, output_buffer_limit=limit + 1)
    if len(out) > limit:
        return out[:limit], False
    return out, True
