"""A program held at exec (tls.hold_new_programs) never stays stopped: one whose exec notice was
lost (the ring full) is continued from the kernel's table of held programs by the next polls, and
every one still held is continued when the source closes."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time

import pytest

from tests.fixtures.tls import TlsHarness, harness_config

pytestmark = [pytest.mark.slow, pytest.mark.ebpf]  # (the namespace test needs root too)


def state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def stop(p: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    os.kill(p.pid, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while state(p.pid) != "T":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return p


def wait_running(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state(pid) != "T":
            return True
        time.sleep(0.02)
    return False


def test_held_programs_are_continued_without_their_notice() -> None:
    if os.geteuid() != 0:
        pytest.skip("eBPF TLS tests need root")
    # Started before the source, so the kernel does not hold them itself (its SIGCONT would race ours).
    procs = [subprocess.Popen(["sleep", "30"]) for _ in range(2)]
    h = TlsHarness(harness_config())
    try:
        if h.source is None:
            pytest.skip("TLS source unavailable here")
        held = h.source._held
        # As the exec tracepoint writes it when it stops a program, and the notice then lost.
        lost = stop(procs[0])
        h.call(lambda: held.__setitem__(ctypes.c_uint32(lost.pid), ctypes.c_uint64(time.monotonic_ns())))
        assert wait_running(lost.pid), "a held program whose notice was lost stayed stopped"
        assert h.counters.get("tls.held_notices_lost") == 1
        assert h.call(lambda: len(held.items())) == 0
        # One still held when the source closes is continued by close().
        late = stop(procs[1])
        h.call(lambda: held.__setitem__(ctypes.c_uint32(late.pid), ctypes.c_uint64(time.monotonic_ns() + 10**12)))
        time.sleep(0.3)
        assert state(late.pid) == "T"  # not yet orphaned by age: the sweep leaves it to its notice
    finally:
        h.close()
        for p in procs:
            if p.poll() is None:
                assert wait_running(p.pid), "close() left a held program stopped"
                p.kill()
            p.wait()
    assert h.counters.get("tls.held_released_on_close") == 1


def test_host_pid_namespace_is_told_apart() -> None:
    """The hold is off in a PID namespace of its own: the kernel's pids are not its pids there."""
    from interceptor.tls import procfs

    assert procfs.in_host_pid_namespace()  # the tests run on the host
    code = "from interceptor.tls import procfs; print(procfs.in_host_pid_namespace())"
    out = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "python3", "-c", code],
                         capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "False"
