"""KFL, the filter language of the live stream (Kubeshark-compatible; see docs/stream.md).

``compile_query(text)`` parses and compiles once; ``Query.match(record)`` evaluates a pair record;
``KflError`` carries the message and the 0-based position of a problem.
"""

from interceptor.kfl.compiler import Query, compile_query
from interceptor.kfl.lexer import KflError

__all__ = ["KflError", "Query", "compile_query"]
