"""The pure core: a pair record in, a detections record out; poison is refused with a reason."""

import json

import orjson
import pytest

from interceptor.config import ProcessorConfig
from interceptor.counters import Counters
from processor.core import Poison, Processor, check_pair
from processor.corpus.generate import load
from processor.datatypes import combined_sensitivity
from tests.processor.helpers import make_pair


def test_detections_record_shape_and_locations() -> None:
    p = make_pair({"customer": {"email": "jane@example.com", "name": "Jane Doe"}, "card": {"number": "4111111111111111", "cvv": "123"}},
                  target="/users/42/checkout?phone=%2B14155552671", req_headers=[("Authorization", "Basic dXNlcjpwYXNz")],
                  resp_body={"ssn": "536-22-1234"})
    res = Processor().handle(p.to_json())
    rec = orjson.loads(res.value)
    assert res.key == b"shop/frontend|shop/orders|POST|/users/{id}/checkout"
    assert rec["pair_id"] == p.id and rec["edge"] == res.key.decode()
    assert rec["src"]["id"] == "shop/frontend" and rec["dst"]["kind"] == "workload"
    where = {(d["type"], d["part"], d["where"], d["path"]) for d in rec["detections"]}
    assert where == {
        ("email", "request", "body", "customer.email"), ("person_name", "request", "body", "customer.name"),
        ("card_number", "request", "body", "card.number"), ("card_cvv", "request", "body", "card.cvv"),
        ("phone", "request", "query", "phone"), ("auth_basic", "request", "header", "authorization"),
        ("ssn", "response", "body", "ssn"),
    }
    assert rec["sensitivity"] == "high"
    assert rec["types"] == sorted({w[0] for w in where})


def test_output_never_contains_raw_values() -> None:
    """Every labeled value of the corpus goes through the processor; none may come out."""
    proc = Processor()
    leaked = []
    for row in load()[:400]:
        ctype = "application/json" if row["kind"] == "json" else "application/x-www-form-urlencoded"
        rec = orjson.loads(proc.handle(make_pair(row["body"], content_type=ctype).to_json()).value)
        # the pair's random id and its timestamp can contain a 4-digit value by chance ("2026")
        out = orjson.dumps({k: v for k, v in rec.items() if k not in ("pair_id", "ts")}).decode()
        body = json.loads(row["body"]) if row["kind"] == "json" else None
        for path in row["labels"]:
            for value in _values(body, path) if body is not None else []:
                if len(value) >= 4 and value in out:
                    leaked.append((row["id"], path))
    assert leaked == []


def _values(doc: object, path: str) -> list[str]:
    nodes = [doc]
    for part in path.split("."):
        arr = part.endswith("[]")
        key = part.removesuffix("[]")
        nodes = [n[key] for n in nodes if isinstance(n, dict) and key in n]
        if arr:
            nodes = [x for n in nodes if isinstance(n, list) for x in n]
    return [str(n) for n in nodes if not isinstance(n, dict | list)]


@pytest.mark.parametrize("raw,reason", [
    (b"not json", "invalid_json"),
    (b'"a string"', "schema_mismatch"),
    (b'{"schema_version": 2}', "schema_mismatch"),
    (b"", "invalid_json"),
])
def test_poison_is_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(Poison) as e:
        Processor().handle(raw)
    assert e.value.reason == reason


def test_structural_check_names_the_key() -> None:
    rec = make_pair({"a": 1}).to_record()
    rec["request"]["headers"] = [["Host"]]
    assert check_pair(rec) == "request.headers[0]: expected [name, value] strings"
    rec = make_pair({"a": 1}).to_record()
    del rec["dst"]["port"]
    assert check_pair(rec) == "dst: expected an object with ip and port"


def test_full_schema_check_agrees_on_valid_records() -> None:
    raw = make_pair({"email": "a@b.io"}).to_json()
    assert Processor(full_schema=True).handle(raw).record["types"] == ["email"]
    bad = orjson.loads(raw)
    bad["extra"] = 1
    with pytest.raises(Poison, match="schema_mismatch"):
        Processor(full_schema=True).handle(orjson.dumps(bad))


def test_sensitivity_escalates_for_combinations() -> None:
    assert combined_sensitivity(["person_name"]) == "low"
    assert combined_sensitivity(["person_name", "phone", "email"]) == "medium"
    assert combined_sensitivity(["person_name", "phone", "email", "gender"]) == "high"
    assert combined_sensitivity(["email", "phone"]) == "low"
    assert combined_sensitivity([]) == "none"


def test_custom_types_from_config_reach_the_output() -> None:
    cfg = ProcessorConfig(custom_types=[{"name": "employee_id", "key_regex": "employee", "value_regex": r"^E\d{6}$", "sensitivity": "high"}])
    rec = Processor(cfg).handle(make_pair({"employee": "E123456"}).to_json()).record
    assert rec["types"] == ["employee_id"] and rec["sensitivity"] == "high"
    assert rec["detections"][0]["sample"] == "*111111"


def test_nodes_external_ip_and_service() -> None:
    proc = Processor()
    ext = proc.handle(make_pair({}, dst={"ip": "34.1.2.3", "port": 443}, host="api.stripe.com:443").to_json()).record
    assert ext["dst"]["id"] == "ext:api.stripe.com" and ext["dst"]["kind"] == "external"
    bare = proc.handle(make_pair({}, src={"ip": "10.9.9.9", "port": 1}, dst={"ip": "10.9.9.8", "port": 80}, host=None).to_json()).record
    assert bare["src"]["id"] == "ip:10.9.9.9" and bare["dst"]["id"] == "ip:10.9.9.8"
    svc = proc.handle(make_pair({}, dst={"ip": "10.9.9.8", "port": 80}, host="payments.billing.svc.cluster.local").to_json()).record
    assert svc["dst"]["id"] == "billing/payments" and svc["dst"]["kind"] == "service"


def test_huge_payload_is_bounded_and_counted() -> None:
    counters = Counters()
    body = {"rows": [{"email": f"u{i}@x.io"} for i in range(100_000)], "deep": json.loads('{"a":' * 100 + "1" + "}" * 100)}
    rec = Processor(counters=counters).handle(make_pair(body).to_json()).record
    assert rec["types"] == ["email"]
    assert rec["detections"][0]["count"] == 10  # arrays trimmed to ten
    assert set(rec["limits"]) == {"array", "depth"}
    assert counters.get("processor.bounded.array") == 1
