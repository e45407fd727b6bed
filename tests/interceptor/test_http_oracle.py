"""Differential test: our passive parser and h11 (a full HTTP/1.1 state machine) must agree on
method, target, status, headers and body for the same bytes, including chunked bodies."""

import h11
from hypothesis import given, settings
from hypothesis import strategies as st

from interceptor.pairs import Endpoint
from tests.interceptor.test_http import make

A, B = Endpoint("10.0.0.1", 1), Endpoint("10.0.0.2", 2)
token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(lambda s: s[0] != "-")
value = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 ;=/,.", min_size=0, max_size=30).map(str.strip)
headers = st.lists(st.tuples(token.map(lambda t: "x-" + t), value), max_size=6)
bodies = st.binary(max_size=3000)


def wire(start: bytes, hs: list[tuple[str, str]], body: bytes, chunked: bool, chunk: int) -> bytes:
    hs = list(hs) + ([("Transfer-Encoding", "chunked")] if chunked else [("Content-Length", str(len(body)))])
    head = start + b"".join(f"{k}: {v}\r\n".encode() for k, v in hs) + b"\r\n"
    if not chunked:
        return head + body
    out = b""
    for i in range(0, len(body), chunk):
        part = body[i : i + chunk]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return head + out + b"0\r\n\r\n"


def h11_events(conn: h11.Connection, data: bytes) -> tuple[object, bytes]:
    conn.receive_data(data)
    head, body = None, b""
    while True:
        ev = conn.next_event()
        if isinstance(ev, h11.Request | h11.Response):
            head = ev
        elif isinstance(ev, h11.Data):
            body += bytes(ev.data)
        elif isinstance(ev, h11.EndOfMessage) or ev is h11.NEED_DATA:
            return head, body


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]), path=token, hs=headers, body=bodies,
       chunked=st.booleans(), chunk=st.integers(1, 700), status=st.sampled_from([200, 201, 202, 302]),
       rbody=bodies, rchunked=st.booleans(), split=st.integers(0, 4000))
def test_agrees_with_h11(method: str, path: str, hs: list, body: bytes, chunked: bool, chunk: int,
                         status: int, rbody: bytes, rchunked: bool, split: int) -> None:
    req = wire(f"{method} /{path}?q=1 HTTP/1.1\r\nHost: svc\r\n".encode(), hs, body, chunked, chunk)
    resp = wire(f"HTTP/1.1 {status} Whatever\r\n".encode(), hs, rbody, rchunked, chunk)

    server = h11.Connection(h11.SERVER)
    h11_req, h11_body = h11_events(server, req)
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target=f"/{path}?q=1", headers=[("Host", "svc")]))
    client.send(h11.EndOfMessage())
    h11_resp, h11_rbody = h11_events(client, resp)

    p, pairs, _ = make()
    cut = split % (len(req) + 1)
    for i, data in enumerate([req[:cut], req[cut:], resp]):
        if data:
            p.feed_stream("c", 0 if i < 2 else 1, float(i), data, A, B, {"kind": "openssl"})
    assert len(pairs) == 1
    ours = pairs[0]
    assert ours.request.method == h11_req.method.decode()
    assert ours.request.target == h11_req.target.decode()
    assert ours.request.body == h11_body
    assert [(k.lower(), v) for k, v in ours.request.headers] == [(k.decode(), v.decode()) for k, v in h11_req.headers]
    assert ours.response.status == h11_resp.status_code
    assert ours.response.reason == h11_resp.reason.decode()
    assert ours.response.body == h11_rbody
