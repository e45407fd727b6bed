"""The names a KFL query can use on a pair record: the record's own fields, Kubeshark's names as aliases,
and derived values (path, query, protocol, elapsed time).

A field is found by its leading names; the longest alias wins, and the steps after it apply to the
alias's value (``request.headers["X-Id"]`` looks the header up case-insensitively in the record's
``[name, value]`` list; ``request.query.page`` reads the target's query string). Everything else is
a plain path into the record (``response.status``, ``dst.workload``, ``types``, ``sensitivity``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl


class _Missing:
    """A path that is not in the record: every comparison with it is false."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
Getter = Callable[[dict[str, Any]], Any]


def _part(rec: dict[str, Any], part: str) -> dict[str, Any]:
    v = rec.get(part)
    return v if isinstance(v, dict) else {}


def headers_of(msg: dict[str, Any]) -> dict[str, str]:
    """``[name, value]`` pairs as a mapping with lower-case names (a repeated header: the first)."""
    out: dict[str, str] = {}
    for item in msg.get("headers") or ():
        if isinstance(item, list | tuple) and len(item) == 2:
            out.setdefault(str(item[0]).lower(), item[1])
    return out


def _target(rec: dict[str, Any]) -> Any:
    t = _part(rec, "request").get("target")
    return t if isinstance(t, str) else MISSING


def _path(rec: dict[str, Any]) -> Any:
    t = _target(rec)
    return t if t is MISSING else t.split("?", 1)[0]


def _query(rec: dict[str, Any]) -> Any:
    t = _target(rec)
    if t is MISSING:
        return MISSING
    _, _, q = t.partition("?")
    out: dict[str, str] = {}
    for k, v in parse_qsl(q.split("#", 1)[0], keep_blank_values=True)[:1000]:
        out.setdefault(k, v)
    return out


def header_getter(part: str, name: str) -> Getter:
    """One header's value (the first if repeated); ``name`` in lower case."""

    def get(rec: dict[str, Any]) -> Any:
        msg = rec.get(part)
        if not isinstance(msg, dict):
            return MISSING
        for item in msg.get("headers") or ():
            if len(item) == 2 and len(item[0]) == len(name) and item[0].lower() == name:
                return item[1]
        return MISSING

    return get




def _name(end: str) -> Getter:
    """Kubeshark's resolved name of an endpoint: the pod, else the workload, else the service."""

    def get(rec: dict[str, Any]) -> Any:
        ep = _part(rec, end)
        return ep.get("pod") or ep.get("workload") or ep.get("service") or MISSING

    return get


def _node_name(rec: dict[str, Any]) -> Any:
    node = rec.get("node")
    if isinstance(node, dict) and node.get("name"):
        return node["name"]
    return _part(rec, "source").get("node") or MISSING


def _elapsed_ms(rec: dict[str, Any]) -> Any:
    a, b = rec.get("ts_request"), rec.get("ts_response")
    if isinstance(a, int | float) and isinstance(b, int | float):
        return round((b - a) * 1000.0, 3)
    return MISSING


def _timestamp_ms(rec: dict[str, Any]) -> Any:
    a = rec.get("ts_request")
    return int(a * 1000) if isinstance(a, int | float) else MISSING


def protocol_name(rec: dict[str, Any]) -> str:
    """``http`` (HTTP/1.x), ``http2`` or ``grpc``: from the record's ``protocol`` field when it has one,
    else from the request's version and content type."""
    p = rec.get("protocol")
    if isinstance(p, dict):
        p = p.get("name")
    if isinstance(p, str) and p:
        low = p.lower()
        if "grpc" in low:
            return "grpc"
        if low in ("h2", "http2", "http/2", "h2c", "http/2.0"):
            return "http2"
        return "http"
    if rec.get("grpc"):
        return "grpc"
    req = _part(rec, "request")
    version = req.get("version")
    if not isinstance(version, str) or not version.startswith(("HTTP/2", "2")):
        return "http"
    ctype = _content_type(rec)
    return "grpc" if isinstance(ctype, str) and ctype.startswith("application/grpc") else "http2"


_content_type = header_getter("request", "content-type")


_ABBR = {"http": "HTTP", "http2": "HTTP/2", "grpc": "gRPC"}
_VERSION = {"http": "1.1", "http2": "2.0", "grpc": "2.0"}


def _protocol(field: str) -> Getter:
    def get(rec: dict[str, Any]) -> Any:
        name = protocol_name(rec)
        if field == "name" or field == "macro":
            return name
        if field == "abbr":
            return _ABBR[name]
        if field == "version":
            v = str(_part(rec, "request").get("version", ""))
            return v.removeprefix("HTTP/") or _VERSION[name]
        return MISSING

    return get


def _protocol_obj(rec: dict[str, Any]) -> Any:
    name = protocol_name(rec)
    return {"name": name, "abbr": _ABBR[name], "macro": name}


# Leading names -> getter. Values are computed from the record when asked (no second copy kept).
ALIASES: dict[tuple[str, ...], Getter] = {
    ("request", "path"): _path,
    ("request", "url"): _target,
    ("request", "query"): _query,
    ("request", "queryString"): _query,
    ("request", "headers"): lambda r: headers_of(_part(r, "request")),
    ("response", "headers"): lambda r: headers_of(_part(r, "response")),
    ("request", "host"): header_getter("request", "host"),
    ("response", "statusText"): lambda r: _part(r, "response").get("reason", MISSING),
    ("src", "name"): _name("src"),
    ("dst", "name"): _name("dst"),
    ("node", "name"): _node_name,
    ("elapsedTime",): _elapsed_ms,
    ("timestamp",): _timestamp_ms,
    ("protocol",): _protocol_obj,
    ("protocol", "name"): _protocol("name"),
    ("protocol", "abbr"): _protocol("abbr"),
    ("protocol", "macro"): _protocol("macro"),
    ("protocol", "version"): _protocol("version"),
}
# After these aliases a key is a header name: compared case-insensitively.
HEADER_ALIASES = {("request", "headers"), ("response", "headers")}
# Fields that carry captured values (possibly personal data): a query reading them is evaluated on the
# masked record for a caller without the raw grant, so it cannot probe what masking hides.
VALUE_ROOTS = {("request", "body"), ("response", "body"), ("request", "headers"), ("response", "headers"),
               ("request", "query"), ("request", "queryString"), ("request", "url"), ("request", "target"),
               ("request", "host")}
WHOLE_VALUE_ROOTS = {"request", "response", "detections"}  # the part itself, or a wildcard/descent into it


def resolve(names: tuple[str, ...]) -> tuple[Getter | None, int]:
    """The alias for the longest prefix of ``names`` and how many names it consumed (0: none)."""
    for n in range(min(len(names), 2), 0, -1):
        g = ALIASES.get(names[:n])
        if g is not None:
            return g, n
    return None, 0


def touches_values(names: tuple[str, ...], whole: bool) -> bool:
    """``names``: the selector's leading field names; ``whole``: nothing but names follow them."""
    if names[:2] in VALUE_ROOTS or names[:1] == ("detections",):
        return True
    return names[0] in WHOLE_VALUE_ROOTS and (len(names) == 1 or not whole and len(names) < 2)
