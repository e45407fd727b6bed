"""Every counter, drop reason and gauge name in the code is declared in interceptor/counternames.py,
every declared name is still used, and the generated docs (README drop list, docs/counters.md) are
current. Names given through a variable are checked where they are reported at run time
(tests/interceptor/tools/realtraffic.py checks every real replay's --stats)."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from interceptor import counternames
from interceptor.counternames import (
    DOC,
    README,
    TABLES,
    declared_as,
    doc_markdown,
    readme_with_drops,
    undeclared,
)

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for root in ("interceptor", "processor") for p in (REPO / root).rglob("*.py")
                 if p.name not in ("counternames.py", "counters.py"))  # the table, the mechanism
CALLS = {"inc": "count", "drop": "drop", "_drop": "drop", "set_gauge": "gauge"}
# Call sites whose name is a variable: the value is one of the string literals of that module (or
# a declared family), which the "still used" check and the run-time check cover. A new dynamic site
# must be added here on purpose.
DYNAMIC = {
    ("interceptor/conversation.py", "reason"), ("interceptor/pipeline.py", "reason"),
    ("interceptor/pipeline.py", "seg"), ("interceptor/pipeline.py", "seg.reason"), ("interceptor/stages.py", "reason"),
    ("interceptor/http2.py", "half.oversize"),
    ("interceptor/http2.py", "half.oversize or reason"), ("interceptor/http2.py", "stream"),
    ("interceptor/enrich/enricher.py", "reason"), ("interceptor/captures/manager.py", "reason"),
    ("interceptor/sinks/kafka.py", "reason"), ("interceptor/sinks/kafka.py", "counter"),
    ("interceptor/sinks/kafka.py", "classify(err)"), ("interceptor/sinks/kafka.py", "classify(e.args[0])"),
    ("interceptor/tls/source.py", "BYTES_KEY[ev.kind]"),
}


def _shape(node: ast.expr, consts: dict[str, str]) -> list[str] | None:
    """The names an argument can be: literals as they are, f-strings and ``"x." + y`` with ``{}``
    for each computed part; None when it is computed otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in consts:
        return [consts[node.id]]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)]  # type: ignore[misc]
    if isinstance(node, ast.IfExp):
        a, b = _shape(node.body, consts), _shape(node.orelse, consts)
        return a + b if a is not None and b is not None else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _shape(node.left, consts)
        if left is not None and len(left) == 1:
            return [left[0] + "{}"]
    return None


def _module_constants(tree: ast.Module) -> dict[str, str]:
    return {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}


@cache
def _uses() -> tuple[list[tuple[str, str, str]], set[tuple[str, str]], set[str]]:
    """(kind, name shape, where) of every reporting call; the dynamic sites; every string literal
    (f-strings with ``{}`` for their computed parts)."""
    uses, dynamic, literals = [], set(), set()
    for path in SOURCES:
        rel = str(path.relative_to(REPO))
        tree = ast.parse(path.read_text())
        consts = _module_constants(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                literals.update(_shape(node, consts) or [])
            site: tuple[str, ast.expr] | None = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CALLS \
                    and node.args:
                site = CALLS[node.func.attr], node.args[0]
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                    and node.value.attr in ("counts", "gauges"):
                site = ("count" if node.value.attr == "counts" else "gauge"), node.slice
            if site is None:
                continue
            shapes = _shape(site[1], consts)
            if shapes is None:
                dynamic.add((rel, ast.unparse(site[1])))
                continue
            for shape in shapes:
                kind = site[0]
                if kind == "count" and shape.startswith("dropped."):
                    kind, shape = "drop", shape[len("dropped."):]
                uses.append((kind, shape, f"{rel}:{node.lineno}"))
    return uses, dynamic, literals


def _family_shape(name: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "{}", name)


def _declaration(kind: str, shape: str) -> str | None:
    if "{}" not in shape:
        return declared_as(kind, shape)
    for name in TABLES[kind]:  # an f-string must be a declared family...
        if _family_shape(name) == shape:
            return name
    return declared_as(kind, shape.replace("{}", "x"))  # ...or one of a wider family's members


def _made_by(shape: str, name: str) -> bool:
    """Whether a literal or f-string (``enrich_{}``) can make the declared ``name``."""
    if shape == name or _family_shape(name) == shape:
        return True
    return "{}" in shape and re.fullmatch(".+".join(map(re.escape, shape.split("{}"))), name) is not None


def test_every_name_the_code_reports_is_declared() -> None:
    uses, dynamic, _ = _uses()
    assert len(uses) > 200  # the scan sees the code (it found ~270 reporting sites when written)
    missing = sorted({f"{kind} {shape} ({where})" for kind, shape, where in uses if _declaration(kind, shape) is None})
    assert not missing, "declare these in interceptor/counternames.py:\n" + "\n".join(missing)
    assert dynamic <= DYNAMIC, f"new call sites with a computed name: {sorted(dynamic - DYNAMIC)}"


def test_every_declared_name_is_used() -> None:
    uses, _, literals = _uses()
    hit = {(kind, _declaration(kind, shape)) for kind, shape, _ in uses}
    unused = []
    for kind, table in TABLES.items():
        for name in table:
            # a reason handed on in a variable ("end_of_capture") is a literal somewhere in the code
            if (kind, name) not in hit and not any(_made_by(lit, name) for lit in literals):
                unused.append(f"{kind} {name}")
    assert not unused, f"declared but not used anywhere: {unused}"


def test_families_match_words_not_paths() -> None:
    assert declared_as("count", "k8s.pods.events") == "k8s.{resource}.events"
    assert declared_as("count", "k8s.pods.x.events") is None
    assert declared_as("drop", "processor.schema_mismatch") == "processor.{reason}"
    assert declared_as("drop", "no_such_reason") is None
    assert undeclared({"counts": {"http.requests": 1, "made.up": 2}, "dropped": {"end_of_capture": 1}}) == \
        ["counts: made.up"]


def test_generated_docs_are_current() -> None:
    assert DOC.read_text() == doc_markdown(), "run: python3 -m interceptor.counternames --write"
    text = README.read_text()
    assert readme_with_drops(text) == text, "run: python3 -m interceptor.counternames --write"
    assert counternames.BEGIN in text
