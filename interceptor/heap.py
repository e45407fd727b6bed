"""The capture loop's C heap kept mapped: no page faults per packet from glibc giving memory back.

Measured in bench/live.py (h2load -> nginx, 10k pairs/s, ring:1, compiled core): the agent took
1.3-1.5 minor page faults per pair and ~5 us of *system* time per pair (sys was 10 % of its CPU),
almost all in ``memmove``/``_int_malloc``: glibc's heap top shrinks (``M_TRIM_THRESHOLD``) and
grows again as the ring's block copies (512 KiB), frames and the sinks' buffers come and go, and
every page it grows into is a fresh, zeroed one. With the heap top kept and allocations under
``mmap_bytes`` served from the heap, the same runs took 0.03 faults and 0.2-0.5 us sys per pair.

glibc only (``mallopt``); elsewhere (musl) nothing changes. The memory kept is bounded by
``trim_bytes`` above what the process uses; ``release`` gives it back (the memory guard calls it
when RSS is over the limit, so RSS can fall under the resume mark).
"""

from __future__ import annotations

import ctypes
from typing import Any

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 << 20  # glibc refuses more on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_BYTES = 32 << 20

_LIBC: list[Any] = []


def _libc() -> Any:
    if not _LIBC:
        try:
            # the process's own symbols (dlopen(NULL)): libc is already loaded, and
            # ctypes.util.find_library would spawn `ldconfig -p` at every replay and agent start
            lib = ctypes.CDLL(None)
            lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            lib.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):  # not glibc: nothing to tune
            lib = None
        _LIBC.append(lib)
    return _LIBC[0]


def keep_heap(largest_chunk: int, trim_bytes: int = TRIM_BYTES) -> bool:
    """Serve allocations up to ``largest_chunk`` (at least 4 MiB) from the heap and keep up to
    ``trim_bytes`` of freed memory at its top. True when glibc took both settings."""
    lib = _libc()
    if lib is None:
        return False
    mmap_bytes = min(MMAP_THRESHOLD_MAX, max(4 << 20, 2 * largest_chunk))
    return bool(lib.mallopt(M_MMAP_THRESHOLD, mmap_bytes)) and bool(lib.mallopt(M_TRIM_THRESHOLD, trim_bytes))


def release() -> None:
    """Give the heap's free memory back to the kernel now (``malloc_trim``)."""
    lib = _libc()
    if lib is not None:
        lib.malloc_trim(0)
