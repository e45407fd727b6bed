"""Pairs whose bodies the capture did not keep whole (``body_incomplete``) or that were cut at the
size bound (``truncated``): detection runs on what parses, and nothing raises."""

from __future__ import annotations

import random

import orjson

from processor.core import Processor
from processor.partialjson import leaves
from tests.processor.helpers import make_pair

DOC = (b'{"customer":{"email":"jane@example.com","name":"Jane Doe","address":{"city":"Springfield"}},'
       b'"card":{"number":"4111111111111111","cvv":"123"},"notes":"' + b"n" * 300 + b'","ssn":"536-22-1234"}')


def _detect(body: bytes, incomplete: bool = True, truncated: bool = False) -> dict:
    pair = make_pair(body)
    pair = pair.replace(request=pair.request.replace(body_incomplete=incomplete,
                                                     body_missing=40 if incomplete else 0, truncated=truncated))
    return orjson.loads(Processor(full_schema=True).handle(pair.to_json()).value)


def test_prefix_of_a_cut_body_is_detected() -> None:
    rec = _detect(DOC[:120])  # the body ends inside the card object
    where = {(d["type"], d["path"]) for d in rec["detections"]}
    assert ("email", "customer.email") in where and ("person_name", "customer.name") in where
    assert "json_partial" in rec["limits"]
    rec = _detect(DOC[:150], incomplete=False, truncated=True)  # cut at the size bound: the same
    assert ("email", "customer.email") in {(d["type"], d["path"]) for d in rec["detections"]}


def test_members_after_a_hole_are_found_by_key() -> None:
    holed = DOC[:60] + DOC[200:]  # a lost segment joined two distant parts of the document
    rec = _detect(holed)
    types = {d["type"] for d in rec["detections"]}
    assert {"email", "ssn"} <= types


def test_whole_body_marked_incomplete_is_walked_normally() -> None:
    rec = _detect(DOC)  # (e.g. only trailing whitespace was lost): valid JSON parses as usual
    assert "json_partial" not in rec["limits"]
    assert {"email", "card_number", "ssn"} <= {d["type"] for d in rec["detections"]}


def test_random_damage_never_raises() -> None:
    rng = random.Random(11)
    proc = Processor()
    for _ in range(2000):
        body = bytearray(DOC)
        for _ in range(rng.randint(1, 3)):  # holes
            a = rng.randrange(len(body))
            del body[a:a + rng.randint(1, 80)]
        body = body[: rng.randint(0, len(body))]
        if rng.random() < 0.3:
            body += bytes([rng.randrange(256)])  # half a character, or garbage
        pair = make_pair(bytes(body))
        pair = pair.replace(request=pair.request.replace(body_incomplete=True))
        proc.handle(pair.to_json())
    assert list(leaves("")) == [] and list(leaves('{"a":"\\u00e9"')) == [("a", "é")]
    assert list(leaves('"\\')) == [] and list(leaves("[[[[[", max_depth=2)) == []
