"""The held-out corpus: pair records (what the interceptor publishes) with their ground truth.

Built apart from the detectors (see ``__init__``). ``build(split, n)`` returns ``n`` samples, each a
pair record's bytes plus the (location, path, label) triples the generator put in it, and the
(location, path, label) triples that are ambiguous and scored neither way (a city under an address
detector, a private IP address).
"""

from __future__ import annotations

import random
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import orjson
from faker import Faker

from bench.heldout import values as V
from bench.heldout.values import GENDER_WORDS_KEY
from bench.heldout.vocab import CREDENTIAL_KEYS, DOC_TYPE_WORDS, TEXT_KEYS, VOCAB, split_words

LOCALES = {
    "dev": ["es_ES", "de_DE", "fr_FR", "it_IT", "pt_BR", "nl_NL", "pl_PL", "en_US", "en_GB", "en_IN"],
    "untouched": ["es_MX", "es_AR", "es_CO", "de_AT", "de_CH", "fr_CH", "fr_CA", "pt_PT", "pt_BR", "nl_BE",
                  "pl_PL", "en_CA", "en_AU", "en_IN"],
}
SEEDS = {"dev": 20261, "untouched": 90417}
LABELS = ["email", "phone", "person_name", "birth_date", "gender", "address", "password", "passport",
          "username", "ip", "mac", "card", "iban", "national_id", "tax_id", "pension", "credential",
          "private_key"]


@dataclass
class L:
    """A value with its ground truth: ``labels`` it is, ``ignore`` labels that are not scored."""
    value: str
    labels: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()


@dataclass
class Sample:
    raw: bytes
    truth: set[tuple[str, str, str]] = field(default_factory=set)
    ignore: set[tuple[str, str, str]] = field(default_factory=set)
    leaves: int = 0


_TRANSLIT = str.maketrans({"ß": "ss", "ł": "l", "Ł": "L", "ø": "o", "æ": "ae"})


def _ascii(s: str) -> str:
    s = s.translate(_TRANSLIT)
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()


_STOP = {"de", "di", "du", "da", "do", "del", "der", "des", "of", "the", "e", "i", "y", "und", "et", "van", "d'", "le", "la"}


def style_key(phrase: str, style: str, rng: random.Random) -> str:
    """A natural phrase -> a field name in one API's style."""
    words = [w for w in re.split(r"[\s\-']+", phrase.lower()) if w]
    if len(words) > 1:
        words = [w for w in words if w not in _STOP] or words
    if rng.random() < 0.6:
        words = [_ascii(w) for w in words]
    if style == "snake":
        return "_".join(words)
    if style == "camel":
        return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])
    if style == "pascal":
        return "".join(w[:1].upper() + w[1:] for w in words)
    if style == "kebab":
        return "-".join(words)
    return "".join(words)


class Ctx:
    def __init__(self, split: str, rng: random.Random, fakers: dict[str, Faker]) -> None:
        self.split, self.rng = split, rng
        self.locale = rng.choice(LOCALES[split])
        self.fk = fakers[self.locale]
        lang = V.lang_of(self.locale)
        self.lang = "en" if rng.random() < 0.25 else lang  # many local APIs still name fields in English
        self.vlang = lang  # the language of values (gender words)
        self.style = rng.choice(["snake", "snake", "camel", "camel", "pascal", "lower", "kebab"])

    def key(self, label: str) -> str:
        table = CREDENTIAL_KEYS if label == "credential" else TEXT_KEYS if label == "text" else None
        words = (table or {}).get(self.lang) if table else VOCAB[label].get(self.lang)
        words = split_words(words or VOCAB.get(label, {}).get("en") or table["en"], self.split)  # type: ignore[index]
        return style_key(self.rng.choice(words), self.style, self.rng)

    def phrase(self, label: str) -> str:
        words = split_words(VOCAB[label].get(self.lang) or VOCAB[label]["en"], self.split)
        p = self.rng.choice(words)
        return p[:1].upper() + p[1:]

    def nkey(self, name: str) -> str:
        return style_key(name.replace("_", " "), self.style, self.rng)

    def value(self, label: str) -> L:
        r, fk = self.rng, self.fk
        if label == "email":
            v = fk.email() if r.random() < 0.7 else fk.free_email()
            if r.random() < 0.1:
                local, _, dom = v.partition("@")
                v = f"{local}+{fk.word()}@{dom}"
            return L(v, ("email",))
        if label == "phone":
            return L(V.phone(r, fk), ("phone",))
        if label == "person_name":
            return L(r.choice([fk.name, fk.first_name, fk.last_name, fk.name])(), ("person_name",))
        if label == "birth_date":
            return L(V.birth_date(r, fk, self.locale), ("birth_date",))
        if label == "gender":
            return L(r.choice(GENDER_WORDS_KEY[self.vlang]), ("gender",))
        if label == "address":
            return L(V.address(r, fk), ("address",))
        if label == "password":
            return L(V.password(r, fk), ("password",))
        if label == "passport":
            return L(fk.passport_number(), ("passport",))
        if label == "username":
            return L(fk.user_name(), ("username",))
        if label == "ip":
            return L(fk.ipv4_public() if r.random() < 0.8 else fk.ipv6(), ("ip",))
        if label == "mac":
            return L(V.mac(r, fk), ("mac",))
        if label == "card":
            return L(V.card(r, fk), ("card",))
        if label == "iban":
            return L(V.iban(r, fk), ("iban",))
        if label == "credential":
            return L(V.credential(r, fk), ("credential",))
        if label == "private_key":
            return L(V.private_key(r), ("private_key",))
        if label == "pension":
            return L(V.pension(r, fk, self.locale), ("pension",))
        if label in ("national_id", "tax_id"):
            makers = [m for m in V.id_makers(self.locale) if m[0] == label] or V.id_makers(self.locale)
            if not makers:
                return L(V.ssn_us(r), ("national_id",))
            lab, maker = r.choice(makers)
            return L(V.make_id(maker, r, fk), (lab,), ("tax_id", "national_id"))
        raise KeyError(label)

    def an_id(self) -> tuple[str, L]:
        """A national or tax identifier under a key naming it."""
        makers = V.id_makers(self.locale)
        lab = self.rng.choice(makers)[0] if makers else "national_id"
        return self.key(lab), self.value(lab)


# --- near-misses: values that look like personal data and are not -----------------------------

def near_misses(c: Ctx, k: int) -> dict[str, Any]:
    r, fk = c.rng, c.fk
    out: dict[str, Any] = {}
    for _ in range(k):
        kind = r.randrange(16)
        if kind == 0:
            out[c.nkey(r.choice(["firmware_version", "version", "app_version", "build_version"]))] = L(V.version_string(r))
        elif kind == 1:
            out[c.nkey(r.choice(["bind_ip", "listen_ip", "ip", "gateway_ip"]))] = L(r.choice(["0.0.0.0", "255.255.255.255"]))
        elif kind == 2:
            out[c.nkey(r.choice(["card_token", "payment_method", "source", "token"]))] = L(V.card_token(r))
        elif kind == 3:
            out[c.nkey(r.choice(["image", "avatar", "icon", "thumbnail"]))] = L(V.retina_image(r, fk))
        elif kind == 4:
            out[c.nkey(r.choice(["order_id", "reference", "invoice_number", "ticket_id", "numero_pedido"]))] = L(V.phone_shaped_id(r))
        elif kind == 5:
            out[c.nkey(r.choice(["created_at", "updated_at", "expiry_date", "fecha_pedido", "lieferdatum", "date_commande"]))] = L(V.some_date(r, fk))
        elif kind == 6:
            out[c.nkey(r.choice(["tracking_number", "barcode", "serial_number"]))] = L(V.luhn_invalid_16(r))
        elif kind == 7:
            out[c.nkey(r.choice(["request_id", "id", "uuid", "correlation_id"]))] = L(str(uuid.UUID(int=r.getrandbits(128))))
        elif kind == 8:
            out[c.nkey(r.choice(["sha256", "checksum", "etag", "hash"]))] = L(r.randbytes(32).hex())
        elif kind == 9:
            out[c.nkey(r.choice(["dependency", "package", "module"]))] = L(V.package_at_version(r, fk))
        elif kind == 10:
            out[c.nkey(r.choice(["genre", "music_genre", "category"]))] = L(r.choice(["jazz", "rock", "drama", "comedy", "pop", "thriller"]))
        elif kind == 11:
            out[c.nkey(r.choice(["size", "talla", "groesse", "taille"]))] = L(r.choice(["M", "L", "S", "XL"]))
        elif kind == 12:
            out[c.nkey(r.choice(["password_updated_at", "password_policy", "password_strength"]))] = L(
                r.choice([V.some_date(r, fk), "strong", "min_length_8", "weak"]))
        elif kind == 13:
            out[c.nkey(r.choice(["amount", "total", "price", "importe", "betrag"]))] = L(f"{r.randrange(1, 99999) / 100:.2f}")
        elif kind == 14:
            out[c.nkey(r.choice(["server_ip", "upstream_addr", "node_ip"]))] = L(f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}", (), ("ip",))
        else:
            out[c.nkey(r.choice(["city", "country", "zip", "postal_code", "region"]))] = L(
                r.choice([fk.city, fk.country, fk.postcode])(), (), ("address",))
    return out


def free_text(c: Ctx) -> L:
    """A description/comment/message with a phone, email, card or IBAN inside it (or none)."""
    r, fk = c.rng, c.fk
    kind = r.randrange(6)
    s1 = fk.sentence(nb_words=r.randrange(4, 10))
    if kind == 0:
        p = V.phone(r, fk, formatted_only=True)
        return L(r.choice([f"{s1} Call me at {p}.", f"Tel: {p} — {s1}", f"{s1} ({p})", f"{s1} Mobil {p}, bitte nach 17 Uhr."]), ("phone",))
    if kind == 1:
        e = fk.email()
        return L(r.choice([f"{s1} Contact: {e}", f"Please reply to {e}. {s1}", f"{s1} <{e}>"]), ("email",))
    if kind == 2:
        p, e = V.phone(r, fk, formatted_only=True), fk.email()
        return L(f"{s1} {e} / {p}", ("phone", "email"))
    if kind == 3:
        i = V.iban(r, fk).replace(" ", "")
        return L(f"{s1} IBAN {i}", ("iban",))
    # near-miss text: dates, versions, order numbers, amounts
    return L(r.choice([
        f"{s1} Order {V.phone_shaped_id(r)} shipped on {V.some_date(r, fk)}.",
        f"Upgraded to {V.version_string(r)} on {V.some_date(r, fk)}. {s1}",
        f"{s1} Total {r.randrange(1, 999)}.{r.randrange(10, 99)} EUR",
    ]))


# --- payload shapes ------------------------------------------------------------------------------

PERSON_LABELS = ["person_name", "email", "phone", "birth_date", "gender", "address"]


def person(c: Ctx, k: int | None = None) -> dict[str, Any]:
    r = c.rng
    labels = r.sample(PERSON_LABELS + ["username", "national_id", "passport", "iban", "ip"],
                      k or r.randrange(3, 8))
    out: dict[str, Any] = {c.nkey("id"): L(str(r.randrange(1, 10**7)))}
    for lab in labels:
        if lab == "person_name" and r.random() < 0.5:  # first and last names as two fields
            out[c.key("person_name")] = L(c.fk.first_name(), ("person_name",))
            out[c.key("person_name")] = L(c.fk.last_name(), ("person_name",))
            continue
        if lab == "national_id":
            k2, v = c.an_id()
            out[k2] = v
            continue
        out[c.key(lab)] = c.value(lab)
    if r.random() < 0.5:
        out.update(near_misses(c, r.randrange(1, 4)))
    return out


def shape_profile(c: Ctx) -> dict[str, Any]:
    r = c.rng
    doc: dict[str, Any] = {c.nkey(r.choice(["user", "customer", "cliente", "kunde", "utilisateur", "klant", "uzytkownik", "account"])): person(c)}
    if r.random() < 0.4:
        doc[c.nkey("address")] = {c.key("address"): c.value("address"), c.nkey("city"): L(c.fk.city(), (), ("address",)),
                                  c.nkey("postal_code"): L(c.fk.postcode(), (), ("address",))}
    return {"data": doc} if r.random() < 0.5 else doc


def shape_kv_array(c: Ctx) -> dict[str, Any]:
    """Key/value pairs: [{"name": "gender", "value": "F"}, {"label": "Date of birth", "value": ...}]."""
    r = c.rng
    kname, vname = r.choice([("name", "value"), ("key", "value"), ("label", "value"), ("field", "value"),
                             ("attribute", "val"), ("nombre", "valor"), ("chiave", "valore"), ("code", "data")])
    as_label = kname in ("label",) or r.random() < 0.3
    items = []
    for lab in r.sample(["gender", "birth_date", "phone", "email", "person_name", "passport", "address", "national_id"], r.randrange(2, 6)):
        name = c.phrase(lab) if as_label else c.key(lab)
        val = c.an_id()[1] if lab == "national_id" else c.value(lab)
        items.append({kname: L(name), vname: val})
    for _ in range(r.randrange(0, 3)):  # neutral attributes in the same array
        nm, nv = r.choice([("plan", "premium"), ("newsletter", "yes"), ("source", "web"), ("language", c.vlang),
                           ("loyalty_tier", "gold"), ("signup_date", V.some_date(r, c.fk))])
        items.append({kname: L(nm), vname: L(nv)})
    r.shuffle(items)
    return {c.nkey(r.choice(["attributes", "fields", "custom_fields", "properties", "metadata", "campos", "felder"])): items,
            c.nkey("id"): L(str(uuid.UUID(int=r.getrandbits(128))))}


def shape_documents(c: Ctx) -> dict[str, Any]:
    """Typed documents: {"type": "passport", "number": ...}."""
    r = c.rng
    tkey, nkey = r.choice([("type", "number"), ("kind", "value"), ("document_type", "document_number"),
                           ("tipo", "numero"), ("typ", "nummer"), ("type", "id"), ("doc_type", "doc_number")])
    docs = []
    for _ in range(r.randrange(1, 3)):
        kind = r.choice(["passport", "national_id", "tax_id", "passport", "driver_license", "invoice"])
        if kind == "invoice":  # a near-miss: typed, but not personal
            docs.append({tkey: L(r.choice(["invoice", "receipt", "factura", "rechnung"])), nkey: L(f"INV-{r.randrange(10**5, 10**7)}")})
            continue
        lang = c.vlang if c.vlang in DOC_TYPE_WORDS[kind] else "en"
        word = r.choice(split_words(DOC_TYPE_WORDS[kind][lang], c.split))
        if kind == "passport":
            val = c.value("passport")
        elif kind == "driver_license":  # personal, but no detector type is promised for it: not scored
            val = L(f"{r.choice('ABCDEFGHJK')}{r.randrange(10**6, 10**8)}", (), ("national_id", "passport", "tax_id"))
        else:
            makers = [m for m in V.id_makers(c.locale) if m[0] == kind] or V.id_makers(c.locale) or [("national_id", V.ssn_us)]
            lab, maker = r.choice(makers)
            val = L(V.make_id(maker, r, c.fk), (lab,), ("tax_id", "national_id"))
        d = {tkey: L(word), nkey: val}
        if r.random() < 0.6:
            d[c.nkey(r.choice(["country", "issuing_country", "pais"]))] = L(c.locale[-2:])
        if r.random() < 0.5:
            d[c.nkey(r.choice(["expiry_date", "expires", "valid_until"]))] = L(V.some_date(r, c.fk))
        docs.append(d)
    body: dict[str, Any] = {c.nkey(r.choice(["documents", "identity_documents", "documentos", "dokumente"])): docs}
    if r.random() < 0.5:
        body[c.key("person_name")] = c.value("person_name")
    if len(docs) == 1 and r.random() < 0.4:
        body = {c.nkey(r.choice(["identification", "document", "documento"])): docs[0]}
    return body


def shape_ticket(c: Ctx) -> dict[str, Any]:
    r = c.rng
    t: dict[str, Any] = {c.nkey("subject"): L(c.fk.sentence(nb_words=5)), c.key("text"): free_text(c),
                         c.nkey("status"): L(r.choice(["open", "pending", "abierto", "offen"]))}
    if r.random() < 0.5:
        t[c.nkey("messages")] = [{c.key("text"): free_text(c), c.nkey("created_at"): L(V.some_date(r, c.fk))}
                                 for _ in range(r.randrange(1, 4))]
    if r.random() < 0.5:
        t[c.nkey("requester")] = {c.key("person_name"): c.value("person_name"), c.key("email"): c.value("email")}
    return {c.nkey(r.choice(["ticket", "case", "incidencia", "anfrage"])): t}


def shape_webhook(c: Ctx) -> dict[str, Any]:
    r = c.rng
    body: dict[str, Any] = {c.nkey("event"): L(r.choice(["user.updated", "order.created", "session.started"])),
                            c.key("credential"): c.value("credential")}
    if r.random() < 0.5:
        body[c.nkey("headers")] = {r.choice(["Authorization", "authorization", "X-Api-Key"]): c.value("credential")}
    body[c.nkey("payload")] = person(c, r.randrange(1, 4)) if r.random() < 0.6 else near_misses(c, 3)
    return body


def shape_login(c: Ctx) -> tuple[dict[str, Any], dict[str, Any]]:
    r = c.rng
    who = "username" if r.random() < 0.6 else "email"
    req = {c.key(who): c.value(who), c.key("password"): c.value("password")}
    if r.random() < 0.3:
        req[c.nkey("remember_me")] = L("true")
    resp = {c.nkey("access_token"): L(V.jwt(r, c.fk), ("credential",)),
            c.nkey("token_type"): L("Bearer"), c.nkey("expires_in"): L(str(r.choice([900, 3600, 86400])))}
    if r.random() < 0.6:
        resp[c.nkey("refresh_token")] = L(V.opaque_token(r), ("credential",))
    return req, resp


def shape_device(c: Ctx) -> dict[str, Any]:
    r = c.rng
    dev: dict[str, Any] = {c.key("mac"): c.value("mac"), c.nkey("firmware_version"): L(V.version_string(r)),
                           c.nkey("model"): L(r.choice(["RT-AX88U", "C9200L", "Pixel 8", "iPhone15,2"]))}
    if r.random() < 0.7:
        dev[c.key("ip")] = c.value("ip")
    if r.random() < 0.4:
        dev[c.nkey(r.choice(["bind_ip", "listen_ip"]))] = L("0.0.0.0")
    if r.random() < 0.3:
        dev[c.nkey("owner")] = {c.key("person_name"): c.value("person_name"), c.key("email"): c.value("email")}
    return {c.nkey(r.choice(["devices", "dispositivos", "geraete"])): [dev] if r.random() < 0.5 else dev}


def shape_payment(c: Ctx) -> dict[str, Any]:
    r = c.rng
    cardo: dict[str, Any] = {c.key("card"): c.value("card"), c.nkey("exp_month"): L(str(r.randrange(1, 13))),
                             c.nkey("exp_year"): L(str(r.randrange(2026, 2032)))}
    if r.random() < 0.5:
        cardo[c.nkey("token")] = L(V.card_token(r))
    if r.random() < 0.4:
        cardo[c.nkey("holder")] = c.value("person_name")
    body: dict[str, Any] = {c.nkey("amount"): L(str(r.randrange(100, 100000))), c.nkey("currency"): L(r.choice(["EUR", "BRL", "PLN", "USD"]))}
    body[c.nkey(r.choice(["card", "tarjeta", "karte", "carte"]))] = cardo
    if r.random() < 0.5:
        body[c.key("iban")] = c.value("iban")
    if r.random() < 0.3:
        k, v = c.an_id()
        body[k] = v
    return body


def shape_hr(c: Ctx) -> dict[str, Any]:
    r = c.rng
    p = person(c, r.randrange(2, 5))
    p[c.key("pension")] = c.value("pension")
    if r.random() < 0.5:
        p[c.key("tax_id")] = c.value("tax_id")
    return {c.nkey(r.choice(["employee", "empleado", "mitarbeiter", "salarie", "dipendente", "funcionario", "medewerker", "pracownik"])): p}


def shape_secrets(c: Ctx) -> dict[str, Any]:
    r = c.rng
    body: dict[str, Any] = {c.nkey("name"): L(r.choice(["deploy-key", "tls", "ssh-host"])), c.nkey("private_key"): c.value("private_key")}
    if r.random() < 0.5:
        body[c.nkey("api_key")] = L(V.api_key(r), ("credential",))
    return body


def shape_list(c: Ctx) -> dict[str, Any]:
    r = c.rng
    return {c.nkey("items"): [person(c, r.randrange(2, 5)) for _ in range(r.randrange(2, 5))],
            c.nkey("total"): L(str(r.randrange(1, 500))), c.nkey("page"): L("1")}


BODY_SHAPES = [shape_profile, shape_kv_array, shape_documents, shape_ticket, shape_webhook, shape_device,
               shape_payment, shape_hr, shape_secrets, shape_list]


# --- materialising: labelled tree -> JSON/form text + truth --------------------------------------

def _plain(node: Any, path: str, loc: str, s: Sample) -> Any:
    if isinstance(node, L):
        p = path or "$"
        for lab in node.labels:
            s.truth.add((loc, p, lab))
        for lab in node.ignore:
            s.ignore.add((loc, p, lab))
        s.leaves += 1
        return node.value
    if isinstance(node, dict):
        return {k: _plain(v, f"{path}.{k}" if path else k, loc, s) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, path + "[]", loc, s) for v in node]
    return node


def _form(fields: dict[str, L], loc: str, s: Sample) -> str:
    parts = []
    for k, v in fields.items():
        for lab in v.labels:
            s.truth.add((loc, k, lab))
        for lab in v.ignore:
            s.ignore.add((loc, k, lab))
        s.leaves += 1
        parts.append(f"{quote_plus(k)}={quote_plus(v.value)}")
    return "&".join(parts)


def _flat(doc: dict[str, Any]) -> dict[str, L]:
    """A form can only carry flat fields: keep the top-level leaves and one level of objects."""
    out: dict[str, L] = {}
    for k, v in doc.items():
        if isinstance(v, L):
            out[k] = v
        elif isinstance(v, dict):
            out.update({kk: vv for kk, vv in v.items() if isinstance(vv, L)})
    return out


def _msg(method: str, target: str, headers: list[list[str]], body: str) -> dict[str, Any]:
    b = body.encode()
    return {"method": method, "target": target, "version": "HTTP/1.1", "headers": headers, "body": body,
            "body_encoding": "utf-8", "body_size": len(b), "truncated": False}


def _resp(status: int, headers: list[list[str]], body: str) -> dict[str, Any]:
    return {"status": status, "reason": "OK", "version": "HTTP/1.1", "headers": headers, "body": body,
            "body_encoding": "utf-8", "body_size": len(body.encode()), "truncated": False}


def one(c: Ctx, i: int) -> Sample:
    r = c.rng
    s = Sample(b"")
    req_h: list[list[str]] = [["Host", r.choice(["api.shop.example", "crm.internal", "users.svc"])], ["Accept", "application/json"]]
    resp_h: list[list[str]] = [["Content-Type", "application/json"]]
    target = "/" + r.choice(["v1/users", "api/clientes", "kunden", "webhooks/in", "v2/tickets", "payments", "devices", "auth/login"])
    method = r.choice(["POST", "PUT", "PATCH"])
    req_body, resp_body = "", ""
    roll = r.random()
    if roll < 0.12:
        req_doc, resp_doc = shape_login(c)
        if r.random() < 0.5:
            req_h.append(["Content-Type", "application/x-www-form-urlencoded"])
            req_body = _form(_flat(req_doc), "request.body", s)
        else:
            req_h.append(["Content-Type", "application/json"])
            req_body = orjson.dumps(_plain(req_doc, "", "request.body", s)).decode()
        resp_body = orjson.dumps(_plain(resp_doc, "", "response.body", s)).decode()
    else:
        shape = r.choice(BODY_SHAPES)
        doc = shape(c)
        if roll < 0.22:  # a form post of the same fields
            req_h.append(["Content-Type", "application/x-www-form-urlencoded"])
            req_body = _form(_flat(doc), "request.body", s)
            resp_body = orjson.dumps({"ok": True, "id": str(uuid.UUID(int=r.getrandbits(128)))}).decode()
        elif roll < 0.55:  # a GET whose response carries the data
            method = "GET"
            resp_body = orjson.dumps(_plain(doc, "", "response.body", s)).decode()
        else:
            req_h.append(["Content-Type", "application/json"])
            req_body = orjson.dumps(_plain(doc, "", "request.body", s)).decode()
            resp_body = orjson.dumps(_plain(near_misses(c, r.randrange(1, 4)), "", "response.body", s)).decode()
    if r.random() < 0.25:  # a query string with a lookup value
        lab = r.choice(["email", "phone", "username", "none"])
        qk = c.key(lab) if lab != "none" else c.nkey(r.choice(["page", "sort", "fields"]))
        qv = c.value(lab) if lab != "none" else L(r.choice(["2", "name", "created_at"]))
        target += "?" + _form({qk: qv}, "request.query", s)
    if r.random() < 0.3:  # credentials in headers
        hv = r.choice(["Bearer " + V.jwt(r, c.fk), "Basic " + V.credential(r, c.fk).split(" ")[-1], "Bearer " + V.opaque_token(r)])
        req_h.append(["Authorization", hv])
        s.truth.add(("request.header", "authorization", "credential"))
        s.leaves += 1
    if r.random() < 0.15:
        req_h.append(["X-Forwarded-For", c.fk.ipv4_public()])
        s.truth.add(("request.header", "x-forwarded-for", "ip"))
        s.leaves += 1
    rec = {
        "schema_version": 1, "id": f"heldout-{c.split}-{i}", "ts_request": 1.7e9 + i, "ts_response": 1.7e9 + i + 0.01,
        "src": {"ip": "10.0.0.1", "port": 40000 + i % 20000}, "dst": {"ip": "10.0.0.2", "port": 8080},
        "request": _msg(method, target, req_h, req_body), "response": _resp(200, resp_h, resp_body),
        "source": {"kind": "pcap-file"},
    }
    s.raw = orjson.dumps(rec)
    return s


def build(split: str, n: int = 3000) -> list[Sample]:
    """``n`` samples of ``split`` ("dev" or "untouched"), deterministic for a split and ``n``."""
    if split not in LOCALES:
        raise ValueError(f"split must be one of {sorted(LOCALES)}, not {split!r}")
    rng = random.Random(SEEDS[split])
    fakers = {}
    for loc in LOCALES[split]:
        f = Faker(loc)
        f.seed_instance(SEEDS[split] + len(fakers))
        fakers[loc] = f
    return [one(Ctx(split, rng, fakers), i) for i in range(n)]
