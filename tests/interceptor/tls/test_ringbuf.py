"""RingReader against a real BPF ring buffer: records of every size, wrapping around a one-page ring
many times, sizes not multiples of 8, discarded reservations skipped, nothing lost or duplicated across drains."""

from __future__ import annotations

import os

import pytest

from interceptor.config import TlsConfig
from interceptor.tls import loader
from interceptor.tls.ringbuf import RingReader

pytestmark = pytest.mark.slow

PROGRAM = r"""
struct rec_t { u32 seq; u32 len; char data[256]; };
BPF_RINGBUF_OUTPUT(rb, 1);   // one page: records wrap around it again and again
BPF_ARRAY(seq, u32, 1);
BPF_PERCPU_ARRAY(scratch, struct rec_t, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((bpf_get_current_pid_tgid() >> 32) != TARGET_PID)
        return 0;
    int zero = 0;
    u32 *s = seq.lookup(&zero);
    struct rec_t *r = scratch.lookup(&zero);
    if (!s || !r)
        return 0;
    u32 n = *s;
    *s = n + 1;
    if (n % 7 == 3) {   // a reservation given up: skipped by the reader
        struct rec_t *d = rb.ringbuf_reserve(sizeof(struct rec_t));
        if (d)
            rb.ringbuf_discard(d, 0);
        return 0;
    }
    u32 len = n % 249 + 1;   // sizes that are not multiples of 8: records are padded
    r->seq = n;
    r->len = len;
    for (int i = 0; i < 256; i++)
        r->data[i] = (char)(n + i);
    asm volatile("" : "+r"(len));
    len = ((len - 1) & 255) + 1;
    rb.ringbuf_output(r, 8 + len, 0);
    return 0;
}
"""


def test_ring_reader_wraps_and_skips_discarded() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (BPF)")
    try:
        BPF = loader.prepare(TlsConfig())  # noqa: N806
    except loader.Unavailable as e:
        pytest.skip(f"BPF unavailable here: {e}")
    bpf = BPF(text=PROGRAM, cflags=[f"-DTARGET_PID={os.getpid()}"])
    try:
        ring = bpf["rb"]
        reader = RingReader(ring.map_fd, ring.max_entries)
        got = []
        for _ in range(60):  # 60 rounds of 10 records of up to 264 B: ~80 KB through a 4 KiB ring
            for _ in range(10):
                os.getppid()
            got += reader.drain()
        reader.close()
    finally:
        bpf.cleanup()
    want = [n for n in range(600) if n % 7 != 3]
    assert [int.from_bytes(r[:4], "little") for r in got] == want
    for r in got:
        n = int.from_bytes(r[:4], "little")
        size = n % 249 + 1
        assert len(r) == 8 + size and int.from_bytes(r[4:8], "little") == size
        assert r[8:] == bytes((n + i) & 0xFF for i in range(size))
