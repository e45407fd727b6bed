"""One connection's HTTP conversation: a parser per direction and the requests awaiting responses.

Responses answer requests in order (HTTP/1.1 pipelining included). Timestamps guard the pairing
after damage: a response cannot answer a request that started after it, and after a gap in the
response direction a response is matched to the newest request that started before it (the
responses of the older ones were lost). Every request or response that does not end in a pair is
counted once, by the first reason it failed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from interceptor.counters import Counters
from interceptor.http import Limits, MessageParser, State
from interceptor.pairs import Endpoint, Pair, Request, Response
from interceptor.reassembly import Budget


@dataclass(slots=True)
class Context:
    """What all conversations of a pipeline share."""

    limits: Limits
    counters: Counters
    budget: Budget
    response_timeout_s: float
    max_pending_requests: int
    emit: Callable[[Pair], None]


@dataclass(slots=True)
class Waiting:
    """A request (complete, or failed with ``failed`` as the reason) waiting for its response."""

    ts: float
    method: str
    request: Request | None
    failed: str = ""
    offset: int | None = None  # where the request starts in the client's TCP stream
    peer_ack: int | None = None  # how much of the server's stream the client had received then
    held: int = 0  # bytes reserved in the global budget while it waits


class WaitingQueue(deque[Waiting]):
    """The requests awaiting responses. A complete request keeps its body and fields until its
    response comes: those bytes count in the pipeline's global budget while it is queued, so
    requests that are never answered cannot grow memory past ``core.max_buffered_bytes``. Leaving
    the queue (by any path: paired, lost, expired, closed) returns them."""

    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self.budget = budget

    def popleft(self) -> Waiting:
        waiting = super().popleft()
        if waiting.held:
            self.budget.release(waiting.held)
        return waiting

    def clear(self) -> None:
        self.budget.release(sum(w.held for w in self))
        super().clear()


def held_bytes(request: Request) -> int:
    """What a queued request keeps in memory: its body and fields (with a per-field overhead)."""
    return len(request.body) + sum(len(n) + len(v) + 64 for n, v in request.headers) + 256


@dataclass(slots=True)
class H2cSwitch:
    """The server accepted ``Upgrade: h2c``: HTTP/2 follows, ``request`` is its stream 1."""

    request: Request
    server: int  # direction
    leftover: bytes  # what followed the 101's head in the server's direction


# After loss, a response that could answer several pipelined requests: none of them is paired.
AMBIGUOUS = Waiting(0.0, "", None, "ambiguous_after_loss")


class Conversation:
    """``endpoints[d]`` sends direction ``d``; ``parsers[d]`` parses it."""

    def __init__(self, ctx: Context, endpoints: tuple[Endpoint, Endpoint], source: dict[str, Any], synced: bool) -> None:
        self.ctx = ctx
        self.endpoints = endpoints
        self.source = source
        self.parsers = (self._parser(synced), self._parser(synced))
        self.queue = WaitingQueue(ctx.budget)
        self.response_gap = False
        self.client: int | None = None  # direction that carries requests, once known
        self.upgrade: H2cSwitch | None = None  # set when HTTP/2 takes the connection over (pipeline switches)
        self.switched: Request | None = None  # the request a 101 answered
        self.pairs = 0  # exchanges paired on this connection (the coverage account counts them)

    def _parser(self, synced: bool) -> MessageParser:
        parser = MessageParser(
            self.ctx.limits, self.ctx.counters, self.ctx.budget, self._on_message, self._request_method, synced
        )
        parser.on_role = self._on_role
        parser.on_gap = self._on_gap
        return parser

    def _on_gap(self, parser: MessageParser) -> None:
        if parser.role == "response":
            self.response_gap = True  # the next response may answer a later request

    def _on_role(self, parser: MessageParser) -> None:
        direction = self.parsers.index(parser)
        self.set_client(direction if parser.role == "request" else 1 - direction)

    def __repr__(self) -> str:
        return f"<Conversation client={self.client} waiting={len(self.queue)} {self.parsers}>"

    @property
    def dead(self) -> bool:
        """Neither direction will ever yield a message again (not HTTP, upgraded, or closed)."""
        return self.parsers[0].state is State.DEAD and self.parsers[1].state is State.DEAD

    def set_client(self, direction: int) -> None:
        """The TCP handshake told us who the client is."""
        if self.client is None:
            self.client = direction
            self.parsers[direction].role = "request"
            self.parsers[1 - direction].role = "response"

    def gap(self, direction: int) -> None:
        self.parsers[direction].gap()

    # -- events from the parsers ------------------------------------------------------------------
    def _request_method(self) -> str | None:
        """Method of the request the response being parsed answers (HEAD and CONNECT frame it)."""
        if self.client is not None:
            waiting = self._peek(self.parsers[1 - self.client].head_ack)
            if waiting is not None:
                return waiting.method
            msg = self.parsers[self.client].msg
            if msg is not None and msg.is_request:
                return msg.start[0]
        elif self.queue:
            return self.queue[0].method
        return None

    def _on_message(self, parser: MessageParser, msg: Request | Response | None, reason: str, ts: float) -> None:
        if reason == "upgraded":
            for p in self.parsers:
                p.state = State.DEAD
            if parser.upgrade_to == "h2c" and self.switched is not None:
                # The 101 was a pair of its own; the request's real answer comes on HTTP/2 stream 1.
                self.upgrade = H2cSwitch(self.switched, self.parsers.index(parser), parser.leftover)
            self._fail_all("upgraded_connection", count=False)
            return
        if parser.role == "request":
            self._request(msg, reason, ts, parser.last_offset, parser.last_ack)  # type: ignore[arg-type]
        else:
            self._response(msg, reason, ts, parser.last_ack)  # type: ignore[arg-type]

    def _request(self, request: Request | None, reason: str, ts: float, offset: int | None,
                 peer_ack: int | None) -> None:
        counters = self.ctx.counters
        if request is None:
            counters.drop(reason)
            self._enqueue(Waiting(ts, "", None, reason, offset, peer_ack))
        else:
            counters.counts["http.requests"] += 1
            held = held_bytes(request)
            if not self.ctx.budget.reserve(held):  # answered or not, it cannot be kept: counted
                counters.drop("memory_budget")
                self._enqueue(Waiting(ts, request.method, None, "memory_budget", offset, peer_ack))
                return
            self._enqueue(Waiting(ts, request.method, request, "", offset, peer_ack, held))

    def _enqueue(self, waiting: Waiting) -> None:
        if len(self.queue) >= self.ctx.max_pending_requests:
            oldest = self.queue.popleft()
            if not oldest.failed:
                self.ctx.counters.drop("pipeline_depth")
        self.queue.append(waiting)

    def _response(self, response: Response | None, reason: str, ts: float, ack: int | None) -> None:
        counters = self.ctx.counters
        if response is not None:
            counters.counts["http.responses"] += 1
        waiting = self._match(ts, ack)
        if waiting is None:
            counters.drop("response_without_request" if response is not None else reason)
            return
        if waiting.failed:
            counters.inc("http.responses_to_failed_requests")
            if response is None:
                counters.inc("http.responses_failed_too")
            return
        if response is None:
            counters.drop(reason)
            return
        assert waiting.request is not None
        if response.status == 101:
            self.switched = waiting.request
        c, s = self.client, 1 - (self.client or 0)
        src, dst = self.endpoints[c or 0], self.endpoints[s]
        self.pairs += 1
        self.ctx.emit(Pair(waiting.request, response, src, dst, self.source))

    def _peek(self, ack: int | None, ts: float | None = None) -> Waiting | None:
        """The queued request that a response (first byte at ``ts``, in a segment acknowledging
        the client's stream up to ``ack``) answers, or None if it answers none we know of."""
        queue = self.queue
        if not queue:
            return None
        first = queue[0]
        if not self.response_gap:  # the common case: the oldest request, if the response can answer it
            if ack is not None and first.offset is not None:
                return None if first.offset >= ack else first
            return None if ts is not None and first.ts > ts else first
        i = 0
        if ack is not None and first.offset is not None:
            # TCP sequence space decides, not clocks: the server had received at least the start
            # of the request it answers. A request lost by the capture leaves its response here.
            if first.offset >= ack:
                return None
            if self.response_gap:  # responses were lost: answer the newest request the server had begun
                while i + 1 < len(queue) and (nxt := queue[i + 1].offset) is not None and nxt < ack:
                    i += 1
                # Keep-alive: the client sent that request after receiving more of the server's
                # stream than for the one before (an earlier response came, then was lost from the
                # capture). Pipelined requests sent in one flight cannot be told apart: pair none.
                if i and (queue[i].peer_ack is None or queue[i].peer_ack == queue[i - 1].peer_ack):
                    return AMBIGUOUS
            return queue[i]
        if ts is not None and first.ts > ts:  # byte streams (TLS): only time is known
            return None
        if self.response_gap and ts is not None:
            while i + 1 < len(queue) and queue[i + 1].ts <= ts:
                i += 1
        return queue[i]

    def _match(self, ts: float, ack: int | None) -> Waiting | None:
        """Pop the request a completed response answers; the older ones lost their responses."""
        waiting = self._peek(ack, ts)
        if waiting is None:
            return None
        if waiting is AMBIGUOUS:
            while self.queue and self.queue[0].offset is not None and ack is not None and self.queue[0].offset < ack:
                if not self.queue.popleft().failed:
                    self.ctx.counters.drop("ambiguous_after_loss")
            return AMBIGUOUS  # response_gap stays set: the following responses are as uncertain
        self.response_gap = False
        while self.queue[0] is not waiting:
            self._lost(self.queue.popleft())
        return self.queue.popleft()

    def _lost(self, waiting: Waiting) -> None:
        if not waiting.failed:
            self.ctx.counters.drop("response_lost")

    # -- time and end -----------------------------------------------------------------------------
    def expire(self, now: float) -> None:
        """Drop requests that waited longer than the response timeout."""
        limit = now - self.ctx.response_timeout_s
        queue = self.queue
        while queue and queue[0].ts < limit:
            # A response already being received is not late: its first byte came in time.
            resp_parser = self.parsers[1 - self.client] if self.client is not None else None
            if resp_parser is not None and resp_parser.msg is not None and resp_parser.msg.ts >= queue[0].ts:
                return
            waiting = queue.popleft()
            if not waiting.failed:
                self.ctx.counters.drop("response_timeout")

    def close_direction(self, direction: int, ts: float) -> None:
        self.parsers[direction].close(ts)

    def close(self, ts: float, reason: str = "no_response") -> None:
        """The connection is over: complete close-delimited bodies, count requests left unanswered."""
        for p in self.parsers:
            if p.state is not State.DEAD:
                p.close(ts)
        self._fail_all(reason)

    def _fail_all(self, reason: str, count: bool = True) -> None:
        while self.queue:
            waiting = self.queue.popleft()
            if count and not waiting.failed:
                self.ctx.counters.drop(reason)

    def discard(self) -> None:
        """Forget everything without emitting (after an internal error): held bytes go back."""
        for p in self.parsers:
            p.discard()
        self.queue.clear()
