"""bench/pairing: never a wrong pair, over many generated conversations (issue 11).

    python3 bench/pairing.py                      # 100k conversations on 2 processes
    python3 bench/pairing.py --conversations 5000 --workers 1

Each conversation is a keep-alive HTTP/1.1 connection made by tests/interceptor/convgen.py (GET,
POST, HEAD, 204, 304, 100-continue, 103, chunked, close-delimited, pipelined bursts) as a tap saw
it: capture loss in the client direction, the server direction, both, or in bursts; reordering,
duplicates, retransmissions, sometimes a second tap with its own loss and a lag. Every exchange
carries an id in both halves, so the score needs nothing from the code under test. Printed: wrong
pairs, duplicates, corrupt pairs (must all be 0), exchanges neither emitted nor counted, and the
recall (exact and partial pairs) per loss mode.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.interceptor import convgen  # noqa: E402


def _chunk(bounds: tuple[int, int]) -> convgen.Score:
    return convgen.run(range(*bounds))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=1_000_000)
    args = ap.parse_args()
    start, n = args.first_seed, args.conversations
    step = 2000
    chunks = [(a, min(a + step, start + n)) for a in range(start, start + n, step)]
    t0, cpu0 = time.time(), os.times()
    total = convgen.Score()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for score in pool.map(_chunk, chunks):
            total.add(score)
    wall = time.time() - t0
    cpu = sum(os.times()[2:4]) - sum(cpu0[2:4])
    print(f"conversations={total.conversations} exchanges={total.exchanges} in {wall:.0f} s wall, "
          f"{cpu:.0f} s CPU of {args.workers} workers (machine shared with other work: times are noisy)")
    print(f"wrong pairs={total.wrong} duplicates={total.duplicate} corrupt={total.corrupt} "
          f"not emitted and not counted={total.unaccounted} "
          f"(invisible: both heads lost by every tap, only tcp.gaps shows them: {total.invisible})")
    print(f"exact={total.exact} ({total.exact / max(1, total.exchanges):.3f}) "
          f"partial={total.partial} ({total.partial / max(1, total.exchanges):.3f})")
    print("recall by loss mode (exchanges, exact, exact+partial):")
    for mode, (ex, exact, partial) in sorted(total.by_mode.items()):
        print(f"  {mode:28} {ex:8} {exact / max(1, ex):7.3f} {(exact + partial) / max(1, ex):7.3f}")
    for line in total.examples:
        print("  example:", line)
    return 0 if total.wrong == total.duplicate == total.corrupt == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
