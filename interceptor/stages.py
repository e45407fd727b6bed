"""What happens to a pair once it is paired: an explicit list of stages with one hook shape.

Each stage's ``pair(pair)`` returns the pair to go on (possibly changed or replaced), or None to
stop it there, having counted why (the drop reason is the stage's to name). The pipeline runs
``Bounds`` → ``Filters`` → ``Emitted``, then the output's stages (``Enrich`` when Kubernetes
metadata is on, ``Publish`` to the sinks), as mitmproxy runs its addons: a list anyone can read
top to bottom, instead of callbacks wrapped in closures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from interceptor.config import CoreConfig, FilterConfig
from interceptor.counters import Counters
from interceptor.filters import PairFilter
from interceptor.hotcounts import HotCounts
from interceptor.pairs import Pair
from interceptor.sinks.base import Sink
from interceptor.sinks.jsonl import JsonlSink


class Stage(Protocol):
    def pair(self, pair: Pair) -> Pair | None: ...


class NativeStage:
    """Base of the stages defined here: compiled, ``Stages`` calls them natively (a stage known
    only by its protocol, as the output's own are, costs a generic Python call per pair)."""

    __slots__ = ()

    def pair(self, pair: Pair) -> Pair | None:
        raise NotImplementedError


class Stages:
    """Stages run in order; a stage returning None ends the pair's way (it counted why)."""

    __slots__ = ("stages",)

    def __init__(self, stages: Iterable[Stage] = ()) -> None:
        self.stages: list[Stage] = list(stages)

    def __repr__(self) -> str:
        return f"<Stages {' -> '.join(type(s).__name__ for s in self.stages)}>"

    def pair(self, pair: Pair) -> Pair | None:
        out: Pair | None = pair
        for stage in self.stages:
            if isinstance(stage, NativeStage):
                out = stage.pair(out)  # type: ignore[arg-type]
            else:
                out = stage.pair(out)  # type: ignore[arg-type]
            if out is None:
                return None
        return out

    def __call__(self, pair: Pair) -> Pair | None:
        """Usable where a pair callback is expected (a method: mypyc compiles a class-level alias
        into an unset attribute)."""
        return self.pair(pair)


class Emit:
    """Where a pipeline's layers hand each pair (``conversation.Context.emit``): counts it
    (``pairs.matched``) and runs the stages; a failing stage (a sink's disk full...) is counted as
    ``output_error`` and must not tear down the flow. (A native class, called natively by
    ``connection.layer_events``: a bound method kept as a callable costs a generic call a pair.)"""

    __slots__ = ("stages", "hot", "counters")

    def __init__(self, stages: Stages, counters: Counters) -> None:
        self.stages = stages
        self.hot: HotCounts = counters.hot
        self.counters = counters

    def pair(self, pair: Pair) -> None:
        self.hot.matched += 1
        try:
            self.stages.pair(pair)
        except Exception:  # noqa: BLE001 - see above
            self.counters.drop("output_error")

    def __call__(self, pair: Pair) -> None:
        self.pair(pair)


class Bounds(NativeStage):
    """``core.max_pair_bytes``: the pair is cut to fit (``oversize: truncate``) or dropped."""

    __slots__ = ("limit", "truncate", "counters")

    def __init__(self, core: CoreConfig, counters: Counters) -> None:
        self.limit = core.max_pair_bytes
        self.truncate = core.oversize == "truncate"
        self.counters = counters

    def pair(self, pair: Pair) -> Pair | None:
        if len(pair.request.body) + len(pair.response.body) <= self.limit:  # (Pair.body_bytes, not via a Python property)
            return pair
        if not self.truncate:
            self.counters.drop("pair_too_large")
            return None
        return truncate_pair(pair, self.limit)


def truncate_pair(pair: Pair, limit: int) -> Pair:
    """Keep the request whole if possible and cut the response to fit the pair bound (a new pair:
    the model is frozen)."""
    req, resp = pair.request, pair.response
    if len(req.body) > limit:
        req = req.replace(body=req.body[:limit], truncated=True)
    room = limit - len(req.body)
    if len(resp.body) > room:
        resp = resp.replace(body=resp.body[:room], truncated=True)
    return pair.replace(request=req, response=resp)


class Filters(NativeStage):
    """The noise filters (``filters``): content types, statuses, URLs, user agents, headers."""

    __slots__ = ("filter", "counters")

    def __init__(self, cfg: FilterConfig, counters: Counters) -> None:
        self.filter = PairFilter(cfg)
        self.counters = counters

    def pair(self, pair: Pair) -> Pair | None:
        reason = self.filter.reason(pair)
        if reason is not None:
            self.counters.drop(reason)
            return None
        return pair


class Emitted(NativeStage):
    """Counts the pairs that passed the bounds and filters (``pairs.emitted``)."""

    __slots__ = ("hot",)

    def __init__(self, counters: Counters) -> None:
        self.hot: HotCounts = counters.hot

    def pair(self, pair: Pair) -> Pair | None:
        self.hot.emitted += 1
        return pair


class Enrich(NativeStage):
    """Kubernetes metadata for both endpoints; None for pairs the namespace/pod rules exclude
    (the enricher counts those)."""

    __slots__ = ("enricher",)

    def __init__(self, enricher: Any) -> None:
        self.enricher = enricher

    def pair(self, pair: Pair) -> Pair | None:
        result: Pair | None = self.enricher.enrich(pair)
        return result


class Publish(NativeStage):
    """Hands the pair to every sink (JSON Lines, Kafka); each sink counts its own failures."""

    __slots__ = ("sinks",)

    def __init__(self, sinks: Iterable[Sink]) -> None:
        self.sinks = list(sinks)

    def pair(self, pair: Pair) -> Pair | None:
        for sink in self.sinks:
            if isinstance(sink, JsonlSink):  # compiled, a native call (a protocol's is a generic one)
                sink.publish(pair)
            else:
                sink.publish(pair)
        return pair


class Callback(NativeStage):
    """A plain function as the last stage (tests, benchmarks, embedding programs)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Pair], Any]) -> None:
        self.fn = fn

    def pair(self, pair: Pair) -> Pair | None:
        self.fn(pair)
        return pair


def as_stages(out: Stages | Callable[[Pair], Any]) -> list[Stage]:
    """The stages behind what a pipeline was given to send its pairs to."""
    if isinstance(out, Stages):
        return list(out.stages)
    return [Callback(out)]
