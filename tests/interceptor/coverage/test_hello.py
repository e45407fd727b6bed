"""ClientHello/ServerHello facts from handshakes made by the real OpenSSL (Python's ssl, in memory)."""

from __future__ import annotations

import ssl
import subprocess

import pytest

from interceptor.coverage import hello


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("hello-cert")
    crt, key = d / "c.pem", d / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(crt), "-days", "1", "-subj", "/CN=api.example.com"], check=True, capture_output=True)
    return str(crt), str(key)


def handshake(cert: tuple[str, str], sni: str | None, alpn: list[str], max_version: ssl.TLSVersion) -> tuple[bytes, bytes]:
    """(client's first flight, server's first flight) of a real in-memory handshake."""
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    cctx.maximum_version = max_version
    if alpn:
        cctx.set_alpn_protocols(alpn)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(*cert)
    sctx.set_alpn_protocols(["h2", "http/1.1"])
    cin, cout, sin, sout = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = cctx.wrap_bio(cin, cout, server_hostname=sni)
    server = sctx.wrap_bio(sin, sout, server_side=True)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    first = cout.read()
    sin.write(first)
    with pytest.raises(ssl.SSLWantReadError):
        server.do_handshake()
    return first, sout.read()


def test_client_and_server_hello_tls13(cert: tuple[str, str]) -> None:
    c, s = handshake(cert, "API.example.com", ["h2", "http/1.1"], ssl.TLSVersion.TLSv1_3)
    ch = hello.parse(c)
    assert ch == hello.Hello("client", "TLS1.3", "api.example.com", ("h2", "http/1.1"))
    sh = hello.parse(s)
    assert sh is not None and sh.kind == "server" and sh.version == "TLS1.3"
    assert sh.alpn == ()  # TLS 1.3: the answer is encrypted


def test_tls12_server_answers_alpn_in_clear(cert: tuple[str, str]) -> None:
    c, s = handshake(cert, "svc.local", ["http/1.1"], ssl.TLSVersion.TLSv1_2)
    ch = hello.parse(c)
    assert ch is not None and ch.version == "TLS1.2" and ch.sni == "svc.local"
    sh = hello.parse(s)
    assert sh == hello.Hello("server", "TLS1.2", "", ("http/1.1",))


def test_no_sni_and_cut_short(cert: tuple[str, str]) -> None:
    c, _ = handshake(cert, None, [], ssl.TLSVersion.TLSv1_3)
    ch = hello.parse(c)
    assert ch is not None and ch.sni == "" and ch.alpn == ()
    for cut in (3, 5, 9, len(c) // 2, len(c) - 1):
        with pytest.raises(hello.NeedMore):
            hello.parse(c[:cut])


def test_hello_split_over_two_records(cert: tuple[str, str]) -> None:
    c, _ = handshake(cert, "split.example", ["h2"], ssl.TLSVersion.TLSv1_3)
    body = c[5:]
    half = len(body) // 2
    split = b"\x16\x03\x01" + half.to_bytes(2, "big") + body[:half]
    split += b"\x16\x03\x01" + (len(body) - half).to_bytes(2, "big") + body[half:]
    ch = hello.parse(split)
    assert ch is not None and ch.sni == "split.example" and ch.alpn == ("h2",)


def test_not_a_hello() -> None:
    assert hello.parse(b"\x17\x03\x03\x00\x10" + bytes(16)) is None  # application data: no handshake
    assert hello.parse(b"\x16\x03\x01\x00\x08\x0b\x00\x00\x04abcd") is None  # a Certificate message
    assert not hello.looks_like_tls(b"GET / HTTP/1.1\r\n")
    garbled = b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00"  # ClientHello cut inside its body
    assert hello.parse(garbled) is None


def test_fuzzed_hellos_never_raise_other_errors(cert: tuple[str, str]) -> None:
    import random

    c, s = handshake(cert, "fuzz.example", ["h2"], ssl.TLSVersion.TLSv1_3)
    rng = random.Random(15)
    for _ in range(2000):
        data = bytearray(rng.choice((c, s)))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(5, len(data))] = rng.randrange(256)
        try:
            hello.parse(bytes(data))
        except hello.NeedMore:
            pass

