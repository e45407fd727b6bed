"""Privacy by default for the live stream: a copy of a pair record with personal data masked.

With the processor's detections (the hub joins them), exactly the values it found are masked, at the
places it names (``part``/``where``/``path``, the walker's notation: ``user.emails[]``, a header name,
``cookie.sid``, a query parameter). Without them (the node agent runs no detection, or the detection
did not arrive in time) every captured value is masked: each JSON leaf, form and query value, and
header values except the technical ones the walker skips; a text body that is neither JSON nor a
form is masked whole, a binary one is emptied. Masking keeps the shape (``processor.mask``), so a
reader still sees formats, keys and structure. The record says what was done: ``"masked":
"detected"`` or ``"all"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote_plus

import orjson

from processor.mask import mask
from processor.walk import SKIP_HEADERS, body_text, content_kind, form_key_path

Place = tuple[str, str, str]  # (part, where, path): ("request", "body", "user.email")
MAX_BODY_MASK = 4096  # characters of shape kept when a whole body is masked


def mask_record(rec: dict[str, Any], detections: Iterable[dict[str, Any]] | None = None) -> dict[str, Any]:
    places: set[Place] | None = None
    if detections is not None:
        places = {(d.get("part", ""), d.get("where", ""), d.get("path", "")) for d in detections}
    out = dict(rec)
    for part in ("request", "response"):
        msg = rec.get(part)
        if isinstance(msg, dict):
            out[part] = _message(msg, part, places)
    out["masked"] = "all" if places is None else "detected"
    return out


def mask_all(rec: dict[str, Any]) -> dict[str, Any]:
    return mask_record(rec, None)


def _hit(places: set[Place] | None, part: str, where: str, path: str) -> bool:
    return places is None or (part, where, path) in places


def _message(msg: dict[str, Any], part: str, places: set[Place] | None) -> dict[str, Any]:
    out = dict(msg)
    out["headers"] = _headers(msg.get("headers") or [], part, places)
    if part == "request" and isinstance(msg.get("target"), str) and "?" in msg["target"]:
        path, _, query = msg["target"].partition("?")
        out["target"] = path + "?" + _form(query, part, "query", places)
    text = body_text(msg)
    if text is None:
        if places is None or any(p[0] == part and p[1] == "body" for p in places):
            out["body"], out["body_encoding"] = "", "utf-8"  # binary: nothing of it is shown
        return out
    if not text:
        return out
    kind = content_kind(msg.get("headers") or [], text)
    if kind == "json":
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            doc = None
            kind = None
        else:
            out["body"] = orjson.dumps(_json(doc, "", part, places)).decode()
    elif kind == "form":
        out["body"] = _form(text, part, "body", places)
    if kind is None and (places is None or any(p[0] == part and p[1] == "body" for p in places)):
        out["body"] = mask(text, MAX_BODY_MASK)
    if out.get("body") != msg.get("body"):
        out["body_encoding"] = "utf-8"
    return out


def _json(node: Any, path: str, part: str, places: set[Place] | None) -> Any:
    if isinstance(node, dict):
        return {k: _json(v, f"{path}.{k}" if path else str(k), part, places) for k, v in node.items()}
    if isinstance(node, list):
        return [_json(v, path + "[]", part, places) for v in node]
    if node is None or isinstance(node, bool):
        return node
    if _hit(places, part, "body", path or "$"):
        return mask(node if isinstance(node, str) else str(node))
    return node


def _form(text: str, part: str, where: str, places: set[Place] | None) -> str:
    items = []
    for raw in text.split("&"):
        if not raw:
            continue
        key, sep, value = raw.partition("=")
        if sep and value and _hit(places, part, where, form_key_path(unquote_plus(key))):
            value = quote(mask(unquote_plus(value)), safe="*")
        items.append(f"{key}{sep}{value}")
    return "&".join(items)


def _headers(headers: list[Any], part: str, places: set[Place] | None) -> list[Any]:
    out = []
    for item in headers:
        if not (isinstance(item, list | tuple) and len(item) == 2):
            continue
        name, value = item[0], item[1]
        low = str(name).lower()
        if low in SKIP_HEADERS:
            out.append([name, value])
            continue
        if places is None or (part, "header", low) in places or (low in ("cookie", "set-cookie") and any(
                p[0] == part and p[1] == "header" and p[2].startswith(low + ".") for p in places)):
            value = mask(str(value))
        out.append([name, value])
    return out

