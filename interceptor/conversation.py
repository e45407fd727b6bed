"""One connection's HTTP/1 conversation: a reader per direction and the requests awaiting responses.

The readers (``http.MessageParser``) are fed bytes and hand back events (``httpevents``); the
conversation pulls them one at a time and pairs them, so nothing calls back up into it.

A response is paired with a request only when the capture proves it answers that request:

* **Order** (HTTP/1.1 answers requests in order, pipelining included): after an *anchor* — the
  connection's start, both SYNs seen, or a pair proven as below — the next response answers the
  next request as long as neither direction lost a message boundary since. Each parser counts its
  losses in an ``epoch`` (a gap inside a body whose framing survives does not count); a request and
  a response pair by order only when both are still in the anchor's epochs. Every response, even
  one that failed to parse, takes its turn, so the order cannot slip.
* **Sequence numbers**, when loss broke the order. A client that does not pipeline sends request
  *i* only after all of the previous response arrived, so the acknowledgement in *i*'s first
  segment (``B``) is exactly where response *i* (with any 1xx before it) starts in the server's
  stream, and the server's last segment before that point acknowledged exactly the start of *i*
  (``A``): the server had all earlier requests and nothing of *i*. Both equalities, plus the
  response acknowledging bytes of *i*, pair them. In place of the second, the request right before
  *i* in the client's stream may show it: sent with a smaller acknowledgement, so some response
  came between the two. A client sending bursts of pipelined requests meets either test only with
  the first request of a burst, which makes them true again; a connection seen pipelining (two
  requests sent with no response between) is not re-anchored after loss at all.

Anything else is not paired: the request and response are counted (``ambiguous_after_loss``,
``response_without_request``, ``response_lost``...), never shifted. Byte streams without sequence
numbers (TLS plaintext) re-anchor on the traced process's own order: the newest request that
started before the response, unless the connection was seen pipelining.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from interceptor.counters import Counters
from interceptor.hotcounts import HotCounts
from interceptor.http import BODILESS, DEAD, Limits, MessageParser, MethodSource, RequestLine, State
from interceptor.httpevents import Complete, Event, Failed, RoleKnown, Span
from interceptor.layerevents import LayerEvent, Switch
from interceptor.pairs import Endpoint, Pair, Request, Response
from interceptor.reassembly import Budget, NativeConsumer


class Context:
    """What all conversations of a pipeline share. ``counts`` is ``counters.counts`` (incremented in
    place: one native attribute read instead of two lookups), ``hot`` its per-packet and per-pair
    counts (native ints)."""

    def __init__(self, limits: Limits, counters: Counters, budget: Budget, response_timeout_s: float,
                 max_pending_requests: int, emit: Callable[[Pair], None]) -> None:
        self.limits = limits
        self.counters = counters
        self.counts: defaultdict[str, int] = counters.counts
        self.hot: HotCounts = counters.hot
        self.budget = budget
        self.response_timeout_s = response_timeout_s
        self.max_pending_requests = max_pending_requests
        self.emit = emit


class Waiting:
    """A request (complete, or failed with ``failed`` as the reason) waiting for its response. (A
    plain class, not a dataclass: mypyc compiles its ``__init__``.)"""

    __slots__ = ("ts", "method", "request", "failed", "span", "held", "epoch", "before", "before_end",
                 "before_ack")

    def __init__(self, ts: float, method: str, request: Request | None, failed: str = "", span: Span | None = None,
                 held: int = 0, epoch: int = -1, before: bool = False, before_end: int = 0,
                 before_ack: int = 0) -> None:
        self.ts = ts
        self.method = method
        self.request = request
        self.failed = failed
        self.span = span  # where it lies in the client's stream (None: byte stream)
        self.held = held  # bytes reserved in the global budget while it waits
        self.epoch = epoch  # the span's (given at construction: read for every response)
        # The request before it in the client's stream, when its place is known (``before``): where
        # it ended and the ack its first segment carried. (Native ints, not an object: one fewer
        # allocation a request.)
        self.before = before
        self.before_end = before_end
        self.before_ack = before_ack


def held_bytes(request: Request) -> int:
    """What a queued request keeps in memory: its body and fields (with a per-field overhead)."""
    held = len(request.body) + 256
    for name, value in request.headers:  # (a loop: compiled, a generator is an object per request)
        held += len(name) + len(value) + 64
    return held


class Input(NativeConsumer):
    """One direction's stream consumer (what ``TcpStream`` and ``Pipeline.feed_stream`` feed):
    bytes go to the direction's reader, and its events to the conversation."""

    __slots__ = ("conv", "d", "reader")

    def __init__(self, conv: Conversation, d: int) -> None:
        self.conv = conv
        self.d = d
        self.reader = conv.readers[d]

    def data(self, payload: bytes, ts: float, offset: int | None = None, ack: int | None = None) -> None:
        reader = self.reader
        reader.feed(payload, ts, offset, ack)
        event = reader.next_event()  # (not a bound method kept in a local: compiled, that is a generic call)
        if event is not None:  # (Conversation.receive, inlined: this runs for every segment)
            conv, d = self.conv, self.d
            while event is not None:
                if type(event) is Complete:  # the common event, handled here
                    conv._message(d, event)
                else:
                    conv._handle(d, event)
                if reader.settled and not reader.events:
                    break  # (next_event would only settle the buffer: done already)
                event = reader.next_event()

    def feed(self, payload: bytes, ts: float, offset: int | None = None, ack: int | None = None) -> None:
        """``data`` under the byte-stream consumer's name (a method, not ``feed = data``: mypyc
        compiles a class-level alias into an unset attribute)."""
        self.data(payload, ts, offset, ack)

    def gap(self, size: int | None = None) -> None:
        self.conv.gap(self.d, size)

    @property
    def state(self) -> State:
        """The reader's state (the layer sniffer waits while it is searching: RESYNC)."""
        return self.conv.readers[self.d].state


class Conversation(MethodSource):
    """``endpoints[d]`` sends direction ``d``; ``readers[d]`` frames it, fed through ``parsers[d]``
    (the stream consumer, named as the HTTP/2 conversation's)."""

    def __init__(self, ctx: Context, endpoints: tuple[Endpoint, Endpoint], source: dict[str, Any], synced: bool) -> None:
        self.ctx = ctx
        self.endpoints = endpoints
        self.source = source
        self.readers = (self._reader(0, synced), self._reader(1, synced))
        self.parsers = (Input(self, 0), Input(self, 1))
        # The requests awaiting responses. A complete request keeps its body and fields until its
        # response comes: those bytes count in the global budget while it is queued, so requests
        # never answered cannot grow memory past ``core.max_buffered_bytes``; leaving the queue (by
        # any path: paired, lost, expired, closed: ``_dequeue``, ``_fail_all``, ``discard``)
        # returns them. (A plain deque: mypyc cannot compile a subclass of one.)
        self.queue: deque[Waiting] = deque()
        self.client: int | None = None  # direction that carries requests, once known
        self.events: list[LayerEvent] = []  # for the connection (``layers``): pairs, a Switch after a 101 or CONNECT
        self.switched: Request | None = None  # the request a 101 answered
        self.pairs = 0  # exchanges paired on this connection (the coverage account counts them)
        # (client epoch, server epoch) in which pairing by order holds; None: only a proof pairs
        # (client epoch, server epoch) in which pairing by order holds, when ``anchored``; else only
        # a proof pairs. (Two native ints, not a tuple: compared and set for every response.)
        self.anchored = synced
        self.anchor_c = 0
        self.anchor_s = 0
        self.origins: list[int | None] = [None, None]  # stream offset after each direction's SYN
        self.pipelined = False  # seen sending a request before the previous response arrived
        # The latest request's end and first ack, when ``last_known`` (a Waiting's ``before_*``).
        self.last_known = False
        self.last_end = 0
        self.last_ack = 0

    def _reader(self, d: int, synced: bool) -> MessageParser:
        ctx = self.ctx
        return MessageParser(ctx.limits, ctx.counters, ctx.budget, None, synced, owner=self, direction=d)

    def __repr__(self) -> str:
        return f"<Conversation client={self.client} waiting={len(self.queue)} anchor={self.anchor} {self.readers}>"

    @property
    def anchor(self) -> tuple[int, int] | None:
        """(client epoch, server epoch) in which pairing by order holds; None: only a proof pairs."""
        return (self.anchor_c, self.anchor_s) if self.anchored else None

    @property
    def dead(self) -> bool:
        """Neither direction will ever yield a message again (not HTTP, upgraded, or closed)."""
        return self.readers[0].state is DEAD and self.readers[1].state is DEAD

    def set_client(self, direction: int) -> None:
        """The TCP handshake (or the content) told us who the client is."""
        if self.client is None:
            self.client = direction
            self.readers[direction].role = "request"
            self.readers[1 - direction].role = "response"

    def set_origin(self, direction: int, offset: int) -> None:
        """Where the direction's bytes start (its SYN's sequence number + 1): the pairing proofs use it."""
        if self.origins[direction] is None:
            self.origins[direction] = offset

    # -- input: bytes in, the readers' events pulled and handled one at a time --------------------
    def receive(self, direction: int, data: bytes, ts: float, offset: int | None = None,
                ack: int | None = None) -> None:
        reader = self.readers[direction]
        reader.feed(data, ts, offset, ack)
        self._drain(direction)

    def gap(self, direction: int, size: int | None = None) -> None:
        self.readers[direction].gap(size)
        self._drain(direction)

    def _drain(self, direction: int) -> None:
        next_event = self.readers[direction].next_event
        while (event := next_event()) is not None:
            self._handle(direction, event)

    def _handle(self, direction: int, event: Event) -> None:
        if isinstance(event, Complete):
            self._message(direction, event)
        elif isinstance(event, Failed):
            if self.readers[direction].role == "request":
                self._request(None, event.reason, event.ts, event.span)
            else:
                self._response(None, event.reason, event.ts, event.span)
        elif isinstance(event, RoleKnown):
            self.set_client(direction if event.role == "request" else 1 - direction)
        else:
            for reader in self.readers:
                reader.stop()
            if event.protocol == "h2c" and self.switched is not None:
                # The 101 was a pair of its own; the request's real answer comes on HTTP/2 stream 1.
                self.events.append(Switch("h2c", direction, event.leftover, self.switched))
            else:  # a tunnel (CONNECT) or another protocol (WebSocket): nobody reads on
                self.events.append(Switch("opaque", direction))
            self._fail_all("upgraded_connection", count=False)

    def _message(self, direction: int, event: Complete) -> None:
        """A complete message: the client's direction carries requests (its reader was told so
        before it framed one, by the handshake or a RoleKnown event), the other responses."""
        message = event.message
        if self.client == direction:
            assert isinstance(message, Request)
            self._request(message, "", event.ts, event.span)
        else:
            assert isinstance(message, Response)
            self._response(message, "", event.ts, event.span)

    def request_method(self, direction: int) -> str | None:
        """Method of the request the response being framed in ``direction`` answers (HEAD and
        CONNECT frame it)."""
        if self.client is None:
            self.set_client(1 - direction)  # (a reader asks only when framing a response)
        client = self.client
        assert client is not None
        span = self.readers[1 - client].head
        waiting = self._by_order(span) if span is not None else None
        if waiting is None and span is not None and span.lead is not None:
            waiting = self._by_ack(span.lead)  # framing only: the pair itself needs the full proof
        if waiting is not None:
            return waiting.method
        msg = self.readers[client].msg
        if msg is not None and type(msg.start) is RequestLine:  # answered before it was all sent (early response)
            return msg.start.method
        return None

    def _request(self, request: Request | None, reason: str, ts: float, span: Span | None) -> None:
        counters = self.ctx.counters
        before, before_end, before_ack = self.last_known, self.last_end, self.last_ack
        epoch = -1
        self.last_known = False
        if span is not None:
            epoch = span.epoch
            end, ack = span.end, span.ack
            if end is not None and ack is not None:
                self.last_known, self.last_end, self.last_ack = True, end, ack
        if request is None:
            counters.drop(reason)
            self._enqueue(Waiting(ts, "", None, reason, span, 0, epoch, before, before_end, before_ack))
        else:
            self.ctx.hot.requests += 1
            held = held_bytes(request)
            if not self.ctx.budget.reserve(held):  # answered or not, it cannot be kept: counted
                counters.drop("memory_budget")
                self._enqueue(Waiting(ts, request.method, None, "memory_budget", span, 0, epoch, before, before_end,
                                      before_ack))
                return
            self._enqueue(Waiting(ts, request.method, request, "", span, held, epoch, before, before_end, before_ack))

    def _dequeue(self) -> Waiting:
        """The oldest waiting request leaves the queue: its held bytes go back to the budget."""
        waiting = self.queue.popleft()
        if waiting.held:
            self.ctx.budget.release(waiting.held)
        return waiting

    def _enqueue(self, waiting: Waiting) -> None:
        queue = self.queue
        if queue and waiting.span is not None and waiting.span.ack is not None:
            last = queue[-1].span
            if last is not None and last.ack == waiting.span.ack:
                self.pipelined = True  # two requests sent with no response byte received between
        if len(queue) >= self.ctx.max_pending_requests:
            oldest = self._dequeue()
            self.anchored = False  # the order no longer holds
            if not oldest.failed:
                self.ctx.counters.drop("pipeline_depth")
        queue.append(waiting)

    def _response(self, response: Response | None, reason: str, ts: float, span: Span | None) -> None:
        counters = self.ctx.counters
        if response is not None:
            self.ctx.hot.responses += 1
        waiting = self._match(span, ts)
        if waiting is None:
            if response is None:
                counters.drop(reason)
            else:
                counters.drop("ambiguous_after_loss" if self.queue else "response_without_request")
            return
        if waiting.failed:
            counters.inc("http.responses_to_failed_requests")
            if response is None:
                counters.inc("http.responses_failed_too")
            return
        if response is None:
            counters.drop(reason)
            return
        if span is not None and span.bodiless != (waiting.method in BODILESS) and response.status not in (204, 304):
            # Framed before the request was known (loss): a HEAD answer read with a body, or the
            # reverse. The pair is right but its body is not, and so is where the next one starts.
            counters.drop("misframed_after_loss")
            self.readers[1 - (self.client or 0)].distrust()
            return
        assert waiting.request is not None
        if response.status == 101:
            self.switched = waiting.request
        # (Unpacked, not indexed by the client's direction: compiled, the pair of endpoints is kept
        # unboxed and indexing it by a variable built a tuple object.)
        a, b = self.endpoints
        src, dst = (b, a) if self.client == 1 else (a, b)
        self.pairs += 1
        self.events.append(Pair(waiting.request, response, src, dst, self.source))

    # -- pairing ----------------------------------------------------------------------------------
    def _by_order(self, span: Span | None) -> Waiting | None:
        """The queued request the response answers by order since the anchor, if the order holds."""
        if not self.anchored or not self.queue or span is None:
            return None
        first = self.queue[0]
        return first if first.epoch == self.anchor_c and span.epoch == self.anchor_s else None

    def _by_ack(self, lead: int) -> Waiting | None:
        """The queued request whose first segment acknowledged exactly ``lead``."""
        for waiting in self.queue:
            if waiting.span is not None and waiting.span.ack == lead:
                return waiting
        return None

    def _consistent(self, waiting: Waiting, span: Span) -> bool:
        """What TCP says cannot contradict a pair made by order (else the order is broken)."""
        req = waiting.span
        if req is None or req.start is None or span.start is None:
            return True
        if span.ack is not None and span.ack <= req.start:
            return False  # the server had not received the request when it answered
        if req.ack is not None and span.lead is not None:
            if req.ack > span.lead:
                return False  # the client had received the response before sending the request
            if req.ack < span.lead:
                self.pipelined = True  # sent before the previous response was complete
        return True

    def _proven(self, span: Span) -> Waiting | None:
        """The request that sequence numbers prove the response answers (see the module doc)."""
        if self.pipelined or span.lead is None or span.ack is None or self.client is None:
            return None
        waiting = self._by_ack(span.lead)
        if waiting is None or waiting.span is None or waiting.span.start is None:
            return None
        start = waiting.span.start
        if span.ack <= start:
            return None
        origin_c, origin_s = self.origins[self.client], self.origins[1 - self.client]
        if span.prior_ack == start or (start == origin_c and span.lead == origin_s and origin_c is not None):
            return waiting  # the server had exactly the requests before this one: it is no burst's second
        if waiting.before and waiting.before_end == start and waiting.before_ack < span.lead:
            return waiting  # the request right before it was sent before some response came
        return None

    def _match(self, span: Span | None, ts: float) -> Waiting | None:
        """Pop the request a completed (or failed) response answers; None if nothing proves one."""
        queue = self.queue
        counters = self.ctx.counters
        waiting = self._by_order(span)
        if waiting is not None and span is not None and not self._consistent(waiting, span):
            counters.inc("http.order_contradicted")
            waiting = None
        if waiting is None:
            self.anchored = False
            if span is not None and span.start is not None:
                waiting = self._proven(span)
            elif span is not None:
                waiting = self._by_time(ts)
            if waiting is None:
                self._forget_unprovable(span)
                return None
            counters.inc("http.reanchored")
        while queue[0] is not waiting:  # (after a proof) their responses were lost or unproven
            if not self._dequeue().failed:
                counters.drop("ambiguous_after_loss")
        self._dequeue()
        if span is not None:
            self.anchored = True
            self.anchor_c = waiting.epoch
            self.anchor_s = span.epoch
        return waiting

    def _by_time(self, ts: float) -> Waiting | None:
        """Byte streams: the newest request that started before the response did."""
        if self.pipelined:
            return None
        found = None
        for waiting in self.queue:
            if waiting.ts > ts:
                break
            found = waiting
        return found

    def _forget_unprovable(self, span: Span | None) -> None:
        """Requests sent before the client had received this response's start can only be answered
        by a response before it: none can be proven any more."""
        if span is None or span.lead is None:
            return
        queue = self.queue
        while queue and queue[0].span is not None and queue[0].span.ack is not None and queue[0].span.ack < span.lead:
            if not self._dequeue().failed:
                self.ctx.counters.drop("ambiguous_after_loss")

    # -- time and end -----------------------------------------------------------------------------
    def expire(self, now: float) -> None:
        """Drop requests that waited longer than the response timeout."""
        limit = now - self.ctx.response_timeout_s
        queue = self.queue
        while queue and queue[0].ts < limit:
            # A response already being received is not late: its first byte came in time.
            resp_parser = self.readers[1 - self.client] if self.client is not None else None
            if resp_parser is not None and resp_parser.msg is not None and resp_parser.msg.ts >= queue[0].ts:
                return
            waiting = self._dequeue()
            self.anchored = False  # its response may still come: the order no longer holds
            if not waiting.failed:
                self.ctx.counters.drop("response_timeout")

    def close_direction(self, direction: int, ts: float, clean: bool = True) -> None:
        """``clean``: the direction's FIN was reached with nothing missing before it."""
        self.readers[direction].close(ts, clean)
        self._drain(direction)

    def close(self, ts: float, reason: str = "no_response") -> None:
        """The connection is over: complete close-delimited bodies, count requests left unanswered."""
        for d, reader in enumerate(self.readers):
            if reader.state is not State.DEAD:
                reader.close(ts)
                self._drain(d)
        self._fail_all(reason)

    def _fail_all(self, reason: str, count: bool = True) -> None:
        while self.queue:
            waiting = self._dequeue()
            if count and not waiting.failed:
                self.ctx.counters.drop(reason)

    def discard(self) -> None:
        """Forget everything without emitting (after an internal error): held bytes go back."""
        for reader in self.readers:
            reader.discard()
        self.ctx.budget.release(sum(w.held for w in self.queue))
        self.queue.clear()
