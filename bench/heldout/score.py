"""Scoring detections against ground truth: per type precision, recall and F0.5.

The unit is one (location, key path, type) of one pair, as the processor reports detections (all
the elements of an array share a path). A type predicted at a slot the truth marks as ambiguous for
that type (a city for ``address``, a private IP address) counts neither way. Types the held-out
generator does not model (card expiry, CVV, masked card, driver licence, custom types) are not scored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

BETA = 0.5

# processor type -> held-out class (None: not scored on the held-out corpus)
CANON: dict[str, str | None] = {
    "email": "email", "phone": "phone", "person_name": "person_name", "username": "username", "gender": "gender",
    "ip_address": "ip", "mac_address": "mac", "address": "address", "birth_date": "birth_date",
    "card_number": "card", "iban": "iban", "ssn": "national_id", "national_id": "national_id", "passport": "passport",
    "tax_id": "tax_id", "pension_number": "pension", "password": "password", "private_key": "private_key",
    # a credential is a credential whichever of its forms the detector names
    "jwt": "credential", "auth_bearer": "credential", "auth_basic": "credential", "api_key": "credential",
    "masked_card": None, "card_expiry": None, "card_cvv": None, "driver_license": None,
}

Slot = tuple[str, str, str]  # (location, path, type)


@dataclass
class Tally:
    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    errors: list[tuple[str, Slot]] = field(default_factory=list)  # ("fp"|"fn", slot)

    def add(self, pred: Iterable[Slot], truth: set[Slot], ignore: set[Slot] = frozenset(), keep_errors: bool = False) -> None:  # type: ignore[assignment]
        p = {s for s in pred if s in truth or s not in ignore}
        for s in p & truth:
            self.tp[s[2]] += 1
        for s in p - truth:
            self.fp[s[2]] += 1
            if keep_errors:
                self.errors.append(("fp", s))
        for s in truth - p:
            self.fn[s[2]] += 1
            if keep_errors:
                self.errors.append(("fn", s))


def f_beta(p: float, r: float) -> float:
    b2 = BETA * BETA
    return (1 + b2) * p * r / (b2 * p + r) if p + r else 0.0


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, f_beta(p, r)


def overall(t: Tally) -> tuple[float, float, float]:
    return prf(sum(t.tp.values()), sum(t.fp.values()), sum(t.fn.values()))


def report(name: str, t: Tally, per_type: bool = True, out: Callable[[str], None] = print) -> float:
    if per_type:
        out(f"\n{name}\n{'type':16} {'n':>5} {'tp':>5} {'fp':>4} {'fn':>4} {'prec':>6} {'recall':>6} {'F0.5':>6}")
        for ty in sorted(set(t.tp) | set(t.fp) | set(t.fn)):
            p, r, f = prf(t.tp[ty], t.fp[ty], t.fn[ty])
            out(f"{ty:16} {t.tp[ty] + t.fn[ty]:5d} {t.tp[ty]:5d} {t.fp[ty]:4d} {t.fn[ty]:4d} {p:6.3f} {r:6.3f} {f:6.3f}")
    p, r, f = overall(t)
    out(f"{'OVERALL ' + name:48} precision {p:.3f}  recall {r:.3f}  F0.5 {f:.3f}")
    return f


def min_type_f(t: Tally) -> tuple[str, float]:
    worst = ("-", 1.0)
    for ty in set(t.tp) | set(t.fn):
        f = prf(t.tp[ty], t.fp[ty], t.fn[ty])[2]
        if f < worst[1]:
            worst = (ty, f)
    return worst
