"""The pair record's layout and its check: what ``Pair.from_record`` (interceptor/pairs.py) verifies
before building a pair, and what the processor runs on every record it reads (``check_record``).

Apart from the pair types so that the compiled build (interceptor/compiled.py) can hold it: the
processor checks every record, and interpreted this check was an eighth of ``handle()``'s
instructions once the detectors were compiled. ``schema/pair.v1.json`` describes the same record;
tests/interceptor/test_pair_model.py checks its keys and required lists against ``RECORD_KEYS``.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 1

# -- the record's layout (pair.v1.json says the same; a test holds the two together) --------------
# Per object of the record: its required keys, then the optional ones.
RECORD_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pair": (("schema_version", "id", "ts_request", "ts_response", "src", "dst", "request", "response", "source"),
             ("protocol", "headers_incomplete", "grpc")),
    "request": (("method", "target", "version", "headers", "body", "body_encoding", "body_size", "truncated"),
                ("body_incomplete", "body_missing_bytes")),
    "response": (("status", "reason", "version", "headers", "body", "body_encoding", "body_size", "truncated"),
                 ("body_incomplete", "body_missing_bytes")),
    "endpoint": (("ip", "port"), ()),  # plus the enrichment's meta keys, open-ended
    "grpc": (("service", "method", "status", "message", "request_messages", "response_messages",
              "messages_omitted"), ()),
    "source": (("kind",), ()),
}
_REQUIRED = {kind: frozenset(required) for kind, (required, _) in RECORD_KEYS.items()}
PROTOCOLS = ("http/1.1", "h2", "grpc")
BODY_ENCODINGS = ("utf-8", "base64")


class RecordError(ValueError):
    """A record that is not a pair v1; the message names the key (never its value: it may be payload)."""


def _obj(rec: Any, where: str, kind: str) -> dict[str, Any]:
    if not isinstance(rec, dict):
        raise RecordError(f"{where}: missing or not an object")
    if rec.keys() >= _REQUIRED[kind]:  # all there (one C-speed test); else name the first missing
        return rec
    for key in RECORD_KEYS[kind][0]:
        if key not in rec:
            raise RecordError(f"{where}.{key}: missing" if where != "<top>" else f"{key}: missing")
    return rec


def _typed(value: Any, tp: type | tuple[type, ...], where: str, what: str) -> Any:
    # bool is an int in Python; a JSON true where a number belongs is still wrong.
    if not isinstance(value, tp) or (isinstance(value, bool) and tp is not bool):
        raise RecordError(f"{where}: missing or not {what}")
    return value


# What each key of a message holds, in the order checked: (key, type, what, the error's "where", the
# value when absent -- None for a required key, which ``_obj`` found). The ``where`` strings are
# made once here: the processor checks every record it reads, and building them per record
# (f-strings for ~20 keys) was most of that check's cost.
_MESSAGE_TYPES: dict[str, tuple[tuple[str, type, str, str, Any], ...]] = {
    where: tuple((key, tp, what, f"{where}.{key}", absent) for key, tp, what, absent in (
        ("version", str, "a string", None), ("body_size", int, "an integer", None), ("truncated", bool, "a boolean", None),
        ("body_incomplete", bool, "a boolean", False), ("body_missing_bytes", int, "an integer", 0),
        *((("method", str, "a string", None), ("target", str, "a string", None)) if where == "request"
          else (("status", int, "an integer", None), ("reason", str, "a string", None)))))
    for where in ("request", "response")
}
_AT = {where: {key: f"{where}.{key}" for key in ("headers", "body", "body_encoding")} for where in ("request", "response")}


def check_record(rec: Any) -> None:
    """``from_record``'s checks without building the pair or decoding the bodies: for a reader (the
    processor) that reads the record itself and copes with a body that is not valid base64 (the
    schema only says string)."""
    _check_pair(rec)


def _check_pair(rec: Any) -> None:
    if not isinstance(rec, dict):
        raise RecordError("<top>: not an object")
    if rec.get("schema_version") != SCHEMA_VERSION:
        raise RecordError(f"schema_version: expected {SCHEMA_VERSION}, got {rec.get('schema_version')!r}"[:120])
    _obj(rec, "<top>", "pair")
    pid = _typed(rec["id"], str, "id", "a string")
    if not pid:
        raise RecordError("id: missing or not a string")
    _check_endpoint(rec["src"], "src")
    _check_endpoint(rec["dst"], "dst")
    source = rec["source"]
    if not isinstance(source, dict) or not isinstance(source.get("kind"), str):
        raise RecordError("source: expected an object with kind")
    _typed(rec["ts_request"], (int, float), "ts_request", "a number")
    _typed(rec["ts_response"], (int, float), "ts_response", "a number")
    _check_message(rec["request"], "request")
    _check_message(rec["response"], "response")
    if rec.get("protocol", "http/1.1") not in PROTOCOLS:
        raise RecordError(f"protocol: must be one of {', '.join(PROTOCOLS)}")
    if rec.get("grpc") is not None:
        _check_grpc(rec["grpc"])
    _typed(rec.get("headers_incomplete", False), bool, "headers_incomplete", "a boolean")


def _check_endpoint(rec: Any, where: str) -> None:
    if not (isinstance(rec, dict) and isinstance(rec.get("ip"), str) and isinstance(rec.get("port"), int)
            and not isinstance(rec["port"], bool)):
        raise RecordError(f"{where}: expected an object with ip and port")


def _check_message(rec: Any, where: str) -> None:
    _obj(rec, where, where)
    at = _AT[where]
    headers = _typed(rec["headers"], list, at["headers"], "a list")
    for i, h in enumerate(headers):
        if not (isinstance(h, (list, tuple)) and len(h) == 2 and isinstance(h[0], str) and isinstance(h[1], str)):
            raise RecordError(f"{where}.headers[{i}]: expected [name, value] strings")
    _typed(rec["body"], str, at["body"], "a string")
    if rec["body_encoding"] not in BODY_ENCODINGS:
        raise RecordError(f"{at['body_encoding']}: must be utf-8 or base64")
    for key, tp, what, key_at, absent in _MESSAGE_TYPES[where]:
        value = rec.get(key, absent)
        # the exact type (what JSON gives) first; a subclass passes too, a bool for a number does not
        if type(value) is not tp and (not isinstance(value, tp) or isinstance(value, bool)):
            raise RecordError(f"{key_at}: missing or not {what}")


def _check_grpc(rec: Any) -> None:
    _obj(rec, "grpc", "grpc")
    if rec["status"] is not None:
        _typed(rec["status"], int, "grpc.status", "an integer or null")
    _typed(rec["service"], str, "grpc.service", "a string")
    _typed(rec["method"], str, "grpc.method", "a string")
    _typed(rec["message"], str, "grpc.message", "a string")
    _typed(rec["request_messages"], list, "grpc.request_messages", "a list")
    _typed(rec["response_messages"], list, "grpc.response_messages", "a list")
    _typed(rec["messages_omitted"], int, "grpc.messages_omitted", "an integer")
