"""Values for the held-out corpus: Faker's locales, plus national identifiers with valid check digits
built here from their published rules (Faker lacks some, and some of its locales fall back to US
shapes). Near-miss makers produce values that look like personal data and are not."""

from __future__ import annotations

import base64
import json
import random
import string
from datetime import date

from faker import Faker

GENDER_WORDS_KEY = {
    "en": ["male", "female", "M", "F", "non-binary", "Male", "Female", "other"],
    "es": ["masculino", "femenino", "hombre", "mujer", "M", "F", "H"],
    "de": ["männlich", "weiblich", "divers", "m", "w"],
    "fr": ["homme", "femme", "masculin", "féminin", "H", "F"],
    "it": ["maschio", "femmina", "uomo", "donna", "M", "F"],
    "pt": ["masculino", "feminino", "M", "F"],
    "nl": ["man", "vrouw", "M", "V"],
    "pl": ["mężczyzna", "kobieta", "M", "K"],
}

DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y-%m-%dT00:00:00Z", "%Y/%m/%d"]
US_DATE_FORMATS = ["%Y-%m-%d", "%m/%d/%Y", "%Y-%m-%dT00:00:00.000Z"]


def lang_of(locale: str) -> str:
    return locale.split("_", 1)[0]


# --- national identifiers ------------------------------------------------------------------------

def _digits(rng: random.Random, n: int) -> list[int]:
    return [rng.randrange(10) for _ in range(n)]


def cpf(rng: random.Random) -> str:
    d = _digits(rng, 9)
    for w in (10, 11):
        s = sum(x * (w - i) for i, x in enumerate(d))
        d.append(0 if s % 11 < 2 else 11 - s % 11)
    s = "".join(map(str, d))
    return f"{s[:3]}.{s[3:6]}.{s[6:9]}-{s[9:]}" if rng.random() < 0.6 else s


def pan_india(rng: random.Random) -> str:
    up = string.ascii_uppercase
    return "".join(rng.choice(up) for _ in range(3)) + rng.choice("PCHFT") + rng.choice(up) + \
        "".join(str(x) for x in _digits(rng, 4)) + rng.choice(up)


_VERHOEFF_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
               [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
               [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
               [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_VERHOEFF_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
               [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
               [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
_VERHOEFF_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def aadhaar(rng: random.Random) -> str:
    d = [rng.randrange(2, 10)] + _digits(rng, 10)
    c = 0
    for i, x in enumerate(reversed(d)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[(i + 1) % 8][x]]
    s = "".join(map(str, d)) + str(_VERHOEFF_INV[c])
    return f"{s[:4]} {s[4:8]} {s[8:]}" if rng.random() < 0.5 else s


def dni_es(rng: random.Random) -> str:
    n = rng.randrange(10**7, 10**8)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"


def nie_es(rng: random.Random) -> str:
    p = rng.randrange(3)
    n = rng.randrange(10**7)
    return f"{'XYZ'[p]}{n:07d}{'TRWAGMYFPDXBNJZSQVHLCKE'[int(f'{p}{n:07d}') % 23]}"


def pesel(rng: random.Random) -> str:
    y, m, dd = rng.randrange(1950, 2005), rng.randrange(1, 13), rng.randrange(1, 29)
    mm = m + (20 if y >= 2000 else 0)
    d = [int(c) for c in f"{y % 100:02d}{mm:02d}{dd:02d}"] + _digits(rng, 4)
    w = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3]
    d.append((10 - sum(a * b for a, b in zip(d, w, strict=True)) % 10) % 10)
    return "".join(map(str, d))


def nip_pl(rng: random.Random) -> str:
    w = [6, 5, 7, 2, 3, 4, 5, 6, 7]
    while True:
        d = [rng.randrange(1, 10)] + _digits(rng, 8)
        c = sum(a * b for a, b in zip(d, w, strict=True)) % 11
        if c != 10:
            s = "".join(map(str, d + [c]))
            return f"{s[:3]}-{s[3:6]}-{s[6:8]}-{s[8:]}" if rng.random() < 0.3 else s


def bsn(rng: random.Random) -> str:
    while True:
        d = [rng.randrange(1, 10)] + _digits(rng, 7)
        s = sum(x * (9 - i) for i, x in enumerate(d))
        last = s % 11
        if last < 10:
            return "".join(map(str, d + [last]))


def nir_fr(rng: random.Random) -> str:
    body = f"{rng.choice('12')}{rng.randrange(40, 100):02d}{rng.randrange(1, 13):02d}{rng.randrange(1, 96):02d}" \
           f"{rng.randrange(1, 990):03d}{rng.randrange(1, 1000):03d}"
    key = 97 - int(body) % 97
    return f"{body}{key:02d}" if rng.random() < 0.6 else \
        f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:]} {key:02d}"


def steuer_id_de(rng: random.Random) -> str:
    # 11 digits, first non-zero; ISO 7064 MOD 11,10 check digit (one digit repeated in the first ten).
    while True:
        d = [rng.randrange(1, 10)] + _digits(rng, 9)
        counts = sorted((d.count(x) for x in set(d)), reverse=True)
        if counts[0] in (2, 3) and len(set(d)) >= 7:
            break
    p = 10
    for x in d:
        s = (x + p) % 10 or 10
        p = (2 * s) % 11
    c = (11 - p) % 10
    return "".join(map(str, d + [c]))


def ahv_ch(rng: random.Random) -> str:
    d = [7, 5, 6] + _digits(rng, 9)
    s = sum(x * (3 if i % 2 else 1) for i, x in enumerate(d))
    d.append((10 - s % 10) % 10)
    t = "".join(map(str, d))
    return f"{t[:3]}.{t[3:7]}.{t[7:11]}.{t[11:]}"


def sin_ca(rng: random.Random) -> str:
    while True:
        d = [rng.randrange(1, 8)] + _digits(rng, 8)
        if _luhn_ok(d):
            s = "".join(map(str, d))
            return f"{s[:3]} {s[3:6]} {s[6:]}" if rng.random() < 0.5 else f"{s[:3]}-{s[3:6]}-{s[6:]}"


def _luhn_ok(d: list[int]) -> bool:
    tot = 0
    for i, x in enumerate(reversed(d)):
        if i % 2:
            x *= 2
            x -= 9 if x > 9 else 0
        tot += x
    return tot % 10 == 0


def nn_be(rng: random.Random) -> str:
    y, m, dd = rng.randrange(1940, 2000), rng.randrange(1, 13), rng.randrange(1, 29)
    body = f"{y % 100:02d}{m:02d}{dd:02d}{rng.randrange(1, 998):03d}"
    c = 97 - int(body) % 97
    s = f"{body}{c:02d}"
    return f"{s[:2]}.{s[2:4]}.{s[4:6]}-{s[6:9]}.{s[9:]}" if rng.random() < 0.5 else s


def nif_pt(rng: random.Random) -> str:
    d = [rng.choice([1, 2, 3])] + _digits(rng, 7)
    s = sum(x * (9 - i) for i, x in enumerate(d)) % 11
    d.append(0 if s < 2 else 11 - s)
    return "".join(map(str, d))


def tfn_au(rng: random.Random) -> str:
    w = [1, 4, 3, 7, 5, 8, 6, 9, 10]
    while True:
        d = [rng.randrange(1, 10)] + _digits(rng, 8)
        if sum(a * b for a, b in zip(d, w, strict=True)) % 11 == 0:
            s = "".join(map(str, d))
            return f"{s[:3]} {s[3:6]} {s[6:]}" if rng.random() < 0.5 else s


def nino_gb(rng: random.Random) -> str:
    first = rng.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    n = "".join(str(x) for x in _digits(rng, 6))
    s = f"{first}{second}{n}{rng.choice('ABCD')}"
    return f"{s[:2]} {s[2:4]} {s[4:6]} {s[6:8]} {s[8]}" if rng.random() < 0.4 else s


def ssn_us(rng: random.Random) -> str:
    area = rng.choice([x for x in range(1, 900) if x != 666])
    s = f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"
    return s if rng.random() < 0.8 else s.replace("-", "")


def rfc_mx(fk: Faker) -> str:
    return fk.rfc()


def curp_mx(fk: Faker) -> str:
    return fk.curp()


def afiliacion_ss_es(rng: random.Random) -> str:
    prov, num = rng.randrange(1, 53), rng.randrange(10**7, 10**8)
    base = int(f"{prov:02d}{num:08d}")
    return f"{prov:02d}{num:08d}{base % 97:02d}" if rng.random() < 0.6 else f"{prov:02d}/{num:08d}/{base % 97:02d}"


def rvnr_de(rng: random.Random, birth: date, surname: str) -> str:
    # Rentenversicherungsnummer: area, birth date, initial of the birth name, serial, check digit.
    area = rng.randrange(2, 90)
    letter = (surname[:1].upper() if surname[:1].isalpha() and surname[:1].isascii() else "M")
    serial = rng.randrange(0, 100)
    head = f"{area:02d}{birth:%d%m%y}"
    digs = [int(c) for c in head] + [int(c) for c in f"{string.ascii_uppercase.index(letter) + 1:02d}"] + \
        [int(c) for c in f"{serial:02d}"]
    w = [2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1]
    tot = sum(sum(divmod(a * b, 10)) for a, b in zip(digs, w, strict=True))
    return f"{head}{letter}{serial:02d}{tot % 10}"


# Per locale: (label, maker) pairs for identifiers, national first.
def id_makers(locale: str) -> list[tuple[str, object]]:
    table: dict[str, list[tuple[str, object]]] = {
        "en_US": [("national_id", ssn_us)],
        "en_GB": [("national_id", nino_gb)],
        "en_IN": [("tax_id", pan_india), ("national_id", aadhaar)],
        "en_CA": [("national_id", sin_ca)],
        "en_AU": [("tax_id", tfn_au)],
        "es_ES": [("national_id", dni_es), ("national_id", nie_es)],
        "es_MX": [("national_id", "curp"), ("tax_id", "rfc")],
        "es_AR": [("national_id", "dni_ar")],
        "es_CO": [("national_id", "cedula_co")],
        "de_DE": [("tax_id", steuer_id_de)],
        "de_AT": [("national_id", "ssn")],
        "de_CH": [("national_id", ahv_ch)],
        "fr_FR": [("national_id", nir_fr)],
        "fr_CH": [("national_id", ahv_ch)],
        "fr_CA": [("national_id", sin_ca)],
        "it_IT": [("national_id", "ssn")],
        "pt_BR": [("tax_id", cpf)],
        "pt_PT": [("tax_id", nif_pt)],
        "nl_NL": [("national_id", bsn)],
        "nl_BE": [("national_id", nn_be)],
        "pl_PL": [("national_id", pesel), ("tax_id", nip_pl)],
    }
    return table.get(locale, [])


def make_id(maker: object, rng: random.Random, fk: Faker) -> str:
    if maker == "curp":
        return fk.curp()
    if maker == "rfc":
        return fk.rfc()
    if maker == "ssn":
        return fk.ssn()
    if maker == "dni_ar":
        n = rng.randrange(10**7, 5 * 10**7)
        return f"{n:,}".replace(",", ".") if rng.random() < 0.5 else str(n)
    if maker == "cedula_co":
        return str(rng.randrange(10**7, 2 * 10**9))
    assert callable(maker)
    return maker(rng)


# --- credentials ---------------------------------------------------------------------------------

def _b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(rng: random.Random, fk: Faker) -> str:
    head = _b64url(json.dumps({"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}).encode())
    body = _b64url(json.dumps({"sub": str(fk.uuid4()), "iat": rng.randrange(1_600_000_000, 1_800_000_000),
                               "exp": rng.randrange(1_800_000_000, 1_900_000_000), "scope": "read write"}).encode())
    sig = _b64url(rng.randbytes(rng.choice([32, 64, 256])))
    return f"{head}.{body}.{sig}"


def opaque_token(rng: random.Random, n: int | None = None) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(rng.choice(alphabet) for _ in range(n or rng.randrange(24, 64)))


def api_key(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return "sk_live_" + opaque_token(rng, 24).replace("-", "a").replace("_", "b")
    if kind == 1:
        return "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    if kind == 2:
        return "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))
    if kind == 3:
        return rng.randbytes(20).hex()
    return "xoxb-" + "-".join(str(rng.randrange(10**11, 10**12)) for _ in range(2)) + "-" + \
        "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24))


def credential(rng: random.Random, fk: Faker) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return "Bearer " + jwt(rng, fk)
    if kind == 1:
        return "Bearer " + opaque_token(rng)
    if kind == 2:
        return "Basic " + base64.b64encode(f"{fk.user_name()}:{fk.password()}".encode()).decode()
    if kind == 3:
        return jwt(rng, fk)
    if kind == 4:
        return api_key(rng)
    return opaque_token(rng)


def private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    raw = base64.b64encode(rng.randbytes(rng.choice([120, 600, 1190]))).decode()
    lines = [raw[i:i + 64] for i in range(0, len(raw), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n"


# --- formatting of common values -----------------------------------------------------------------

def mac(rng: random.Random, fk: Faker) -> str:
    m = fk.mac_address()
    style = rng.randrange(5)
    if style == 1:
        return m.upper().replace(":", "-")
    if style == 2:
        h = m.replace(":", "")
        return f"{h[:4]}.{h[4:8]}.{h[8:]}"
    if style == 3:
        return m.upper()
    if style == 4:
        h = m.replace(":", "").upper()
        return f"{h[:4]}.{h[4:8]}.{h[8:]}"
    return m


def card(rng: random.Random, fk: Faker) -> str:
    try:  # the card brands differ per locale
        n = fk.credit_card_number(card_type=rng.choice(["visa", "mastercard", "amex", "discover", "visa16", "jcb"]))
    except (KeyError, AttributeError):
        n = fk.credit_card_number()
    style = rng.randrange(3)
    if style == 1 and len(n) == 16:
        return " ".join(n[i:i + 4] for i in range(0, 16, 4))
    if style == 2 and len(n) == 16:
        return "-".join(n[i:i + 4] for i in range(0, 16, 4))
    return n


_IBAN_FAKER = Faker("de_DE")


def _iban_valid(v: str) -> bool:
    """ISO 13616 mod-97 (the generator's own check: some Faker locales fall back to 21-character GB
    IBANs, which are not IBANs; ground truth must not call them one)."""
    lengths = {"GB": 22, "DE": 22, "ES": 24, "FR": 27, "IT": 27, "NL": 18, "PL": 28, "PT": 25, "BE": 16, "AT": 20,
               "CH": 21, "BR": 29}
    if lengths.get(v[:2], len(v)) != len(v):
        return False
    return int("".join(str(int(c, 36)) for c in v[4:] + v[:4])) % 97 == 1


def iban(rng: random.Random, fk: Faker) -> str:
    v = fk.iban()
    if not _iban_valid(v):
        _IBAN_FAKER.seed_instance(rng.getrandbits(32))
        v = _IBAN_FAKER.iban()
    return " ".join(v[i:i + 4] for i in range(0, len(v), 4)) if rng.random() < 0.4 else v


def birth_date(rng: random.Random, fk: Faker, locale: str) -> str:
    d = fk.date_of_birth(minimum_age=16, maximum_age=95)
    return d.strftime(rng.choice(US_DATE_FORMATS if locale == "en_US" else DATE_FORMATS))


def password(rng: random.Random, fk: Faker) -> str:
    if rng.random() < 0.5:
        return fk.password(length=rng.randrange(8, 20), special_chars=rng.random() < 0.7)
    return fk.word().capitalize() + str(rng.randrange(1, 9999)) + rng.choice(["!", "#", "", "$", "."])


def phone(rng: random.Random, fk: Faker, formatted_only: bool = False) -> str:
    for _ in range(20):
        p = fk.phone_number()
        if not formatted_only or p.startswith("+") or any(c in p for c in " -.()/"):
            return p
    return "+" + fk.msisdn()[:12]


def address(rng: random.Random, fk: Faker) -> str:
    if rng.random() < 0.7:
        return fk.street_address()
    return fk.address().replace("\n", ", ")


def pension(rng: random.Random, fk: Faker, locale: str) -> str:
    if locale.startswith("es"):
        return afiliacion_ss_es(rng)
    if locale.startswith("de"):
        return rvnr_de(rng, fk.date_of_birth(minimum_age=18, maximum_age=90), fk.last_name())
    if locale == "en_GB":
        return nino_gb(rng)
    return f"{rng.randrange(10**8, 10**10)}"


# --- near-misses (label: none) -------------------------------------------------------------------

def version_string(rng: random.Random) -> str:
    return ".".join(str(rng.randrange(0, 30)) for _ in range(rng.choice([3, 4])))


def card_token(rng: random.Random) -> str:
    return rng.choice(["tok_", "pm_", "card_", "src_"]) + "".join(
        rng.choice(string.ascii_letters + string.digits) for _ in range(24))


def retina_image(rng: random.Random, fk: Faker) -> str:
    name = fk.word()
    return rng.choice([f"{name}@2x.png", f"https://cdn.{fk.domain_name()}/img/{name}@3x.webp", f"{name}-icon@2x.jpg"])


def phone_shaped_id(rng: random.Random) -> str:
    return str(rng.randrange(10**9, 10**11))


def luhn_invalid_16(rng: random.Random) -> str:
    while True:
        d = [rng.randrange(1, 10)] + _digits(rng, 15)
        if not _luhn_ok(d):
            return "".join(map(str, d))


def some_date(rng: random.Random, fk: Faker) -> str:
    return fk.date_between(start_date="-3y", end_date="+2y").strftime(rng.choice(DATE_FORMATS))


def package_at_version(rng: random.Random, fk: Faker) -> str:
    return f"{fk.word()}@{rng.randrange(0, 9)}.{rng.randrange(0, 20)}.{rng.randrange(0, 9)}"
