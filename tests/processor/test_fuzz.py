"""Never crash on traffic: arbitrary bodies, headers and targets give a record or a counted Poison."""

import base64

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.core import Poison, Processor
from tests.processor.helpers import make_pair

PROC = Processor()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=12) | st.dictionaries(st.text(max_size=12), children, max_size=8),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=json_values, resp=json_values, target=st.text(min_size=1, max_size=80), hdr=st.text(max_size=60))
def test_any_json_body_target_and_header(body: object, resp: object, target: str, hdr: str) -> None:
    p = make_pair(orjson.dumps(body), resp_body=orjson.dumps(resp), target="/" + target,
                  req_headers=[("Authorization", hdr), ("Cookie", hdr), ("X-Thing", hdr)])
    rec = PROC.handle(p.to_json()).record
    assert rec["path_template"].startswith("/")
    for d in rec["detections"]:  # masked: no letter or digit other than '1' survives
        assert not any((c.isalnum() and c != "1") for c in d["sample"]), d


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=300), ctype=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", ""]))
def test_any_bytes_as_body(raw: bytes, ctype: str) -> None:
    p = make_pair(raw, content_type=ctype, resp_body=raw)
    PROC.handle(p.to_json())


@settings(max_examples=200, deadline=None)
@given(doc=json_values)
def test_any_json_as_message_is_a_record_or_poison(doc: object) -> None:
    try:
        PROC.handle(orjson.dumps(doc))
    except Poison:
        pass


@settings(max_examples=100, deadline=None)
@given(mutation=st.sampled_from(["request", "response", "src", "dst", "id", "schema_version"]), value=json_values)
def test_mutated_records_are_poison_not_crashes(mutation: str, value: object) -> None:
    rec = make_pair({"email": "a@b.io"}).to_record()
    rec[mutation] = value
    try:
        PROC.handle(orjson.dumps(rec))
    except Poison:
        pass


def test_base64_garbage_body() -> None:
    rec = make_pair({"a": 1}).to_record()
    rec["request"]["body"], rec["request"]["body_encoding"] = "!!!not base64!!!", "base64"
    rec["response"]["body"], rec["response"]["body_encoding"] = base64.b64encode(b'{"ssn": "536-22-1234"}').decode(), "base64"
    out = PROC.handle(orjson.dumps(rec)).record
    assert out["types"] == ["ssn"]
