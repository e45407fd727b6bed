"""The counters registry: the hot counts (native ints, ``Counters.hot``) read as every other count."""

from __future__ import annotations

from interceptor.counters import Counters
from interceptor.hotcounts import NAMES


def test_hot_counts_show_in_every_read() -> None:
    c = Counters()
    assert not set(NAMES) & set(c.counts) and c.get("packets") == 0  # not counted yet: no name
    c.hot.packets += 3
    c.hot.payload_bytes += 1500
    c.inc("pairs.matched", 2)  # a hot name through inc goes to its field
    c.inc("flows")
    c.drop("response_timeout")
    assert c.hot.matched == 2
    assert c.get("packets") == 3 and c.counts["tcp.payload_bytes"] == 1500 and c.get("flows") == 1
    snap = c.snapshot()
    assert snap["counts"] == {"flows": 1, "packets": 3, "pairs.matched": 2, "tcp.payload_bytes": 1500}
    assert snap["dropped"] == {"response_timeout": 1} and c.drops() == {"response_timeout": 1}
    c.hot.packets += 1  # a read after more counting sees the new value
    assert c.snapshot()["counts"]["packets"] == 4  # type: ignore[index]


def test_a_workers_snapshot_adds_to_the_hot_fields() -> None:
    worker = Counters()
    worker.hot.requests += 5
    worker.hot.emitted += 4
    worker.drop("ambiguous_after_loss", 2)
    total = Counters()
    total.hot.requests += 1
    total.add_snapshot(worker.snapshot())
    total.add_snapshot(worker.snapshot())
    assert total.hot.requests == 11 and total.hot.emitted == 8
    assert total.snapshot()["counts"] == {"http.requests": 11, "pairs.emitted": 8}
    assert total.dropped("ambiguous_after_loss") == 4
