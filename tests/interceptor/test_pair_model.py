"""The one pair model: frozen, read back from its record exactly (``Pair.from_record``), and the JSON
Schema (pair.v1.json) describing the same keys the model declares. The round trip on real traffic
runs in every real-capture test (tests/interceptor/tools/realtraffic.py: ``assert_round_trips``)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.replay import synth_keepalive
from interceptor.capture.pcapfile import CaptureReader
from interceptor.config import Config
from interceptor.counters import Counters
from interceptor.grpc import GrpcCall
from interceptor.pairs import RECORD_KEYS, Endpoint, Pair, RecordError, Request, Response
from interceptor.pipeline import Pipeline
from interceptor.schema import pair_schema, validate_pair


def _schema_object(name: str) -> dict[str, Any]:
    schema = pair_schema()
    if name == "pair":
        return schema
    if name == "endpoint":
        return schema["$defs"]["endpoint"]
    return schema["properties"][name]


@pytest.mark.parametrize("name", sorted(RECORD_KEYS))
def test_schema_has_the_models_keys(name: str) -> None:
    required, optional = RECORD_KEYS[name]
    obj = _schema_object(name)
    assert obj["required"] == list(required)
    if obj.get("additionalProperties") is False:  # a closed object: exactly the model's keys
        assert set(obj["properties"]) == set(required) | set(optional)
    else:  # open (endpoint meta, source details): the model's keys are among those described
        assert set(required) | set(optional) <= set(obj["properties"])


def _replayed(path: Path) -> list[Pair]:
    pairs: list[Pair] = []
    pipe = Pipeline(Config(), Counters(), pairs.append, source={"kind": "pcap-file", "file": str(path)})
    with CaptureReader(path) as reader:
        for ts, linktype, frame in reader:
            pipe.feed_packet(ts, frame, linktype)
    pipe.close()
    return pairs


def test_replayed_pairs_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ka.pcap"
    synth_keepalive(path, 40, 2)
    pairs = _replayed(path)
    assert len(pairs) == 40
    for pair in pairs:
        rec = orjson.loads(pair.to_json())
        validate_pair(rec)
        back = Pair.from_record(rec)
        assert back == pair  # every field but the parser's own (wire_bytes, header index)
        assert orjson.loads(back.to_json()) == rec


def _odd_pair() -> Pair:
    """Every optional part at once: binary bodies, a lost span, meta, HTTP/2 without all headers, gRPC."""
    req = Request("HTTP/2", [(":method", "POST"), (":path", "/shop.Cart/Add")], b"\x00\x00\x00\x00\x02\x08\x81",
                  7, False, 1700000000.5, body_incomplete=True, body_missing=12, method="POST", target="/shop.Cart/Add")
    resp = Response("HTTP/2", [(":status", "200"), ("grpc-status", "0")], b"\xff\xfe", 2, True, 1700000000.75,
                    status=200)
    call = GrpcCall("shop.Cart", "Add", 0, "", [{"1": 1}], [], 3)
    return Pair(req, resp, Endpoint("10.0.0.1", 40000, {"pod": "web-1", "namespace": "shop"}),
                Endpoint("10.0.0.2", 50051, {"external": True}), {"kind": "pcap-veth", "interface": "veth1"},
                "grpc", True, call)


def test_every_optional_field_round_trips() -> None:
    pair = _odd_pair()
    rec = orjson.loads(pair.to_json())
    validate_pair(rec)
    assert rec["request"]["body_encoding"] == "base64" and rec["request"]["body_missing_bytes"] == 12
    assert Pair.from_record(rec) == pair


def test_the_model_is_frozen() -> None:
    pair = _odd_pair()
    # compiled, mypyc enforces the ``Final`` attributes; pure Python, the model's own guard
    with pytest.raises(AttributeError, match="not writable"):
        pair.id = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="not writable"):
        pair.request.body = b""  # type: ignore[misc]
    with pytest.raises(AttributeError, match="not writable"):
        pair.src.meta = {}  # type: ignore[misc]
    with pytest.raises(AttributeError, match="not writable"):
        del pair.response.status  # type: ignore[misc]
    other = pair.replace(id="other")
    assert other.id == "other" and pair.id != "other" and other.request is pair.request
    cut = pair.request.replace(body=b"", truncated=True)
    assert type(cut) is Request and cut.body == b"" and cut.truncated and cut.method == pair.request.method
    assert pair.request.body != b"" and not pair.request.truncated


def _broken(change: Any) -> str:
    rec = orjson.loads(_odd_pair().to_json())
    change(rec)
    with pytest.raises(RecordError) as e:
        Pair.from_record(rec)
    return str(e.value)


def test_a_broken_record_names_its_key_not_its_value() -> None:
    assert _broken(lambda r: r.pop("ts_response")) == "ts_response: missing"
    assert _broken(lambda r: r["request"].pop("truncated")) == "request.truncated: missing"
    assert _broken(lambda r: r["response"].update(status=True)) == "response.status: missing or not an integer"
    assert _broken(lambda r: r["request"]["headers"].append(["secret-token"])) == \
        "request.headers[2]: expected [name, value] strings"
    assert _broken(lambda r: r["response"].update(body="sécret")) == "response.body: not valid base64"
    assert _broken(lambda r: r["dst"].pop("port")) == "dst: expected an object with ip and port"
    assert _broken(lambda r: r.update(protocol="h3")) == "protocol: must be one of http/1.1, h2, grpc"
    assert _broken(lambda r: r["grpc"].update(status="0")) == "grpc.status: missing or not an integer or null"
    assert _broken(lambda r: r.update(schema_version=2)) == "schema_version: expected 1, got 2"
    with pytest.raises(RecordError, match="not an object"):
        Pair.from_record([1, 2])


def test_unknown_keys_are_ignored_as_the_schema_says() -> None:
    rec = orjson.loads(_odd_pair().to_json())
    rec["added_in_v1_later"] = {"x": 1}
    rec["request"]["body"] = base64.b64encode(b"\x00\x01").decode()
    back = Pair.from_record(rec)
    assert back.request.body == b"\x00\x01" and "added_in_v1_later" not in back.to_record()


def test_ids_are_the_prefix_and_the_counter_in_hex() -> None:
    from interceptor.pairs import _Ids

    ids = _Ids()
    got = [ids.next() for _ in range(70_000)]  # past the table's 256 and 65,536 boundaries
    assert got == [f"{ids.prefix}{n:x}" for n in range(1, 70_001)]


def test_a_forked_process_makes_its_own_ids() -> None:
    # capture.workers and replay --workers fork after the import: a copied counter would repeat ids.
    import os

    parent = _pair_id()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, then out at once (no pytest teardown in the copy)
        os.write(w, _pair_id().encode())
        os._exit(0)
    os.close(w)
    child = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert child.rsplit("-", 1)[0] != parent.rsplit("-", 1)[0]


def _pair_id() -> str:
    req = Request("HTTP/1.1", [], b"", 0, False, 1.0)
    return Pair(req, Response("HTTP/1.1", [], b"", 0, False, 2.0), Endpoint("::1", 1), Endpoint("::1", 2),
                {"kind": "t"}).id
