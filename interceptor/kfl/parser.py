"""KFL parser: tokens in, a small AST out (recursive descent; errors say where and what was expected).

Grammar (``and``/``or`` share one level and go left to right, as Kubeshark's KFL documents)::

    query      := expr EOF
    expr       := unary { ("and" | "or") unary }
    unary      := ("not" | "!") unary | comparison
    comparison := operand [ ("==" | "!=" | "<" | "<=" | ">" | ">=") operand ]
    operand    := "-" operand | primary
    primary    := literal | regex | "(" expr ")" | NAME "(" args ")" | selector | MACRO
    selector   := NAME { "." NAME | "." "*" | ".." NAME | "[" (NUMBER | STRING) "]" | "." NAME "(" args ")" }
    literal    := NUMBER | STRING | "true" | "false" | "nil"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from interceptor.kfl.lexer import KflError, T, Token, tokenize

MAX_DEPTH = 64  # nesting of parentheses / not / minus
MAX_NODES = 512

KEYWORDS = {"and", "or", "not", "true", "false", "nil"}
# Bare words that stand for an expression (Kubeshark's protocol macros); expanded at parse time.
MACROS = {
    "http": 'protocol.name == r"^(http|http2|grpc)$"',
    "http1": 'protocol.name == "http"',
    "h2": 'protocol.name == r"^(http2|grpc)$"',
    "http2": 'protocol.name == r"^(http2|grpc)$"',
    "grpc": 'protocol.name == "grpc"',
}


@dataclass(frozen=True)
class Literal:
    value: object
    pos: int


@dataclass(frozen=True)
class Regex:
    pattern: re.Pattern[str]
    pos: int


@dataclass(frozen=True)
class Key:
    name: str


@dataclass(frozen=True)
class Index:
    index: int


@dataclass(frozen=True)
class Wildcard:
    pass


@dataclass(frozen=True)
class Descend:
    name: str  # ``..name``: every value under that key, at any depth


@dataclass(frozen=True)
class Method:
    name: str
    args: tuple[Node, ...]
    pos: int


Step = Key | Index | Wildcard | Descend | Method


@dataclass(frozen=True)
class Selector:
    steps: tuple[Step, ...]  # the first is always a Key (the root name)
    pos: int

    def path(self) -> str:
        return render_steps(self.steps)


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]
    pos: int


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node
    pos: int


@dataclass(frozen=True)
class Logic:
    op: str  # "and" | "or"
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    operand: Node
    pos: int


@dataclass(frozen=True)
class Neg:
    operand: Node
    pos: int


Node = Literal | Regex | Selector | Call | Compare | Logic | Not | Neg


def render_steps(steps: tuple[Step, ...]) -> str:
    out: list[str] = []
    for s in steps:
        if isinstance(s, Key):
            out.append(("." if out else "") + s.name)
        elif isinstance(s, Index):
            out.append(f"[{s.index}]")
        elif isinstance(s, Wildcard):
            out.append(".*")
        elif isinstance(s, Descend):
            out.append(".." + s.name)
        else:
            out.append(f".{s.name}(…)")
    return "".join(out)


@dataclass
class Parser:
    query: str
    toks: list[Token] = field(default_factory=list)
    i: int = 0
    depth: int = 0
    nodes: int = 0
    base: int = 0  # offset added to positions (macro expansions report the macro's place)

    def __post_init__(self) -> None:
        self.toks = tokenize(self.query)

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def _next(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def _fail(self, expected: str, tok: Token | None = None) -> KflError:
        t = tok or self.tok
        return KflError(f"expected {expected}, got {t.describe()}", self.base + t.pos, self.query)

    def _is_word(self, *words: str) -> bool:
        return self.tok.kind is T.IDENT and self.tok.text in words

    def _count(self, pos: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise KflError(f"query too complex (more than {MAX_NODES} terms)", self.base + pos, self.query)

    def _enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise KflError(f"query nested deeper than {MAX_DEPTH}", self.base + pos, self.query)

    # -- grammar ----------------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.tok.kind is T.EOF:
            raise self._fail("an expression")
        node = self.expr()
        if self.tok.kind is not T.EOF:
            raise self._fail("'and', 'or' or the end of the query")
        return node

    def expr(self) -> Node:
        left = self.unary()
        while self._is_word("and", "or"):
            op = self._next().text
            left = Logic(op, left, self.unary())
        return left

    def unary(self) -> Node:
        if self.tok.kind is T.BANG or self._is_word("not"):
            pos = self._next().pos
            self._enter(pos)
            node = Not(self.unary(), self.base + pos)
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.operand()
        if self.tok.kind is T.OP:
            op = self._next()
            if self.tok.kind in (T.EOF, T.RPAREN) or self._is_word("and", "or"):
                raise self._fail(f"a value after '{op.text}'")
            right = self.operand()
            if isinstance(left, Regex) and op.text in ("==", "!="):
                left, right = right, left  # r"..." == x means the same as x == r"..."
            if isinstance(right, Regex) and op.text not in ("==", "!="):
                raise KflError(f"a regex compares with == or != only, not '{op.text}'", self.base + op.pos,
                               self.query)
            self._count(op.pos)
            return Compare(op.text, left, right, self.base + op.pos)
        return left

    def operand(self) -> Node:
        if self.tok.kind is T.MINUS:
            pos = self._next().pos
            self._enter(pos)
            node = Neg(self.operand(), self.base + pos)
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        t = self.tok
        self._count(t.pos)
        if t.kind is T.NUMBER:
            self._next()
            return Literal(t.value, self.base + t.pos)
        if t.kind is T.STRING:
            self._next()
            return Literal(t.value, self.base + t.pos)
        if t.kind is T.REGEX:
            self._next()
            try:
                return Regex(re.compile(str(t.value)), self.base + t.pos)
            except re.error as e:
                raise KflError(f"bad regex: {e.msg}", self.base + t.pos + 2 + (e.pos or 0), self.query) from None
        if t.kind is T.LPAREN:
            self._next()
            self._enter(t.pos)
            node = self.expr()
            self.depth -= 1
            if self.tok.kind is not T.RPAREN:
                raise self._fail("')' to close the '(' at column " + str(self.base + t.pos + 1))
            self._next()
            return node
        if t.kind is T.IDENT:
            if t.text in ("true", "false"):
                self._next()
                return Literal(t.text == "true", self.base + t.pos)
            if t.text == "nil":
                self._next()
                return Literal(None, self.base + t.pos)
            if t.text in ("and", "or"):
                raise self._fail("a value before '" + t.text + "'")
            self._next()
            if self.tok.kind is T.LPAREN:
                return Call(t.text, self.args(), self.base + t.pos)
            if t.text in MACROS and self.tok.kind not in (T.DOT, T.LBRACKET, T.DOTDOT):
                return self.macro(t)
            return self.selector(t)
        raise self._fail("a value, a field name, '(' or 'not'")

    def macro(self, t: Token) -> Node:
        sub = Parser(MACROS[t.text])
        node = sub.parse()
        return _rebase(node, self.base + t.pos)

    def args(self) -> tuple[Node, ...]:
        open_tok = self._next()  # '('
        out: list[Node] = []
        if self.tok.kind is T.RPAREN:
            self._next()
            return ()
        while True:
            self._enter(open_tok.pos)
            out.append(self.expr())
            self.depth -= 1
            if self.tok.kind is T.COMMA:
                self._next()
                continue
            if self.tok.kind is T.RPAREN:
                self._next()
                return tuple(out)
            raise self._fail("',' or ')' in the argument list")

    def selector(self, first: Token) -> Node:
        steps: list[Step] = [Key(first.text)]
        while True:
            k = self.tok.kind
            if k is T.DOT:
                self._next()
                t = self.tok
                if t.kind is T.STAR:
                    self._next()
                    steps.append(Wildcard())
                elif t.kind is T.IDENT:
                    self._next()
                    if self.tok.kind is T.LPAREN:
                        steps.append(Method(t.text, self.args(), self.base + t.pos))
                    else:
                        steps.append(Key(t.text))
                elif t.kind is T.NUMBER and isinstance(t.value, int):
                    self._next()  # a.0 reads as a[0]
                    steps.append(Index(int(t.value)))
                else:
                    raise self._fail("a field name or '*' after '.'")
            elif k is T.DOTDOT:
                self._next()
                if self.tok.kind is not T.IDENT:
                    raise self._fail("a field name after '..'")
                steps.append(Descend(self._next().text))
            elif k is T.LBRACKET:
                self._next()
                t = self._next()
                if t.kind is T.NUMBER and isinstance(t.value, int):
                    steps.append(Index(int(t.value)))
                elif t.kind is T.MINUS and self.tok.kind is T.NUMBER and isinstance(self.tok.value, int):
                    steps.append(Index(-int(self._next().value or 0)))
                elif t.kind is T.STRING:
                    steps.append(Key(str(t.value)))
                elif t.kind is T.STAR:
                    steps.append(Wildcard())
                else:
                    raise self._fail("an index number or a quoted key inside '[ ]'", t)
                if self.tok.kind is not T.RBRACKET:
                    raise self._fail("']'")
                self._next()
            else:
                return Selector(tuple(steps), self.base + first.pos)


def _rebase(node: Node, pos: int) -> Node:
    """A macro's expansion reports the macro's position for any later error."""
    if isinstance(node, Compare):
        return Compare(node.op, _rebase(node.left, pos), _rebase(node.right, pos), pos)
    if isinstance(node, Logic):
        return Logic(node.op, _rebase(node.left, pos), _rebase(node.right, pos))
    if isinstance(node, Selector):
        return Selector(node.steps, pos)
    if isinstance(node, Literal):
        return Literal(node.value, pos)
    if isinstance(node, Regex):
        return Regex(node.pattern, pos)
    return node


def parse(query: str) -> Node:
    return Parser(query).parse()
