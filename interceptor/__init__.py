"""Interceptor: captures traffic on a node and turns it into HTTP request/response pairs."""

__version__ = "0.1.0"
