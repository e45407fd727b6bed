"""Checksums and structural rules that turn a shape into evidence: Luhn, IBAN mod-97, SSN ranges,
card brand prefixes, JWT headers. Pure functions on strings."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re

import orjson

# IBAN lengths per country (ISO 13616 registry, the common ones).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}

_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_SSN = re.compile(r"(\d{3})-(\d{2})-(\d{4})")
_SSN_PLAIN = re.compile(r"(\d{3})(\d{2})(\d{4})")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_SEP = re.compile(r"[ -]")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The card scheme whose prefix and length match, or None (IIN ranges as published by the schemes)."""
    n = len(digits)
    p2, p4 = int(digits[:2]), int(digits[:4])
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (digits.startswith("6011") or digits.startswith("65") or 644 <= int(digits[:3]) <= 649) and n in (16, 19):
        return "discover"
    if 3528 <= p4 <= 3589 and n in (16, 19):
        return "jcb"
    if (p2 in (36, 38, 39) or 300 <= int(digits[:3]) <= 305) and n == 14:
        return "diners"
    if digits.startswith("62") and 16 <= n <= 19:
        return "unionpay"
    if (digits.startswith("50") or 56 <= p2 <= 69) and 12 <= n <= 19:
        return "maestro"
    return None


def card_digits(value: str) -> str | None:
    """Digits of a plausibly formatted card number (plain, or groups split by one space or dash)."""
    if len(value) < 12 or len(value) > 23:
        return None
    digits = _SEP.sub("", value)
    if not digits.isdigit() or not 12 <= len(digits) <= 19:
        return None
    if digits != value:  # separators must split into groups of 4 (or 4-6-5 for Amex)
        groups = [len(g) for g in _SEP.split(value)]
        if groups not in ([4, 4, 4, 4], [4, 6, 5], [4, 6, 4], [4, 4, 4, 4, 3], [4, 4, 4, 1], [4, 4, 4, 2], [4, 4, 4, 3]):
            return None
    return digits


def is_card_number(value: str) -> bool:
    digits = card_digits(value)
    return digits is not None and card_brand(digits) is not None and luhn_ok(digits)


def is_formatted_card(value: str) -> bool:
    return not value.isdigit()


def iban_ok(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    if not _IBAN.fullmatch(compact):
        return False
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


def ssn_ok(value: str, formatted_only: bool = True) -> bool:
    """US SSN rules: area not 000, 666 or 900-999; group not 00; serial not 0000."""
    m = _SSN.fullmatch(value) or (None if formatted_only else _SSN_PLAIN.fullmatch(value))
    if not m:
        return False
    area, group, serial = m.groups()
    if area == "000" or area == "666" or area[0] == "9" or group == "00" or serial == "0000":
        return False
    # advertising numbers and well-known invalid examples
    return value.replace("-", "") not in ("123456789", "078051120", "219099999")


def jwt_ok(value: str) -> bool:
    """Three base64url parts whose header decodes to a JSON object with ``alg``."""
    if not _JWT.fullmatch(value):
        return False
    head = value.split(".", 1)[0]
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


def basic_auth_ok(token: str) -> bool:
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return ":" in decoded


def ip_kind(value: str) -> str | None:
    """'v4' or 'v6' for a literal address (not a version string like ``1.2.3``), else None."""
    if len(value) > 45 or len(value) < 3:
        return None
    if value.count(".") == 3 and value.replace(".", "").isdigit():
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return None
        return "v4"
    if ":" in value and value.count(":") >= 2:
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return None
        return "v6"
    return None
