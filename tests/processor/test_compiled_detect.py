"""The detection path in the compiled build (interceptor/compiled.py lists the processor's hot
modules): when a build for these sources exists the suite runs on it, and a pure-Python run gives
byte-identical detection records and counters on the co-written corpus and held-out pairs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import processor.detectors
from interceptor import compiled

REPO = Path(__file__).resolve().parents[2]
needs_build = pytest.mark.skipif(compiled.find_build(compiled.build_key()) is None,
                                 reason="no compiled build for these sources (scripts/build_compiled.py)")

# Every pair (one JSON line each) twice through one processor (values first seen, then repeated): a
# digest of the records, the counters, and whether the detectors ran compiled.
PROBE = """
import hashlib, sys
import orjson
from interceptor import compiled
import processor.detectors
from processor.core import Processor

raws = open(sys.argv[1], "rb").read().splitlines()
proc, digest = Processor(), hashlib.sha256()
for _ in range(2):
    for raw in raws:
        digest.update(proc.handle(raw).value)
print(compiled.is_compiled(processor.detectors), len(raws), digest.hexdigest())
print(orjson.dumps(proc.counters.snapshot(), option=orjson.OPT_SORT_KEYS).decode())
"""


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The co-written corpus and 300 held-out payloads as pair records, made once (the generator
    draws from Faker: both runs must read the same bytes)."""
    from bench.detect import corpus_samples
    from bench.heldout.generate import build

    path = tmp_path_factory.mktemp("compiled") / "pairs.jsonl"
    path.write_bytes(b"\n".join([s.raw for s in corpus_samples()] + [s.raw for s in build("untouched", 300)]))
    return path


def _run(pure: bool, pairs: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PRIVACY_SENSOR_PURE"}
    if pure:
        env["PRIVACY_SENSOR_PURE"] = "1"
    env["PYTHONHASHSEED"] = "0"  # the sets behind a record's order are the same in both runs
    res = subprocess.run([sys.executable, "-c", PROBE, str(pairs)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.splitlines()


@needs_build
def test_the_detectors_run_compiled() -> None:
    assert compiled.is_compiled(processor.detectors), compiled.STATUS


@needs_build
def test_pure_and_compiled_detect_the_same(pairs: Path) -> None:
    got, want = _run(False, pairs), _run(True, pairs)
    assert got[0].startswith("True ") and want[0].startswith("False ")
    assert int(got[0].split()[1]) > 600
    assert got[0].split()[1:] == want[0].split()[1:]  # same pairs, same records byte for byte
    assert got[1] == want[1]
