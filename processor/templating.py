"""URL templating learned per endpoint: ``/users/123/orders/9f1c…`` -> ``/users/{id}/orders/{id}``.

Two steps. A segment that is obviously an identifier (digits, UUID, long hex, a mix of letters and
digits, an email, a date) becomes ``{id}`` at once. Any other word is learned: each endpoint (the
destination service) keeps a small tree of the words seen at each position; when one position has
seen more distinct words than ``max_children``, it is a parameter, and only the words that were
frequent there before (``stable_min`` hits) are kept literally (``/users/me`` stays). All state is
bounded: endpoints are evicted least-recently-used, and trees stop growing at ``max_nodes``.

Learning needs many distinct words before a position becomes a parameter, so a segment that is
personal data (``/users/john.smith``, ``/people/Maria-Garcia``) becomes ``{id}`` at once too:
everything stored must be masked, even the first time a path is seen.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote

from processor.names import FIRST_NAMES

ID: Final = "{id}"
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
_HEX: Final = re.compile(r"[0-9a-fA-F]{8,}")
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}(?:T[\d:.]+Z?)?")
_WORD: Final = re.compile(r"[a-z]+(?:[-_.][a-z]+)*|v\d{1,2}|[A-Za-z][a-z]+(?:[A-Z][a-z]+)*")
# a gRPC path's first segment, a protobuf service's full name: ``demo.profiles.v1.Profiles``
_PROTO_SERVICE: Final = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\.[A-Z][A-Za-z0-9_]*")


_NAME_SPLIT: Final = re.compile(r"[._\-+ ]+")
_CAPITALISED: Final = re.compile(r"[A-Z][a-z'’]+")
PERSON_COLLECTIONS: Final = frozenset(("people", "persons", "staff", "person", "user", "customer", "member", "employee",
                                "profile", "account", "author", "patient", "student", "contact", "owner"))


def personal_segment(seg: str, previous: str = "") -> bool:
    """A segment that reads as a person's name: ``john.smith``, ``Maria-Garcia``, ``jane_doe``, or a
    given name right after a collection of people (``/users/maria``)."""
    text = unquote(seg)
    if "@" in text:
        return True
    parts = [p for p in _NAME_SPLIT.split(text) if p]
    if not parts or not all(p.isalpha() for p in parts):
        return False
    prev = previous.lower()
    after_people = prev in PERSON_COLLECTIONS or prev.rstrip("s") in PERSON_COLLECTIONS
    if len(parts) >= 2:
        if after_people and len(parts) <= 3:
            return True  # /people/jane_doe
        if all(_CAPITALISED.fullmatch(p) for p in parts) and len(parts) <= 4:
            return True  # Maria-Garcia, John.Smith
        return parts[0].lower() in FIRST_NAMES or parts[-1].lower() in FIRST_NAMES  # john.smith, smith_john
    return after_people and text.lower() in FIRST_NAMES


_IS_ID: Final[dict[int, bool]] = {}  # hash of (segment, previous) -> is it {id}; hashes, so no segment is kept
_MAX_IS_ID: Final = 65536


def segment_word(seg: str, previous: str) -> str:
    """What a segment contributes before learning: ``{id}`` for identifiers and personal data.
    Memoised by hash: the same paths come again and again."""
    h = hash((seg, previous))
    is_id = _IS_ID.get(h)
    if is_id is None:
        is_id = obvious_id(seg) or personal_segment(seg, previous)
        if len(_IS_ID) >= _MAX_IS_ID:
            _IS_ID.clear()
        _IS_ID[h] = is_id
    return ID if is_id else seg


def obvious_id(seg: str) -> bool:
    """A segment no API would use as a fixed path word."""
    if not seg or _PROTO_SERVICE.fullmatch(seg):
        return False
    if seg.isdigit() or _UUID.fullmatch(seg) or _DATE.fullmatch(seg) or "@" in seg:
        return True
    if _HEX.fullmatch(seg) and any(c.isdigit() for c in seg):
        return True
    has_digit = any(c.isdigit() for c in seg)
    if has_digit and len(seg) >= 6 and not _WORD.fullmatch(seg):
        return True
    if len(seg) >= 20 and not _WORD.fullmatch(seg):
        return True
    return False


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    variable: bool = False
    stable: set[str] = field(default_factory=set)


class Templater:
    def __init__(self, max_children: int = 24, stable_min: int = 5, max_endpoints: int = 10_000, max_nodes: int = 4_000) -> None:
        self.max_children = max_children
        self.stable_min = stable_min
        self.max_endpoints = max_endpoints
        self.max_nodes = max_nodes
        self._trees: OrderedDict[str, tuple[_Node, list[int]]] = OrderedDict()
        self.collapses = 0  # positions turned into parameters so far (the map compacts its edges on a change)

    def template(self, endpoint: str, target: str) -> str:
        path = target.split("?", 1)[0].split("#", 1)[0]
        if path.startswith(("http://", "https://")):  # absolute form (proxies)
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
        if len(segments) > 32:
            segments = segments[:32] + ["…"]
        root, size = self._tree(endpoint)
        node = root
        out = []
        previous = ""
        for seg in segments:
            word = segment_word(seg, previous)
            previous = seg
            node, word = self._step(node, word, size)
            out.append(word)
        return "/" + "/".join(out)

    def lookup(self, endpoint: str, path: str) -> str:
        """The template ``path`` gets now, without learning from it (for re-templating stored paths)."""
        entry = self._trees.get(endpoint)
        segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
        node: _Node | None = entry[0] if entry else None
        out = []
        previous = ""
        for seg in segments:
            word = segment_word(seg, previous)
            previous = seg
            if node is not None:
                if node.variable and word not in node.stable:
                    word = ID
                node = node.children.get(word)
            out.append(word)
        return "/" + "/".join(out)

    def _tree(self, endpoint: str) -> tuple[_Node, list[int]]:
        entry = self._trees.get(endpoint)
        if entry is None:
            entry = (_Node(), [0])
            self._trees[endpoint] = entry
            if len(self._trees) > self.max_endpoints:
                self._trees.popitem(last=False)
        else:
            self._trees.move_to_end(endpoint)
        return entry

    def _step(self, node: _Node, word: str, size: list[int]) -> tuple[_Node, str]:
        if node.variable and word not in node.stable:
            word = ID
        child = node.children.get(word)
        if child is None:
            if size[0] >= self.max_nodes:
                word = ID if node.variable or word == ID else word
                return node.children.get(word) or _Node(), word
            child = node.children[word] = _Node()
            size[0] += 1
        node.hits[word] = node.hits.get(word, 0) + 1
        if not node.variable and len(node.children) > self.max_children:
            self._collapse(node)
            if word not in node.stable:
                word = ID
            child = node.children[ID if word not in node.stable else word]
        return child, word

    def _collapse(self, node: _Node) -> None:
        """Too many distinct words here: it is a parameter. Frequent words stay; the rest merge into {id}."""
        node.variable = True
        self.collapses += 1
        node.stable = {w for w, n in node.hits.items() if n >= self.stable_min and w != ID}
        merged = node.children.get(ID) or _Node()
        for w in list(node.children):
            if w not in node.stable and w != ID:
                _merge(merged, node.children.pop(w))
        node.children[ID] = merged
        node.hits = {w: n for w, n in node.hits.items() if w in node.stable}


def _merge(into: _Node, other: _Node) -> None:
    for w, child in other.children.items():
        if w in into.children:
            _merge(into.children[w], child)
        else:
            into.children[w] = child
    for w, n in other.hits.items():
        into.hits[w] = into.hits.get(w, 0) + n
