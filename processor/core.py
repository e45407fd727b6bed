"""The sans-I/O detection core: a pair record in, a detections record out. No Kafka, no sockets.

``Processor.handle(raw)`` parses and checks one pair message (JSON per ``pair.v1.json``), walks its
headers, query and bodies into leaves, classifies each leaf, templates the URL and names the
flow's nodes; it returns the Kafka key (the flow edge) and the detections record. A message that
is not a valid pair raises ``Poison`` with a reason, which the adapter counts and skips.
The output never contains a raw value: samples are masked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from typing import Any, Final

import orjson
from jsonschema import Draft202012Validator

from interceptor.config import ProcessorConfig
from interceptor.counters import Counters
from interceptor.pairs import RecordError, check_record
from processor.datatypes import TYPES, combined_sensitivity, sensitivity_of
from processor.detectors import Classifier, parse_custom
from processor.mask import mask
from processor.nodes import node_of
from processor.templating import Templater
from processor.walk import HEADER_LOCATIONS, Bounds, Walker, WalkResult

DETECTIONS_SCHEMA_VERSION: Final = 1
MAX_DETECTIONS: Final = 200  # per pair, after de-duplication by (type, location, path)


class Poison(ValueError):
    """A message that is not a pair record we can use; ``reason`` is the counter suffix."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _pair_validator() -> Draft202012Validator:
    schema = json.loads(resources.files("interceptor.schema").joinpath("pair.v1.json").read_text())
    return Draft202012Validator(schema)


class Result:
    """The Kafka key (the flow edge), the detections record and its JSON. A plain class, not a
    dataclass: one is made per pair, and in the compiled build a dataclass's __init__ stays interpreted."""

    __slots__ = ("key", "record", "value")

    def __init__(self, key: bytes, record: dict[str, Any], value: bytes = b"") -> None:
        self.key = key
        self.record = record
        self.value = value


class Processor:
    def __init__(self, cfg: ProcessorConfig | None = None, counters: Counters | None = None, full_schema: bool = False) -> None:
        self.cfg = cfg or ProcessorConfig()
        self.counters = counters or Counters()
        self.walker = Walker(Bounds(self.cfg.max_array_items, self.cfg.max_depth, self.cfg.max_leaves))
        custom = parse_custom(self.cfg.custom_types)
        self.custom_levels = {c.name: c.sensitivity for c in custom}
        self.classifier = Classifier(custom)
        # each type's level, looked up once per processor (as sensitivity_of: a built-in type keeps its own)
        self._levels = self.custom_levels | {t: TYPES[t][0] for t in TYPES}
        self._combined: dict[tuple[str, ...], str] = {}  # sorted types -> combined sensitivity
        self.templater = Templater()
        # The full JSON Schema check costs ~1 ms a pair; the structural check below covers every field
        # the processor reads, at a fraction of that. ``full_schema`` is for debugging producers.
        self.validator = _pair_validator() if full_schema else None

    def parse(self, raw: bytes) -> dict[str, Any]:
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise Poison("invalid_json", str(e)) from None
        if self.validator is not None:
            err = next(self.validator.iter_errors(rec), None)
            if err is not None:
                where = "/".join(str(p) for p in err.absolute_path) or "<top>"
                # err.message quotes the offending value (payload): name the rule, never the value.
                rule = repr(err.validator_value)
                raise Poison("schema_mismatch", f"{where}: fails {err.validator} {rule[:80]}")
        else:
            problem = check_pair(rec)
            if problem:
                raise Poison("schema_mismatch", problem)
        return rec

    def handle(self, raw: bytes) -> Result:
        """One Kafka message -> the detections message. Raises ``Poison``."""
        res = self.detect(self.parse(raw))
        res.value = orjson.dumps(res.record)
        return res

    def detect(self, rec: dict[str, Any]) -> Result:
        req, resp = rec["request"], rec["response"]
        walked = WalkResult()
        self.walker.walk_message(req, "request", walked)
        self.walker.walk_message(resp, "response", walked)
        grpc = rec.get("grpc")
        if isinstance(grpc, dict):  # HTTP/2 gRPC: the messages, decoded schema-less (numeric keys)
            for part in ("request", "response"):
                messages = grpc.get(f"{part}_messages")
                if isinstance(messages, list):
                    self.walker.walk_value(messages, f"{part}.body", walked)
        for limit in walked.limits:
            self.counters.inc(f"processor.bounded.{limit}")
        src = node_of(rec.get("src") or {}, None)
        dst = node_of(rec.get("dst") or {}, _host(req.get("headers") or []))
        template = _grpc_endpoint(grpc) or self.templater.template(dst["id"], req.get("target", "/"))
        detections = self._classify(walked)
        types = sorted({d["type"] for d in detections})
        edge = f"{src['id']}|{dst['id']}|{req.get('method', '')}|{template}"
        record = {
            "schema_version": DETECTIONS_SCHEMA_VERSION,
            "pair_id": rec["id"],
            "ts": rec.get("ts_request", 0.0),
            "edge": edge,
            "src": src,
            "dst": dst,
            "method": req.get("method", ""),
            "path_template": template,
            "status": resp.get("status", 0),
            "protocol": rec.get("protocol", "http/1.1"),
            "types": types,
            "sensitivity": self._sensitivity(types),
            "detections": detections,
            "limits": sorted(walked.limits),
        }
        self.counters.inc("processor.pairs")
        if types:
            self.counters.inc("processor.pairs_with_detections")
        return Result(edge.encode(), record)

    def _classify(self, walked: WalkResult) -> list[dict[str, Any]]:
        seen: dict[tuple[str, str, str], dict[str, Any]] = {}
        classifier = self.classifier  # called as classifier.types(...): a bound method in a local is a Python call
        levels = self._levels
        types: Sequence[str]
        for leaf in walked.leaves:
            loc = leaf.location
            if loc in HEADER_LOCATIONS:
                types = classifier.classify_header(leaf.path, leaf.value)
            else:
                types = classifier.types(leaf.path, leaf.value, leaf.hint)
            if not types:  # most leaves
                continue
            path = leaf.path
            for t in types:
                k = (t, loc, path)
                d = seen.get(k)
                if d is not None:
                    d["count"] += 1
                    continue
                if len(seen) >= MAX_DETECTIONS:
                    self.counters.inc("processor.bounded.detections")
                    continue
                part, where = _PARTS.get(loc) or _split_location(loc)
                level = levels.get(t)
                seen[k] = {
                    "type": t,
                    "sensitivity": level if level is not None else sensitivity_of(t, self.custom_levels),
                    "part": part,
                    "where": where,
                    "path": path,
                    "sample": mask(leaf.value),
                    "count": 1,
                }
        return list(seen.values())

    def _sensitivity(self, types: list[str]) -> str:
        """``combined_sensitivity`` of a set of types, remembered (a few dozen sets recur)."""
        key = tuple(types)
        level = self._combined.get(key)
        if level is None:
            level = combined_sensitivity(types, self.custom_levels)
            if len(self._combined) < 4096:
                self._combined[key] = level
        return level


_PARTS: Final[dict[str, tuple[str, str]]] = {}


def _split_location(loc: str) -> tuple[str, str]:
    """``request.body`` -> (``request``, ``body``); a handful of locations, memoised."""
    part, _, where = loc.partition(".")
    found = (part, where)
    if len(_PARTS) < 256:
        _PARTS[loc] = found
    return found


def check_pair(rec: Any) -> str | None:
    """The problem with a pair record v1 (naming the key), or None: the interceptor's own reader
    (``Pair.from_record``'s checks) -- the record is described once, in interceptor/pairs.py."""
    try:
        check_record(rec)
    except RecordError as e:
        return str(e)
    return None


def _host(headers: Sequence[Sequence[str]]) -> str | None:  # lists (parsed) or tuples (to_record)
    for item in headers:
        if len(item) == 2 and item[0].lower() in ("host", ":authority"):
            return item[1]
    return None


def _grpc_endpoint(grpc: Any) -> str | None:
    """gRPC names its endpoints: ``/{package.Service}/{Method}``, nothing to learn."""
    if isinstance(grpc, dict) and grpc.get("service") and grpc.get("method"):
        return f"/{grpc['service']}/{grpc['method']}"
    return None
