"""The pair's JSON line (``Pair.to_json``: endpoints and source as JSON made before) is, byte for
byte, ``orjson.dumps(pair.to_record())`` — on replayed traffic and on pairs with every odd part:
meta, meta naming ``ip``, meta filled in after a first record, lost bodies, binary and non-ASCII
bodies, control characters, long and non-ASCII strings, a source changed in place. The UTF-8
test answers as the decoder does."""

from __future__ import annotations

from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.replay import synth_keepalive
from interceptor.grpc import GrpcCall
from interceptor.pairs import Endpoint, Pair, Request, Response, body_text
from tests.interceptor.test_pair_model import _odd_pair, _replayed

REPO = Path(__file__).resolve().parents[2]


def _same(pair: Pair) -> None:
    want = orjson.dumps(pair.to_record())
    assert pair.to_json() == want
    assert pair.to_json_line() == want + b"\n"


def _reference_text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def test_replayed_pairs_are_written_as_their_record(tmp_path: Path) -> None:
    path = tmp_path / "ka.pcap"
    synth_keepalive(path, 60, 3)
    pairs = _replayed(path) + _replayed(REPO / "examples" / "sample.pcap")
    assert len(pairs) > 60
    for pair in pairs:
        _same(pair)


def _pair(req_body: bytes = b"{}", resp_body: bytes = b"ok", src_meta: dict | None = None,
          dst_meta: dict | None = None, source: dict | None = None, **kw: object) -> Pair:
    req = Request("HTTP/1.1", [("Host", "a"), ("X-Odd", 'q"uo\\te\x01\u00e9')], req_body, len(req_body), False,
                  1700000000.25, method=str(kw.get("method", "POST")), target=str(kw.get("target", "/x?a=1")))
    resp = Response("HTTP/1.1", [("Content-Type", "text/plain")], resp_body, len(resp_body), bool(kw.get("cut")),
                    1e-7 if kw.get("tiny_ts") else 1700000000.5, body_incomplete=bool(kw.get("lost")),
                    body_missing=int(str(kw.get("lost", 0))), status=int(str(kw.get("status", 200))),
                    reason=str(kw.get("reason", "OK")))
    return Pair(req, resp, Endpoint("10.0.0.1", 40000, src_meta), Endpoint("10.0.0.2", 80, dst_meta),
                source if source is not None else {"kind": "pcap-file", "file": "/tmp/x.pcap"},
                str(kw.get("protocol", "http/1.1")), bool(kw.get("incomplete")),
                kw.get("grpc") if isinstance(kw.get("grpc"), GrpcCall) else None, str(kw.get("id", "")))


def test_odd_pairs_are_written_as_their_record() -> None:
    _same(_odd_pair())
    long = "/" + "é" * 100 + '"\\\n'
    for pair in (
        _pair(),
        _pair(b"\x00\x01\x02", b"\xff\xfe\x80", cut=True, lost=17),
        _pair("caf\u00e9 \u2028 \U0001f600".encode(), b"x" * 100 + "é".encode() + b"\xc3", tiny_ts=True),
        _pair(b'{"a": "\\u0000 \t\n\r\x7f"}', b"\xed\xa0\x80", method="M" * 80, target=long, reason=long,
              id='i"d\\', protocol="h2", incomplete=True),
        _pair(src_meta={"pod": "web-1", "namespace": "shop", "labels": {"app": "w"}}, dst_meta={"external": True}),
        _pair(src_meta={"ip": "overridden", "pod": "p"}, dst_meta={"port": "named"}),
        _pair(status=599, reason="", grpc=GrpcCall("s.S", "M", None, "m\u00e9", [{"1": [1, 2]}], [], 2)),
    ):
        _same(pair)


def test_a_source_changed_in_place_is_written_as_it_is_now() -> None:
    source = {"kind": "pcap-veth", "interface": "veth1"}
    _same(_pair(source=source))
    _same(_pair(source=source))
    source["interface"] = "veth2"
    source["pid"] = 7
    _same(_pair(source=source))
    nested = {"kind": "openssl", "proc": {"pid": 1}}
    _same(_pair(source=nested))
    nested["proc"]["pid"] = 2  # type: ignore[index]
    _same(_pair(source=nested))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600) | st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_the_utf8_test_answers_as_the_decoder(body: bytes) -> None:
    assert body_text(body) == _reference_text(body)
    _same(_pair(body, body[::-1]))


_TRICKY = st.text(alphabet=st.sampled_from('ab"\\,[]{}:\x00\x1f\u00e9\u2028 '), max_size=12)


def test_meta_filled_in_after_a_first_record_is_written() -> None:
    pair = _pair()
    _same(pair)
    pair.src.meta["pod"] = "web-1"  # the coverage tracker fills an endpoint's meta in place
    _same(pair)
    pair.src.meta.clear()
    _same(pair)


@settings(max_examples=300, deadline=None)
@given(target=_TRICKY, reason=_TRICKY, pid=_TRICKY,
       headers=st.lists(st.tuples(_TRICKY, _TRICKY), max_size=3),
       resp_headers=st.lists(st.tuples(_TRICKY, _TRICKY), max_size=3), body=_TRICKY)
def test_strings_with_json_punctuation(target: str, reason: str, pid: str,
                                                              headers: list, resp_headers: list, body: str) -> None:
    req = Request("HTTP/1.1", headers, body.encode(), 3, False, 1.5, method="GET", target=target)
    resp = Response("HTTP/1.1", resp_headers, body[::-1].encode(), 3, True, 2.5, status=200, reason=reason)
    _same(Pair(req, resp, Endpoint("::1", 1), Endpoint("::1", 2), {"kind": "t"}, "h2", False, None, pid or "x"))


def test_remembered_heads_are_written_as_each_pairs_own() -> None:
    # Heads are remembered by value (interceptor/pairs.py: _request_heads, _response_heads): pairs that
    # share header tuples but differ in any other head field, more heads than the tables keep (they
    # are emptied when full), and headers given as lists (not hashable: made each time).
    shared = [("Host", "a"), ("Accept", "*/*")]
    for i in range(700):
        req = Request(f"HTTP/1.{i % 2}", list(shared), b"", 0, False, 1.5, method=("GET", "POST", "M\"")[i % 3],
                      target=f"/u/{i % 5}")
        resp = Response("HTTP/1.1", list(shared) + [("N", str(i))], b"x", 1 + i % 3, i % 7 == 0, 2.5,
                        status=200 + i % 4, reason=("OK", "", "é")[i % 3])
        _same(Pair(req, resp, Endpoint("::1", 1), Endpoint("::1", 2), {"kind": "t"}))
    listed = [["Host", "a"]]  # what a record read back without _read_headers would hold
    _same(Pair(Request("HTTP/1.1", listed, b"", 0, False, 1.0), Response("HTTP/1.1", listed, b"", 0, False, 2.0),
               Endpoint("::1", 1), Endpoint("::1", 2), {"kind": "t"}))
