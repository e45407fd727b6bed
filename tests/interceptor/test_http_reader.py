"""The HTTP/1 reader alone, from bytes: ``feed`` then ``next_event`` until None (no pipeline, no
conversation). Each framing path (Content-Length, chunked, close-delimited, 1xx, upgrade, gaps)
gives the events the conversation pairs from."""

from __future__ import annotations

import random

from interceptor.counters import Counters
from interceptor.http import Limits, MessageParser, State
from interceptor.httpevents import Complete, Event, Failed, RoleKnown, Upgraded
from interceptor.pairs import Request, Response
from interceptor.reassembly import Budget


def reader(method: str | None = "GET", synced: bool = True, budget: Budget | None = None,
           asked: list[int] | None = None) -> MessageParser:
    def request_method() -> str | None:
        if asked is not None:
            asked.append(1)
        return method

    return MessageParser(Limits(1 << 20, 64 * 1024, False), Counters(), budget or Budget(1 << 30), request_method,
                         synced)


def pull(p: MessageParser) -> list[Event]:
    out = []
    while (event := p.next_event()) is not None:
        out.append(event)
    return out


def feed_all(p: MessageParser, chunks: list[bytes], offset: int | None = 0) -> list[Event]:
    events: list[Event] = []
    for i, chunk in enumerate(chunks):
        p.feed(chunk, float(i), offset, None if offset is None else 1000 + i)
        if offset is not None:
            offset += len(chunk)
        events += pull(p)
    return events


def messages(events: list[Event]) -> list[Request | Response]:
    return [e.message for e in events if isinstance(e, Complete)]


REQ = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_role_then_message_from_one_segment() -> None:
    events = feed_all(reader(), [REQ])
    assert events[0] == RoleKnown("request")
    (msg,) = messages(events)
    assert isinstance(msg, Request) and msg.method == "POST" and msg.body == b"hello"
    span = events[1].span  # type: ignore[union-attr]
    assert span is not None and (span.start, span.end, span.ack, span.epoch) == (0, len(REQ), 1000, 0)


def test_any_segmentation_gives_the_same_messages() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n")
    stream = RESP + chunked + RESP
    rng = random.Random(7)
    for _ in range(30):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 12)))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        got = messages(feed_all(reader(), chunks))
        assert [m.body for m in got] == [b"ok", b"abcde", b"ok"], cuts
        assert got[1].header("trailer") == "t"


def test_one_event_at_a_time_so_each_response_is_framed_for_its_request() -> None:
    """Two responses in one segment: the method of the second one's request is asked only after
    the owner took the first one (what lets a HEAD answer be framed without a body)."""
    asked: list[int] = []
    p = reader("GET", asked=asked)
    p.feed(RESP + RESP, 0.0, 0, 1)
    assert p.next_event() == RoleKnown("response")
    first = p.next_event()
    assert isinstance(first, Complete) and asked == [1]
    second = p.next_event()
    assert isinstance(second, Complete) and len(asked) == 2
    assert p.next_event() is None


def test_head_response_has_no_body() -> None:
    methods = ["HEAD", "HEAD", "GET", "GET"]  # asked by each response's head (twice: fast path, then general)
    p = MessageParser(Limits(1 << 20, 1024, False), Counters(), Budget(1 << 20), lambda: methods.pop(0), True)
    got = messages(feed_all(p, [b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n" + RESP]))
    assert [m.body for m in got] == [b"", b"ok"]


def test_close_delimited_body_completes_at_close() -> None:
    p = reader()
    events = feed_all(p, [b"HTTP/1.0 200 OK\r\n\r\npart one ", b"part two"])
    assert messages(events) == []
    p.close(5.0, clean=True)
    (msg,) = messages(pull(p))
    assert msg.body == b"part one part two" and not msg.body_incomplete


def test_gap_inside_a_content_length_body_keeps_the_framing() -> None:
    p = reader()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
    feed_all(p, [head + b"abc"])
    p.gap(4)
    events = feed_all(p, [b"xyz" + RESP], offset=len(head) + 3 + 4)
    got = messages(events)
    assert got[0].body == b"abcxyz" and got[0].body_incomplete and got[0].body_missing == 4
    assert got[1].body == b"ok"
    assert events[-1].span.epoch == 0  # type: ignore[union-attr]  # the framing survived: no epoch change


def test_gap_in_a_head_fails_that_message_and_resyncs() -> None:
    p = reader()
    feed_all(p, [b"POST /a HTTP/1.1\r\nHost:"])
    p.gap(None)
    events = pull(p)
    assert [type(e) for e in events] == [RoleKnown, Failed] and events[1].reason == "gap"  # type: ignore[union-attr]
    assert p.state is State.RESYNC
    got = feed_all(p, [b"garbage" + REQ], offset=None)
    assert [m.body for m in messages(got)] == [b"hello"]
    assert got[-1].span.epoch == 1  # type: ignore[union-attr]


def test_upgrade_hands_back_the_bytes_after_the_101() -> None:
    p = reader("GET")
    events = feed_all(p, [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n\x00\x00\x00\x04"])
    assert [type(e) for e in events] == [RoleKnown, Complete, Upgraded]
    assert events[2] == Upgraded("h2c", b"\x00\x00\x00\x04")
    assert p.state is State.DEAD


def test_oversize_body_is_a_failed_message_taking_its_turn() -> None:
    p = MessageParser(Limits(4, 1024, False), Counters(), Budget(1 << 20), lambda: "GET", True)
    events = feed_all(p, [RESP.replace(b"ok", b"").replace(b"2\r\n", b"6\r\n") + b"sixsix" + RESP])
    kinds = [type(e) for e in events]
    assert kinds == [RoleKnown, Failed, Complete]
    assert events[1].reason == "response_too_large"  # type: ignore[union-attr]


def test_not_http_ends_the_reader_quietly() -> None:
    p = reader()
    assert feed_all(p, [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"]) == []
    assert p.state is State.DEAD and p.counters.get("http.non_http_streams") == 1


def test_budget_held_by_a_waiting_head_is_returned() -> None:
    budget = Budget(1 << 20)
    p = reader(budget=budget)
    feed_all(p, [b"POST /a HTTP/1.1\r\n", b"Host: x\r\n"])
    assert budget.used > 0
    p.feed(b"Content-Length: 0\r\n\r\n", 2.0, None, None)
    assert [type(e) for e in pull(p)] == [RoleKnown, Complete]
    assert budget.used == 0


def test_a_repeated_head_parses_as_the_first_from_the_memo() -> None:
    """A head that begins the buffer as the last one did is taken from the parser's memo: the same
    messages as parsing each anew, each with header lists of its own; a head that differs (a
    longer Content-Length) is parsed again, and stray line breaks after a repeated one are skipped."""
    p = reader()
    longer = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n" + b"h" * 50
    chunks = [REQ, REQ + REQ, longer, REQ, REQ + b"\r\n" + REQ]
    got = messages(feed_all(p, chunks))
    fresh = [m for chunk in chunks for m in messages(feed_all(reader(), [chunk]))]

    def seen(m: Request | Response) -> tuple:
        assert isinstance(m, Request)
        return m.method, m.target, m.version, m.headers, m.index, m.body, m.body_size, m.wire_bytes

    assert [seen(m) for m in got] == [seen(m) for m in fresh] and len(got) == 7
    assert got[3].body == b"h" * 50 and got[6].body == b"hello"
    assert got[0].headers is not got[1].headers and got[0].index is not got[1].index
    assert p.memo is not None and p.memo.raw == REQ[:-5]
