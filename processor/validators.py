"""Checksums and structural rules that turn a shape into evidence: Luhn, IBAN mod-97, SSN ranges,
card brand prefixes, JWT headers. Pure functions on strings."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import unicodedata
from collections.abc import Callable
from typing import Final

import orjson

# IBAN lengths per country (ISO 13616 registry, the common ones).
IBAN_LENGTHS: Final = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}

_IBAN: Final = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_SSN: Final = re.compile(r"(\d{3})-(\d{2})-(\d{4})")
_SSN_PLAIN: Final = re.compile(r"(\d{3})(\d{2})(\d{4})")
_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_SEP: Final = re.compile(r"[ -]")


# A digit doubled, its two digits summed, as a byte table: ASCII digits stay ASCII digits.
_DOUBLED: Final = bytes.maketrans(b"0123456789", b"0246813579")
_DIGIT_BYTES: Final = b"0123456789"


def luhn_ok(digits: str) -> bool:
    if digits.isascii():
        # at C speed: summing bytes adds small ints without a call per digit (``map(int, ...)`` made
        # one per digit); every second digit from the right doubled by the table, '0' (48) taken off
        b = digits.encode("ascii")
        return (sum(b[-1::-2]) + sum(b[-2::-2].translate(_DOUBLED)) - 48 * len(b)) % 10 == 0
    # Decimal digits of other scripts (Arabic-Indic, Devanagari...) count by their value, as int()
    # reads them; a digit-like character with no decimal value (superscript two) is no card digit.
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = unicodedata.decimal(ch, -1)
        if d < 0:
            return False
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def ascii_letter_count(value: str) -> int:
    """How many characters of an ASCII ``value`` are letters (``str.isalpha``), at C speed."""
    b = value.encode("ascii")
    return len(b) - len(b.translate(None, _ASCII_LETTERS))


_ASCII_LETTERS: Final = bytes(range(65, 91)) + bytes(range(97, 123))


def digit_count(value: str) -> int:
    """How many characters of ``value`` are digits (``str.isdigit``); an ASCII value at C speed (the
    digits deleted from its bytes), not a call per character."""
    if value.isascii():
        b = value.encode("ascii")
        return len(b) - len(b.translate(None, _DIGIT_BYTES))
    return sum(map(str.isdigit, value))


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


_IBAN_LETTERS: Final = str.maketrans({chr(c): str(c - 55) for c in range(ord("A"), ord("Z") + 1)})  # A=10 ... Z=35


def iban_ok(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    # the country's length first: one dict lookup turns down most capitalised text before the regex
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not _IBAN.fullmatch(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.translate(_IBAN_LETTERS)) % 97 == 1


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
    if not value.startswith("eyJ") or not _JWT.fullmatch(value):  # the prefix first: no regex call for most values
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


def base64_text(token: str) -> bool:
    """Is ``token`` base64 of printable text (``bm9jb2xvbg==`` -> ``nocolon``)?"""
    try:
        text = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    return text.isprintable()


_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4: Final = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


_V6_CHARS: Final = b"0123456789abcdefABCDEF:."


def ip_kind(value: str) -> str | None:
    """'v4' or 'v6' for a literal address (not a version string like ``1.2.3``), else None."""
    if len(value) > 45 or len(value) < 3:
        return None
    if value.count(".") == 3:
        # four decimal octets, no leading zeros (what ipaddress accepts), without its exceptions
        return "v4" if _IPV4.fullmatch(value) else None
    if ":" in value and value.count(":") >= 2:
        # ipaddress (Python, a raise when it fails) accepts hex digits, ':' and '.' before a '%zone';
        # a timestamp ("10:00:00Z") or a URL ("https://a:b") has other characters: not an address
        head = value.partition("%")[0]
        if not head.isascii() or head.encode("ascii").translate(None, _V6_CHARS):
            return None
        # without "::" ipaddress wants eight groups: seven colons, or six and an IPv4 tail (a MAC
        # address, aa:bb:cc:dd:ee:ff, has five)
        if "::" not in head and head.count(":") != (6 if "." in head else 7):
            return None
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return None
        return "v6"
    return None


# --- national identifiers and tax numbers: published structures and check digits ------------------
# Each takes the value as sent (formatted or not) and says whether it is one, by its own rule.

_NONDIGIT_SEP: Final = re.compile(r"[\s./-]")


def _strip(value: str) -> str:
    return _NONDIGIT_SEP.sub("", value)


def _ints(s: str) -> list[int]:
    return [ord(c) - 48 for c in s]


def cpf_ok(value: str) -> bool:
    """Brazil's CPF: 11 digits, two mod-11 check digits (``123.456.789-09``)."""
    s = _strip(value)
    if len(s) != 11 or not s.isdigit() or s == s[0] * 11:
        return False
    d = _ints(s)
    for n in (9, 10):
        tot = sum(x * (n + 1 - i) for i, x in enumerate(d[:n]))
        if (0 if tot % 11 < 2 else 11 - tot % 11) != d[n]:
            return False
    return True


_PAN: Final = re.compile(r"[A-Z]{3}[PCHFATBLJG][A-Z]\d{4}[A-Z]")


def pan_in_ok(value: str) -> bool:
    """India's PAN: five letters (the fourth the holder's kind), four digits, a letter."""
    return len(value) == 10 and bool(_PAN.fullmatch(value))


_VD: Final = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
       [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
       [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
       [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_VP: Final = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
       [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
       [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]


def aadhaar_ok(value: str) -> bool:
    """India's Aadhaar: 12 digits, not starting with 0 or 1, Verhoeff check digit."""
    s = _strip(value)
    if len(s) != 12 or not s.isdigit() or s[0] in "01":
        return False
    c = 0
    for i, x in enumerate(reversed(_ints(s))):
        c = _VD[c][_VP[i % 8][x]]
    return c == 0


_DNI_LETTERS: Final = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_es_ok(value: str) -> bool:
    """Spain's DNI/NIF (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter), mod-23 letter."""
    s = _strip(value).upper()
    if len(s) != 9 or not s[-1].isalpha():
        return False
    head = s[:-1]
    if head[0] in "XYZ":
        head = str("XYZ".index(head[0])) + head[1:]
    return head.isdigit() and _DNI_LETTERS[int(head) % 23] == s[-1]


_CF: Final = re.compile(r"[A-Z]{6}\d{2}[A-EHLMPRST]\d{2}[A-Z]\d{3}[A-Z]")
_CF_ODD: Final = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]


def codice_fiscale_ok(value: str) -> bool:
    """Italy's codice fiscale: 16 characters, the last a check letter over the first fifteen."""
    s = value.strip().upper()
    if len(s) != 16 or not _CF.fullmatch(s):
        return False
    tot = 0
    for i, ch in enumerate(s[:15]):
        n = ord(ch) - 48 if ch.isdigit() else ord(ch) - 65
        tot += _CF_ODD[n] if i % 2 == 0 else n
    return chr(65 + tot % 26) == s[15]


def pesel_ok(value: str) -> bool:
    """Poland's PESEL: 11 digits, birth date inside, weighted check digit."""
    s = value.strip()
    if len(s) != 11 or not s.isdigit():
        return False
    d = _ints(s)
    w = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    if (10 - sum(a * b for a, b in zip(d, w, strict=False)) % 10) % 10 != d[10]:
        return False
    month = (d[2] * 10 + d[3]) % 20
    return 1 <= month <= 12 and 1 <= d[4] * 10 + d[5] <= 31


def nip_pl_ok(value: str) -> bool:
    """Poland's NIP (tax number): 10 digits, weighted mod-11 check digit."""
    s = _strip(value)
    if len(s) != 10 or not s.isdigit():
        return False
    d = _ints(s)
    c = sum(a * b for a, b in zip(d, (6, 5, 7, 2, 3, 4, 5, 6, 7), strict=False)) % 11
    return c != 10 and c == d[9]


def bsn_ok(value: str) -> bool:
    """The Netherlands' BSN: 9 digits passing the 11-test (last digit weighted -1)."""
    s = _strip(value)
    if len(s) != 9 or not s.isdigit() or s == "0" * 9:
        return False
    d = _ints(s)
    return (sum(x * (9 - i) for i, x in enumerate(d[:8])) - d[8]) % 11 == 0


def nir_fr_ok(value: str) -> bool:
    """France's NIR (numéro de sécurité sociale): 13 digits + a 2-digit key = 97 - n mod 97."""
    s = _strip(value).upper().replace("2A", "19").replace("2B", "18")
    if len(s) != 15 or not s.isdigit() or s[0] not in "12378":
        return False
    return 97 - int(s[:13]) % 97 == int(s[13:])


def steuer_id_de_ok(value: str) -> bool:
    """Germany's Steuer-ID: 11 digits, first not 0, ISO 7064 MOD 11,10 check digit."""
    s = _strip(value)
    if len(s) != 11 or not s.isdigit() or s[0] == "0":
        return False
    p = 10
    for x in _ints(s[:10]):
        t = (x + p) % 10 or 10
        p = (2 * t) % 11
    return (11 - p) % 10 == int(s[10])


def ahv_ch_ok(value: str) -> bool:
    """Switzerland's AHV/AVS number: 756 + 9 digits + an EAN-13 check digit."""
    s = _strip(value)
    if len(s) != 13 or not s.startswith("756") or not s.isdigit():
        return False
    d = _ints(s)
    tot = sum(x * (3 if i % 2 else 1) for i, x in enumerate(d[:12]))
    return (10 - tot % 10) % 10 == d[12]


def sin_ca_ok(value: str) -> bool:
    """Canada's SIN: 9 digits (first not 0 or 8), Luhn."""
    s = _strip(value)
    return len(s) == 9 and s.isdigit() and s[0] not in "08" and luhn_ok(s)


def nn_be_ok(value: str) -> bool:
    """Belgium's national register number: 11 digits, 97 - (first nine mod 97) (2000+ births: '2' prefixed)."""
    s = _strip(value)
    if len(s) != 11 or not s.isdigit():
        return False
    check = int(s[9:])
    return 97 - int(s[:9]) % 97 == check or 97 - int("2" + s[:9]) % 97 == check


def nif_pt_ok(value: str) -> bool:
    """Portugal's NIF: 9 digits, mod-11 check digit."""
    s = _strip(value)
    if len(s) != 9 or not s.isdigit() or s[0] not in "1235689":
        return False
    tot = sum(x * (9 - i) for i, x in enumerate(_ints(s[:8]))) % 11
    return (0 if tot < 2 else 11 - tot) == int(s[8])


def tfn_au_ok(value: str) -> bool:
    """Australia's TFN: 9 digits, weighted sum divisible by 11."""
    s = _strip(value)
    if len(s) != 9 or not s.isdigit():
        return False
    return sum(a * b for a, b in zip(_ints(s), (1, 4, 3, 7, 5, 8, 6, 9, 10), strict=False)) % 11 == 0


_NINO: Final = re.compile(r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]")


def nino_gb_ok(value: str) -> bool:
    """The UK's National Insurance number: two letters (published exclusions), six digits, A-D."""
    s = value.replace(" ", "").upper()
    return len(s) == 9 and bool(_NINO.fullmatch(s))


_CURP: Final = re.compile(r"[A-Z][AEIOUX][A-Z]{2}\d{6}[HM][A-Z]{5}[0-9A-Z]\d")
_CURP_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"


def curp_mx_ok(value: str) -> bool:
    """Mexico's CURP: 18 characters, check digit over the first seventeen."""
    s = value.strip().upper()
    if len(s) != 18 or not _CURP.fullmatch(s):
        return False
    tot = sum(_CURP_ALPHABET.index(ch) * (18 - i) for i, ch in enumerate(s[:17]))
    return (10 - tot % 10) % 10 == int(s[17])


_RFC: Final = re.compile(r"[A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3}")


def rfc_mx_ok(value: str) -> bool:
    """Mexico's RFC (tax id): 3-4 letters, a date, a 3-character homoclave (structure only)."""
    s = value.strip().upper()
    return len(s) in (12, 13) and bool(_RFC.fullmatch(s)) and 1 <= int(s[-7:-5]) <= 12


def naf_es_ok(value: str) -> bool:
    """Spain's social security affiliation number (pensions): 12 digits, last two = first ten mod 97."""
    s = _strip(value)
    return len(s) == 12 and s.isdigit() and int(s[:10]) % 97 == int(s[10:])


_RVNR: Final = re.compile(r"\d{2}(\d{2})(\d{2})\d{2}[A-Z]\d{3}")


def rvnr_de_ok(value: str) -> bool:
    """Germany's Rentenversicherungsnummer: area, birth date, initial, serial, check digit."""
    s = value.replace(" ", "").upper()
    m = _RVNR.fullmatch(s) if len(s) == 12 else None
    if not m or not (1 <= int(m.group(1)) <= 31 and 1 <= int(m.group(2)) <= 12):
        return False
    digs = _ints(s[:8]) + _ints(f"{ord(s[8]) - 64:02d}") + _ints(s[9:11])
    w = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)
    return sum(sum(divmod(a * b, 10)) for a, b in zip(digs, w, strict=False)) % 10 == int(s[11])


def sv_at_ok(value: str) -> bool:
    """Austria's social insurance number: 3-digit serial, check digit, birth date DDMMYY; weighted mod 11."""
    s = _strip(value)
    if len(s) != 10 or not s.isdigit() or s[0] == "0":
        return False
    d = _ints(s)
    tot = sum(a * b for a, b in zip(d[:3] + d[4:], (3, 7, 9, 5, 8, 4, 2, 1, 6), strict=False)) % 11
    return tot == d[3] and 1 <= d[4] * 10 + d[5] <= 31


# (type, validator): value-proven identifiers. Strong ones carry enough structure (letters in fixed
# places, or a formatted shape with a check digit) to be believed without a key; the rest need a key
# or a sibling that names an identifier.
STRONG_IDS: Final[list[tuple[str, Callable[[str], bool]]]] = [
    ("national_id", codice_fiscale_ok), ("national_id", curp_mx_ok), ("national_id", ahv_ch_ok),
    ("national_id", nino_gb_ok), ("national_id", dni_es_ok), ("tax_id", pan_in_ok), ("tax_id", rfc_mx_ok),
]
# Digits-only identifiers need a key (or a sibling) naming an identifier. Those whose check passes
# about one random number in a hundred (two check digits, or a check plus a date inside) say which
# family they are even against the key's word; the one-in-ten checksums do not.
CHECKED_IDS: Final[list[tuple[str, Callable[[str], bool]]]] = [
    ("tax_id", cpf_ok), ("national_id", pesel_ok), ("national_id", nir_fr_ok), ("national_id", nn_be_ok),
]
WEAK_IDS: Final[list[tuple[str, Callable[[str], bool]]]] = [
    ("tax_id", nip_pl_ok), ("national_id", bsn_ok), ("tax_id", steuer_id_de_ok), ("national_id", sin_ca_ok),
    ("tax_id", nif_pt_ok), ("tax_id", tfn_au_ok), ("national_id", aadhaar_ok), ("national_id", sv_at_ok),
]


# How many characters each validator's identifier has once separators (space . / -) are taken out: a
# validator cannot pass on another length, so national_type only runs those of the value's length.
_LENGTHS: Final[dict[Callable[[str], bool], tuple[int, ...]]] = {
    codice_fiscale_ok: (16,), curp_mx_ok: (18,), ahv_ch_ok: (13,), nino_gb_ok: (9,), dni_es_ok: (9,), pan_in_ok: (10,),
    rfc_mx_ok: (12, 13), cpf_ok: (11,), pesel_ok: (11,), nir_fr_ok: (15,), nn_be_ok: (11,), nip_pl_ok: (10,), bsn_ok: (9,),
    steuer_id_de_ok: (11,), sin_ca_ok: (9,), nif_pt_ok: (9,), tfn_au_ok: (9,), aadhaar_ok: (12,), sv_at_ok: (10,),
}
_Family = list[tuple[str, Callable[[str], bool]]]
_BY_LENGTH: Final[dict[int, tuple[_Family, _Family, _Family]]] = {
    n: tuple([(t, ok) for t, ok in fam if n in _LENGTHS[ok]] for fam in (STRONG_IDS, CHECKED_IDS, WEAK_IDS))  # type: ignore[misc]
    for n in {n for ns in _LENGTHS.values() for n in ns}
}


def formatted_cpf(value: str) -> bool:
    """``123.456.789-09``: the CPF's own punctuation, enough to believe it without a key."""
    return len(value) == 14 and value[3] == "." and value[7] == "." and value[11] == "-" and cpf_ok(value)


def national_type(value: str, prefer: str | None = None) -> str | None:
    """Which identifier family (national_id / tax_id) a value validates as. ``prefer`` is the family
    the key names: it wins ties, and it wins over a digits-only checksum (one number in ten passes
    each of those), but not over a structured or doubly checked one (a NINO under a "tax" key is a NINO)."""
    n = len(_strip(value))
    if n not in _BY_LENGTH:  # no family has this many characters: nothing to check
        return None
    strong_ids, checked_ids, weak_ids = _BY_LENGTH[n]
    strong = {t for t, ok in strong_ids if ok(value)} or {t for t, ok in checked_ids if ok(value)}
    if strong:
        return prefer if prefer in strong else ("national_id" if "national_id" in strong else "tax_id")
    weak = {t for t, ok in weak_ids if ok(value)}
    if not weak:
        return None
    if prefer:
        return prefer
    return "national_id" if "national_id" in weak else "tax_id"
