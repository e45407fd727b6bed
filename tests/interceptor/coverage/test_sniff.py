"""First-bytes recognition: each protocol's opening message as its clients and servers send it."""

from __future__ import annotations

import random
import struct

import pytest

from interceptor.coverage.sniff import UNKNOWN, recognize


def pg_startup() -> bytes:
    params = b"user\x00app\x00database\x00orders\x00\x00"
    return struct.pack(">II", 8 + len(params), 196608) + params


def mongo_hello() -> bytes:
    body = b"\x00\x00\x00\x00" + b"\x00" + b"\x05\x00\x00\x00\x00"  # flags, kind 0, empty document
    return struct.pack("<iiii", 16 + len(body), 7, 0, 2013) + body


def kafka_api_versions() -> bytes:
    client_id = b"rdkafka"
    header = struct.pack(">hhih", 18, 3, 1, len(client_id)) + client_id + b"\x00"
    return struct.pack(">i", len(header)) + header


def dns_query() -> bytes:
    q = b"\x03api\x07example\x03com\x00" + struct.pack(">HH", 1, 1)
    msg = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + q
    return struct.pack(">H", len(msg)) + msg


def mysql_greeting() -> bytes:
    body = b"\x0a" + b"8.0.36\x00" + struct.pack("<I", 12) + b"abcdefgh\x00" + b"\xff\xf7"
    return len(body).to_bytes(3, "little") + b"\x00" + body


CASES = [
    ("tls", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b""),
    ("http/1.1", b"POST /v1/charges HTTP/1.1\r\nHost: x\r\n", b""),
    ("http/1.1", b"GET / HTTP/1.0\r\n\r\n", b""),
    ("h2", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04", b""),
    ("postgresql", pg_startup(), b""),
    ("postgresql", struct.pack(">II", 8, 80877103), b""),  # SSLRequest: TLS follows inside PostgreSQL
    ("redis", b"*1\r\n$4\r\nPING\r\n", b""),
    ("redis", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", b""),
    ("mongodb", mongo_hello(), b""),
    ("kafka", kafka_api_versions(), b""),
    ("amqp", b"AMQP\x00\x00\x09\x01", b""),
    ("dns", dns_query(), b""),
    ("ssh", b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", b"SSH-2.0-OpenSSH_9.2p1\r\n"),
    ("ssh", b"", b"SSH-2.0-OpenSSH_9.2p1\r\n"),  # the server's banner came first
    ("mysql", b"", mysql_greeting()),
]


@pytest.mark.parametrize(("name", "client", "server"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_recognised(name: str, client: bytes, server: bytes) -> None:
    assert recognize(client, server) == name


def test_undecided_until_enough_bytes() -> None:
    assert recognize(b"", b"") is None
    assert recognize(b"\x00\x00", b"") is None
    assert recognize(b"PRI * HT", b"") == "h2"
    assert recognize(bytes(range(40)), b"") == UNKNOWN
    assert recognize(b"", b"220 mail.example ESMTP ready\r\n") == UNKNOWN


def test_random_bytes_are_rarely_named() -> None:
    rng = random.Random(15)
    named = sum(recognize(rng.randbytes(64), b"") != UNKNOWN for _ in range(5000))
    assert named < 50  # under 1 % false recognition on noise (mostly the TLS record-type check)
