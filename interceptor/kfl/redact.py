"""``redact("path", ...)``: a copy of the record with the value at each path replaced by ``[REDACTED]``.

Paths are KFL selectors on the same names a query uses: plain record paths (``src.ip``), header names
(``request.headers.authorization``, case-insensitive, every repeat), query parameters
(``request.query.token``, rewritten in ``request.target``), and JSON inside a body
(``response.body.json().user.email``; ``*`` and ``[n]`` allowed). Only the containers on a path are
copied; the input record is never changed (other clients share it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import orjson

from interceptor.kfl.parser import Index, Key, Method, Step, Wildcard

if TYPE_CHECKING:
    from interceptor.kfl.compiler import RedactPath

REDACTED = "[REDACTED]"


def apply_redactions(rec: dict[str, Any], paths: tuple[RedactPath, ...]) -> dict[str, Any]:
    out = rec
    for p in paths:
        out = _set(out, p.steps, 0)
    return out


def _set(node: Any, steps: tuple[Step, ...], i: int) -> Any:
    if i == len(steps):
        return REDACTED
    s = steps[i]
    if isinstance(s, Key) and isinstance(node, dict):
        if s.name == "headers" and isinstance(node.get("headers"), list) and i > 0:
            return {**node, "headers": _headers(node["headers"], steps, i + 1)}
        if s.name == "query" and isinstance(node.get("target"), str) and i > 0:
            return {**node, "target": _query(node["target"], steps, i + 1)}
        if s.name not in node:
            return node
        return {**node, s.name: _set(node[s.name], steps, i + 1)}
    if isinstance(s, Index) and isinstance(node, list) and -len(node) <= s.index < len(node):
        copy = list(node)
        copy[s.index] = _set(node[s.index], steps, i + 1)
        return copy
    if isinstance(s, Wildcard):
        if isinstance(node, list):
            return [_set(x, steps, i + 1) for x in node]
        if isinstance(node, dict):
            return {k: _set(v, steps, i + 1) for k, v in node.items()}
    if isinstance(s, Method) and s.name == "json" and isinstance(node, str):
        try:
            doc = orjson.loads(node)
        except orjson.JSONDecodeError:
            return node
        new = _set(doc, steps, i + 1)
        return node if new is doc else orjson.dumps(new).decode()
    return node


def _headers(headers: list[Any], steps: tuple[Step, ...], i: int) -> list[Any]:
    name = steps[i].name.lower() if i < len(steps) and isinstance(steps[i], Key) else None  # type: ignore[union-attr]
    return [[h[0], REDACTED] if name is None or str(h[0]).lower() == name else h for h in headers]


def _query(target: str, steps: tuple[Step, ...], i: int) -> str:
    path, sep, query = target.partition("?")
    if not sep:
        return target
    name = steps[i].name if i < len(steps) and isinstance(steps[i], Key) else None  # type: ignore[union-attr]
    pairs = [(k, REDACTED if name is None or k == name else v) for k, v in parse_qsl(query, keep_blank_values=True)]
    return f"{path}?{urlencode(pairs, safe='[]')}"
