"""The catalogue of personal-data types we report, their sensitivity, and how combinations escalate.

Names and levels follow Soveren's public data model: each type alone has a sensitivity; a record
that joins identity and contact data is more sensitive than its parts (name + phone + email is
medium; adding gender or birth date makes it high).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

LEVELS: Final = ("low", "medium", "high")
RANK: Final = {name: i for i, name in enumerate(LEVELS)}

# type -> (sensitivity, category, human label)
TYPES: Final[dict[str, tuple[str, str, str]]] = {
    "email": ("low", "contact", "Email"),
    "phone": ("low", "contact", "Phone"),
    "person_name": ("low", "identity", "Person name"),
    "username": ("low", "identity", "Username"),
    "gender": ("low", "identity", "Gender"),
    "ip_address": ("low", "network", "IP address"),
    "mac_address": ("low", "network", "MAC address"),
    "address": ("medium", "location", "Address / location"),
    "birth_date": ("medium", "identity", "Birth date"),
    "masked_card": ("medium", "financial", "Masked card number"),
    "card_expiry": ("medium", "financial", "Card expiry"),
    "card_number": ("high", "financial", "Card number"),
    "card_cvv": ("high", "financial", "Card CVV"),
    "iban": ("high", "financial", "IBAN"),
    "ssn": ("high", "government", "US SSN"),
    "national_id": ("high", "government", "National ID number"),  # non-US: DNI, PESEL, BSN, codice fiscale, NIR...
    "pension_number": ("high", "government", "Pension number"),  # Soveren's data model lists it
    "passport": ("high", "government", "Passport number"),
    "driver_license": ("high", "government", "Driver licence"),
    "tax_id": ("high", "government", "Tax ID"),
    "jwt": ("high", "secret", "JWT"),
    "auth_bearer": ("high", "secret", "Bearer token"),
    "auth_basic": ("high", "secret", "Basic auth credentials"),
    "api_key": ("high", "secret", "API key"),
    "private_key": ("high", "secret", "Private key"),
    "password": ("high", "secret", "Password"),
}

# (types that must all be present, at least this sensitivity) -- Soveren's escalation for combinations.
_CONTACT: Final = {"email", "phone", "address"}
ESCALATIONS: Final[list[tuple[str, frozenset[str] | None, int, str]]] = [
    # (description, required types, how many of _CONTACT at least, resulting level)
    ("name + two contact types", frozenset({"person_name"}), 2, "medium"),
    ("name + contact + gender", frozenset({"person_name", "gender"}), 1, "high"),
    ("name + contact + birth date", frozenset({"person_name", "birth_date"}), 1, "high"),
    ("card number + expiry or CVV", frozenset({"card_number"}), 0, "high"),
]


def sensitivity_of(dtype: str, custom: dict[str, str] | None = None) -> str:
    """The level of one type; custom types carry their own (default medium)."""
    if dtype in TYPES:
        return TYPES[dtype][0]
    return (custom or {}).get(dtype, "medium")


def max_level(levels: Iterable[str]) -> str:
    best = -1
    for lv in levels:
        best = max(best, RANK.get(lv, 1))
    return LEVELS[best] if best >= 0 else "none"


def combined_sensitivity(types: Iterable[str], custom: dict[str, str] | None = None) -> str:
    """The highest single level, escalated when the set matches a combination rule."""
    present = set(types)
    if not present:
        return "none"
    best = -1
    for t in present:  # max_level of the types' levels, without a generator per call
        rank = RANK.get(sensitivity_of(t, custom), 1)
        if rank > best:
            best = rank
    contacts = 0
    for c in _CONTACT:
        if c in present:
            contacts += 1
    for _, required, min_contacts, result in ESCALATIONS:
        if contacts >= min_contacts and required is not None and required <= present:
            best = max(best, RANK[result])
    return LEVELS[best]
