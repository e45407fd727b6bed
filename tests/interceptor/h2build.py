"""Building HTTP/2 bytes for tests with python-hyper's own encoders (hyperframe frames, hpack
blocks): an independent implementation of the wire format, so the layer is not checked against
itself."""

from __future__ import annotations

import gzip
import struct

from hpack import Encoder
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from interceptor.http2 import PREFACE


def headers(sid: int, block: bytes, end_stream: bool = False, end_headers: bool = True, pad: int = 0,
            priority: bool = False) -> bytes:
    f = HeadersFrame(sid, block)
    if end_stream:
        f.flags.add("END_STREAM")
    if end_headers:
        f.flags.add("END_HEADERS")
    if pad:
        f.flags.add("PADDED")
        f.pad_length = pad
    if priority:
        f.flags.add("PRIORITY")
        f.depends_on, f.stream_weight = 0, 15
    return f.serialize()


def continuation(sid: int, fragment: bytes, end_headers: bool = True) -> bytes:
    f = ContinuationFrame(sid, fragment)
    if end_headers:
        f.flags.add("END_HEADERS")
    return f.serialize()


def data(sid: int, payload: bytes, end_stream: bool = False, pad: int = 0) -> bytes:
    f = DataFrame(sid, payload)
    if end_stream:
        f.flags.add("END_STREAM")
    if pad:
        f.flags.add("PADDED")
        f.pad_length = pad
    return f.serialize()


def settings(**values: int) -> bytes:
    f = SettingsFrame(0)
    for k, v in values.items():
        f.settings[getattr(SettingsFrame, k.upper())] = v
    return f.serialize()


def settings_ack() -> bytes:
    f = SettingsFrame(0)
    f.flags.add("ACK")
    return f.serialize()


def rst(sid: int, code: int = 8) -> bytes:
    return RstStreamFrame(sid, error_code=code).serialize()


def control_frames() -> bytes:
    """One of each frame that changes nothing for an observer."""
    return (PingFrame(0, opaque_data=b"12345678").serialize() + WindowUpdateFrame(0, window_increment=1000).serialize()
            + WindowUpdateFrame(1, window_increment=5).serialize()
            + PriorityFrame(3, depends_on=1, stream_weight=7).serialize() + settings_ack())


def goaway(last: int) -> bytes:
    return GoAwayFrame(0, last_stream_id=last, error_code=0).serialize()


def push_promise(sid: int, promised: int, block: bytes) -> bytes:
    f = PushPromiseFrame(sid, promised_stream_id=promised, data=block)
    f.flags.add("END_HEADERS")
    return f.serialize()


def grpc_message(payload: bytes, compress: bool = False) -> bytes:
    if compress:
        payload = gzip.compress(payload)
    return struct.pack(">BI", 1 if compress else 0, len(payload)) + payload


class Side:
    """One endpoint's encoder state (its HPACK table lives as long as the connection)."""

    def __init__(self) -> None:
        self.encoder = Encoder()

    def block(self, fields: list[tuple[str, str]], huffman: bool = True) -> bytes:
        return self.encoder.encode(fields, huffman=huffman)


def request_fields(path: str = "/users", method: str = "POST", extra: list[tuple[str, str]] | None = None,
                   content_type: str = "application/json") -> list[tuple[str, str]]:
    return [(":method", method), (":scheme", "http"), (":path", path), (":authority", "svc:8080"),
            ("content-type", content_type), *(extra or [])]


def response_fields(status: int = 200, content_type: str = "application/json",
                    extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    return [(":status", str(status)), ("content-type", content_type), *(extra or [])]


__all__ = ["PREFACE", "Side", "headers", "continuation", "data", "settings", "rst", "control_frames", "goaway",
           "push_promise", "grpc_message", "request_fields", "response_fields", "settings_ack"]
