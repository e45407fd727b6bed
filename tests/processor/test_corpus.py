"""The corpus is reproducible, sizeable, has near-misses, and the detectors meet the F0.5 target on it."""

import importlib.util
from pathlib import Path

from processor.corpus.generate import OUT, build, load

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_detect", ROOT / "bench" / "detect.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_corpus_file_is_current_and_large() -> None:
    import json
    rows = build()
    assert [json.loads(json.dumps(r, ensure_ascii=False, sort_keys=True)) for r in rows] == load(OUT), \
        "processor/corpus/corpus.jsonl is stale: run python -m processor.corpus.generate"
    bench = _bench()
    data = bench.leaves(rows)
    assert len(data) > 10_000
    assert sum(1 for *_, g in data if g) > 3_000 and sum(1 for *_, g in data if not g) > 5_000


def test_f05_target_and_beats_value_only_baseline() -> None:
    from processor.detectors import Classifier
    bench = _bench()
    data = bench.leaves(load())
    clf = Classifier()
    tp, fp, fn, _ = bench.score(data, lambda p, v: (clf.classify(p, v) or [None])[0])
    ours = bench.prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))[2]
    btp, bfp, bfn, _ = bench.score(data, bench.baseline)
    base = bench.prf(sum(btp.values()), sum(bfp.values()), sum(bfn.values()))[2]
    assert ours >= 0.95
    assert ours > base + 0.3
