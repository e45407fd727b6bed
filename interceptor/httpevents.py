"""What an HTTP/1.x message reader tells its owner, as events (h11's ``next_event`` style).

A reader (``http.MessageParser``) is fed one direction's bytes and hands back, one at a time,
``Complete`` (a whole message), ``Failed`` (a message that began and cannot be given, with the
drop reason), ``RoleKnown`` (the direction turned out to carry requests or responses) and
``Upgraded`` (what follows is not HTTP/1 any more). It never calls back up; the conversation that
owns both directions pulls the events and pairs them. ``Span`` says where a message lay in its
TCP stream: pairing after loss is proven from it (see ``conversation``).
"""

from __future__ import annotations

from typing import NamedTuple

from interceptor.pairs import Request, Response


class Span:
    """Where a message lies in its TCP stream, and what the TCP headers said when it was sent.

    Offsets are the direction's unwrapped stream offsets (None for byte streams without sequence
    numbers: TLS plaintext). Pairing after loss is proven from these (see ``conversation``).
    (A plain class, not a dataclass: mypyc compiles its ``__init__``, a dataclass's stays Python.)
    """

    __slots__ = ("start", "end", "ack", "epoch", "lead", "prior_ack", "bodiless")

    def __init__(self, start: int | None, end: int | None, ack: int | None, epoch: int, lead: int | None = None,
                 prior_ack: int | None = None, bodiless: bool = False) -> None:
        self.start = start  # first byte of the message
        self.end = end  # just past its last byte (None when its framing was lost)
        self.ack = ack  # the other direction's offset acknowledged by the segment carrying the first byte
        self.epoch = epoch  # the parser's loss epoch: messages of one epoch follow each other with none unseen
        self.lead = lead  # responses: start of the run of 1xx responses right before it, else start
        self.prior_ack = prior_ack  # responses: ack of the segment that ended exactly at ``lead``
        self.bodiless = bodiless  # responses: framed as answering HEAD/CONNECT (no body, whatever the headers)

    def __repr__(self) -> str:
        return (f"Span(start={self.start}, end={self.end}, ack={self.ack}, epoch={self.epoch}, lead={self.lead}, "
                f"prior_ack={self.prior_ack}, bodiless={self.bodiless})")


class Complete:
    """A whole message: head and (decoded) body; ``ts`` is its first byte's capture time. (Built
    for every message: a plain class, which compiled is built and read natively.)"""

    __slots__ = ("message", "ts", "span")

    def __init__(self, message: Request | Response, ts: float, span: Span | None) -> None:
        self.message = message
        self.ts = ts
        self.span = span

    def __repr__(self) -> str:
        return f"Complete({self.message!r}, ts={self.ts}, span={self.span!r})"


# The other events are immutable named records (NamedTuples read by name).


class Failed(NamedTuple):
    """A message that began but cannot be given (too large, refused framing, cut by a gap...):
    it still takes its turn in the pairing order. ``reason`` is the drop reason to count."""

    reason: str
    ts: float
    span: Span | None


class RoleKnown(NamedTuple):
    """The direction's first message start showed what it carries: 'request' or 'response'."""

    role: str


class Upgraded(NamedTuple):
    """A 101 Switching Protocols or a CONNECT tunnel: the rest is not HTTP/1. ``protocol`` is the
    101's Upgrade token ('h2c': HTTP/2 follows), ``leftover`` the bytes after its head."""

    protocol: str
    leftover: bytes


Event = Complete | Failed | RoleKnown | Upgraded
