"""KFL tokens: a query string in, ``Token``s with their offsets out (or a ``KflError`` naming the spot)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

MAX_QUERY_CHARS = 4096  # a query is typed by a person; longer is a mistake or an attack


class KflError(ValueError):
    """A query that cannot be compiled; ``pos`` is the 0-based character offset of the problem."""

    def __init__(self, message: str, pos: int, query: str = "") -> None:
        self.message = message
        self.pos = pos
        self.query = query
        super().__init__(f"column {pos + 1}: {message}")

    def pointer(self) -> str:
        """The query with a caret under the problem (two lines), for a terminal."""
        return f"{self.query}\n{' ' * self.pos}^"


class T(enum.Enum):
    IDENT = "name"
    NUMBER = "number"
    STRING = "string"
    REGEX = "regex"
    OP = "operator"
    LPAREN = "'('"
    RPAREN = "')'"
    LBRACKET = "'['"
    RBRACKET = "']'"
    DOT = "'.'"
    DOTDOT = "'..'"
    COMMA = "','"
    STAR = "'*'"
    BANG = "'!'"
    MINUS = "'-'"
    EOF = "end of query"


@dataclass(frozen=True, slots=True)
class Token:
    kind: T
    text: str  # the source text (for strings: the decoded value)
    pos: int
    value: float | int | str | None = None

    def describe(self) -> str:
        if self.kind is T.EOF:
            return "end of query"
        return f"{self.kind.value} {self.text!r}" if self.kind in (T.IDENT, T.NUMBER, T.STRING, T.OP) else \
            f"{self.kind.value}"


_SINGLE = {"(": T.LPAREN, ")": T.RPAREN, "[": T.LBRACKET, "]": T.RBRACKET, ",": T.COMMA, "*": T.STAR,
           "-": T.MINUS}
_OPS = ("==", "!=", "<=", ">=", "<", ">")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", "/": "/"}


def tokenize(query: str) -> list[Token]:
    if len(query) > MAX_QUERY_CHARS:
        raise KflError(f"query longer than {MAX_QUERY_CHARS} characters", MAX_QUERY_CHARS, query[:80])
    out: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c == "r" and i + 1 < n and query[i + 1] in "\"'":
            text, j = _string(query, i + 1, raw=True)
            out.append(Token(T.REGEX, text, i, text))
            i = j
        elif c in "\"'":
            text, j = _string(query, i, raw=False)
            out.append(Token(T.STRING, text, i, text))
            i = j
        elif c.isdigit() or (c == "." and i + 1 < n and query[i + 1].isdigit() and _value_may_start(out)):
            j = i
            while j < n and (query[j].isdigit() or query[j] in ".eE_" or
                             (query[j] in "+-" and query[j - 1] in "eE")):
                j += 1
            text = query[i:j]
            try:
                value: float | int = int(text) if text.isdigit() else float(text)
            except ValueError:
                raise KflError(f"malformed number {text!r}", i, query) from None
            out.append(Token(T.NUMBER, text, i, value))
            i = j
        elif c.isalpha() or c in "_$@":
            j = i + 1
            while j < n and (query[j].isalnum() or query[j] in "_-$@") and not _ends_ident(query, j):
                j += 1
            out.append(Token(T.IDENT, query[i:j], i))
            i = j
        elif query.startswith("..", i):
            out.append(Token(T.DOTDOT, "..", i))
            i += 2
        elif c == ".":
            out.append(Token(T.DOT, ".", i))
            i += 1
        elif query.startswith(_OPS, i):
            op = next(o for o in _OPS if query.startswith(o, i))
            out.append(Token(T.OP, op, i))
            i += len(op)
        elif c == "!":
            out.append(Token(T.BANG, "!", i))
            i += 1
        elif c == "&" and query.startswith("&&", i):
            out.append(Token(T.IDENT, "and", i))
            i += 2
        elif c == "|" and query.startswith("||", i):
            out.append(Token(T.IDENT, "or", i))
            i += 2
        elif c == "=":
            raise KflError("'=' is not an operator: use '==' to compare", i, query)
        elif c in _SINGLE:
            out.append(Token(_SINGLE[c], c, i))
            i += 1
        else:
            raise KflError(f"unexpected character {c!r}", i, query)
    out.append(Token(T.EOF, "", n))
    return out


def _value_may_start(out: list[Token]) -> bool:
    """``.5`` is a number only where a value can start (not after a name: ``a.5`` is not valid)."""
    return not out or out[-1].kind in (T.OP, T.LPAREN, T.COMMA, T.BANG, T.MINUS) or (
        out[-1].kind is T.IDENT and out[-1].text in ("and", "or", "not"))


def _ends_ident(query: str, j: int) -> bool:
    # A '-' continues a name only between name characters (``x-request-id``), never ``a -1``.
    return query[j] == "-" and (j + 1 >= len(query) or not (query[j + 1].isalpha() or query[j + 1] == "_"))


def _string(query: str, start: int, raw: bool) -> tuple[str, int]:
    quote = query[start]
    i, n = start + 1, len(query)
    buf: list[str] = []
    while i < n:
        c = query[i]
        if c == quote:
            return "".join(buf), i + 1
        if c == "\\" and i + 1 < n:
            nxt = query[i + 1]
            if raw:  # a regex keeps its escapes for re; only the quote is unescaped
                buf.append(nxt if nxt == quote else c + nxt)
            elif nxt in _ESCAPES:
                buf.append(_ESCAPES[nxt])
            else:
                raise KflError(f"unknown escape '\\{nxt}' in a string", i, query)
            i += 2
            continue
        buf.append(c)
        i += 1
    raise KflError("string not closed: missing " + quote, start - (1 if raw else 0), query)
