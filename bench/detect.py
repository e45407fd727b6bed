"""Precision, recall and F0.5 of the detectors, per type and overall, on three corpora; and speed.

    python bench/detect.py                  # all three corpora, Presidio if installed, leaves/s
    python bench/detect.py --errors dev     # also list the dev split's errors (paths only, no values)
    python bench/detect.py --no-presidio --n 1000
    python bench/detect.py --no-presidio --instructions   # also instructions per leaf (valgrind)

Everything goes through ``processor.core.Processor.handle`` (what ``processor detect`` runs): pair
record bytes in, the detections message out. The corpora:

- ``corpus``: processor/corpus, written together with the detectors (an optimistic figure);
- ``dev``: the held-out generator's dev split (bench/heldout), which the detectors were tuned on;
- ``untouched``: its other split (other seed, locales, field names, document words), never tuned on.

The unit is one (location, key path, type) of a pair. F-beta with beta = 0.5 weighs precision more,
as Soveren scores its detectors. Presidio's pattern recognizers (no NLP model here) run on each
leaf's value alone, scored on the types they cover.

Speed is CPU time, which on a shared machine moves with its load; ``--instructions`` also counts
the instructions of ``handle()`` per leaf under valgrind's callgrind (every 8th pair of the three
corpora, key paths known: values first seen, then repeated), which do not. The figures say whether
the compiled build ran (interceptor/compiled.py; ``PRIVACY_SENSOR_PURE=1`` for pure Python).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.heldout.generate import Sample, build  # noqa: E402
from bench.heldout.score import CANON, Tally, min_type_f, report  # noqa: E402
from interceptor import compiled  # noqa: E402
from processor.core import Processor  # noqa: E402
from processor.corpus.generate import load  # noqa: E402
from processor.walk import Bounds, Walker, WalkResult  # noqa: E402

Canon = Callable[[str], "str | None"]


def corpus_samples() -> list[Sample]:
    """processor/corpus rows as pair records (the body as a request body), labels as truth."""
    out = []
    for i, row in enumerate(load()):
        ctype = "application/json" if row["kind"] == "json" else "application/x-www-form-urlencoded"
        body = row["body"]
        rec = {"schema_version": 1, "id": f"corpus-{i}", "ts_request": 1.7e9, "ts_response": 1.7e9,
               "src": {"ip": "10.0.0.1", "port": 40000}, "dst": {"ip": "10.0.0.2", "port": 80},
               "request": {"method": "POST", "target": "/", "version": "HTTP/1.1", "headers": [["Content-Type", ctype]],
                           "body": body, "body_encoding": "utf-8", "body_size": len(body.encode()), "truncated": False},
               "response": {"status": 200, "reason": "OK", "version": "HTTP/1.1", "headers": [], "body": "",
                            "body_encoding": "utf-8", "body_size": 0, "truncated": False},
               "source": {"kind": "pcap-file"}}
        s = Sample(orjson.dumps(rec), {("request.body", p, t) for p, t in row["labels"].items()})
        out.append(s)
    return out


def count_leaves(samples: list[Sample]) -> int:
    walker, n = Walker(Bounds()), 0
    for s in samples:
        rec = orjson.loads(s.raw)
        res = WalkResult()
        walker.walk_message(rec["request"], "request", res)
        walker.walk_message(rec["response"], "response", res)
        n += len(res.leaves)
    return n


class Speed:
    """CPU seconds of three passes over one corpus: everything new (key paths and values), values new
    but key paths analysed before (a fresh processor: its memo of answers is empty, the per-path
    analysis is shared), and a repeat of the same pairs (every answer remembered). A plain class: the
    tests load this file without registering it as a module, which a dataclass needs."""

    def __init__(self) -> None:
        self.cold = self.fresh_values = self.repeat = 0.0

    def add(self, other: Speed) -> None:
        self.cold, self.fresh_values, self.repeat = self.cold + other.cold, self.fresh_values + other.fresh_values, self.repeat + other.repeat


def _rate(leaves: int, seconds: float) -> str:
    return f"{leaves / seconds:,.0f} leaves/s ({seconds / leaves * 1e6:.1f} us/leaf)"


def _timed(proc: Processor, samples: list[Sample]) -> float:
    t0 = time.process_time()
    for s in samples:
        proc.handle(s.raw)
    return time.process_time() - t0


def ours(samples: list[Sample], canon: Canon, keep_errors: bool = False, repeat: bool = False) -> tuple[Tally, Speed]:
    """Score a fresh processor (nothing remembered) on ``samples``; with ``repeat``, also time a fresh
    processor on the same pairs (values first seen, key paths known: a long-running processor meeting
    new values) and a second pass of it (the steady state of an API's repeat traffic)."""
    proc = Processor()
    tally = Tally()
    speed = Speed()
    t0 = time.process_time()
    outs = [proc.handle(s.raw).record for s in samples]
    speed.cold = time.process_time() - t0
    if repeat:
        fresh = Processor()
        speed.fresh_values = _timed(fresh, samples)
        speed.repeat = _timed(fresh, samples)
    for s, rec in zip(samples, outs, strict=True):
        pred = set()
        for d in rec["detections"]:
            c = canon(d["type"])
            if c:
                pred.add((f"{d['part']}.{d['where']}", d["path"], c))
        tally.add(pred, s.truth, s.ignore, keep_errors)
    return tally, speed


def instructions(raws: list[bytes], leaves: int) -> tuple[float, float]:
    """Instructions per leaf of ``handle()``, values first seen and repeated: this script under
    callgrind (``--instructions-child``), each part between two ``os.getppid()`` calls dumped apart."""
    with tempfile.TemporaryDirectory(prefix="detect-cg-") as tmp:
        pairs, out = Path(tmp) / "pairs.jsonl", Path(tmp) / "cg"
        pairs.write_bytes(b"\n".join(raws))
        subprocess.run(["valgrind", "--tool=callgrind", "--dump-before=getppid", f"--callgrind-out-file={out}",
                        sys.executable, __file__, "--instructions-child", str(pairs)],
                       env=dict(os.environ, PYTHONHASHSEED="0"), capture_output=True, timeout=3600, check=True)
        fresh, repeat = (_callgrind_total(Path(f"{out}.{part}")) for part in (2, 3))
    return fresh / leaves, repeat / leaves


def _callgrind_total(path: Path) -> int:
    m = re.search(r"^(?:summary|totals): (\d+)", path.read_text(), re.M)
    if not m:
        raise RuntimeError(f"no instruction total in {path}")
    return int(m.group(1))


def _instructions_child(pairs: str) -> None:
    """Under callgrind: warm the key paths, then a fresh processor twice over the same pairs."""
    raws = Path(pairs).read_bytes().splitlines()
    warm = Processor()
    for raw in raws:
        warm.handle(raw)
    os.getppid()  # the markers: callgrind dumps its counts before each call
    proc = Processor()
    for raw in raws:
        proc.handle(raw)
    os.getppid()
    for raw in raws:
        proc.handle(raw)
    os.getppid()


PRESIDIO_MAP = {
    "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "card_number", "IBAN_CODE": "iban", "US_SSN": "ssn",
    "IP_ADDRESS": "ip_address", "MAC_ADDRESS": "mac_address", "US_PASSPORT": "passport", "US_DRIVER_LICENSE": "driver_license",
    "US_ITIN": "tax_id",
}


def presidio() -> Callable[[str], set[str]] | None:
    """Presidio's predefined pattern recognizers on a value: the types found; None when absent."""
    try:
        os.environ.setdefault("TLDEXTRACT_CACHE", "/tmp/tldextract-cache")
        import tldextract
        from presidio_analyzer import predefined_recognizers as pr
        from presidio_analyzer.predefined_recognizers.generic import email_recognizer
    except ImportError:
        return None
    # tldextract would fetch the public suffix list from the internet; use its bundled snapshot.
    email_recognizer.tldextract = type("T", (), {"extract": staticmethod(tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None))})
    recognizers = [pr.EmailRecognizer(), pr.PhoneRecognizer(), pr.CreditCardRecognizer(), pr.IbanRecognizer(), pr.UsSsnRecognizer(),
                   pr.IpRecognizer(), pr.MacAddressRecognizer(), pr.UsPassportRecognizer(), pr.UsLicenseRecognizer(), pr.UsItinRecognizer()]

    def predict(value: str) -> set[str]:
        found = set()
        for rec in recognizers:
            for res in rec.analyze(value, rec.supported_entities, None) or []:
                if res.score >= 0.3 and res.entity_type in PRESIDIO_MAP:
                    found.add(PRESIDIO_MAP[res.entity_type])
        return found

    return predict


def theirs(samples: list[Sample], predict: Callable[[str], set[str]], canon: Canon, covered: set[str]) -> Tally:
    walker, tally = Walker(Bounds()), Tally()
    for s in samples:
        rec = orjson.loads(s.raw)
        res = WalkResult()
        walker.walk_message(rec["request"], "request", res)
        walker.walk_message(rec["response"], "response", res)
        pred = {(leaf.location, leaf.path, c) for leaf in res.leaves for t in predict(leaf.value) if (c := canon(t)) in covered}
        tally.add(pred, {x for x in s.truth if x[2] in covered}, s.ignore)
    return tally


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--errors", choices=["corpus", "dev", "untouched"], help="list that corpus's errors (location, path, type; no values)")
    ap.add_argument("--no-presidio", action="store_true")
    ap.add_argument("--only", choices=["corpus", "dev", "untouched"], action="append",
                    help="score only these corpora (tuning runs use corpus and dev, never untouched)")
    ap.add_argument("--n", type=int, default=3000, help="payloads per held-out split (default 3000)")
    ap.add_argument("--instructions", action="store_true", help="also instructions per leaf (valgrind's callgrind, minutes)")
    ap.add_argument("--instructions-child", help=argparse.SUPPRESS)  # the run under valgrind
    args = ap.parse_args()
    if args.instructions_child:
        _instructions_child(args.instructions_child)
        return 0

    def identity(t: str) -> str | None:
        return t

    builders: list[tuple[str, Callable[[], list[Sample]], Canon]] = [
        ("corpus", corpus_samples, identity),
        ("dev", lambda: build("dev", args.n), lambda t: CANON.get(t, None)),
        ("untouched", lambda: build("untouched", args.n), lambda t: CANON.get(t, None)),
    ]
    corpora = [(name, make(), canon) for name, make, canon in builders if not args.only or name in args.only]
    pres = None if args.no_presidio else presidio()
    results = {}
    total_leaves, total = 0, Speed()
    for name, samples, canon in corpora:
        n_leaves = count_leaves(samples)
        print(f"\n=== {name}: {len(samples)} pairs, {n_leaves} leaves, {sum(len(s.truth) for s in samples)} labelled slots")
        tally, speed = ours(samples, canon, keep_errors=args.errors == name, repeat=True)
        total_leaves += n_leaves
        total.add(speed)
        f = report(f"ours, {name}", tally)
        worst = min_type_f(tally)
        results[name] = (f, worst)
        print(f"  handle(): {_rate(n_leaves, speed.cold)} all new, {_rate(n_leaves, speed.fresh_values)} values first seen "
              f"(paths known), {_rate(n_leaves, speed.repeat)} repeated (CPU time of this process)")
        if args.errors == name:
            for kind, (loc, path, ty) in sorted(tally.errors, key=lambda e: (e[1][2], e[0], e[1][1])):
                print(f"  {kind} {ty:14} {loc:14} {path}")
        if pres is not None:
            covered = {c for t in PRESIDIO_MAP.values() if (c := canon(t))}
            print(f"\nPresidio pattern recognizers, value only, on the types they cover ({', '.join(sorted(covered))}):")
            report(f"presidio, {name}", theirs(samples, pres, canon, covered))
            ours_cov, _ = ours([Sample(s.raw, {x for x in s.truth if x[2] in covered}, s.ignore) for s in samples],
                               lambda t, c=canon, cov=covered: c(t) if c(t) in cov else None)
            report(f"ours, {name}, same types", ours_cov, per_type=False)
    if args.no_presidio:
        print("\npresidio: skipped (--no-presidio)")
    elif pres is None:
        print("\npresidio-analyzer: not installed (scripts/setup.d/processor.sh installs it); skipped")
    print(f"\nspeed: handle() {_rate(total_leaves, total.cold)} all new (key paths and values), "
          f"{_rate(total_leaves, total.fresh_values)} values first seen (key paths known), "
          f"{_rate(total_leaves, total.repeat)} on a repeat of the same pairs, over {total_leaves} leaves; one process, "
          f"CPU time (on a shared or loaded machine the figures drop: say which when quoting them); {compiled.STATUS}")
    if args.instructions:
        subset = [s for _, samples, _ in corpora for s in samples][::8]
        fresh, repeat = instructions([s.raw for s in subset], count_leaves(subset))
        print(f"instructions: handle() {fresh:,.0f} per leaf values first seen (key paths known), {repeat:,.0f} repeated, "
              f"over every 8th pair ({count_leaves(subset)} leaves; valgrind callgrind, whatever the load)")
    if "untouched" not in results:
        return 0
    f, (wt, wf) = results["untouched"]
    met = f >= 0.95 and wf >= 0.90
    print(f"target on untouched: F0.5 >= 0.95 overall ({f:.3f}) and >= 0.90 per type (worst {wt} {wf:.3f}): "
          f"{'MET' if met else 'NOT MET'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
