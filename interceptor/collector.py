"""The cyclic garbage collector around a command's work: what start-up made kept out of its sight
(interceptor/heap.py is the C heap: glibc's trimming).

Start-up (modules, the config, the sinks, the cluster index) makes objects that live as long as the
process. A full collection walks every tracked object, so during the work loop it would keep walking
all of them for nothing; and at exit the interpreter runs three more full collections over the whole
heap before the process's memory goes back to the system anyway.

Measured (callgrind, compiled build, ``interceptor replay`` of a 10-flow capture): the exit's
collections were ~26M instructions of its ~397M (7 %); start-up leaves ~12 unreachable objects for a
collection to find, so ``frozen`` does not collect first by default (a full collection costs ~6M).
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

_exit_registered = False


@contextmanager
def frozen(collect: bool = False) -> Iterator[None]:
    """While the block runs, what exists now is out of the collector's sight (``gc.freeze``): a
    collection then walks only what the block made. ``collect``: free start-up's garbage first
    (worth it only for a long-lived process whose start-up leaves much). Given back at the end, so a
    caller's later garbage (a test calling ``main()``) is still collected."""
    if collect:
        gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def skip_exit_collections() -> None:
    """Freeze the heap at interpreter exit (an ``atexit`` handler runs before the interpreter's own
    collections at shutdown, which then find nothing to walk). Nothing is lost: files and sinks are
    closed by the commands explicitly, and the process's memory is returned whole."""
    global _exit_registered
    if not _exit_registered:
        _exit_registered = True
        atexit.register(gc.freeze)
