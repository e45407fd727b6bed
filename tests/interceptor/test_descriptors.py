"""gRPC field names from a FileDescriptorSet built by protoc (grpcio-tools): the pipeline names the
fields of schema-less decoded messages; a file that is not a descriptor set is a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from interceptor.config import Config, ConfigError
from interceptor.counters import Counters
from interceptor.pairs import Endpoint
from interceptor.pipeline import Pipeline
from tests.interceptor.h2build import (
    PREFACE,
    Side,
    data,
    grpc_message,
    headers,
    request_fields,
    response_fields,
)

protoc = pytest.importorskip("grpc_tools.protoc")

PROTO = """
syntax = "proto3";
package acme.v2;
message Address { string city = 1; string street = 2; }
message Account { string name = 1; string email = 2; int32 n = 3; repeated Address addresses = 4;
                  message Note { string text = 1; } Note note = 5; }
service Accounts { rpc Lookup(Account) returns (Account); }
"""


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("proto")
    (d / "accounts.proto").write_text(PROTO)
    out = d / "accounts.pb"
    assert protoc.main(["protoc", f"-I{d}", f"--descriptor_set_out={out}", str(d / "accounts.proto")]) == 0
    return out


def account() -> bytes:
    def text(n: int, s: str) -> bytes:
        return bytes([n << 3 | 2, len(s)]) + s.encode()

    addr = text(1, "Berlin") + text(2, "Unter den Linden 1")
    return (text(1, "Ann Lee") + text(2, "ann@example.com") + b"\x18\x07" + bytes([4 << 3 | 2, len(addr)]) + addr
            + bytes([4 << 3 | 2, len(addr)]) + addr + bytes([5 << 3 | 2, 5]) + text(1, "vip"))


def call(cfg: Config, path: str) -> list:
    client, server = Side(), Side()
    c = PREFACE + headers(1, client.block(request_fields(path, content_type="application/grpc")))
    c += data(1, grpc_message(account()), end_stream=True)
    s = headers(1, server.block(response_fields(200, "application/grpc"))) + data(1, grpc_message(account()))
    s += headers(1, server.block([("grpc-status", "0")]), end_stream=True)
    pairs: list = []
    pipe = Pipeline(cfg, Counters(), pairs.append)
    a, b = Endpoint("10.0.0.1", 1), Endpoint("10.0.0.2", 2)
    pipe.feed_stream("x", 0, 1.0, c, a, b, {"kind": "openssl"})
    pipe.feed_stream("x", 1, 1.1, s, a, b, {"kind": "openssl"})
    return pairs


def test_fields_named_from_the_descriptor_set(descriptor_set: Path) -> None:
    cfg = Config()
    cfg.grpc.descriptor_sets = [str(descriptor_set)]
    [pair] = call(cfg, "/acme.v2.Accounts/Lookup")
    want = {"name": "Ann Lee", "email": "ann@example.com", "n": 7,
            "addresses": [{"city": "Berlin", "street": "Unter den Linden 1"}] * 2, "note": {"text": "vip"}}
    assert pair.grpc.request_messages == [want] and pair.grpc.response_messages == [want]
    [other] = call(cfg, "/acme.v2.Other/Lookup")  # not in the set: numeric keys stay
    assert other.grpc.request_messages[0]["1"] == "Ann Lee"


def test_not_a_descriptor_set_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\x0a\xff\xff")
    cfg = Config()
    cfg.grpc.descriptor_sets = [str(bad)]
    with pytest.raises(ConfigError, match="bad.pb: not a FileDescriptorSet"):
        Pipeline(cfg, Counters(), lambda p: None)
    cfg.grpc.descriptor_sets = [str(tmp_path / "missing.pb")]
    with pytest.raises(ConfigError, match="missing.pb"):
        Pipeline(cfg, Counters(), lambda p: None)
