"""Turns a pair record's bodies, query string and headers into leaves: (location, key path, value).

Bounded whatever the payload: arrays are trimmed to ``max_array_items`` elements (Soveren trims to
ten), nesting below ``max_depth`` is not entered, and at most ``max_leaves`` leaves come out of one
message. Which bound was hit is reported, so the caller can count it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote_plus

import orjson

from processor import partialjson

MAX_VALUE_CHARS: Final = 8192  # longer strings are cut before detection (a private key block fits)


# Leaf and WalkResult are made per leaf and per pair: plain slotted classes, not dataclasses. In the
# compiled build (interceptor/compiled.py) a dataclass's generated __init__ stays interpreted Python
# (about 2k instructions a leaf, measured with callgrind); these are compiled with the module.
class Leaf:
    __slots__ = ("location", "path", "value", "hint")

    def __init__(self, location: str, path: str, value: str, hint: str = "") -> None:
        self.location = location  # "request.body", "response.body", "request.query", "request.header", ...
        self.path = path  # "user.emails[]", "card.number", "authorization"
        self.value = value
        self.hint = hint  # what a sibling says this value is: {"type": "passport", "number": <this>}


@dataclass
class Bounds:
    max_array_items: int = 10
    max_depth: int = 32
    max_leaves: int = 5000
    max_form_fields: int = 1000


class WalkResult:
    __slots__ = ("leaves", "limits")

    def __init__(self) -> None:
        self.leaves: list[Leaf] = []
        self.limits: set[str] = set()  # "array", "depth", "leaves", "value", "json", ...


# Headers that carry no personal data (or that we never want to report); everything else is scanned.
SKIP_HEADERS: Final = frozenset(
    """host content-type content-length content-encoding transfer-encoding connection accept
    accept-encoding accept-language accept-ranges cache-control pragma date expires etag last-modified
    if-none-match if-modified-since vary server user-agent keep-alive upgrade te trailer age via
    x-request-id x-correlation-id x-b3-traceid x-b3-spanid x-b3-parentspanid x-b3-sampled traceparent
    tracestate x-envoy-upstream-service-time x-envoy-expected-rq-timeout-ms x-frame-options
    x-content-type-options x-xss-protection strict-transport-security access-control-allow-origin
    access-control-allow-methods access-control-allow-headers access-control-max-age origin referer
    x-powered-by content-security-policy location link
    :method :scheme :authority :path :status grpc-encoding grpc-accept-encoding grpc-timeout grpc-status""".split()
)

# The locations of one half of a pair, the same string objects for every leaf (their hashes cached).
_LOCATIONS: Final = {part: (f"{part}.header", f"{part}.body") for part in ("request", "response")}
HEADER_LOCATIONS: Final = frozenset(header for header, _ in _LOCATIONS.values())

_BRACKETS: Final = re.compile(r"\[([^\]]*)\]")

# Typed documents and key/value pairs: a sibling field naming what the value is. Compared lower
# case with "_" and "-" removed; several languages.
NAMING_KEYS: Final = frozenset(
    """type kind label name key field attribute attr code documenttype doctype idtype identifiertype typ tipo
    tipodocumento tipodoc nombre chiave clave campo feld nom nome naam nazwa rodzaj soort art""".split()
)
VALUE_KEYS: Final = frozenset(
    """value val number num no id data valor valore wert waarde wartosc valeur nummer numero numer documentnumber
    docnumber documentno identifier content""".split()
)
MAX_HINT: Final = 64
# The hint given to the naming field itself: the classifier decides whether its value is a label.
LABEL_MARK = "\x00label"


def body_text(msg: dict[str, Any]) -> str | None:
    """The body as text, or None when it is binary."""
    body = msg.get("body", "")
    if msg.get("body_encoding") == "base64":
        try:
            raw = base64.b64decode(body, validate=False)
            # A damaged or cut body may end (or hole) inside a character: keep the rest.
            damaged = msg.get("body_incomplete") or msg.get("truncated")
            return raw.decode("utf-8", errors="ignore" if damaged else "strict")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
    return body


def content_kind(headers: Sequence[Sequence[str]], text: str) -> str | None:
    """'json', 'form' or None, from the content type; sniffed when the header is missing. ``headers``:
    [name, value] lists (a parsed record) or tuples (``Pair.to_record`` in the same process: the
    stream's masking), so not typed as lists (the compiled build checks what it is given)."""
    ctype = ""
    for name, value in headers:
        if name.lower() == "content-type":
            ctype = value.lower()
            break
    if "json" in ctype:
        return "json"
    if "x-www-form-urlencoded" in ctype:
        return "form"
    if ctype:
        return None
    head = text.lstrip()[:1]
    if head in ("{", "["):
        return "json"
    if "=" in text[:200] and " " not in text[:200]:
        return "form"
    return None


class Walker:
    def __init__(self, bounds: Bounds) -> None:
        self.b = bounds

    def walk_json(self, text: str, location: str, out: WalkResult, partial: bool = False) -> None:
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            if partial:  # the capture lost part of it, or it was cut at the size bound
                self.walk_partial_json(text, location, out)
                return
            out.limits.add("json")
            return
        budget = [self.b.max_leaves]
        self._node(doc, "", 0, location, out, budget)

    def walk_partial_json(self, text: str, location: str, out: WalkResult) -> None:
        """What parses of a damaged JSON body (see processor/partialjson.py), within the bounds."""
        out.limits.add("json_partial")
        n = 0
        for path, value in partialjson.leaves(text, self.b.max_depth):
            if n >= self.b.max_leaves:
                out.limits.add("leaves")
                return
            if value:
                n += 1
                out.leaves.append(Leaf(location, path, value[:MAX_VALUE_CHARS]))

    def walk_value(self, doc: Any, location: str, out: WalkResult) -> None:
        """A value already decoded (the gRPC messages the interceptor decoded schema-less)."""
        self._node(doc, "", 0, location, out, [self.b.max_leaves])

    def _node(self, node: Any, path: str, depth: int, loc: str, out: WalkResult, budget: list[int]) -> None:
        if budget[0] <= 0:
            out.limits.add("leaves")
            return
        if isinstance(node, dict):
            self._dict(node, path, depth, loc, out, budget)
        elif isinstance(node, list):
            self._list(node, path, depth, loc, out, budget)
        elif node is None or isinstance(node, bool):
            return
        else:  # a scalar at the top
            _add_leaf(out, budget, loc, path or "$", node if isinstance(node, str) else str(node))

    # _dict and _list take their scalar children in the loop (most children are scalars: no dispatch
    # through _node for them) and their containers directly; _node's budget test is the loop's own.
    def _dict(self, node: dict[str, Any], path: str, depth: int, loc: str, out: WalkResult, budget: list[int]) -> None:
        if depth >= self.b.max_depth:
            out.limits.add("depth")
            return
        hint = ""
        if 2 <= len(node) <= 8:
            hint = sibling_hint(node)
        prefix = f"{path}." if path else ""  # JSON keys are strings
        for k, v in node.items():
            if budget[0] <= 0:
                out.limits.add("leaves")
                return
            tv = type(v)
            if tv is str or tv is int or tv is float:
                h = ""
                if hint:
                    if tv is not float and _compact(k) in VALUE_KEYS:
                        h = hint
                    elif v is hint:
                        h = LABEL_MARK
                _add_leaf(out, budget, loc, prefix + k, v if tv is str else str(v), h)
            elif tv is dict:
                self._dict(v, prefix + k, depth + 1, loc, out, budget)
            elif tv is list:
                self._list(v, prefix + k, depth + 1, loc, out, budget)
            elif v is not None and tv is not bool:
                self._node(v, prefix + k, depth + 1, loc, out, budget)

    def _list(self, node: list[Any], path: str, depth: int, loc: str, out: WalkResult, budget: list[int]) -> None:
        if depth >= self.b.max_depth:
            out.limits.add("depth")
            return
        items = self.b.max_array_items
        if len(node) > items:
            out.limits.add("array")
        child = path + "[]"
        for v in node[:items]:
            if budget[0] <= 0:
                out.limits.add("leaves")
                return
            tv = type(v)
            if tv is str or tv is int or tv is float:
                _add_leaf(out, budget, loc, child, v if tv is str else str(v))
            elif tv is dict:
                self._dict(v, child, depth + 1, loc, out, budget)
            elif tv is list:
                self._list(v, child, depth + 1, loc, out, budget)
            elif v is not None and tv is not bool:
                self._node(v, child, depth + 1, loc, out, budget)

    def walk_form(self, text: str, location: str, out: WalkResult) -> None:
        n = 0
        for part in text.split("&"):
            if not part:
                continue
            if n >= min(self.b.max_form_fields, self.b.max_leaves):
                out.limits.add("leaves")
                return
            n += 1
            key, _, value = part.partition("=")
            key = form_key_path(_unquote(key))
            value = _unquote(value)[:MAX_VALUE_CHARS]
            if value:
                out.leaves.append(Leaf(location, key, value))

    def walk_headers(self, headers: Sequence[Sequence[str]], location: str, out: WalkResult) -> None:
        for item in headers[:200]:
            if len(item) != 2:
                continue
            name, value = item[0].lower(), item[1]
            if name in SKIP_HEADERS or not value:
                continue
            if name == "cookie":
                for part in value.split(";")[:50]:
                    ck, _, cv = part.strip().partition("=")
                    if cv:
                        out.leaves.append(Leaf(location, f"cookie.{ck}", cv[:MAX_VALUE_CHARS]))
            elif name == "set-cookie":
                ck, _, rest = value.partition("=")
                cv = rest.split(";", 1)[0]
                if cv:
                    out.leaves.append(Leaf(location, f"set-cookie.{ck.strip()}", cv[:MAX_VALUE_CHARS]))
            else:
                out.leaves.append(Leaf(location, name, value[:MAX_VALUE_CHARS]))

    def walk_message(self, msg: dict[str, Any], part: str, out: WalkResult) -> None:
        """One half of a pair: its headers, its query string (requests), its body."""
        headers = msg.get("headers") or []
        header_loc, body_loc = _LOCATIONS.get(part) or (f"{part}.header", f"{part}.body")
        self.walk_headers(headers, header_loc, out)
        if part == "request":
            target = msg.get("target", "")
            _, sep, query = target.partition("?")
            if sep and query:
                self.walk_form(query.split("#", 1)[0], "request.query", out)
        text = body_text(msg)
        if not text:
            return
        kind = content_kind(headers, text)
        if kind == "json":
            self.walk_json(text, body_loc, out, bool(msg.get("body_incomplete") or msg.get("truncated")))
        elif kind == "form":
            self.walk_form(text, body_loc, out)


def _add_leaf(out: WalkResult, budget: list[int], loc: str, path: str, value: str, hint: str = "") -> None:
    """A scalar's leaf, cut to ``MAX_VALUE_CHARS`` (counted as the "value" bound); empty is no leaf."""
    if len(value) > MAX_VALUE_CHARS:
        out.limits.add("value")
        value = value[:MAX_VALUE_CHARS]
    if value:
        budget[0] -= 1
        out.leaves.append(Leaf(loc, path, value, hint))


_COMPACTS: Final[dict[str, str]] = {}


def _compact(key: str) -> str:
    """``Document_Type`` -> ``documenttype``; memoised (keys repeat), the memo bounded."""
    c = _COMPACTS.get(key)
    if c is None:
        c = key.lower().replace("_", "").replace("-", "")
        if len(_COMPACTS) < 65536:
            _COMPACTS[key] = c
    return c


# Objects of one schema have the same keys: which of them name (in order) and whether one holds a
# value is remembered per tuple of keys (bounded), so an object costs a tuple and a lookup.
_KEY_SETS: Final[dict[tuple[str, ...], tuple[tuple[str, ...], bool]]] = {}
# NAMING_KEYS and VALUE_KEYS are disjoint (tests/processor/test_walk.py), so the answer depends on the keys alone.


def _naming_keys(keys: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    found = _KEY_SETS.get(keys)
    if found is None:
        compacts = [_compact(k) for k in keys]
        found = (tuple(k for k, c in zip(keys, compacts, strict=True) if c in NAMING_KEYS), any(c in VALUE_KEYS for c in compacts))
        if len(_KEY_SETS) < 65536:
            _KEY_SETS[keys] = found
    return found


def sibling_hint(node: dict[str, Any]) -> str:
    """The short text a naming sibling gives (``"passport"``, ``"Date of birth"``) when the object
    also has a value field, or ''. The first naming field holding such a text gives it."""
    naming, has_value = _naming_keys(tuple(node))
    if has_value:
        for k in naming:
            v = node[k]
            if isinstance(v, str) and 0 < len(v) <= MAX_HINT:
                return v
    return ""


def _unquote(text: str) -> str:
    """``unquote_plus``, at a fraction of its cost (urllib's is interpreted Python, ~4k instructions
    a field): without a ``%`` it is ``+`` -> space; ASCII text is decoded here as urllib does it."""
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    if not text.isascii():  # urllib decodes each ASCII run apart: leave that to it
        return unquote_plus(text)
    # urllib's unquote_to_bytes: each '%' and two hex digits is a byte, any other '%' stays; the bytes
    # decoded as UTF-8 with replacement
    chunks = text.split("%")
    out = bytearray(chunks[0].encode("ascii"))
    for chunk in chunks[1:]:
        byte = _HEX_BYTES.get(chunk[:2])
        if byte is None:
            out += b"%"
            out += chunk.encode("ascii")
        else:
            out.append(byte)
            out += chunk[2:].encode("ascii")
    return out.decode("utf-8", "replace")


_HEX_BYTES: Final = {a + b: int(a + b, 16) for a in "0123456789abcdefABCDEF" for b in "0123456789abcdefABCDEF"}


def form_key_path(key: str) -> str:
    """``user[address][city]`` -> ``user.address.city``; ``items[0][sku]`` / ``tags[]`` -> ``items[].sku``."""
    if "[" not in key:
        return key
    head = key.split("[", 1)[0]
    parts = [head]
    for m in _BRACKETS.finditer(key):
        inner = m.group(1)
        if inner == "" or inner.isdigit():
            parts[-1] += "[]"
        else:
            parts.append(inner)
    return ".".join(parts)
