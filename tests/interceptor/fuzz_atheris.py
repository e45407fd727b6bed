"""Coverage-guided fuzzing of the core with atheris (libFuzzer for Python).

    python3 tests/interceptor/fuzz_atheris.py -max_total_time=60   # any libFuzzer flags

Each input is a little program: a sequence of packets, each either a raw frame with a fuzzed link
type or an Ethernet/IPv4/TCP frame on one of a few colliding connections with fuzzed flags,
sequence number and payload (so the fuzzer reaches reassembly and HTTP framing quickly). A crash is
any exception escaping the core, any ``dropped.internal_error``/``decode_error`` (the core's
catch-all hid a bug), or a broken bound (flows, byte budget).
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["interceptor"]):
    from interceptor.pipeline import Pipeline

from interceptor.counters import Counters  # noqa: E402,I001
from tests.interceptor.test_fuzz import HTTP_PIECES, LINKTYPES, assert_healthy, small_config, tcp_frame  # noqa: E402


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    counters = Counters()
    pipe = Pipeline(small_config(), counters, lambda p: p.to_json())
    ts = 1000.0
    for _ in range(fdp.ConsumeIntInRange(1, 40)):
        if fdp.remaining_bytes() == 0:
            break
        ts += fdp.PickValueInList([0.0, 0.001, 5.0, 100.0])
        if fdp.ConsumeBool():
            pipe.feed_packet(ts, fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300)), fdp.PickValueInList(LINKTYPES))
            continue
        c = fdp.ConsumeIntInRange(0, 3)
        client, server = ("198.18.0.1", 40000 + c), ("198.18.0.2", 80)
        src, dst = (client, server) if fdp.ConsumeBool() else (server, client)
        payload = b"".join(
            fdp.PickValueInList(HTTP_PIECES) if fdp.ConsumeBool() else fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
            for _ in range(fdp.ConsumeIntInRange(0, 6))
        )
        seq = fdp.ConsumeIntInRange(0, 4000) if fdp.ConsumeBool() else fdp.ConsumeUInt(4)
        frame = tcp_frame(src[0], src[1], dst[0], dst[1], seq, fdp.ConsumeUInt(4),
                          fdp.PickValueInList([0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x19]), payload)
        if fdp.ConsumeBool():
            frame = frame[: fdp.ConsumeIntInRange(0, len(frame))]
        pipe.feed_packet(ts, frame, 1)
    pipe.tick(ts + 1000)
    pipe.close()
    assert_healthy(pipe, counters)
    assert pipe.budget.used == 0


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
