"""Leaves of a JSON body the capture did not keep whole (``body_incomplete``) or that was cut at the
size bound (``truncated``): what parses is walked, the rest is skipped; never an exception.

The prefix is read by a small tolerant tokenizer that tracks the key path, so ``{"user":{"email":
"a@b.c","phone":"+1`` still yields ``user.email``. Where the text stops making sense (a hole joined
two distant parts of the document), the rest is scanned for ``"key": scalar`` members, reported
under their own key (the path above them is unknown).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_SCALAR = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(true|false|null))')
_MEMBER = re.compile(r'"((?:[^"\\]|\\.){1,200})"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(raw: str) -> str:
    if "\\" not in raw:
        return raw
    out, i = [], 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt == "u" and i + 6 <= len(raw):
                try:
                    out.append(chr(int(raw[i + 2:i + 6], 16)))
                    i += 6
                    continue
                except ValueError:
                    pass
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def leaves(text: str, max_depth: int = 32) -> Iterator[tuple[str, str]]:
    """(key path, scalar value) pairs of a possibly damaged JSON text, prefix first."""
    stop = 0
    for item in _prefix(text, max_depth):
        if isinstance(item, int):
            stop = item
            break
        yield item
    else:
        return
    for m in _MEMBER.finditer(text, stop):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        yield _unescape(m.group(1)), _unescape(value)


def _prefix(text: str, max_depth: int) -> Iterator[tuple[str, str] | int]:
    """Leaves of the well-formed prefix; finally the offset where it stopped making sense."""
    stack: list[list[str]] = []  # per open container: [kind, key or ""], kind "{" or "["
    expect_key = False
    pos, n = 0, len(text)
    while pos < n:
        c = text[pos]
        if c in " \t\r\n,":
            if c == "," and stack and stack[-1][0] == "{":
                expect_key = True
            pos += 1
            continue
        if c in "{[":
            if len(stack) >= max_depth:
                yield pos
                return
            stack.append([c, ""])
            expect_key = c == "{"
            pos += 1
            continue
        if c in "}]":
            if not stack or stack[-1][0] != ("{" if c == "}" else "["):
                yield pos
                return
            stack.pop()
            expect_key = False
            pos += 1
            continue
        if c == ":" and stack and stack[-1][0] == "{" and not expect_key:
            pos += 1
            continue
        m = _SCALAR.match(text, pos)
        if m is None or m.end() == pos:
            yield pos
            return
        if m.end() == n and m.group(1) is None and m.group(3) is None:
            yield pos  # a number cut by the end of what was kept: not a value we can trust
            return
        if expect_key and stack and stack[-1][0] == "{":
            if m.group(1) is None:
                yield pos
                return
            stack[-1][1] = _unescape(m.group(1))
            expect_key = False
        else:
            value = m.group(1) if m.group(1) is not None else m.group(2)
            if value is not None:
                yield _path(stack), _unescape(value)
        pos = m.end()
    yield n


def _path(stack: list[list[str]]) -> str:
    parts: list[str] = []
    for kind, key in stack:
        if kind == "{":
            parts.append(key)
        elif parts:
            parts[-1] += "[]"
        else:
            parts.append("[]")
    return ".".join(p for p in parts if p) or "$"
