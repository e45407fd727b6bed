"""Precision, recall and F0.5 of the detectors on the labeled corpus, per type and overall.

    python bench/detect.py            # ours, the value-only baseline, and Presidio if installed
    python bench/detect.py --errors   # also list misclassified leaves (masked)

Every body leaf of every corpus payload is one decision: the predicted type (or none) against the
label (or none). F-beta with beta = 0.5 weighs precision more, as Soveren scores its detectors.
Presidio's pattern recognizers run on the value alone (no NLP model here), so only the types it
covers are scored for it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from processor.corpus.generate import load  # noqa: E402
from processor.detectors import Classifier  # noqa: E402
from processor.mask import mask  # noqa: E402
from processor.walk import Bounds, Walker, WalkResult  # noqa: E402

BETA = 0.5
Predict = Callable[[str, str], "str | None"]


def leaves(corpus: list[dict]) -> list[tuple[str, str, str | None]]:
    walker = Walker(Bounds())
    out = []
    for row in corpus:
        res = WalkResult()
        if row["kind"] == "json":
            walker.walk_json(row["body"], "request.body", res)
        else:
            walker.walk_form(row["body"], "request.body", res)
        out.extend((leaf.path, leaf.value, row["labels"].get(leaf.path)) for leaf in res.leaves)
    return out


def score(data: list[tuple[str, str, str | None]], predict: Predict, only: set[str] | None = None):
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    errors = []
    for path, value, gold in data:
        if only is not None and gold not in only:
            gold = None
        pred = predict(path, value)
        if only is not None and pred not in only:
            pred = None
        if pred == gold:
            if gold:
                tp[gold] += 1
            continue
        if pred:
            fp[pred] += 1
        if gold:
            fn[gold] += 1
        errors.append((path, value, gold, pred))
    return tp, fp, fn, errors


def f_beta(p: float, r: float) -> float:
    b2 = BETA * BETA
    return (1 + b2) * p * r / (b2 * p + r) if p + r else 0.0


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, f_beta(p, r)


def report(name: str, tp, fp, fn, per_type: bool) -> float:
    types = sorted(set(tp) | set(fp) | set(fn))
    if per_type:
        print(f"\n{name}\n{'type':16} {'n':>5} {'tp':>5} {'fp':>4} {'fn':>4} {'prec':>6} {'recall':>6} {'F0.5':>6}")
        for t in types:
            p, r, f = prf(tp[t], fp[t], fn[t])
            print(f"{t:16} {tp[t] + fn[t]:5d} {tp[t]:5d} {fp[t]:4d} {fn[t]:4d} {p:6.3f} {r:6.3f} {f:6.3f}")
    p, r, f = prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    print(f"{'OVERALL ' + name:40} precision {p:.3f}  recall {r:.3f}  F0.5 {f:.3f}")
    return f


# --- the weak baseline: value-only regexes, no key, no checksum --------------------------------
_BASE = [
    ("email", re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.I)),
    ("card_number", re.compile(r"(?:\d[ -]?){13,19}")),
    ("ssn", re.compile(r"\d{3}-\d{2}-\d{4}")),
    ("iban", re.compile(r"[A-Z]{2}\d{2}[A-Z0-9 ]{11,30}")),
    ("ip_address", re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")),
    ("mac_address", re.compile(r"(?:[0-9A-F]{2}[:-]){5}[0-9A-F]{2}", re.I)),
    ("jwt", re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")),
    ("phone", re.compile(r"\+?[\d ()-]{7,20}")),
]


def baseline(path: str, value: str) -> str | None:
    for t, rx in _BASE:
        if rx.fullmatch(value.strip()):
            return t
    return None


PRESIDIO_MAP = {
    "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "card_number", "IBAN_CODE": "iban", "US_SSN": "ssn",
    "IP_ADDRESS": "ip_address", "MAC_ADDRESS": "mac_address", "US_PASSPORT": "passport", "US_DRIVER_LICENSE": "driver_license",
    "US_ITIN": "tax_id",
}


def presidio() -> Predict | None:
    """Presidio's predefined pattern recognizers, value only; None when presidio-analyzer is absent."""
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

    def predict(path: str, value: str) -> str | None:
        best, best_score = None, 0.0
        for rec in recognizers:
            for res in rec.analyze(value, rec.supported_entities, None) or []:
                # any span counts (ours also finds an email inside free text); the best-scoring finding wins
                if res.score > best_score and res.score >= 0.3:
                    best, best_score = PRESIDIO_MAP.get(res.entity_type), res.score
        return best

    return predict


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--errors", action="store_true", help="list misclassified leaves (values masked)")
    ap.add_argument("--no-presidio", action="store_true")
    args = ap.parse_args()
    corpus = load()
    data = leaves(corpus)
    n_pos = sum(1 for *_, g in data if g)
    print(f"corpus: {len(corpus)} payloads, {len(data)} leaves, {n_pos} labeled personal, {len(data) - n_pos} near-miss/neutral")
    clf = Classifier()
    t = time.perf_counter()
    tp, fp, fn, errors = score(data, lambda p, v: (clf.classify(p, v) or [None])[0])
    dt = time.perf_counter() - t
    f = report("ours (key + value)", tp, fp, fn, per_type=True)
    print(f"  {len(data) / dt:,.0f} leaves/s")
    if args.errors:
        for path, value, gold, pred in errors:
            print(f"  {path:40} {mask(value, 40):42} gold={gold} pred={pred}")
    report("value-only regex baseline", *score(data, baseline)[:3], per_type=True)
    pres = None if args.no_presidio else presidio()
    if args.no_presidio:
        print("\npresidio: skipped (--no-presidio)")
    elif pres is None:
        print("\npresidio-analyzer: not installed (scripts/setup.d/processor.sh installs it); skipped")
    else:
        covered = set(PRESIDIO_MAP.values())
        print(f"\nPresidio pattern recognizers vs ours, on the types Presidio covers ({', '.join(sorted(covered))}):")
        report("presidio (value only)", *score(data, pres, covered)[:3], per_type=True)
        report("ours, same types", *score(data, lambda p, v: (clf.classify(p, v) or [None])[0], covered)[:3], per_type=False)
    print(f"\ntarget F0.5 >= 0.95 overall: {'MET' if f >= 0.95 else 'NOT MET'} ({f:.3f})")
    return 0 if f >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
