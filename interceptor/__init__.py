"""Interceptor: captures traffic on a node and turns it into HTTP request/response pairs."""

__version__ = "0.1.0"

# The compiled build of the hot path, when one was made from exactly these sources (see compiled.py).
from interceptor import compiled as _compiled  # noqa: E402

_compiled.install()
