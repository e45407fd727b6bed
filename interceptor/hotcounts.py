"""The counts taken for every packet or pair, as native ints (``Counters.hot``).

Compiled, ``counters.hot.packets += 1`` is a field update of a few instructions, where the same
count kept in the counters' dict costs ~300 (a lookup, an int boxed, a store) and there were ~8 a
pair. Only the pipeline's thread adds to them; ``Counters`` shows them under their names at every
read (``counts``, ``get``, ``snapshot``...), so no reader, thread or worker sees a difference. A
name is shown once it has been counted, as a dict key appears on its first increment (every one of
these only ever grows by a positive amount).
"""

from __future__ import annotations

from typing import Final

# The counters' name of each field (counternames.py describes them).
NAMES: Final = ("packets", "tcp.payload_bytes", "http.requests", "http.responses", "pairs.matched", "pairs.emitted")


class HotCounts:
    __slots__ = ("packets", "payload_bytes", "requests", "responses", "matched", "emitted")

    def __init__(self) -> None:
        self.packets = 0
        self.payload_bytes = 0
        self.requests = 0
        self.responses = 0
        self.matched = 0
        self.emitted = 0

    def show(self, counts: dict[str, int]) -> None:
        """Write the counts taken so far into ``counts`` under their ``NAMES`` (those counted at all)."""
        if self.packets:
            counts["packets"] = self.packets
        if self.payload_bytes:
            counts["tcp.payload_bytes"] = self.payload_bytes
        if self.requests:
            counts["http.requests"] = self.requests
        if self.responses:
            counts["http.responses"] = self.responses
        if self.matched:
            counts["pairs.matched"] = self.matched
        if self.emitted:
            counts["pairs.emitted"] = self.emitted

    def add(self, name: str, n: int) -> bool:
        """Add ``n`` to the field counting ``name``; False if ``name`` is not one of them."""
        if name == "packets":
            self.packets += n
        elif name == "tcp.payload_bytes":
            self.payload_bytes += n
        elif name == "http.requests":
            self.requests += n
        elif name == "http.responses":
            self.responses += n
        elif name == "pairs.matched":
            self.matched += n
        elif name == "pairs.emitted":
            self.emitted += n
        else:
            return False
        return True
