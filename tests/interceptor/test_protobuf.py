"""Schema-less protobuf decoding, checked against messages Google's own runtime encodes."""

from __future__ import annotations

import pytest

from interceptor import protobuf

descriptor_pb2 = pytest.importorskip("google.protobuf.descriptor_pb2")


def test_decodes_what_the_protobuf_runtime_encodes() -> None:
    msg = descriptor_pb2.FileDescriptorProto(name="users.proto", package="acme.v1", dependency=["a.proto", "b.proto"])
    m = msg.message_type.add(name="User")
    m.field.add(name="email", number=2, type=9, json_name="email")
    msg.options.java_package = "io.acme"
    msg.options.optimize_for = 3
    got = protobuf.decode(msg.SerializeToString())
    assert got["1"] == "users.proto" and got["2"] == "acme.v1" and got["3"] == ["a.proto", "b.proto"]
    assert got["4"] == {"1": "User", "2": {"1": "email", "3": 2, "5": 9, "10": "email"}}
    assert got["8"] == {"1": "io.acme", "9": 3}


def test_numbers_bytes_and_text() -> None:
    raw = (b"\x08\x96\x01"  # 1: varint 150
           b"\x11" + (7).to_bytes(8, "little") +  # 2: fixed64
           b"\x1d" + (9).to_bytes(4, "little") +  # 3: fixed32
           b"\x22\x03\xff\x00\x01"  # 4: bytes, neither text nor a message
           b"\x2a\x0bline1\nline2")  # 5: text with a line break
    assert protobuf.decode(raw) == {"1": 150, "2": 7, "3": 9, "4": {"base64": "/wAB"}, "5": "line1\nline2"}


@pytest.mark.parametrize("raw", [b"\x08", b"\x0a\x05ab", b"\x00\x01", b"\x0b\x0c", b"\x0f", b"\x09\x01\x02",
                                 b"\x08" + b"\xff" * 11])
def test_malformed_is_not_protobuf(raw: bytes) -> None:
    with pytest.raises(protobuf.NotProtobuf):
        protobuf.decode(raw)


def test_depth_and_field_bounds() -> None:
    inner = b"\x08\x01"
    for _ in range(30):
        inner = b"\x0a" + bytes([len(inner)]) + inner if len(inner) < 128 else inner
    deep = protobuf.decode(inner, max_depth=3)
    assert "1" in deep  # decoded to depth 3, deeper levels kept as bytes
    with pytest.raises(protobuf.NotProtobuf):
        protobuf.decode(b"\x08\x01" * 50, max_fields=10)
