"""KFL: every construct, Kubeshark's documented examples verbatim, error positions, and a differential
property test against a reference evaluator written here independently (a tree-walking interpreter
over generated expression trees, sharing nothing with interceptor/kfl but the documented semantics)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interceptor.kfl import KflError, compile_query

REC: dict[str, Any] = {
    "schema_version": 1,
    "id": "abc-1",
    "ts_request": 1700000000.25,
    "ts_response": 1700000000.75,
    "src": {"ip": "10.0.0.5", "port": 40000, "pod": "web-7d9", "namespace": "shop", "workload": "web"},
    "dst": {"ip": "10.0.0.9", "port": 8080, "namespace": "shop", "workload": "users", "service": "users"},
    "request": {"method": "POST", "target": "/api/users?page=3&sort=name", "version": "HTTP/1.1",
                "headers": [["Host", "users.shop"], ["Content-Type", "application/json"], ["X-Trace", "t1"],
                            ["Authorization", "Bearer s3cret"]],
                "body": '{"user": {"email": "ann@example.com", "tags": ["a", "b"], "age": 41}}',
                "body_encoding": "utf-8", "body_size": 64, "truncated": False},
    "response": {"status": 404, "reason": "Not Found", "version": "HTTP/1.1",
                 "headers": [["Content-Type", "application/json"]], "body": '{"error": "no"}',
                 "body_encoding": "utf-8", "body_size": 15, "truncated": False},
    "source": {"kind": "pcap-veth", "node": "ip-10-0-41-65.ec2.internal"},
    "types": ["email", "person_name"],
    "sensitivity": "medium",
}


def m(q: str, rec: dict[str, Any] | None = None) -> bool:
    return compile_query(q, now=1700000030.0).match(REC if rec is None else rec)


# -- Kubeshark's documented examples, verbatim ------------------------------------------------------
@pytest.mark.parametrize("q, want", [
    ("response.status > 300", True),
    ('response.status > 300 and node.name == "ip-10-0-41-65.ec2.internal"', True),
    ('http and response.status == r"4.*"', True),
    ('http and request.method == "GET" and request.path != "/example" and (request.query.a > 42 or '
     'request.headers["x"] == "y")', False),  # a POST here
    ("response.status == 201", False),
    ('request.headers["a"] == "b"', False),
])
def test_kubeshark_documented_examples(q: str, want: bool) -> None:
    assert m(q) is want


def test_kubeshark_helper_examples_on_their_documents() -> None:
    car = {"model": "Camaro", "brand": {"name": "Chevrolet"}, "year": 2021, "salesYear": 2021}
    assert m('brand.name.startsWith("Chev")', car)
    assert m('brand.name.endsWith("let")', car)
    assert m('brand.name.contains("ro")', car)
    assert m("year == salesYear", car)
    assert m("year != salesYear", {**car, "salesYear": 2020})
    paths = {"request": {"path": ["api", "v1", "example"]}}
    assert m('request.path.* == "v1"', paths)
    assert not m('request.path.* == "v2"', paths)
    assert m('request.path.* != "v2"', paths)
    nums = {"request": {"path": [1, 2, 3]}, "response": {"header": [1, 2, 3]}}
    assert m("request.path.* > 2", nums)
    assert not m("request.path.* > 4", nums)
    assert m("request.path.* == response.header.*", nums)
    assert m("request.path.*.x and true", {"request": {"path": [{"x": 1}, {"x": 2}]}})
    assert m('response.body.json().brand.name == "Chevrolet"',
             {"response": {"body": '{"brand": {"name": "Chevrolet"}}'}})
    assert m('timestamp > datetime("10/19/2021, 6:29:02 PM")')


# -- every construct ------------------------------------------------------------------------------
@pytest.mark.parametrize("q, want", [
    ('request.method == "POST"', True),
    ('request.method != "POST"', False),
    ("response.status < 500 and response.status <= 404 and response.status >= 404", True),
    ("not response.status == 404", False),
    ("!(response.status == 404)", False),
    ("! response.status == 200", True),
    ("true", True), ("false", False), ("nil", False), ("true and nil == nil", True),
    ("-1 < 0", True), ("dst.port > -8081", True), ("-dst.port == -8080", True),
    ("1.5 < 2", True), ("3.0 == 3", True),
    ('"b" > "a"', True),
    ("src.port == 40000 or false", True),
    ("false or true and false", False),  # left to right: (false or true) and false
    ("true or false and false", False),  # left to right, not "and" first
    ("true or (false and false)", True),
    ('request.headers["content-type"] == "application/json"', True),
    ('request.headers["Content-Type"] == "application/json"', True),  # names are case-insensitive
    ('request.headers.x-trace == "t1"', True),
    ('request.host == "users.shop"', True),
    ('request.url == "/api/users?page=3&sort=name"', True),
    ('request.path == "/api/users"', True),
    ("request.query.page == 3", True),
    ('request.query.page == "3"', True),
    ("request.query.missing == 3", False),
    ('request.path.startsWith("/api/")', True),
    ('request.path.endsWith("users")', True),
    ('request.path.contains("pi/us")', True),
    ('types.contains("email")', True),
    ('types.contains("iban")', False),
    ("types[0] == \"email\"", True),
    ("types[-1] == \"person_name\"", True),
    ("types[5] == \"x\"", False),
    ('types.* == "person_name"', True),
    ('sensitivity == "medium"', True),
    ('src.name == "web-7d9"', True), ('dst.name == "users"', True),
    ('src.namespace == "shop" and dst.workload == "users"', True),
    ('node.name == "ip-10-0-41-65.ec2.internal"', True),
    ("elapsedTime == 500", True),
    ("timestamp == 1700000000250", True),
    ('request.body.json().user.email == "ann@example.com"', True),
    ('request.body.json().user.tags[1] == "b"', True),
    ("request.body.json().user.age >= 41", True),
    ('request.body.json()..email == r"@example\\.com$"', True),
    ('request.body.json().user.* == "ann@example.com"', True),
    ('request.body == r"ann@"', True),
    ('request.body != r"bob@"', True),
    ('r"^POST$" == request.method', True),
    ("response.status == r\"^40[0-9]$\"", True),
    ("missing.field == 1", False), ("missing.field != 1", False), ("not missing.field == 1", True),
    ("missing.field", False), ("request.method", True), ("response.truncated", False),
    ("response.body.json().nope == 1", False),
    ('request.method.json().x == 1', False),
    ('http', True), ('http1', True), ('h2', False), ('grpc', False),
    ('protocol.abbr == "HTTP" and protocol.name == "http" and protocol.version == "1.1"', True),
    ("timestamp > seconds(-30)", True),  # now = 1700000030: 30 s ago is 1700000000000 ms
    ("timestamp > seconds(-29)", False),
    ("timestamp < now()", True),
    ("timestamp > minutes(-1) and timestamp > hours(-1) and timestamp > days(-1) and timestamp > weeks(-1)", True),
    ("timestamp > months(-1) and timestamp > years(-1)", True),
    ('timestamp > datetime("not a date")', False),
    ("limit(10) and response.status == 404", True),
    ('redact("request.headers.authorization") and true', True),
    ("request.method == 'POST'", True),
    ('request.method == "P\\"OST"', False),
    ("response.status > 300 && request.method == \"POST\"", True),
    ("response.status > 300 || false", True),
    ("", True),  # an empty query streams everything
])
def test_constructs(q: str, want: bool) -> None:
    assert m(q) is want, q


def test_limit_redact_and_touches() -> None:
    q = compile_query('limit(5) and limit(3) and redact("request.headers.authorization", '
                      '"request.body.json().user.email", "request.query.page", "src.ip") and response.status > 0')
    assert q.limit == 3
    out = q.redact(REC)
    assert dict(out["request"]["headers"])["Authorization"] == "[REDACTED]"
    assert '"email":"[REDACTED]"' in out["request"]["body"] and '"age":41' in out["request"]["body"]
    assert out["request"]["target"] == "/api/users?page=[REDACTED]&sort=name"
    assert out["src"]["ip"] == "[REDACTED]"
    assert REC["src"]["ip"] == "10.0.0.5" and dict(REC["request"]["headers"])["Authorization"] == "Bearer s3cret"
    assert not compile_query("response.status > 300 and src.namespace == \"x\"").touches_values
    for q2 in ('request.body == r"x"', 'request.headers.x == "1"', "request.query.a == 1", "request.*",
               'request.url == "/"', 'detections.* == "x"'):
        assert compile_query(q2).touches_values, q2


# -- errors: position and what was expected -------------------------------------------------------
@pytest.mark.parametrize("q, col, text", [
    ("response.status >", 18, "expected a value after '>', got end of query"),
    ("response.status > 300 and", 26, "expected a value, a field name, '(' or 'not', got end of query"),
    ("a = 1", 3, "'=' is not an operator: use '==' to compare"),
    ("(a == 1", 8, "expected ')' to close the '(' at column 1"),
    ("a == 1)", 7, "expected 'and', 'or' or the end of the query, got ')'"),
    ("a == 1 b", 8, "expected 'and', 'or' or the end of the query, got name 'b'"),
    ('"open', 1, 'string not closed: missing "'),
    ('a == r"(b"', 8, "bad regex: missing ), unterminated subpattern"),
    ('a == r"(x+)+y"', 6, "repetition inside a repetition"),
    ('a > r"x"', 3, "a regex compares with == or != only"),
    ("foo(1)", 1, "unknown helper foo()"),
    ("a.b.frobnicate(1)", 5, "unknown helper frobnicate()"),
    ("a.startsWith()", 3, "startsWith() takes one argument"),
    ('a.startsWith("x").b == 1', 3, "startsWith() must end a condition"),
    ("limit(-1)", 1, "limit() takes one whole number"),
    ('limit("a")', 1, "limit() takes one whole number"),
    ("redact(src.ip)", 8, "redact() arguments are quoted paths"),
    ('redact("a ==")', 8, "redact path 'a =='"),
    ("a == 1 and and", 12, "expected a value before 'and'"),
    ("a.", 3, "expected a field name or '*' after '.'"),
    ("a[x]", 3, "expected an index number or a quoted key inside '[ ]'"),
    ("a # b", 3, "unexpected character '#'"),
    ("-\"x\" == 1", 1, "'-' needs a number"),
    ('r"x"', 1, "a regex alone is not a condition"),
    ("(" * 70 + "a", 65, "nested deeper than 64"),
])
def test_errors_name_the_column_and_what_was_expected(q: str, col: int, text: str) -> None:
    with pytest.raises(KflError) as e:
        compile_query(q)
    assert e.value.pos + 1 == col, str(e.value)
    assert text in e.value.message, str(e.value)
    assert e.value.pointer().splitlines()[1] == " " * (col - 1) + "^"


def test_long_query_refused() -> None:
    with pytest.raises(KflError, match="longer than 4096"):
        compile_query("a == 1 or " * 500 + "true")


def test_bounded_cost_on_big_values() -> None:
    big = {"request": {"body": "a" * 5_000_000 + "b", "items": list(range(100_000))}}
    assert m('request.body == r"b"', big) is False  # only the first 64 KiB are looked at
    assert m("request.items.* == 999", big) is True
    assert m("request.items.* == 5000", big) is False  # a wildcard looks at 1000 elements


# -- differential property test -------------------------------------------------------------------
# The reference: expression trees as tuples, rendered to text for the compiler and interpreted here.
PATHS = [("request", "method"), ("response", "status"), ("src", "port"), ("src", "namespace"), ("dst", "ip"),
         ("flag",), ("count",), ("name",), ("nothing", "here"), ("tags",)]
MISS = object()


def ref_get(rec: dict[str, Any], path: tuple[str, ...]) -> Any:
    cur: Any = rec
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return MISS
        cur = cur[p]
    return cur


def ref_number(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int | float):
        return float(x)
    if isinstance(x, str):
        try:
            return float(x)
        except ValueError:
            return None
    return None


def ref_equal(a: Any, b: Any) -> bool:
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    na, nb = ref_number(a), ref_number(b)
    return na is not None and nb is not None and na == nb


def ref_cmp(op: str, a: Any, b: Any) -> bool:
    if a is MISS or b is MISS:
        return False
    if op == "==":
        return ref_equal(a, b)
    if op == "!=":
        return not ref_equal(a, b)
    if isinstance(a, str) and isinstance(b, str) and (ref_number(a) is None or ref_number(b) is None):
        x, y = a, b
    else:
        nx, ny = ref_number(a), ref_number(b)
        if nx is None or ny is None:
            return False
        x, y = nx, ny  # type: ignore[assignment]
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def ref_text(v: Any) -> str:
    """A number as text the way Go prints it in a match: 404.0 -> "404"."""
    if isinstance(v, str):
        return v
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def ref_eval(e: Any, rec: dict[str, Any]) -> bool:
    kind = e[0]
    if kind == "cmp":
        _, path, op, lit = e
        return ref_cmp(op, ref_get(rec, path), lit)
    if kind == "re":
        _, path, op, pat = e
        v = ref_get(rec, path)
        if v is MISS:
            return False
        hit = isinstance(v, str | int | float) and not isinstance(v, bool) and re.search(pat, ref_text(v)) is not None
        return hit if op == "==" else not hit
    if kind == "method":
        _, path, name, arg = e
        v = ref_get(rec, path)
        if name == "contains" and isinstance(v, list):
            return any(ref_equal(x, arg) for x in v)
        if isinstance(v, int | float) and not isinstance(v, bool):
            v = ref_text(v)
        if not isinstance(v, str):
            return False
        return {"startsWith": v.startswith, "endsWith": v.endswith, "contains": v.__contains__}[name](arg)
    if kind == "bare":
        v = ref_get(rec, e[1])
        return v is not MISS and v is not None and v is not False
    if kind == "not":
        return not ref_eval(e[1], rec)
    if kind == "chain":  # left to right, and/or at one level
        acc = ref_eval(e[1], rec)
        for op, sub in e[2]:
            acc = (acc and ref_eval(sub, rec)) if op == "and" else (acc or ref_eval(sub, rec))
        return acc
    raise AssertionError(kind)


def render_lit(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


def render(e: Any) -> str:
    kind = e[0]
    if kind == "cmp":
        return f"{'.'.join(e[1])} {e[2]} {render_lit(e[3])}"
    if kind == "re":
        return f'{".".join(e[1])} {e[2]} r"{e[3]}"'
    if kind == "method":
        return f"{'.'.join(e[1])}.{e[2]}({render_lit(e[3])})"
    if kind == "bare":
        return ".".join(e[1])
    if kind == "not":
        return f"not ({render(e[1])})"
    return "(" + render(e[1]) + "".join(f" {op} {render(s)}" for op, s in e[2]) + ")"


words = st.sampled_from(["GET", "POST", "shop", "10.0.0.9", "", "abc", "3", "4.5", "x y"])
literals = st.one_of(st.none(), st.booleans(), st.integers(-5, 500), st.sampled_from([0.5, 404.0, 3.0]), words)
paths = st.sampled_from(PATHS)
leaf = st.one_of(
    st.tuples(st.just("cmp"), paths, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), literals),
    st.tuples(st.just("re"), paths, st.sampled_from(["==", "!="]), st.sampled_from(["^P", "O", "4$", "^$", "[0-9]+", "a|b"])),
    st.tuples(st.just("method"), paths, st.sampled_from(["startsWith", "endsWith", "contains"]), words),
    st.tuples(st.just("bare"), paths),
)
exprs = st.recursive(leaf, lambda sub: st.one_of(
    st.tuples(st.just("not"), sub),
    st.tuples(st.just("chain"), sub, st.lists(st.tuples(st.sampled_from(["and", "or"]), sub), min_size=1, max_size=3)),
), max_leaves=12)
values = st.one_of(st.none(), st.booleans(), st.integers(-5, 500), st.sampled_from([0.5, 404.0]), words)
records = st.fixed_dictionaries({}, optional={
    "request": st.fixed_dictionaries({}, optional={"method": values}),
    "response": st.fixed_dictionaries({}, optional={"status": values}),
    "src": st.fixed_dictionaries({}, optional={"port": values, "namespace": values}),
    "dst": st.fixed_dictionaries({}, optional={"ip": values}),
    "flag": values, "count": values, "name": values,
    "tags": st.lists(words, max_size=3),
})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exprs, records)
def test_evaluator_agrees_with_the_reference(e: Any, rec: dict[str, Any]) -> None:
    text = render(e)
    assert compile_query(text).match(rec) is ref_eval(e, rec), text


def test_protocol_macros_on_the_records_protocol_field() -> None:
    h2 = {**REC, "protocol": "h2", "request": {**REC["request"], "version": "HTTP/2"}}
    grpc = {**h2, "protocol": "grpc", "grpc": {"service": "shop.Orders", "method": "Get", "status": 0}}
    h1 = {**REC, "protocol": "http/1.1"}
    assert [m(q, h1) for q in ("http", "http1", "h2", "grpc")] == [True, True, False, False]
    assert [m(q, h2) for q in ("http", "http1", "h2", "grpc")] == [True, False, True, False]
    assert [m(q, grpc) for q in ("http", "http1", "h2", "grpc")] == [True, False, True, True]
    assert m('grpc and grpc.service == "shop.Orders" and protocol.abbr == "gRPC"', grpc)
    assert m('protocol.abbr == "HTTP/2" and protocol.version == "2"', h2)
