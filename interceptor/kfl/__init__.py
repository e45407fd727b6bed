"""KFL, the filter language of the live stream (Kubeshark-compatible; see docs/stream.md).

``compile_query(text)`` parses and compiles once; ``Query.match(record)`` evaluates a pair record;
``KflError`` carries the message and the 0-based position of a problem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interceptor.kfl.lexer import KflError

if TYPE_CHECKING:
    from interceptor.kfl.compiler import Query, compile_query

__all__ = ["KflError", "Query", "compile_query"]


def __getattr__(name: str) -> Any:
    """The parser and compiler load with the first query: the agent imports this package at every
    start (its error type) and the grammar's node types were ~60M instructions of it."""
    if name in ("Query", "compile_query"):
        from interceptor.kfl import compiler

        return getattr(compiler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
