"""Builds the labeled corpus: JSON and form payloads of the kinds real APIs carry, every leaf labeled.

Seeded, so the same file comes out every time (``python -m processor.corpus.generate`` rewrites
``corpus.jsonl``; a test checks it is current). Each line: ``{"id", "kind": "json"|"form", "body",
"labels": {key path: type}}``; a leaf whose path is not in ``labels`` holds no personal data.

Near-misses are deliberate: order and tracking numbers that pass Luhn, phone-shaped ids, product and
company names, version strings shaped like IP addresses, page tokens, dates that are not birth
dates, ``expires_at`` that is not a card expiry, password *policies*. Key spellings vary (snake,
camel, kebab, synonyms), and some personal data sits under keys that say nothing.
"""

from __future__ import annotations

import base64
import json
import random
import string
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

SEED = 20261122
N_PAYLOADS = 1400
OUT = Path(__file__).with_name("corpus.jsonl")

FIRST = """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan
Joseph Jessica Thomas Sarah Carlos Lucía Hiroshi Yuki Wei Mei Ahmed Fatima Raj Priya Olga Ivan Kwame
Amara Lars Ingrid Pierre Camille Giulia Marco Sven Aoife Tomasz Katarzyna Nkechi Mateo Valentina Dmitri
Anneliese Bartholomew Ezekiel Thaddeus Wilhelmina Ottoline Rosalind Cornelius Evangeline Leopold""".split()
LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez
Lewis Robinson Walker Young Allen King Wright Scott Nguyen Hill Flores Green Adams Nelson Baker Hall
Müller Schmidt Rossi Dubois Kowalski Nakamura Okafor Ivanova Lindqvist O'Brien""".split()
PRODUCTS = """Wireless Mouse|Ergonomic Keyboard|Grace Hopper Biography|Victoria Sponge Cake Mix|Jack Daniels
Whiskey|Mary Jane Shoes|Ruby on Rails Guide|Martin Guitar Strings|Morgan Stanley Report|Ford Mustang Model
|Julia Child Cookbook|Sherlock Holmes Box Set|Tom Ford Cologne|Hugo Boss Shirt|George Foreman Grill|
Paul Smith Wallet|Stanley Thermos|Marco Polo Board Game|Pink Lady Apples|Anna Karenina Paperback|USB-C
Cable 2m|Standing Desk Frame|Noise Cancelling Headphones|Oak Dining Table""".replace("\n", " ").split("|")
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella GmbH", "Stark Industries", "Wayne Enterprises", "Hooli", "Johnson & Johnson", "Ben and Jerry's", "Dell Technologies", "Ernst & Young"]
STREETS = ["Main St", "Oak Avenue", "Maple Rd", "Sunset Blvd", "Elm Street", "Park Lane", "Cedar Dr", "Hillcrest Way", "Lake Shore Drive", "Mission St"]
CITIES = ["Springfield", "Berlin", "San Francisco", "Lyon", "Osaka", "Toronto", "Austin", "Leeds", "Porto", "Kraków"]
COUNTRIES = ["US", "DE", "FR", "JP", "CA", "GB", "PT", "PL"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "gmail.example", "uni.example.edu"]
STATUSES = ["active", "pending", "shipped", "delivered", "cancelled"]
CATEGORIES = ["electronics", "books", "grocery", "home", "toys", "garden"]


class Gen:
    """Value makers; every call draws from the one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def pick(self, seq: list[Any]) -> Any:
        return self.r.choice(seq)

    def digits(self, n: int) -> str:
        return "".join(self.r.choice(string.digits) for _ in range(n))

    def first(self) -> str:
        return self.pick(FIRST)

    def last(self) -> str:
        return self.pick(LAST)

    def full_name(self) -> str:
        return f"{self.first()} {self.last()}"

    def email(self) -> str:
        f, la = self.first().lower(), self.last().lower()
        local = self.pick([f"{f}.{la}", f"{f[0]}{la}", f"{f}{self.digits(2)}", f"{f}_{la}+shop"])
        local = local.encode("ascii", "ignore").decode().replace("'", "") or "user"
        return f"{local}@{self.pick(DOMAINS)}"

    def phone(self) -> str:
        area, mid, end = self.r.randint(201, 989), self.r.randint(200, 989), self.digits(4)
        while area in (211, 311, 411, 511, 611, 711, 811, 911) or str(area)[1:] == "11":
            area = self.r.randint(201, 989)
        return self.pick([
            f"+1{area}{mid}{end}", f"+1 {area} {mid} {end}", f"({area}) {mid}-{end}", f"{area}-{mid}-{end}",
            f"+44 20 7{self.digits(3)} {self.digits(4)}", f"+49 30 {self.digits(8)}", f"+33 1 {self.digits(2)} {self.digits(2)} {self.digits(2)} {self.digits(2)}",
            f"+81 3-{self.digits(4)}-{self.digits(4)}",
        ])

    def luhn_complete(self, prefix: str, length: int) -> str:
        body = prefix + self.digits(length - len(prefix) - 1)
        for check in string.digits:
            cand = body + check
            total = 0
            for i, ch in enumerate(reversed(cand)):
                d = int(ch) * (2 if i % 2 else 1)
                total += d - 9 if d > 9 else d
            if total % 10 == 0:
                return cand
        raise AssertionError("unreachable")

    def card(self, formatted: bool | None = None) -> str:
        prefix, length = self.pick([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16), ("35", 16)])
        if prefix == "35":
            prefix = "3530"
        num = self.luhn_complete(prefix, length)
        if formatted is None:
            formatted = self.r.random() < 0.4
        if formatted:
            sep = self.pick([" ", "-"])
            if length == 15:
                return sep.join([num[:4], num[4:10], num[10:]])
            return sep.join(num[i:i + 4] for i in range(0, 16, 4))
        return num

    def luhn_order_number(self) -> str:
        """The near-miss: a 16-digit order number that passes Luhn and starts like a Visa."""
        return self.luhn_complete(self.pick(["4", "5", "6011"]), 16)

    def masked_card(self) -> str:
        last4 = self.digits(4)
        return self.pick([f"**** **** **** {last4}", f"XXXX-XXXX-XXXX-{last4}", f"411111******{last4}", f"************{last4}"])

    def expiry(self) -> str:
        m, y = self.r.randint(1, 12), self.r.randint(25, 33)
        return self.pick([f"{m:02d}/{y}", f"{m:02d}/20{y}", f"{m:02d}-{y}"])

    def iban(self) -> str:
        country, length = self.pick([("DE", 22), ("GB", 22), ("FR", 27), ("NL", 18), ("ES", 24), ("IT", 27)])
        if country == "GB":
            bban = "NWBK" + self.digits(length - 8)
        elif country == "NL":
            bban = "ABNA" + self.digits(length - 8)
        elif country == "IT":
            bban = "X" + self.digits(length - 5)
        else:
            bban = self.digits(length - 4)
        numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
        check = 98 - int(numeric) % 97
        iban = f"{country}{check:02d}{bban}"
        if self.r.random() < 0.3:
            iban = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
        return iban

    def bad_iban(self) -> str:
        good = self.iban().replace(" ", "")
        check = int(good[2:4])
        return good[:2] + f"{(check + 1) % 100:02d}" + good[4:]

    def ssn(self, formatted: bool = True) -> str:
        area = self.r.randint(1, 899)
        while area == 666:
            area = self.r.randint(1, 899)
        s = f"{area:03d}-{self.r.randint(1, 99):02d}-{self.r.randint(1, 9999):04d}"
        return s if formatted else s.replace("-", "")

    def ipv4(self) -> str:
        return ".".join(str(self.r.randint(1, 254)) for _ in range(4))

    def ipv6(self) -> str:
        return "2001:db8:" + ":".join(f"{self.r.randint(0, 65535):x}" for _ in range(6))

    def mac(self) -> str:
        sep = self.pick([":", "-"])
        return sep.join(f"{self.r.randint(0, 255):02X}" for _ in range(6))

    def street(self) -> str:
        return f"{self.r.randint(1, 9999)} {self.pick(STREETS)}"

    def zip(self) -> str:
        return self.pick([self.digits(5), f"{self.digits(5)}-{self.digits(4)}", f"SW1A {self.digits(1)}AA", self.digits(5)])

    def date(self, lo: int, hi: int) -> str:
        y, m, d = self.r.randint(lo, hi), self.r.randint(1, 12), self.r.randint(1, 28)
        return self.pick([f"{y}-{m:02d}-{d:02d}", f"{m:02d}/{d:02d}/{y}", f"{d:02d}.{m:02d}.{y}"])

    def iso_ts(self) -> str:
        return f"20{self.r.randint(20, 26)}-{self.r.randint(1, 12):02d}-{self.r.randint(1, 28):02d}T{self.r.randint(0, 23):02d}:{self.r.randint(0, 59):02d}:00Z"

    def b64url(self, obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    def jwt(self) -> str:
        head = self.b64url({"alg": self.pick(["HS256", "RS256"]), "typ": "JWT"})
        body = self.b64url({"sub": self.digits(6), "iat": 1700000000 + self.r.randint(0, 10**6)})
        sig = self.token(43, "-_")
        return f"{head}.{body}.{sig}"

    def token(self, n: int, extra: str = "") -> str:
        alphabet = string.ascii_letters + string.digits + extra
        while True:
            t = "".join(self.r.choice(alphabet) for _ in range(n))
            if sum(c.isdigit() for c in t) >= 2:
                return t

    def api_key(self) -> str:
        return self.pick([
            "AKIA" + "".join(self.r.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
            "AIza" + self.token(35, "-_"),
            "ghp_" + self.token(36),
            "sk_live_" + self.token(24),
            "xoxb-" + self.digits(11) + "-" + self.token(24),
            "glpat-" + self.token(20),
        ])

    def private_key(self) -> str:
        kind = self.pick(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"])
        body = "\n".join(self.token(64, "+/") for _ in range(4))
        return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"

    def password(self) -> str:
        return self.pick([self.token(12, "!@#$%"), "hunter2", "correct horse battery staple", f"Summer{self.digits(4)}!", self.token(8)])

    def passport(self) -> str:
        return self.pick([self.pick(string.ascii_uppercase) + self.digits(8), self.digits(9), "C" + self.token(8).upper()])

    def driver_license(self) -> str:
        return self.pick([self.pick(string.ascii_uppercase) + self.digits(7), f"{self.digits(3)}-{self.digits(3)}-{self.digits(3)}", "D" + self.digits(12)])

    def tax_id(self) -> str:
        return self.pick([f"{self.digits(2)}-{self.digits(7)}", f"9{self.digits(2)}-7{self.digits(1)}-{self.digits(4)}", "DE" + self.digits(9), self.digits(11)])

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.r.getrandbits(128)))

    def sku(self) -> str:
        return f"SKU-{self.digits(5)}-{self.pick(string.ascii_uppercase)}"

    def version(self) -> str:
        return self.pick([f"{self.r.randint(1, 12)}.{self.r.randint(0, 30)}.{self.r.randint(0, 99)}", f"{self.r.randint(1, 9)}.{self.r.randint(0, 9)}.{self.r.randint(0, 9)}.{self.r.randint(0, 200)}"])


def spell(g: Gen, *variants: str) -> str:
    """One of several spellings of the same key, as different APIs write it."""
    return g.pick(list(variants))


# --- payload shapes ---------------------------------------------------------------------------
# Each returns (document, labels) with labels keyed by the walker's path syntax.


def signup(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    k_first, k_last = g.pick([("first_name", "last_name"), ("firstName", "lastName"), ("given_name", "family_name"), ("fname", "lname")])
    k_mail = spell(g, "email", "emailAddress", "e-mail", "user_email")
    k_phone = spell(g, "phone", "phoneNumber", "mobile", "mobile_phone", "tel")
    doc: dict[str, Any] = {
        k_first: g.first(), k_last: g.last(), k_mail: g.email(), k_phone: g.phone(),
        spell(g, "password", "passwd", "new_password"): g.password(),
        "marketing_opt_in": g.r.random() < 0.5, "locale": g.pick(["en-US", "de-DE", "fr-FR"]),
        "referral_code": g.token(8).upper(), "signup_source": g.pick(["web", "ios", "android"]),
    }
    labels = {k_first: "person_name", k_last: "person_name", k_mail: "email", k_phone: "phone"}
    labels[[k for k in doc if k in ("password", "passwd", "new_password")][0]] = "password"
    if g.r.random() < 0.5:
        k = spell(g, "username", "login", "user_name", "nickname")
        doc[k] = (g.first().lower() + g.digits(2)).encode("ascii", "ignore").decode() or "user42"
        labels[k] = "username"
    if g.r.random() < 0.3:
        doc["password_policy"] = g.pick(["strong", "medium"])
        doc["password_min_length"] = g.r.randint(8, 14)
        doc["password_hint"] = g.pick(["first pet", "favourite city"])
    return doc, labels


def profile(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    person = spell(g, "user", "customer", "profile", "account", "member")
    addr = spell(g, "address", "homeAddress", "billing_address", "shipping")
    doc = {
        "id": g.r.randint(10**5, 10**9), "uuid": g.uuid(),
        person: {
            "name": g.full_name(), spell(g, "email", "mail", "contactEmail"): g.email(),
            spell(g, "dob", "birthDate", "date_of_birth", "birthday"): g.date(1940, 2006),
            spell(g, "gender", "sex"): g.pick(["female", "male", "F", "M", "non-binary", "other"]),
            addr: {
                spell(g, "street", "line1", "street_address", "address1"): g.street(),
                "city": g.pick(CITIES), spell(g, "zip", "postal_code", "postcode", "zipCode"): g.zip(),
                "country": g.pick(COUNTRIES),
            },
            "created_at": g.iso_ts(), "updated_at": g.iso_ts(), "status": g.pick(STATUSES),
            "tier": g.pick(["gold", "silver"]), "login_count": g.r.randint(0, 500),
        },
    }
    p = doc[person]
    labels = {}
    for k in p:
        if k == "name":
            labels[f"{person}.name"] = "person_name"
        elif k in ("email", "mail", "contactEmail"):
            labels[f"{person}.{k}"] = "email"
        elif k in ("dob", "birthDate", "date_of_birth", "birthday"):
            labels[f"{person}.{k}"] = "birth_date"
        elif k in ("gender", "sex"):
            labels[f"{person}.{k}"] = "gender"
    for k in p[addr]:
        labels[f"{person}.{addr}.{k}"] = "address"
    return doc, labels


def checkout(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    card_k = spell(g, "card", "payment_card", "creditCard", "paymentMethod")
    num_k = spell(g, "number", "card_number", "pan", "cardNumber")
    exp_k = spell(g, "expiry", "exp", "expiration_date", "expiryDate")
    cvv_k = spell(g, "cvv", "cvc", "security_code", "cvv2")
    holder_k = spell(g, "cardholder_name", "holderName", "name_on_card", "name")
    order = g.luhn_order_number()
    doc = {
        spell(g, "order_number", "orderNumber", "order_id"): order,
        "invoice_no": g.luhn_order_number(), "amount": round(g.r.uniform(5, 900), 2), "currency": "EUR",
        card_k: {num_k: g.card(), exp_k: g.expiry(), cvv_k: g.digits(g.pick([3, 3, 4])), holder_k: g.full_name()},
        "items": [{"sku": g.sku(), "name": g.pick(PRODUCTS), "qty": g.r.randint(1, 4), "price": round(g.r.uniform(1, 300), 2)} for _ in range(g.r.randint(1, 3))],
        "tracking_number": g.digits(g.pick([12, 16, 20])), "idempotency_key": g.uuid(),
        "expires_at": g.iso_ts(),
    }
    labels = {f"{card_k}.{num_k}": "card_number", f"{card_k}.{exp_k}": "card_expiry", f"{card_k}.{cvv_k}": "card_cvv", f"{card_k}.{holder_k}": "person_name"}
    return doc, labels


def payment_response(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    doc = {
        "payment_id": "pay_" + g.token(14), "status": g.pick(["succeeded", "requires_action"]),
        "card": {"brand": g.pick(["visa", "mastercard", "amex"]), spell(g, "last4", "last_four"): g.digits(4),
                 spell(g, "masked_number", "display_number", "pan_masked"): g.masked_card(), "exp_month": g.r.randint(1, 12), "exp_year": g.r.randint(2026, 2033),
                 "fingerprint": g.token(16), "funding": "credit", "country": g.pick(COUNTRIES)},
        "receipt_number": g.luhn_order_number(), "created": 1700000000 + g.r.randint(0, 10**7),
    }
    c = doc["card"]
    labels = {}
    for k in c:
        if k in ("last4", "last_four", "masked_number", "display_number", "pan_masked"):
            labels[f"card.{k}"] = "masked_card"
        elif k in ("exp_month", "exp_year"):
            labels[f"card.{k}"] = "card_expiry"
    return doc, labels


def orders_list(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    doc = {
        "orders": [
            {"order_id": g.luhn_order_number(), "status": g.pick(STATUSES), "total": round(g.r.uniform(10, 500), 2),
             "product": {"name": g.pick(PRODUCTS), "category": g.pick(CATEGORIES), "sku": g.sku()},
             "ship_to": {"name": g.full_name(), "city": g.pick(CITIES)},
             "tracking": g.digits(g.pick([10, 12, 22])), "placed_at": g.iso_ts(), "customer_ref": f"{g.digits(3)}-{g.digits(3)}-{g.digits(4)}"}
            for _ in range(g.r.randint(1, 4))
        ],
        "next_page_token": g.token(32, "-_"), "total_count": g.r.randint(1, 999),
    }
    labels = {"orders[].ship_to.name": "person_name", "orders[].ship_to.city": "address"}
    return doc, labels


def catalogue(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    doc = {
        "products": [
            {"id": g.r.randint(1000, 99999999), "name": g.pick(PRODUCTS), "brand": {"name": g.pick(COMPANIES)},
             "category": {"name": g.pick(CATEGORIES)}, "price": round(g.r.uniform(1, 999), 2), "gtin": g.luhn_complete("4", 13),
             "version": g.version(), "manufacturer": g.pick(COMPANIES), "rating": round(g.r.uniform(1, 5), 1)}
            for _ in range(g.r.randint(2, 6))
        ],
        "page": g.r.randint(1, 20), "cursor": g.token(24), "name": g.pick(PRODUCTS + COMPANIES),
    }
    return doc, {}


def kyc(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    doc: dict[str, Any] = {
        "applicant": {
            spell(g, "full_name", "legalName", "name"): g.full_name(),
            spell(g, "ssn", "social_security_number", "SSN"): g.ssn(formatted=g.r.random() < 0.7),
            spell(g, "date_of_birth", "dob"): g.date(1940, 2006),
            "documents": {spell(g, "passport_number", "passportNo", "passport"): g.passport(),
                          spell(g, "drivers_license", "driverLicenseNumber", "dl_number"): g.driver_license()},
            spell(g, "tax_id", "tin", "taxpayer_id", "vat_number"): g.tax_id(),
            spell(g, "nationality", "citizenship"): g.pick(COUNTRIES),
        },
        "case_id": g.uuid(), "risk_score": round(g.r.random(), 3), "reviewed_at": g.iso_ts(), "reviewer": {"team": "kyc-ops", "queue": "eu-1"},
    }
    a = doc["applicant"]
    labels = {}
    for k, val in a.items():
        kind = {"full_name": "person_name", "legalName": "person_name", "name": "person_name", "ssn": "ssn", "social_security_number": "ssn", "SSN": "ssn",
                "date_of_birth": "birth_date", "dob": "birth_date", "tax_id": "tax_id", "tin": "tax_id", "taxpayer_id": "tax_id", "vat_number": "tax_id"}.get(k)
        if kind:
            labels[f"applicant.{k}"] = kind
        if k == "documents":
            for dk in val:
                labels[f"applicant.documents.{dk}"] = "passport" if dk.startswith("passport") else "driver_license"
    return doc, labels


def transfer(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    good = g.r.random() < 0.8
    doc = {
        spell(g, "iban", "debtor_iban", "creditorAccount", "account"): g.iban() if good else g.bad_iban(),
        "beneficiary": {"name": g.full_name(), "bic": g.pick(["DEUTDEFF", "NWBKGB2L", "BNPAFRPP"])},
        "amount": {"value": str(round(g.r.uniform(1, 5000), 2)), "currency": "EUR"},
        "reference": f"INV-{g.digits(6)}", "end_to_end_id": g.token(20).upper(), "requested_execution_date": g.date(2025, 2026),
    }
    k = next(iter(doc))
    labels = {"beneficiary.name": "person_name"}
    if good:
        labels[k] = "iban"
    return doc, labels


def login(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    user_k = spell(g, "username", "login", "email")
    user_v = g.email() if user_k == "email" else (g.first().lower() + g.digits(3)).encode("ascii", "ignore").decode() or "user1"
    doc = {user_k: user_v, spell(g, "password", "pwd", "passphrase"): g.password(), "remember_me": True, "captcha": g.token(20)}
    labels = {user_k: "email" if user_k == "email" else "username"}
    labels[[k for k in doc if k in ("password", "pwd", "passphrase")][0]] = "password"
    return doc, labels


def token_response(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    doc = {
        "access_token": g.jwt() if g.r.random() < 0.6 else g.token(40), "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": g.token(48), "scope": "openid profile email", "id_token": g.jwt(),
        "session_state": g.uuid(),
    }
    labels = {"access_token": "jwt" if doc["access_token"].startswith("eyJ") else "api_key", "refresh_token": "api_key", "id_token": "jwt"}
    return doc, labels


def secrets_config(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    doc: dict[str, Any] = {
        "integration": g.pick(["stripe", "github", "aws", "slack"]),
        spell(g, "api_key", "apiKey", "key", "credential"): g.api_key(),
        "webhook_url": "https://hooks.example.com/" + g.token(10), "enabled": True, "region": g.pick(["eu-west-1", "us-east-1"]),
        "config_version": g.version(), "checksum": g.token(40).lower(),
    }
    labels = {next(k for k in doc if k in ("api_key", "apiKey", "key", "credential")): "api_key"}
    if g.r.random() < 0.3:
        doc["tls"] = {"private_key": g.private_key(), "certificate_fingerprint": g.token(32).lower()}
        labels["tls.private_key"] = "private_key"
    if g.r.random() < 0.3:
        doc["client_secret"] = g.token(32)
        labels["client_secret"] = "api_key"
    return doc, labels


def telemetry(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    doc = {
        "device": {"id": g.uuid(), spell(g, "mac", "mac_address", "hwaddr"): g.mac(), "firmware_version": g.version(), "model": g.pick(["X200", "Pro 14", "T-1000"]),
                   "serial": g.token(12).upper()},
        "network": {spell(g, "ip", "client_ip", "remote_addr", "source"): g.ipv4() if g.r.random() < 0.7 else g.ipv6(), "rtt_ms": g.r.randint(1, 300), "asn": g.r.randint(1000, 60000)},
        "app_version": g.version(), "build": g.pick([g.version(), g.digits(6)]),
        "metrics": [{"name": g.pick(["cpu", "mem", "disk"]), "value": round(g.r.random() * 100, 2)} for _ in range(3)],
    }
    d, n = doc["device"], doc["network"]
    labels = {f"device.{next(k for k in d if k in ('mac', 'mac_address', 'hwaddr'))}": "mac_address",
              f"network.{next(k for k in n if k in ('ip', 'client_ip', 'remote_addr', 'source'))}": "ip_address"}
    return doc, labels


def directory(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    doc = {
        "employees": [
            {"employee_id": g.digits(6), "displayName": g.full_name(), "work_email": g.email(), "desk_phone": g.phone(),
             "department": {"name": g.pick(["Finance", "Engineering", "Legal", "People"]), "cost_center": g.digits(4)},
             "manager": {"name": g.full_name()}, "title": g.pick(["Engineer", "Analyst", "Director"]), "office": g.pick(CITIES)}
            for _ in range(g.r.randint(1, 5))
        ],
        "company": {"name": g.pick(COMPANIES), "vat_id_verified": True},
    }
    labels = {"employees[].displayName": "person_name", "employees[].work_email": "email", "employees[].desk_phone": "phone", "employees[].manager.name": "person_name"}
    return doc, labels


def support_ticket(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    with_email = g.r.random() < 0.6
    text = g.pick(["My order has not arrived yet", "Please update my billing details", "The app crashes on start", "Refund request for last week"])
    if with_email:
        text += f", reach me at {g.email()} please"
    doc = {"ticket_id": f"T-{g.digits(7)}", "subject": g.pick(["Delivery", "Billing", "Bug"]), "message": text,
           "priority": g.pick(["low", "high"]), "contact": g.phone() if g.r.random() < 0.5 else g.email(), "attachments": []}
    labels = {"contact": "phone" if "@" not in doc["contact"] else "email"}
    if with_email:
        labels["message"] = "email"
    return doc, labels


def events(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    doc = {
        "events": [
            {"type": g.pick(["page_view", "click", "purchase"]), "ts": 1700000000 + g.r.randint(0, 10**7), "session_id": g.token(32).lower(),
             "request_id": g.uuid(), "trace_id": g.token(32).lower(), "path": g.pick(["/cart", "/checkout", "/home"]), "duration_ms": g.r.randint(1, 3000),
             "ip": g.ipv4(), "user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "order_ref": g.luhn_order_number()}
            for _ in range(g.r.randint(1, 4))
        ],
        "sdk_version": g.version(), "batch_id": g.uuid(),
    }
    return doc, {"events[].session_id": "api_key", "events[].ip": "ip_address"}


def shipping_label(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    doc = {
        "shipment_id": g.digits(12), "carrier": g.pick(["DHL", "UPS", "FedEx"]), "weight_kg": round(g.r.uniform(0.1, 20), 2),
        "recipient": {"name": g.full_name(), "phone": g.phone(), "address_line1": g.street(), "city": g.pick(CITIES), "postal_code": g.zip(), "country": g.pick(COUNTRIES)},
        "sender": {"company": g.pick(COMPANIES), "city": g.pick(CITIES)},
        "location": f"{g.r.uniform(-80, 80):.5f},{g.r.uniform(-170, 170):.5f}",
        "tracking_url": "https://track.example.com/" + g.digits(12),
    }
    labels = {"recipient.name": "person_name", "recipient.phone": "phone", "recipient.address_line1": "address", "recipient.city": "address",
              "recipient.postal_code": "address", "recipient.country": "address", "location": "address"}
    return doc, labels


def unkeyed(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    """Personal data under keys that say nothing: the value must speak for itself."""
    kinds = [("email", g.email), ("phone", lambda: "+1 " + g.phone()[-12:] if False else g.pick([f"+1 415 {g.r.randint(200, 999)} {g.digits(4)}", f"+44 20 7{g.digits(3)} {g.digits(4)}"])),
             ("card_number", lambda: g.card(formatted=True)), ("iban", g.iban), ("ip_address", g.ipv4), ("jwt", g.jwt), ("api_key", g.api_key),
             ("ssn", lambda: g.ssn(True)), ("mac_address", g.mac), ("address", lambda: f"{g.street()}, {g.pick(CITIES)}")]
    doc: dict[str, Any] = {"type": g.pick(["attribute", "field", "entry"])}
    labels = {}
    for i in range(g.r.randint(2, 4)):
        t, make = g.pick(kinds)
        key = g.pick(["value", "data", "v", "payload", "field_value", "text", "item"]) + (str(i) if i else "")
        doc[key] = make()
        labels[key] = t
    doc["label"] = g.pick(["primary", "secondary"])
    doc["count"] = g.r.randint(0, 100)
    return doc, labels


def near_misses(g: Gen) -> tuple[dict[str, Any], dict[str, str]]:
    """Only near-misses: each looks like something it is not."""
    doc = {
        "order_number": g.luhn_order_number(), "phone_model": g.pick(["Pixel 8", "iPhone 15"]), "support_line_id": g.digits(10),
        "build": g.version(), "product_name": g.pick(PRODUCTS), "company_name": g.pick(COMPANIES), "expires_at": g.iso_ts(),
        "created_on": g.date(1950, 2005), "cache_key": g.token(24), "page_token": g.token(32), "code": g.digits(6),
        "iban_check": g.bad_iban(), "ticket": f"{g.digits(3)}-{g.digits(2)}-{g.digits(4)}", "hash": g.token(40).lower(),
        "color": g.pick(["Rose", "Jade", "Amber", "Olive"]), "team": {"name": g.pick(["Mary's Team", "Platform", "Jack Rabbit Squad"])},
        "token_type": "Bearer", "gender_neutral": True, "password_reset_required": False, "dns_server": "",
        "min_age": g.r.randint(13, 21), "street_view_enabled": True, "zip_enabled": True, "instance": g.uuid(),
        "tracking_id": g.luhn_complete("4", 16), "account_number_hint": g.digits(4), "sku": g.sku(),
    }
    return doc, {}


SHAPES = [signup, profile, checkout, payment_response, orders_list, catalogue, kyc, transfer, login, token_response,
          secrets_config, telemetry, directory, support_ticket, events, shipping_label, unkeyed, near_misses]


def flatten_form(doc: dict[str, Any], labels: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A form-encoded version of a flat-ish document (one nesting level as ``a[b]``); labels follow."""
    pairs: list[tuple[str, str]] = []
    new_labels: dict[str, str] = {}

    def add(prefix: str, path: str, val: Any) -> None:
        if isinstance(val, dict):
            for k, v in val.items():
                add(f"{prefix}[{k}]" if prefix else k, f"{path}.{k}" if path else k, v)
        elif isinstance(val, list):
            for item in val[:3]:
                add(prefix + "[]", path + "[]", item)
        elif isinstance(val, bool):
            pairs.append((prefix, "1" if val else "0"))
        elif val is not None:
            pairs.append((prefix, str(val)))
            if path in labels:
                new_labels[path] = labels[path]

    add("", "", doc)
    return urlencode(pairs), new_labels


def build(seed: int = SEED, n: int = N_PAYLOADS) -> list[dict[str, Any]]:
    g = Gen(seed)
    out = []
    for i in range(n):
        shape = SHAPES[i % len(SHAPES)]
        doc, labels = shape(g)
        if shape in (signup, login, checkout, transfer, kyc, support_ticket, shipping_label) and g.r.random() < 0.35:
            body, labels = flatten_form(doc, labels)
            kind = "form"
        else:
            body = json.dumps(doc, ensure_ascii=False)
            kind = "json"
        out.append({"id": f"{shape.__name__}-{i}", "kind": kind, "body": body, "labels": labels})
    return out


def write(path: Path = OUT) -> int:
    rows = build()
    path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))
    return len(rows)


def load(path: Path = OUT) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


if __name__ == "__main__":
    n = write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
    print(f"wrote {n} payloads to {OUT if len(sys.argv) < 2 else sys.argv[1]}")
