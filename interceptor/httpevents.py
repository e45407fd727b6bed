"""What an HTTP/1.x message reader tells its owner, as events (h11's ``next_event`` style).

A reader (``http.MessageParser``) is fed one direction's bytes and hands back, one at a time,
``Complete`` (a whole message), ``Failed`` (a message that began and cannot be given, with the
drop reason), ``RoleKnown`` (the direction turned out to carry requests or responses) and
``Upgraded`` (what follows is not HTTP/1 any more). It never calls back up; the conversation that
owns both directions pulls the events and pairs them. ``Span`` says where a message lay in its
TCP stream: pairing after loss is proven from it (see ``conversation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from interceptor.pairs import Request, Response


@dataclass(slots=True)
class Span:
    """Where a message lies in its TCP stream, and what the TCP headers said when it was sent.

    Offsets are the direction's unwrapped stream offsets (None for byte streams without sequence
    numbers: TLS plaintext). Pairing after loss is proven from these (see ``conversation``).
    """

    start: int | None  # first byte of the message
    end: int | None  # just past its last byte (None when its framing was lost)
    ack: int | None  # the other direction's offset acknowledged by the segment carrying the first byte
    epoch: int  # the parser's loss epoch: messages of one epoch follow each other with none unseen
    lead: int | None = None  # responses: start of the run of 1xx responses right before it, else start
    prior_ack: int | None = None  # responses: ack of the segment that ended exactly at ``lead``
    bodiless: bool = False  # responses: framed as answering HEAD/CONNECT (no body, whatever the headers)


# Events are immutable named records (NamedTuples read by name: one is built per message, and
# ``tuple.__new__`` builds it without a Python-level __init__).
class Complete(NamedTuple):
    """A whole message: head and (decoded) body; ``ts`` is its first byte's capture time."""

    message: Request | Response
    ts: float
    span: Span | None


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
