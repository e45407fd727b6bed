"""KFL compiler: the AST becomes nested closures, once per client; evaluating a record calls them.

No ``eval``: a query can only read the record through the selectors it names. The cost per record is
bounded by the query's size (at most ``MAX_NODES`` terms), by ``MAX_FANOUT`` values per wildcard or
descent, by ``MAX_MATCH_CHARS`` characters a regex or a string helper looks at, and by refusing
regexes with nested repetition (the patterns that backtrack exponentially).

Semantics (see docs/stream.md): a comparison with a missing path is false (``!=`` too); numbers and
numeric strings compare as numbers (``dst.port == "80"``); ``==`` against a regex means "matches
somewhere" (Go's ``MatchString``, as Kubeshark); a wildcard compares true when any element does (and
``!=`` when none equals); a bare selector is true when the path exists and is not ``nil``/``false``.
``limit(n)``, ``redact(...)`` are always true and act on the stream; ``now()``, ``datetime()`` and the
time units are fixed when the query is compiled (milliseconds since the epoch, as Kubeshark's
``timestamp``).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from interceptor.kfl import fields
from interceptor.kfl.fields import MISSING
from interceptor.kfl.lexer import KflError
from interceptor.kfl.parser import (
    Call,
    Compare,
    Descend,
    Index,
    Key,
    Literal,
    Logic,
    Method,
    Neg,
    Node,
    Not,
    Parser,
    Regex,
    Selector,
    Step,
    Wildcard,
    parse,
)

MAX_FANOUT = 1000
MAX_MATCH_CHARS = 65536
MAX_LIMIT = 10_000_000
Value = Callable[[dict[str, Any]], Any]
Pred = Callable[[dict[str, Any]], bool]

_UNIT_MS = {"seconds": 1000, "minutes": 60_000, "hours": 3_600_000, "days": 86_400_000,
            "weeks": 7 * 86_400_000, "months": 30 * 86_400_000, "years": 365 * 86_400_000}
HELPERS = ("limit", "redact", "now", "datetime", *_UNIT_MS)
METHODS = ("startsWith", "endsWith", "contains", "json")


class Many(list):  # type: ignore[type-arg]
    """The values a wildcard or descent found; comparisons ask whether any element matches."""


@dataclass(frozen=True)
class RedactPath:
    """A ``redact("...")`` argument, parsed as a selector."""

    text: str
    steps: tuple[Step, ...]


@dataclass
class Query:
    """A compiled query: ``match(record)``; what ``limit`` and ``redact`` ask of the stream."""

    text: str
    match: Pred
    limit: int | None = None
    redactions: tuple[RedactPath, ...] = ()
    touches_values: bool = False  # reads captured values (bodies, headers, query): see fields.VALUE_ROOTS

    def redact(self, rec: dict[str, Any]) -> dict[str, Any]:
        from interceptor.kfl.redact import apply_redactions

        return apply_redactions(rec, self.redactions) if self.redactions else rec


@dataclass
class _Ctx:
    query: str
    now_ms: int
    limit: int | None = None
    redactions: list[RedactPath] = field(default_factory=list)
    touches: bool = False

    def error(self, message: str, pos: int) -> KflError:
        return KflError(message, pos, self.query)


def compile_query(text: str, now: float | None = None) -> Query:
    """Parse and compile; raises ``KflError`` (message, position) for anything it cannot run.
    An empty query matches everything (Kubeshark streams all with an empty filter)."""
    if not text.strip():
        return Query(text, lambda rec: True)
    ctx = _Ctx(text, int((time.time() if now is None else now) * 1000))
    pred = _pred(parse(text), ctx)
    return Query(text, pred, ctx.limit, tuple(ctx.redactions), ctx.touches)


# -- booleans -------------------------------------------------------------------------------------
def _pred(node: Node, ctx: _Ctx) -> Pred:
    if isinstance(node, Logic):
        a, b = _pred(node.left, ctx), _pred(node.right, ctx)
        if node.op == "and":
            return lambda r: a(r) and b(r)
        return lambda r: a(r) or b(r)
    if isinstance(node, Not):
        p = _pred(node.operand, ctx)
        return lambda r: not p(r)
    if isinstance(node, Compare):
        return _compare(node, ctx)
    if isinstance(node, Selector) and node.steps and isinstance(node.steps[-1], Method) \
            and node.steps[-1].name in ("startsWith", "endsWith", "contains"):
        return _string_method(node, ctx)
    if isinstance(node, Regex):
        raise ctx.error("a regex alone is not a condition: compare a field with it (field == r\"...\")", node.pos)
    v = _value(node, ctx)
    return lambda r: _truthy(v(r))


def _truthy(x: Any) -> bool:
    if isinstance(x, Many):
        return any(_truthy(e) for e in x)
    return x is not MISSING and x is not None and x is not False


# -- values ---------------------------------------------------------------------------------------
def _value(node: Node, ctx: _Ctx) -> Value:
    if isinstance(node, Literal):
        c = node.value
        return lambda r: c
    if isinstance(node, Neg):
        inner = _value(node.operand, ctx)
        if isinstance(node.operand, Literal):
            if not _is_num(node.operand.value):
                raise ctx.error("'-' needs a number", node.pos)
            c = -node.operand.value  # type: ignore[operator]
            return lambda r: c
        return lambda r: _negate(inner(r))
    if isinstance(node, Selector):
        last = node.steps[-1]
        if isinstance(last, Method) and last.name in ("startsWith", "endsWith", "contains"):
            p = _string_method(node, ctx)
            return lambda r: p(r)
        return _selector(node, ctx)
    if isinstance(node, Call):
        return _call(node, ctx)
    if isinstance(node, Compare | Logic | Not):
        p = _pred(node, ctx)
        return lambda r: p(r)
    raise ctx.error("a regex can only be compared with == or !=", node.pos)


def _negate(x: Any) -> Any:
    if isinstance(x, Many):
        return Many(_negate(e) for e in x)
    return -x if _is_num(x) else MISSING


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _call(node: Call, ctx: _Ctx) -> Value:
    name, args = node.name, node.args
    if name == "limit":
        if len(args) != 1 or not isinstance(args[0], Literal) or not isinstance(args[0].value, int) \
                or isinstance(args[0].value, bool) or not 0 <= args[0].value <= MAX_LIMIT:
            raise ctx.error(f"limit() takes one whole number from 0 to {MAX_LIMIT}", node.pos)
        ctx.limit = args[0].value if ctx.limit is None else min(ctx.limit, args[0].value)
        return lambda r: True
    if name == "redact":
        if not args:
            raise ctx.error('redact() takes one or more quoted paths, e.g. redact("request.headers.cookie")',
                            node.pos)
        for a in args:
            if not isinstance(a, Literal) or not isinstance(a.value, str):
                raise ctx.error("redact() arguments are quoted paths", getattr(a, "pos", node.pos))
            ctx.redactions.append(_redact_path(a.value, a.pos, ctx))
        return lambda r: True
    if name == "now":
        if args:
            raise ctx.error("now() takes no arguments", node.pos)
        c = ctx.now_ms
        return lambda r: c
    if name in _UNIT_MS:
        if len(args) != 1:
            raise ctx.error(f"{name}() takes one number", node.pos)
        n = _const_number(args[0], ctx, name)
        c = ctx.now_ms + int(n * _UNIT_MS[name])
        return lambda r: c
    if name == "datetime":
        if len(args) != 1 or not isinstance(args[0], Literal) or not isinstance(args[0].value, str):
            raise ctx.error('datetime() takes one quoted date, e.g. datetime("10/19/2021, 6:29:02 PM")', node.pos)
        ms = _datetime_ms(args[0].value)
        return lambda r: False if ms is None else ms  # Kubeshark: an unrecognised date is false
    raise ctx.error(f"unknown helper {name}() (known: {', '.join(HELPERS)})", node.pos)


def _const_number(node: Node, ctx: _Ctx, name: str) -> float:
    if isinstance(node, Literal) and _is_num(node.value):
        return float(node.value)  # type: ignore[arg-type]
    if isinstance(node, Neg) and isinstance(node.operand, Literal) and _is_num(node.operand.value):
        return -float(node.operand.value)  # type: ignore[arg-type]
    raise ctx.error(f"{name}() takes a number", getattr(node, "pos", 0))


def _datetime_ms(text: str) -> int | None:
    for fmt in ("%m/%d/%Y, %I:%M:%S %p", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            d = dt.datetime.strptime(text.strip().replace("Z", "+0000"), fmt)
        except ValueError:
            continue
        if d.tzinfo is None:
            d = d.replace(tzinfo=dt.UTC)
        return int(d.timestamp() * 1000)
    return None


def _redact_path(text: str, pos: int, ctx: _Ctx) -> RedactPath:
    try:
        sub = Parser(text)
        node = sub.parse()
    except KflError as e:
        raise ctx.error(f"redact path {text!r}: {e.message}", pos) from None
    if not isinstance(node, Selector) or any(
            isinstance(s, Method) and s.name != "json" or isinstance(s, Descend) for s in node.steps):
        raise ctx.error(f"redact path {text!r} must be a field path (json() allowed)", pos)
    return RedactPath(text, node.steps)


# -- selectors ------------------------------------------------------------------------------------
def _selector(node: Selector, ctx: _Ctx) -> Value:
    steps = node.steps
    names: list[str] = []
    for s in steps:
        if not isinstance(s, Key):
            break
        names.append(s.name)
    if fields.touches_values(tuple(names), len(names) == len(steps)):
        ctx.touches = True
    getter, used = fields.resolve(tuple(names))
    rest = list(steps[used:])
    if getter is not None and tuple(names[:used]) in fields.HEADER_ALIASES and rest and isinstance(rest[0], Key):
        # One header by name (case-insensitive): a scan of the record's list, no mapping built.
        getter = fields.header_getter(names[0], rest[0].name.lower())
        rest = rest[1:]
        used = -1
    for s in rest:
        if isinstance(s, Method) and (s.name != "json" or s.args):
            if s.name in METHODS:
                raise ctx.error(f"{s.name}() must end a condition (it gives true or false)"
                                if s.name != "json" else "json() takes no arguments", s.pos)
            raise ctx.error(f"unknown helper {s.name}() (known: {', '.join(METHODS)})", s.pos)
    if getter is None:
        if all(isinstance(s, Key) for s in rest):
            return _plain_path([s.name for s in rest])  # type: ignore[union-attr]
        base: Value = lambda r: r  # noqa: E731
    elif used == -1 or tuple(names[:used]) in fields.HEADER_ALIASES:
        base = getter
        if not rest:
            return base  # our [name, value] list, seen as a mapping
    else:
        # A record that has the field itself (a document not of ours) wins over the alias.
        own, alias = _plain_path(names[:used]), getter

        def base(r: dict[str, Any]) -> Any:
            v = own(r)
            return alias(r) if v is MISSING else v

        if not rest:
            return base
        if all(isinstance(s, Key) for s in rest):
            walk = _plain_path([s.name for s in rest])  # type: ignore[union-attr]
            return lambda r: walk(base(r))
    compiled = [_step(s) for s in rest]

    def value(r: dict[str, Any]) -> Any:
        cur = base(r)
        for st in compiled:
            if cur is MISSING:
                return MISSING
            cur = st(cur)
        return cur

    return value


def _plain_path(names: list[str]) -> Value:
    """Nested dict lookups, unrolled for the common short paths (the hot case of every query)."""
    if len(names) == 1:
        (a,) = names
        return lambda r: r.get(a, MISSING) if isinstance(r, dict) else MISSING
    if len(names) == 2:
        a, b = names

        def get2(r: Any) -> Any:
            x = r.get(a) if isinstance(r, dict) else None
            return x.get(b, MISSING) if isinstance(x, dict) else MISSING

        return get2
    if len(names) == 3:
        a, b, c = names

        def get3(r: Any) -> Any:
            x = r.get(a) if isinstance(r, dict) else None
            x = x.get(b) if isinstance(x, dict) else None
            return x.get(c, MISSING) if isinstance(x, dict) else MISSING

        return get3

    def getn(r: Any) -> Any:
        for n in names:
            if not isinstance(r, dict):
                return MISSING
            r = r.get(n, MISSING)
            if r is MISSING:
                return MISSING
        return r

    return getn


Stepper = Callable[[Any], Any]


def _step(s: Step) -> Stepper:
    if isinstance(s, Key):
        name = s.name
        return lambda cur: _each(cur, lambda x: x.get(name, MISSING) if isinstance(x, dict) else MISSING)
    if isinstance(s, Index):
        idx = s.index

        def index(x: Any) -> Any:
            if isinstance(x, list | str) and -len(x) <= idx < len(x):
                return x[idx]
            return MISSING

        return lambda cur: _each(cur, index)
    if isinstance(s, Wildcard):
        return _wildcard
    if isinstance(s, Descend):
        name = s.name
        return lambda cur: _descend(cur, name)
    return lambda cur: _each(cur, _json)  # json()


def _each(cur: Any, fn: Stepper) -> Any:
    if isinstance(cur, Many):
        return Many(v for v in (fn(x) for x in cur) if v is not MISSING)
    return fn(cur)


def _wildcard(cur: Any) -> Any:
    items: list[Any] = []
    for x in cur if isinstance(cur, Many) else (cur,):
        if isinstance(x, dict):
            items.extend(list(x.values())[:MAX_FANOUT])
        elif isinstance(x, list):
            items.extend(x[:MAX_FANOUT])
        if len(items) >= MAX_FANOUT:
            break
    return Many(items[:MAX_FANOUT])


def _descend(cur: Any, name: str) -> Any:
    found: list[Any] = []
    stack = list(cur) if isinstance(cur, Many) else [cur]
    visited = 0
    while stack and visited < MAX_FANOUT * 10 and len(found) < MAX_FANOUT:
        x = stack.pop()
        visited += 1
        if isinstance(x, dict):
            if name in x:
                found.append(x[name])
            stack.extend(reversed(list(x.values())))
        elif isinstance(x, list):
            stack.extend(reversed(x[:MAX_FANOUT]))
    return Many(found)


def _json(x: Any) -> Any:
    if not isinstance(x, str | bytes):
        return MISSING
    try:
        return orjson.loads(x)
    except orjson.JSONDecodeError:
        return MISSING


# -- comparisons ----------------------------------------------------------------------------------
def _num(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int | float):
        return x
    if isinstance(x, str) and x and len(x) < 40:
        try:
            return float(x)
        except ValueError:
            return None
    return None


def equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b or (type(a) is type(b) and a == b)
    if type(a) is type(b) or (isinstance(a, int | float) and isinstance(b, int | float)):
        return bool(a == b)
    na, nb = _num(a), _num(b)
    if na is not None and nb is not None:
        return na == nb
    return False


def order(op: str, a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        na, nb = _num(a), _num(b)
        if na is None or nb is None:
            return _ORD[op](a, b)
        return _ORD[op](na, nb)
    na, nb = _num(a), _num(b)
    if na is None or nb is None:
        return False
    return _ORD[op](na, nb)


_ORD: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def regex_match(pattern: re.Pattern[str], x: Any) -> bool:
    x = as_text(x)
    return x is not None and pattern.search(x[:MAX_MATCH_CHARS]) is not None


def as_text(x: Any) -> str | None:
    """Strings as they are, numbers as Go prints them in a match (404.0 -> "404"), else None."""
    if isinstance(x, str):
        return x
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return str(int(x)) if isinstance(x, int) or x.is_integer() else repr(x)


def _compare(node: Compare, ctx: _Ctx) -> Pred:
    op = node.op
    left = _value(node.left, ctx)
    if isinstance(node.right, Regex):
        pattern = node.right.pattern
        _check_regex(pattern, node.right.pos, ctx)
        search = pattern.search

        def re_test(x: Any) -> bool:
            if type(x) is not str:
                x = as_text(x)
                if x is None:
                    return False
            return search(x[:MAX_MATCH_CHARS] if len(x) > MAX_MATCH_CHARS else x) is not None

        if op == "==":
            return lambda r: _any(left(r), re_test)
        return lambda r: _none(left(r), re_test)
    right_lit = node.right.value if isinstance(node.right, Literal) else MISSING
    right = _value(node.right, ctx)
    if op == "==":
        if right_lit is not MISSING:  # the common shape: field == literal
            b = right_lit
            tb = type(b)

            def eq_test(x: Any) -> bool:
                return equal(x, b)

            def eq_lit(r: dict[str, Any]) -> bool:
                x = left(r)
                if type(x) is tb and tb is not float:  # same type (str, int, bool, None): plain ==
                    return bool(x == b)
                return _any(x, eq_test)

            return eq_lit
        return lambda r: _pair(left(r), right(r), equal, any_mode=True)
    if op == "!=":
        return lambda r: _pair(left(r), right(r), equal, any_mode=False)
    if right_lit is not MISSING and _is_num(right_lit):
        b = right_lit
        fn = _ORD[op]

        def fast(r: dict[str, Any]) -> bool:
            x = left(r)
            if type(x) is int or type(x) is float:
                return fn(x, b)
            return _any(x, ord_test)

        def ord_test(v: Any) -> bool:
            return order(op, v, b)

        return fast
    return lambda r: _pair(left(r), right(r), lambda a, b: order(op, a, b), any_mode=True)


def _any(x: Any, test: Callable[[Any], bool]) -> bool:
    if x is MISSING:
        return False
    if isinstance(x, Many):
        return any(test(e) for e in x)
    return test(x)


def _none(x: Any, test: Callable[[Any], bool]) -> bool:
    """``!=``: the value exists and nothing in it passes ``test``."""
    if x is MISSING:
        return False
    if isinstance(x, Many):
        return not any(test(e) for e in x)
    return not test(x)


def _pair(a: Any, b: Any, test: Callable[[Any, Any], bool], any_mode: bool) -> bool:
    if a is MISSING or b is MISSING:
        return False
    if isinstance(a, Many) and isinstance(b, Many):  # two wildcards: full equality of the lists
        same = len(a) == len(b) and all(test(x, y) for x, y in zip(a, b, strict=True))
        return same if any_mode else not same
    if isinstance(b, Many) and not isinstance(a, Many):
        a, b = b, a
    hit = _any(a, lambda x: test(x, b))
    return hit if any_mode else not hit


def _string_method(node: Selector, ctx: _Ctx) -> Pred:
    m = node.steps[-1]
    assert isinstance(m, Method)
    if len(m.args) != 1:
        raise ctx.error(f"{m.name}() takes one argument", m.pos)
    target = _value(Selector(node.steps[:-1], node.pos), ctx)
    arg = _value(m.args[0], ctx)
    name = m.name
    if isinstance(m.args[0], Literal) and isinstance(m.args[0].value, str) and name != "contains":
        lit = m.args[0].value
        method = str.startswith if name == "startsWith" else str.endswith

        def fast(r: dict[str, Any]) -> bool:
            x = target(r)
            if type(x) is str:
                return method(x[:MAX_MATCH_CHARS], lit)
            return _any(x, lambda v: test(v, lit))

        def test(x: Any, s: Any) -> bool:
            x = as_text(x)
            return x is not None and method(x[:MAX_MATCH_CHARS], s)

        return fast

    def test(x: Any, s: Any) -> bool:
        if name == "contains" and isinstance(x, list):
            return any(equal(e, s) for e in x[:MAX_FANOUT])
        x = as_text(x)
        if x is None or not isinstance(s, str):
            return False
        x = x[:MAX_MATCH_CHARS]
        if name == "startsWith":
            return x.startswith(s)
        if name == "endsWith":
            return x.endswith(s)
        return s in x

    return lambda r: _any(target(r), lambda x: test(x, arg(r)))


def _check_regex(pattern: re.Pattern[str], pos: int, ctx: _Ctx) -> None:
    """Refuse nested repetition (``(a+)+``, ``(a*)*``): it can backtrack for longer than any budget."""
    try:
        import re._parser as sre  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - older Pythons
        import sre_parse as sre  # type: ignore[no-redef]

    repeats = {sre.MAX_REPEAT, sre.MIN_REPEAT} | ({sre.POSSESSIVE_REPEAT} if hasattr(sre, "POSSESSIVE_REPEAT") else set())

    def walk(items: Any, inside: bool) -> None:
        for op, av in items:
            if op in repeats:
                lo, hi, sub = av
                if inside and hi != 1:
                    raise ctx.error("regex with a repetition inside a repetition (can take exponential time)",
                                    pos)
                walk(sub, inside or hi not in (0, 1))
            elif op is sre.SUBPATTERN:
                walk(av[-1], inside)
            elif op is sre.BRANCH:
                for alt in av[1]:
                    walk(alt, inside)
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                walk(av[1], inside)

    walk(sre.parse(pattern.pattern), False)
