"""The loop of a replay (compiled): a batch of a capture file's packets into the pipeline, stopping
where capture time says the timeouts are due, so no interpreted work is done per packet.

The caller (``cli.replay_file``) does what is due at a stop (``Pipeline.tick``, the sinks' poll,
the coverage account) and feeds on from where the batch stopped.
"""

from __future__ import annotations

from interceptor.pipeline import Pipeline

Packet = tuple[float, int, bytes]


class Feeder:
    """Feeds packets to ``pipeline``; a tick falls due ``tick_s`` of capture time after the last
    (the first: after the first packet)."""

    def __init__(self, pipeline: Pipeline, tick_s: float) -> None:
        self.pipeline = pipeline
        self.tick_s = tick_s
        self.next_tick = 0.0
        self.started = False
        self.fed = 0  # packets fed so far
        self.tick_due = False  # ``feed`` stopped where a tick fell due (the caller ticks, clears it)
        self.due = 0.0  # the capture time that tick is for

    def feed(self, batch: list[Packet], start: int) -> int:
        """Feed ``batch[start:]``; returns ``len(batch)``, or the index after the packet at which a
        tick fell due (``tick_due`` and ``due`` say so; the caller ticks and feeds on from there)."""
        pipeline = self.pipeline
        n = len(batch)
        i = start
        while i < n:
            ts, linktype, frame = batch[i]
            i += 1
            pipeline.feed_packet(ts, frame, linktype)
            if not self.started:
                self.started = True
                self.next_tick = ts + self.tick_s
            elif ts >= self.next_tick:
                self.next_tick = ts + self.tick_s
                self.due = ts
                self.tick_due = True
                self.fed += i - start
                return i
        self.fed += n - start
        return n
