"""The versioned JSON Schemas of the topics' records: pairs, and the connections account."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).parent


@cache
def pair_schema() -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / "pair.v1.json").read_text())


def validate_pair(record: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when ``record`` breaks the contract."""
    import jsonschema

    jsonschema.Draft202012Validator(pair_schema()).validate(record)


@cache
def connections_schema() -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / "connections.v1.json").read_text())


def validate_connections(record: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when a connections aggregate breaks its contract."""
    import jsonschema

    jsonschema.Draft202012Validator(connections_schema()).validate(record)
