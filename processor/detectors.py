"""Decides which personal-data types one leaf holds, from its key path and its value together.

A value-only regex is the weak baseline: an order number can pass Luhn, a product can have a name,
a version string looks like an IP address. So each rule asks the key first (does it name the type,
does it name something else?) and the value second (shape, checksum, vocabulary). Rules are plain
functions; ``Classifier.classify`` runs them in a fixed order and returns the types found.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import phonenumbers

from processor import validators as v
from processor.keys import KeyInfo, fold, key_info
from processor.names import FIRST_NAMES
from processor.walk import LABEL_MARK

# --- key vocabularies -------------------------------------------------------------------------

# Keys that name an identifier of a thing, not a person's data: a number under them is not a card or phone.
NOT_PERSONAL: Final = frozenset(
    """id ids uuid guid order invoice tracking track sku ref reference transaction txn tx confirmation
    ticket serial barcode gtin ean upc isbn version ver build revision rev hash checksum count total
    amount price cost qty quantity size length offset limit page cursor timestamp ts epoch code status
    sequence seq batch shipment parcel product item booking reservation receipt request trace span
    correlation session nonce idempotency latency duration port pid uid gid zone sort rank score""".split()
)
# Parents under which "name" is not a person's name.
THING_PARENTS: Final = frozenset(
    """product item category company org organization organisation file service app application project
    team brand store shop merchant bank city country street tag label plan event field group role repo
    repository model device host cluster namespace pod node metric feature sku variant course book song
    movie title department business vendor supplier campaign region venue warehouse attribute option
    line cart package module library dataset table column queue topic bucket image container deployment
    workload server database job task policy rule flag setting config env environment font color currency
    tier coupon promotion skill language hotel restaurant airline flight route menu dish recipe channel
    playlist album artist_id lesson""".split()
)
PERSON_PARENTS: Final = frozenset(
    """user customer person contact owner holder cardholder recipient sender employee patient author
    member account profile buyer seller passenger guest traveler traveller driver applicant student
    client beneficiary payer payee shipper consignee billing shipping emergency spouse parent child ship bill
    deliver delivery card creditcard debitcard cardholder
    manager assignee reporter signer subscriber attendee candidate tenant resident lead""".split()
)

EMAIL_WORDS: Final = frozenset({"email", "mail", "emailaddress"})
PHONE_WORDS: Final = frozenset({"phone", "mobile", "tel", "telephone", "cell", "cellphone", "msisdn", "fax", "whatsapp", "sms"})
NAME_COMPACTS: Final = frozenset(
    """firstname lastname fullname givenname familyname surname middlename forename maidenname
    cardholdername holdername nameoncard cardholder accountholdername contactname customername
    personname legalname displayname realname patientname recipientname sendername billingname
    shippingname fname lname""".split()
)
ADDRESS_COMPACTS: Final = frozenset(
    """address addr street streetaddress address1 address2 addressline1 addressline2 line1 line2 city
    town zip zipcode postcode postalcode postal province county district suburb homeaddress
    mailingaddress billingaddress shippingaddress residence housenumber apartment apt building floor
    latitude longitude lat lng lon long geo geolocation coordinate coordinates location gps""".split()
)
ADDRESS_EXCLUDE: Final = frozenset({"email", "ip", "mac", "wallet", "id", "url", "uri", "host", "web", "contract", "memory", "bitcoin", "eth"})
HOLDER_COMPACTS: Final = frozenset({"holder", "accountholder", "owner", "beneficiary", "recipient", "payee", "payer", "cardowner"})
CVV_COMPACTS: Final = frozenset({"cvv", "cvc", "cvv2", "cvc2", "csc", "securitycode", "cardsecuritycode", "cardverificationvalue", "cardcode", "cardverification", "cvn"})
EXPIRY_COMPACTS: Final = frozenset(
    {"exp", "expiry", "expiration", "expdate", "expirydate", "expirationdate", "validthru", "validuntil", "cardexpiry", "cardexp", "ccexp", "expires", "cardexpiration"}
)
CARD_COMPACTS: Final = frozenset(
    {"card", "cardnumber", "cardnum", "cardno", "cc", "ccnumber", "ccnum", "ccno", "pan", "creditcard", "creditcardnumber", "debitcard", "debitcardnumber", "primaryaccountnumber", "paymentcard", "cardpan"}
)
CARD_PARENTS: Final = CARD_COMPACTS | {"payment", "paymentmethod", "source", "instrument", "karte", "tarjeta", "carte", "carta", "cartao", "kaart", "karta"}
MASKED_COMPACTS: Final = frozenset({"last4", "lastfour", "cardlast4", "lastdigits", "last4digits", "maskedpan", "maskedcard", "maskednumber", "maskedcardnumber", "panmasked"})
PASSWORD_COMPACTS: Final = frozenset(
    {"password", "passwd", "pwd", "pass", "passphrase", "newpassword", "oldpassword", "currentpassword", "confirmpassword", "passwordconfirmation", "userpassword", "pin", "pincode", "secretanswer", "securityanswer", "loginpassword", "dbpassword"}
)
PASSWORD_EXCLUDE: Final = frozenset({"policy", "min", "max", "length", "hint", "strength", "required", "expire", "expired", "expiry", "changed", "reset", "updated", "last", "rule", "complexity", "less", "age", "count", "attempt", "set", "type", "enabled", "url", "link", "field", "label"})
SSN_COMPACTS: Final = frozenset({"ssn", "socialsecuritynumber", "socialsecurity", "socialsecurityno", "ssnnumber", "ss"})
PASSPORT_COMPACTS: Final = frozenset({"passport", "passportnumber", "passportno", "passportnum", "passportid"})
DL_COMPACTS: Final = frozenset(
    {"driverlicense", "driverslicense", "driverlicence", "driverslicence", "drivinglicense", "drivinglicence", "dl", "dlnumber", "dlno", "driverlicensenumber", "driverslicensenumber", "drivinglicencenumber", "licensenumber", "licencenumber"}
)
TAX_COMPACTS: Final = frozenset(
    {"taxid", "tin", "taxnumber", "taxidentificationnumber", "vat", "vatnumber", "vatid", "vatno", "ein", "itin", "taxpayerid", "taxpayernumber", "taxcode", "nif", "cpf", "steuerid", "utr", "taxreference", "fiscalcode", "codicefiscale"}
)
BIRTH_COMPACTS: Final = frozenset({"dob", "birthdate", "birthday", "dateofbirth", "birth", "born", "bday", "birthdt", "birthdateutc"})
GENDER_COMPACTS: Final = frozenset({"gender", "sex", "genderidentity"})
GENDER_VALUES: Final = frozenset({"male", "female", "m", "f", "man", "woman", "nonbinary", "non-binary", "other", "x", "diverse", "trans", "transgender", "agender", "genderqueer", "prefer_not_to_say", "prefer not to say", "undisclosed",
                           # es, de, fr, it, pt, nl, pl (accents folded)
                           "masculino", "femenino", "hombre", "mujer", "h", "v", "w", "k", "d", "mannlich", "weiblich", "divers", "homme",
                           "femme", "masculin", "feminin", "maschio", "femmina", "uomo", "donna", "feminino", "vrouw", "mezczyzna",
                           "kobieta", "otro", "outro", "autre", "altro", "anders", "inny", "nao binario", "no binario", "non binaire"})
USERNAME_COMPACTS: Final = frozenset({"username", "login", "loginname", "userlogin", "handle", "nickname", "screenname", "nick", "accountname", "uname"})
TOKEN_WORDS: Final = frozenset({"token", "apikey", "secret", "key"})
TOKEN_COMPACTS: Final = frozenset(
    {"apikey", "apitoken", "accesstoken", "refreshtoken", "idtoken", "authtoken", "sessiontoken", "bearertoken", "clientsecret", "secretkey", "accesskey", "privatetoken", "secret", "token", "apisecret", "appsecret", "xapikey", "authkey", "secretaccesskey", "awssecretaccesskey", "sessionid", "sessionkey", "signingkey", "webhooksecret", "accesskeysecret", "oauthtoken", "xauthtoken", "sid"}
)
TOKEN_EXCLUDE: Final = frozenset({"cache", "partition", "sort", "primary", "foreign", "object", "routing", "lookup", "dedup", "dedupe", "bucket", "storage", "row", "hash", "page", "cursor", "next", "continuation", "sync", "etag", "idempotency", "csrf", "xsrf", "type", "expire", "expires", "expiry", "ttl", "count", "url", "name", "id", "scope", "hint", "public", "pagination", "prev", "previous", "kind"})

# --- value shapes -----------------------------------------------------------------------------

_EMAIL: Final = re.compile(r"[\w.%+'-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}")
_EMAIL_IN_TEXT: Final = re.compile(r"(?<![\w.@/:-])[\w.%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b")
_PHONE_CHARS: Final = re.compile(r"\+?[\d\s().-]{7,22}")
_MAC: Final = re.compile(r"[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}")
_MASKED: Final = re.compile(r"[0-9*xX•#\s-]{12,23}")
_API_KEYS: Final = [
    re.compile(r"(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}"),  # AWS access key id
    re.compile(r"AIza[0-9A-Za-z_-]{35}"),  # Google API key
    re.compile(r"ya29\.[0-9A-Za-z_-]{20,}"),  # Google OAuth access token
    re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}"),  # GitHub
    re.compile(r"github_pat_[A-Za-z0-9_]{40,}"),
    re.compile(r"glpat-[0-9A-Za-z_-]{20,}"),  # GitLab
    re.compile(r"xox[abposr]-[0-9A-Za-z-]{10,}"),  # Slack
    re.compile(r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}"),  # Stripe secret / restricted
    re.compile(r"sk-(?:proj-)?[A-Za-z0-9_-]{32,}"),  # OpenAI-style
    re.compile(r"SG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43}"),  # SendGrid
    re.compile(r"npm_[A-Za-z0-9]{36}"),
]
# One alternation: a single regex pass instead of eleven.
_API_KEY: Final = re.compile("|".join(f"(?:{p.pattern})" for p in _API_KEYS))
_STREET: Final = re.compile(
    r"\d{1,5}[A-Za-z]?\s+(?:[A-Z][a-zA-Z'.-]*\s+){1,4}(?:St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Ln|Lane|Dr|Drive|Way|Ct|Court|Pl|Place|Ter|Terrace|Pkwy|Parkway|Hwy|Highway|Sq|Square)\.?(?:,.*)?"
)
_STRASSE: Final = re.compile(r"[A-ZÄÖÜ][\wäöüß.-]+(?:straße|strasse|weg|platz|allee|gasse)\s+\d{1,4}[a-z]?(?:,.*)?")
_DATE: Final = re.compile(
    r"(?:(?P<y1>\d{4})[-/.](?P<m1>\d{1,2})[-/.](?P<d1>\d{1,2})(?:T00:00:00(?:\.0+)?Z?)?"
    r"|(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y2>\d{4}))"
)
_EXPIRY: Final = re.compile(r"(0[1-9]|1[0-2])\s?[/-]\s?(\d{2}|20\d{2})")
_ALNUM_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{3,18}[A-Za-z0-9]")
_USERNAME: Final = re.compile(r"[A-Za-z0-9._@-]{2,40}")
_ZIP: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{2,9}")
_OPAQUE: Final = re.compile(r"[A-Za-z0-9_\-+/=.~]{16,}")
# Payment-provider object ids (a card token, a payment method): references, not secrets. Secret keys
# (sk_, rk_) are not among them.
_OBJECT_ID: Final = re.compile(r"(?:tok|btok|pm|card|src|ch|cus|pi|seti|price|prod|acct|evt|sub|txn|ba|po|tr|in|py|re)_[A-Za-z0-9]{8,}")
_MAC_DOTTED: Final = re.compile(r"[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}")
_FILE_TLDS: Final = frozenset({"png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "ico", "tif", "tiff", "avif", "heic", "js", "css", "json", "xml", "html", "pdf", "mp4", "mp3"})
_PHONE_EXT: Final = re.compile(r"\s*(?:x|ext\.?|extension|#)\s*\d{1,6}$", re.I)
_TEXT_PHONE: Final = re.compile(r"(?<![\w.+/-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d[\d\s.()/-]{5,18}\d(?:x\d{1,6})?(?![\w/-])")
_TEXT_IBAN: Final = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_TEXT_CARD: Final = re.compile(r"(?<![\d-])\d{4}(?:[ -]?\d{2,6}){2,4}(?![\d-])")
_PHONE_REGIONS: Final = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "BR", "IN", "MX", "PT", "BE", "AT", "CH", "CA", "AU")


@dataclass(frozen=True, slots=True)
class CustomType:
    """A user-defined type: a regex on the key path and/or the value (both must match when both set)."""

    name: str
    sensitivity: str
    key: re.Pattern[str] | None
    value: re.Pattern[str] | None


def parse_custom(items: list[dict[str, str]]) -> list[CustomType]:
    """Compile custom types from config; a bad entry fails with a message naming it."""
    out = []
    for i, item in enumerate(items):
        where = f"processor.custom_types[{i}]"
        name = item.get("name", "")
        if not name:
            raise ValueError(f"{where}: 'name' is required")
        if not item.get("key_regex") and not item.get("value_regex"):
            raise ValueError(f"{where}: give key_regex, value_regex or both")
        level = item.get("sensitivity", "medium")
        if level not in ("low", "medium", "high"):
            raise ValueError(f"{where}.sensitivity: must be low, medium or high, got {level!r}")
        try:
            key = re.compile(item["key_regex"], re.I) if item.get("key_regex") else None
            value = re.compile(item["value_regex"]) if item.get("value_regex") else None
        except re.error as e:
            raise ValueError(f"{where}: bad regex: {e}") from None
        out.append(CustomType(name, level, key, value))
    return out


# --- rules ------------------------------------------------------------------------------------


def _personal_id_key(k: KeyInfo) -> bool:
    """The key names an identifier of a thing (order_id, sku, tracking_number...); per path."""
    found = k.memo.get(5)
    if found is None:
        found = k.memo[5] = any(w in NOT_PERSONAL for w in k.words)
    return found


def _is_key(k: KeyInfo, compacts: frozenset[str]) -> bool:
    """Does the key name one of ``compacts``? Memoised on the (cached) KeyInfo: paths repeat."""
    found = k.memo.get(id(compacts))
    if found is None:
        found = k.memo[id(compacts)] = _is_key_uncached(k, compacts)
    return found


def _is_key_uncached(k: KeyInfo, compacts: frozenset[str]) -> bool:
    if k.compact in compacts:
        return True
    # "billing_card_number", "customer_email_address": a known compact as the key's tail
    for n in (2, 3):
        if len(k.words) > n and "".join(k.words[-n:]) in compacts:
            return True
    return len(k.words) > 1 and k.words[-1] in compacts and k.words[-1] not in ("pass", "pin", "ss", "tin", "dl", "pan", "cc", "geo", "long", "lat", "line1", "line2", "sex", "exp", "login", "handle", "nick", "sid", "key", "token", "secret", "postal")


def rule_private_key(k: KeyInfo, val: str) -> str | None:
    if "-----BEGIN" in val and "PRIVATE KEY-----" in val:
        return "private_key"
    return None


_EXP_PARTS: Final = frozenset({"expmonth", "expyear", "expirymonth", "expiryyear", "expirationmonth", "expirationyear"})


def rule_card_context(k: KeyInfo, val: str) -> str | None:
    """CVV, expiry, masked card by key context; the value must have the right shape."""
    if _is_key(k, CVV_COMPACTS):
        return "card_cvv" if val.isdigit() and len(val) in (3, 4) else None
    if _is_key(k, EXPIRY_COMPACTS) or (k.parent_compact in CARD_COMPACTS and k.compact in _EXP_PARTS):
        if _EXPIRY.fullmatch(val):
            return "card_expiry"
        if k.compact.endswith(("month", "year")) and val.isdigit() and len(val) in (1, 2, 4):
            return "card_expiry"
        return None
    if _is_key(k, MASKED_COMPACTS):
        return "masked_card" if (val.isdigit() and len(val) == 4) or _masked_card(val) else None
    return None


def _masked_card(val: str) -> bool:
    if not _MASKED.fullmatch(val):
        return False
    masks = sum(ch in "*xX•#" for ch in val)
    digits = v.digit_count(val)
    return masks >= 4 and 2 <= digits <= 10 and 13 <= masks + digits <= 19 and val[-1] not in "*xX•#"


def rule_card(k: KeyInfo, val: str) -> str | None:
    digits = v.card_digits(val)
    if digits is None or not v.luhn_ok(digits):
        return None
    keyed = k.concept == "card" or _is_key(k, CARD_COMPACTS) or (k.parent_compact in CARD_PARENTS and k.compact in ("number", "num", "no", "value", ""))
    if keyed:  # the key says card: Luhn is enough (issuer ranges change; test cards sit outside them)
        return "card_number"
    if v.card_brand(digits) is None:
        return None
    if _personal_id_key(k) or k.has("number", "no", "num", "phone", "imei", "account", "acct", "iban"):
        return None
    return "card_number"


def rule_masked(k: KeyInfo, val: str) -> str | None:
    if "*" not in val and "x" not in val and "X" not in val and "•" not in val and "#" not in val:
        return None
    return "masked_card" if _masked_card(val) and not _personal_id_key(k) else None


def rule_secret_keys(k: KeyInfo, val: str) -> str | None:
    """Passwords and tokens named by their key."""
    if _is_key(k, PASSWORD_COMPACTS) and not any(w in PASSWORD_EXCLUDE for w in k.words):
        if k.compact in ("pin", "pincode") and not (val.isdigit() and 4 <= len(val) <= 8):
            return None
        if val.strip("*•") == "" or len(val) > 256 or v.jwt_ok(val):
            return None
        if _DATE.fullmatch(val[:10]) or val.lower() in ("true", "false", "null", "none", "required", "optional"):
            return None
        return "password"
    if k.compact in TOKEN_COMPACTS or (k.words and k.words[-1] in TOKEN_WORDS and not any(w in TOKEN_EXCLUDE for w in k.words)):
        return _token_value(val)
    return None


def _token_value(val: str) -> str | None:
    """A value under a key that names a credential: a JWT, or an opaque secret (not an object id)."""
    if v.jwt_ok(val):
        return "jwt"
    if _OBJECT_ID.fullmatch(val):
        return None
    if _OPAQUE.fullmatch(val) and v.ascii_letter_count(val) >= 4:  # _OPAQUE's characters are ASCII
        digits = v.digit_count(val)
        # random tokens mix digits in, or at least both cases over 20+ characters; words do neither
        if digits >= 2 or (len(val) >= 20 and not val.islower() and not val.isupper() and (digits or "-" in val or "_" in val)):
            return "api_key"
    return None


def rule_government(k: KeyInfo, val: str) -> str | None:
    if _is_key(k, SSN_COMPACTS):
        return "ssn" if v.ssn_ok(val, formatted_only=False) else v.national_type(val, "national_id")
    if _is_key(k, PASSPORT_COMPACTS) or (k.parent_has("passport") and k.compact in ("number", "no", "num", "id")):
        return "passport" if _doc_number(val, 6, 12) else None
    if _is_key(k, DL_COMPACTS) and (k.compact not in ("licensenumber", "licencenumber") or k.ancestors & {"driver", "driving", "dl"}):
        return "driver_license" if _doc_number(val, 5, 18) else None
    if (k.parent_compact in ("driverlicense", "driverslicense", "drivinglicense", "driverlicence", "drivinglicence") and k.compact in ("number", "no", "num", "id")):
        return "driver_license" if _doc_number(val, 5, 18) else None
    if _is_key(k, TAX_COMPACTS):
        if v.ssn_ok(val):  # a formatted US SSN is the SSN, whatever the form calls it
            return "ssn"
        return (v.national_type(val, "tax_id") or "tax_id") if _doc_number(val, 6, 20) else None
    return None


def _doc_number(val: str, lo: int, hi: int) -> bool:
    compact = val.replace("-", "").replace(" ", "").replace(".", "").replace("/", "")
    return lo <= len(compact) <= hi and compact.isalnum() and any(c.isdigit() for c in compact)


def rule_identity(k: KeyInfo, val: str) -> str | None:
    """Birth date, gender, person name, username: the key names them, the value fits."""
    if _is_key(k, BIRTH_COMPACTS) or (k.compact == "date" and k.parent_has("birth")):
        return "birth_date" if _plausible_birth_date(val) else None
    if _is_key(k, GENDER_COMPACTS):
        return "gender" if val.strip().lower() in GENDER_VALUES else None
    if _is_key(k, NAME_COMPACTS) or (k.compact in ("first", "last", "given", "family", "middle") and k.parent_has("name")):
        return "person_name" if _looks_like_name(val) else None
    if _is_key(k, USERNAME_COMPACTS) and not any(w in ("count", "at", "time", "date", "attempt", "url", "type", "method", "enabled") for w in k.words):
        return "username" if _USERNAME.fullmatch(val) and not val.isdigit() and "@" not in val else None
    if k.compact == "name" or k.compact == "fullname" or (k.words and k.words[-1] == "name" and len(k.words) == 2):
        return _bare_name(k, val)
    if k.compact in HOLDER_COMPACTS:  # card.holder, account.owner: a person when it reads like one
        if not _looks_like_name(val):
            return None
        if k.parent_compact in CARD_PARENTS or k.parent_has("account", "bank", "card", "payment"):
            return "person_name"
        return "person_name" if val.split()[0].lower() in FIRST_NAMES and len(val.split()) == 2 else None
    return None


def _bare_name(k: KeyInfo, val: str) -> str | None:
    """``name`` alone is a person's name only under a person-like parent, or when it reads like one."""
    owner = k.words[0] if len(k.words) == 2 else ""
    ctx = set(k.parent) | ({owner} if owner else set())
    if ctx & THING_PARENTS or (owner and owner not in PERSON_PARENTS):
        return None
    if not _looks_like_name(val):
        return None
    if ctx & PERSON_PARENTS:
        return "person_name"
    # neutral key: "Given Family" with a known given name; three words read more like a product
    first = val.split()[0].strip(".,").lower()
    return "person_name" if first in FIRST_NAMES and len(val.split()) == 2 else None


_PARTICLES: Final = frozenset({"van", "von", "de", "da", "del", "der", "di", "le", "la", "bin", "al", "du", "dos", "das", "do", "della", "dei",
                        "den", "ter", "ten", "y", "e", "zu", "of", "des", "el", "lo", "ibn",
                        # lower-case honorifics some locales write before a name
                        "pan", "pani", "sr", "sra", "srta", "dr", "mr", "mrs", "ms", "herr", "frau", "mme", "mlle", "sig", "dhr", "mevr"})


def _looks_like_name(val: str) -> bool:
    """Capitalised words of letters (any script), apostrophes and hyphens; particles lower case."""
    if not 2 <= len(val) <= 60 or (_ASCII_DIGIT.search(val) if val.isascii() else any(c.isdigit() for c in val)):
        return False
    words = val.replace(",", " ").split()
    if not 1 <= len(words) <= 6:
        return False
    for w in words:
        if w in _PARTICLES or ("." in w and len(w) <= 10 and w[0].isupper()):  # "Dipl.-Ing.", "B.Sc.", "Sig.ra"
            continue
        core = w.rstrip(".")
        if not core or not core[0].isupper() or not core.replace("'", "").replace("’", "").replace("-", "").isalpha():
            return False
        if len(w) - len(core) > 1:
            return False
    return True


def _plausible_birth_date(val: str) -> bool:
    m = _DATE.fullmatch(val.strip())
    if not m:
        return False
    year = int(m.group("y1") or m.group("y2"))
    return 1900 <= year <= 2026


def _address_key(k: KeyInfo) -> str:
    """'no' (never an address), 'yes' (the key names an address part) or 'maybe'; memoised per path."""
    found = k.memo.get(1)
    if found is None:
        if any(w in ADDRESS_EXCLUDE for w in k.words):
            found = "no"
        elif _is_key(k, ADDRESS_COMPACTS) or (
            (k.parent_has("address", "location", "geo", "residence", "home") or (k.parent_compact in PERSON_PARENTS and "card" not in k.parent_compact)
             or k.parent_compact in ("shipto", "billto"))
            and k.compact in ("line", "state", "country", "region", "number", "unit", "building", "house")
        ):
            found = "yes"
        else:
            found = "maybe"
        k.memo[1] = found
    return found


def rule_address(k: KeyInfo, val: str) -> str | None:
    keyed = _address_key(k)
    if keyed == "no":
        return None
    if keyed == "yes":
        if k.compact in ("latitude", "longitude", "lat", "lng", "lon", "long"):
            try:
                return "address" if abs(float(val)) <= 180 and "." in val else None
            except ValueError:
                return None
        if k.compact in ("zip", "zipcode", "postcode", "postalcode", "postal"):
            return "address" if _ZIP.fullmatch(val) and any(c.isdigit() for c in val) else None
        if k.compact in ("location", "geo", "geolocation", "gps", "coordinate", "coordinates"):
            return "address" if (_STREET.fullmatch(val) or _latlng(val) or ("," in val and any(c.isalpha() for c in val))) else None
        if any(c.isalpha() for c in val) and len(val) <= 200 and val.lower() not in ("true", "false", "null", "n/a", "none"):
            return "address"
        return None
    if " " in val and ((val[0].isdigit() and _STREET.fullmatch(val)) or (val[0].isupper() and _STRASSE.fullmatch(val))):
        return "address"
    return None


def _latlng(val: str) -> bool:
    parts = val.split(",")
    if len(parts) != 2:
        return False
    try:
        a, b = float(parts[0]), float(parts[1])
    except ValueError:
        return False
    return abs(a) <= 90 and abs(b) <= 180 and "." in val


def rule_email(k: KeyInfo, val: str) -> str | None:
    if "@" not in val:
        return None
    if _EMAIL.fullmatch(val):
        return None if val.rsplit(".", 1)[-1].lower() in _FILE_TLDS else "email"  # logo@2x.png
    if " " in val and len(val) < 2000 and _EMAIL_IN_TEXT.search(val):
        return "email"
    return None


def rule_values(k: KeyInfo, val: str) -> str | None:
    """Types whose value carries its own proof: IBAN, formatted SSN, JWT, API keys, IP, MAC."""
    first = val[0]
    if first == "e" and v.jwt_ok(val):
        return "jwt"
    if first.isalpha() and first.isupper() and len(val) >= 15 and v.iban_ok(val):
        return "iban"
    if first.isdigit() and len(val) == 11 and v.ssn_ok(val):
        return None if _personal_id_key(k) else "ssn"
    if len(val) >= 16 and _API_KEY.fullmatch(val):
        return "api_key"
    if (first.isdigit() or ":" in val) and (kind := v.ip_kind(val)):
        if kind == "v4" and (any(w in ("version", "ver", "build", "oid", "release", "firmware", "fw") for w in k.words)
                             or any(w in k.compact for w in ("version", "firmware", "release"))):
            return None
        if val in ("0.0.0.0", "255.255.255.255", "::"):  # "any address", broadcast: configuration, not a host
            return None
        return "ip_address"
    if len(val) == 17 and _MAC.fullmatch(val):
        return "mac_address"
    if len(val) == 14 and _MAC_DOTTED.fullmatch(val) and (any(c.isalpha() for c in val) or _mac_key(k)):
        return "mac_address"  # Cisco's dotted notation, 0011.2233.4455
    if len(val) == 12 and _mac_key(k) and all(c in "0123456789abcdefABCDEF" for c in val):
        return "mac_address"
    return None


def _mac_key(k: KeyInfo) -> bool:
    return k.has("mac") or k.compact.startswith("mac") or k.compact in ("hwaddr", "hardwareaddress", "bssid", "hwaddress")


_PHONE_FIRST: Final = frozenset("+(0123456789")
_ASCII_DIGIT: Final = re.compile(r"[0-9]")


def rule_phone(k: KeyInfo, val: str) -> str | None:
    if len(val) < 7 or val[0] not in _PHONE_FIRST:  # cheap: most values are not phone-shaped
        return None
    keyed, unkeyed_blocked = _phone_key(k)
    # unkeyed, a phone needs a key that allows one and more than digits ("+", or formatting): every
    # other value ends in None below, so it is answered before the regexes
    if not keyed and (unkeyed_blocked or val.isdigit()):
        return None
    if "x" in val or "#" in val or "e" in val:
        val = _PHONE_EXT.sub("", val)
    if "/" in val:
        val = val.replace("/", " ")
    if not _PHONE_CHARS.fullmatch(val):
        return None
    digits = v.digit_count(val)
    if not 7 <= digits <= 15:
        return None
    if keyed:
        # the key says phone: national formats of any country ("06834 49786", "0612345678") qualify
        return None if _DATE.fullmatch(val) else "phone"
    if unkeyed_blocked:
        return None
    # unkeyed: needs international form or human formatting, and a valid number; never a date nor
    # an IPv4 literal (a version key's "10.20.30.40" got here), which phonenumbers would parse slowly
    if _DATE.fullmatch(val) or (val.count(".") == 3 and v.ip_kind(val)):
        return None
    if val.startswith("+") or (not val.isdigit() and any(c in val for c in " -().")):
        return "phone" if _phone_parses(val, strict=True) else None
    return None


def _phone_key(k: KeyInfo) -> tuple[bool, bool]:
    """(the key says phone, the key forbids an unkeyed phone: an id, a number of something); per path."""
    found = k.memo.get(4)
    if found is None:
        keyed = any(w in PHONE_WORDS for w in k.words) or k.compact in PHONE_WORDS or _phone_compact(k)
        keyed = keyed and not any(w in ("id", "type", "count", "verified", "country", "code", "ext", "extension") for w in k.words)
        blocked = _personal_id_key(k) or k.has("number", "no", "num", "imei", "account", "zip", "postal")
        found = k.memo[4] = (keyed, blocked)
    return found


def _phone_compact(k: KeyInfo) -> bool:
    """``phonenumber``, ``mobilephone``: keys written without separators."""
    found = k.memo.get(3)
    if found is None:
        found = k.memo[3] = any(w in k.compact for w in ("phone", "mobile", "msisdn", "cellular")) and not any(
            w in k.compact for w in ("type", "verified", "count", "country", "code", "model", "brand", "os"))
    return found


def _phone_parses(val: str, strict: bool) -> bool:
    if strict and not val.startswith("+") and not _nanp_possible(val):
        return False
    try:
        num = phonenumbers.parse(val, None if val.startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(num) if strict else phonenumbers.is_possible_number(num)


def _nanp_possible(val: str) -> bool:
    """Could ``val`` (no "+") be a valid number read with region US? phonenumbers takes ~100 us (pure
    Python) to say no to a date written with spaces ("22 01 2028"); the digits say it first. Without
    the US international prefix (011) the country is +1; phonenumbers takes leading 1s off (the
    country code, the national prefix), and what is left must fit one of the regions' general
    patterns, whose union is ``[2-9]\\d{9}|3\\d{6}`` (checked against phonenumbers' metadata by the
    tests). Non-ASCII digits are left to phonenumbers."""
    if not val.isascii():
        return True
    digits = val.encode("ascii").translate(None, _NOT_DIGITS)
    if digits.startswith(b"011"):
        return True
    rest = digits.lstrip(b"1")
    n = len(rest)
    return (n == NANP_LENGTHS[1] and not rest.startswith(b"0")) or (n == NANP_LENGTHS[0] and rest.startswith(b"3"))


NANP_LENGTHS: Final = (7, 10)  # national numbers of country code 1: 10 digits, first 2-9; 7 (Canada's 310-xxxx), first 3
_NOT_DIGITS: Final = bytes(c for c in range(256) if not 48 <= c <= 57)


# Parents (any language) under which a name-like key names a thing, not a person.
THING_PARENTS_INTL: Final = THING_PARENTS | frozenset(
    """producto produkt produit prodotto produto artikel articulo article articolo artigo empresa firma unternehmen
    societe entreprise azienda societa bedrijf organizacion categoria kategorie categorie tienda geschaft magasin negozio
    loja winkel sklep ciudad stadt ville citta cidade stad miasto pais land pays paese kraj servicio dienst archivo datei
    fichier documento plan""".split()
)


_GENERIC_NAME_WORDS: Final = frozenset({"nombre", "nom", "nome", "naam", "nazwa", "titular"})


def rule_concept(k: KeyInfo, val: str) -> str | None:
    """Keys in other languages (processor/lexicon.py): the key names a type, the value must fit it."""
    c = k.concept
    if c is None:
        return None
    if c == "birth_date":
        return "birth_date" if _plausible_birth_date(val) else None
    if c == "gender":
        return "gender" if fold(val).strip().lower() in GENDER_VALUES else None
    if c == "person_name":
        # a generic word ("nombre", "nom", "naam") under a thing (producto.nombre) names the thing
        if k.compact in _GENERIC_NAME_WORDS and (set(k.parent) & THING_PARENTS_INTL or any(w in THING_PARENTS_INTL for w in k.words[:-1])):
            return None
        return "person_name" if _looks_like_name(val) else None
    if c == "username":
        return "username" if _USERNAME.fullmatch(val) and not val.isdigit() and "@" not in val else None
    if c == "password":
        if val.strip("*•") == "" or len(val) > 256 or v.jwt_ok(val) or val.lower() in ("true", "false", "null"):
            return None
        return "password"
    if c == "passport":
        return "passport" if _doc_number(val, 6, 12) else None
    if c == "phone":
        return rule_phone(_PHONE_KEY, val)
    if c == "email":
        return "email" if _EMAIL.fullmatch(val) else None
    if c == "address":
        if any(w in ADDRESS_EXCLUDE for w in k.words) or k.compact.endswith(("mac", "ip", "email", "mail")):
            return None  # indirizzo_ip, endereco_mac: an address of a machine
        if any(ch.isalpha() for ch in val) and len(val) <= 200 and val.lower() not in ("true", "false", "null", "n/a", "none"):
            return "address"
        return None
    if c in ("national_id", "tax_id"):
        if v.ssn_ok(val):  # formatted 123-45-6789; nine bare digits may be a BSN, a SIN, a NIF...
            return "ssn"
        found = v.national_type(val, c)
        if found or v.is_card_number(val) or (k.compact == "pan" and not v.pan_in_ok(val)):
            return found  # card.pan is a card number, not India's PAN
        return c if _doc_number(val, 6, 20) else None
    if c == "pension":
        return "pension_number" if _doc_number(val, 6, 20) else None
    if c == "credential":
        return _token_value(val)
    return None


def rule_strong_id(k: KeyInfo, val: str) -> str | None:
    """Identifiers whose structure and check digit prove them without a key (codice fiscale, CURP, AHV,
    formatted CPF, DNI/NIE, NINO); under a key naming a thing's identifier, they are not believed."""
    n = len(val)
    if n not in (9, 11, 14, 16, 18) or _personal_id_key(k):
        return None
    if n == 16 and v.codice_fiscale_ok(val):
        return "national_id"
    if n == 18 and v.curp_mx_ok(val):
        return "national_id"
    if n == 16 and val.startswith("756.") and v.ahv_ch_ok(val):
        return "national_id"
    if n == 14 and v.formatted_cpf(val):
        return "tax_id"
    if n == 9 and val[-1].isalpha() and (v.dni_es_ok(val) or v.nino_gb_ok(val)):
        return "national_id"
    if n == 11 and val[2] == " " and v.nino_gb_ok(val.replace(" ", "")):
        return "national_id"
    return None


def text_types(val: str) -> list[str]:
    """Self-proving values inside free text: emails, phones (``+``-prefixed or formatted, and valid),
    IBANs and card numbers (checksums). Only called for values with a space."""
    out = []
    if "@" in val and _EMAIL_IN_TEXT.search(val):
        out.append("email")
    digits = v.digit_count(val)
    if digits < 7:
        return out
    for m in _TEXT_PHONE.finditer(val):
        if _text_phone(m.group()):
            out.append("phone")
            break
    for m in _TEXT_IBAN.finditer(val):
        if v.iban_ok(m.group()):
            out.append("iban")
            break
    if digits < 12:  # a card number has 12 digits at least (card_digits): no match of _TEXT_CARD can be one
        return out
    for m in _TEXT_CARD.finditer(val):
        if v.is_card_number(m.group()):
            out.append("card_number")
            break
    return out


def _prose(val: str) -> bool:
    """Free text, not a formatted value: at least two words with lower-case letters."""
    n = 0
    for w in val.split(" ", 12):
        # ASCII: a lower-case letter is what upper-casing changes
        if len(w) >= 2 and (w != w.upper() if w.isascii() else any(c.islower() for c in w)):
            n += 1
            if n >= 2:
                return True
    return False


def _text_phone(cand: str) -> bool:
    """A phone inside prose: ``+`` and a possible number, or human formatting (two separators at
    least) and a possible number in one of the common regions. Dates and dotted versions are not."""
    cand = _PHONE_EXT.sub("", cand.strip())
    n = v.digit_count(cand)
    if not 8 <= n <= 15 or _DATE.fullmatch(cand) or v.ip_kind(cand):
        return False
    if cand.startswith("+"):
        return _phone_parses(cand, strict=False)
    seps = sum(1 for c in cand if c in " -().")
    # "88292282731" is an order number; "06 12 34 56 78", "(415) 555-2671" and "0121 4960414" (a
    # national trunk prefix) are phones
    if seps < 2 and not (seps == 1 and cand[0] == "0" and 9 <= n <= 12):
        return False
    for region in _PHONE_REGIONS:
        try:
            if phonenumbers.is_possible_number(phonenumbers.parse(cand, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def scheme_types(val: str) -> list[str]:
    """``Bearer …`` / ``Basic …`` in a value (a webhook's authorization field): the scheme names it."""
    scheme, _, token = val.partition(" ")
    scheme = scheme.lower()
    token = token.strip()
    if scheme == "bearer" and len(token) >= 8 and " " not in token:
        return ["auth_bearer", "jwt"] if v.jwt_ok(token) else ["auth_bearer"]
    if scheme == "basic" and v.basic_auth_ok(token):
        return ["auth_basic"]
    return []


Rule = Callable[[KeyInfo, str], "str | None"]

_KEY_VOCABULARIES: Final = (CVV_COMPACTS, EXPIRY_COMPACTS, MASKED_COMPACTS, PASSWORD_COMPACTS, SSN_COMPACTS, PASSPORT_COMPACTS, DL_COMPACTS,
                     TAX_COMPACTS, BIRTH_COMPACTS, GENDER_COMPACTS, NAME_COMPACTS, USERNAME_COMPACTS, TOKEN_COMPACTS)
_DL_PARENTS: Final = frozenset({"driverlicense", "driverslicense", "drivinglicense", "driverlicence", "drivinglicence"})


def key_names_something(k: KeyInfo) -> bool:
    """Could any key-named rule fire for this key? Most keys (price, sku, status) name nothing, and for
    them only the value-proving rules run. Conservative: a superset of what the key rules test."""
    gate = k.memo.get(0)
    if gate is None:
        gate = k.memo[0] = (
            any(_is_key(k, vocab) for vocab in _KEY_VOCABULARIES)
            or k.compact in HOLDER_COMPACTS
            or bool(k.words and k.words[-1] in TOKEN_WORDS)
            or "name" in k.words
            or k.parent_compact in CARD_COMPACTS or k.parent_compact in _DL_PARENTS
            or k.parent_has("passport", "birth", "name")
            or k.concept is not None
        )
    return gate

# Order matters: key-named types first (they know better than shapes), then self-proving values.
KEY_RULES: Final[list[Rule]] = [rule_card_context, rule_secret_keys, rule_government, rule_identity, rule_concept]
VALUE_RULES: Final[list[Rule]] = [rule_email, rule_values, rule_card, rule_masked, rule_phone, rule_strong_id, rule_address]
RULES: Final[list[Rule]] = [rule_private_key, *KEY_RULES, *VALUE_RULES]
_VALUE_ONLY: Final[list[Rule]] = [rule_private_key, *VALUE_RULES]


def _card_context_key(k: KeyInfo) -> bool:
    return (_is_key(k, CVV_COMPACTS) or _is_key(k, EXPIRY_COMPACTS) or _is_key(k, MASKED_COMPACTS)
            or (k.parent_compact in CARD_COMPACTS and k.compact in _EXP_PARTS))


def _secret_key(k: KeyInfo) -> bool:
    return ((_is_key(k, PASSWORD_COMPACTS) and not any(w in PASSWORD_EXCLUDE for w in k.words)) or k.compact in TOKEN_COMPACTS
            or bool(k.words and k.words[-1] in TOKEN_WORDS and not any(w in TOKEN_EXCLUDE for w in k.words)))


def _government_key(k: KeyInfo) -> bool:
    return (_is_key(k, SSN_COMPACTS) or _is_key(k, PASSPORT_COMPACTS) or _is_key(k, DL_COMPACTS) or _is_key(k, TAX_COMPACTS)
            or ((k.parent_has("passport") or k.parent_compact in _DL_PARENTS) and k.compact in ("number", "no", "num", "id")))


def _identity_key(k: KeyInfo) -> bool:
    return (_is_key(k, BIRTH_COMPACTS) or (k.compact == "date" and k.parent_has("birth")) or _is_key(k, GENDER_COMPACTS)
            or _is_key(k, NAME_COMPACTS) or (k.compact in ("first", "last", "given", "family", "middle") and k.parent_has("name"))
            or _is_key(k, USERNAME_COMPACTS) or k.compact in ("name", "fullname") or bool(k.words and k.words[-1] == "name" and len(k.words) == 2)
            or k.compact in HOLDER_COMPACTS)


# Which keys each key rule can fire for: a superset of the key conditions inside the rule, so dropping
# a rule whose gate is false for a key path changes no answer (checked by the corpus figures).
_KEY_GATES: Final[dict[Rule, Callable[[KeyInfo], bool]]] = {
    rule_card_context: _card_context_key, rule_secret_keys: _secret_key, rule_government: _government_key,
    rule_identity: _identity_key, rule_concept: lambda k: k.concept is not None,
}


# --- value shapes: which value rules can match a value at all -------------------------------------
# A few bits read off the value in C-speed tests (its first character, whether it holds '@', ':', ' ',
# mask characters or a PEM header) and its length up to 24. Each value rule has a gate on them: a
# necessary condition of the rule's own first tests, so leaving out a rule whose gate fails changes no
# answer (tests/processor/test_detectors.py checks this against running every rule).
# the bits (Final: mypyc makes them constants, not module-dict lookups)
_E: Final = 1
_UPPER: Final = 2
_DIGIT: Final = 4
_PHONE0: Final = 8
_KEYCHAR: Final = 16
_AT: Final = 32
_COLON: Final = 64
_SPACE: Final = 128
_MASKCH: Final = 256
_PEM: Final = 512
_LEN_SHIFT: Final = 10
_API_KEY_FIRST: Final = frozenset("AygxsrSn")  # the first characters of the vendor key shapes in _API_KEY


def _first_bits(first: str) -> int:
    return ((first == "e") * _E | first.isupper() * _UPPER | first.isdigit() * _DIGIT | (first in _PHONE_FIRST) * _PHONE0
            | (first in _API_KEY_FIRST) * _KEYCHAR)


_FIRST_BITS: Final = {chr(c): _first_bits(chr(c)) for c in range(128)}


def value_shape(val: str) -> int:
    """The bits and the length (capped at 24) the value gates test; ``val`` is stripped and not empty."""
    n = len(val)
    s = _FIRST_BITS.get(val[0])
    if s is None:
        s = _first_bits(val[0])
    if "@" in val:
        s |= _AT
    if ":" in val:
        s |= _COLON
    if " " in val:
        s |= _SPACE
    if 12 <= n <= 23 and ("*" in val or "x" in val or "X" in val or "•" in val or "#" in val):
        s |= _MASKCH  # _MASKED wants 12-23 characters
    if n >= 26 and "-----BEGIN" in val:
        s |= _PEM  # "-----BEGIN" + "PRIVATE KEY-----"
    return s | (min(n, 24) << _LEN_SHIFT)


def _value_gate(rule: Rule, shape: int, addr: str) -> bool:
    """Can ``rule`` match a value of this shape under a key whose address verdict is ``addr``?"""
    n = shape >> _LEN_SHIFT
    if rule is rule_private_key:
        return bool(shape & _PEM)
    if rule is rule_email:
        return bool(shape & _AT)
    if rule is rule_values:  # JWT 'e', IBAN upper and >= 15, SSN and IPv4 a digit, IPv6 ':', API keys, MACs by length
        return bool(shape & (_E | _DIGIT | _COLON) or (shape & _UPPER and n >= 15) or (shape & _KEYCHAR and n >= 16)
                    or n in (12, 14, 17))
    if rule is rule_card:  # card_digits: 12-23 characters, digits first (a leading separator splits off an empty group)
        return bool(shape & _DIGIT) and 12 <= n <= 23
    if rule is rule_masked:
        return bool(shape & _MASKCH)
    if rule is rule_phone:
        return bool(shape & _PHONE0) and n >= 7
    if rule is rule_strong_id:
        return n in (9, 11, 14, 16, 18)
    if rule is rule_address:  # unkeyed: a street ("12 Main St", "Hauptstraße 5") has a space and starts a digit or a capital
        return addr == "yes" or (addr == "maybe" and bool(shape & _SPACE) and bool(shape & (_DIGIT | _UPPER)))
    return True


MAX_SHAPES: Final = 512  # shapes remembered per key path (a few dozen in practice)


@dataclass(slots=True)
class Plan:
    """The rules worth running for one key path, by the kind of value; memoised on its KeyInfo.

    The key rules whose key can fire, then the value rules that can match such a value. A letters-only
    value has no '@', digit, '.' or space, so only a keyed address can take it from the value rules; a
    digits-only value can be a card (12 digits or more), a keyed phone, a keyed zip code or a bare MAC
    address under a MAC key (an unkeyed street address has a space); any other value runs the value
    rules its shape lets through.
    """

    alpha: tuple[Rule, ...]
    digits: tuple[Rule, ...]  # 7-11 digits
    long_digits: tuple[Rule, ...]  # 12 digits or more
    short: tuple[Rule, ...]  # short digit strings, timestamps, UUIDs
    keyed: tuple[Rule, ...]
    addr: str
    by_shape: dict[int, tuple[Rule, ...]]

    def other(self, val: str) -> tuple[Rule, ...]:
        shape = value_shape(val)
        rules = self.by_shape.get(shape)
        if rules is None:
            addr = self.addr
            pem = (rule_private_key,) if shape & _PEM else ()
            rules = pem + self.keyed + tuple(r for r in VALUE_RULES if _value_gate(r, shape, addr))
            if len(self.by_shape) < MAX_SHAPES:
                self.by_shape[shape] = rules
        return rules


def plan_of(k: KeyInfo) -> Plan:
    plan = k.memo.get(10)
    if plan is None:
        plan = k.memo[10] = _plan(k)
    return plan


def _plan(k: KeyInfo) -> Plan:
    keyed: tuple[Rule, ...] = ()
    if key_names_something(k):
        keyed = tuple(r for r in KEY_RULES if _KEY_GATES[r](k))
    addr = _address_key(k)
    alpha = keyed + ((rule_address,) if addr == "yes" else ())
    # an address the key does not name needs a space: digits, timestamps and UUIDs have none
    tail = ((rule_values,) if _mac_key(k) else ()), ((rule_address,) if addr == "yes" else ())
    digits = keyed + tail[0] + (rule_phone,) + tail[1]
    long_digits = keyed + tail[0] + (rule_card, rule_phone) + tail[1]
    short = keyed + tail[1]
    return Plan(alpha, digits, long_digits, short, keyed, addr, {})


_HEX: Final = "0123456789abcdefABCDEF"


def _dateish(val: str) -> bool:
    """``2026-07-19``, ``2026-07-19T18:38:00Z`` or a UUID: shapes no value rule but a keyed one takes.
    Exact shapes: ``7373-32-0448`` (a phone) and ``sk-…`` keys with dashes where a UUID has them are not."""
    n = len(val)
    if n >= 10 and val[4] == "-" and val[7] == "-":
        return (val[:4].isdigit() and val[5:7].isdigit() and val[8:10].isdigit() and (n == 10 or val[10] == "T")
                and val.isascii())
    return (n == 36 and val[8] == "-" and val[13] == "-" and val[18] == "-" and val[23] == "-"
            and not val.replace("-", "").strip(_HEX))


_PHONE_KEY: Final = key_info("phone")


def _first(k: KeyInfo, plan: Plan, val: str) -> str | None:
    """The first type the rules of ``plan`` (``k``'s) find in ``val``, or None.

    Letters only ("pending", "Maria"), digits only ("4111111111111111", "42"), a timestamp or a UUID:
    most value rules cannot match, so they are not run; other values by their shape."""
    if val.isalpha():
        rules = plan.alpha
    elif val.isdigit():
        n = len(val)
        rules = plan.short if n < 7 else plan.digits if n < 12 else plan.long_digits
    elif len(val) >= 10 and (val[4] == "-" or len(val) == 36) and _dateish(val):
        rules = plan.short
    else:
        rules = plan.other(val)
    for rule in rules:
        t = rule(k, val)
        if t:
            return t
    return None


MAX_MEMO: Final = 200_000  # answers remembered; the memo is emptied when full


class Classifier:
    """Key + value -> types. Pure but for a bounded memo of answers.

    The same API sends the same fields with the same enumerations, flags and ids again and again; an
    answer is remembered under the *hash* of (hint, path, value), so no value is kept, and a repeat
    costs one dict lookup. The hash is Python's (salted per process); a 64-bit collision among 200k
    entries is improbable enough (about 1e-14 per lookup) to be ignored.
    """

    def __init__(self, custom: list[CustomType] | None = None) -> None:
        self.custom = custom or []
        self._plain = not self.custom  # no custom type: a word under a quiet key is answered before the memo
        self._memo: dict[int, tuple[str, ...]] = {}

    def classify(self, path: str, value: str, hint: str = "") -> list[str]:
        """The types of one leaf. ``hint``: what a sibling field says the value is ({"type": "passport",
        "number": ...}, {"label": "Date of birth", "value": ...}); tried before the key path."""
        return list(self.types(path, value, hint))

    def types(self, path: str, value: str, hint: str = "") -> tuple[str, ...]:
        """``classify`` as the memo holds it: a tuple, shared (most are the empty one), not copied.
        The key path's analysis and plan are looked up once here and handed down."""
        k = key_info(path)
        plan: Plan = k.memo.get(10) or plan_of(k)
        if not hint and self._plain:
            # a word or a short number ("status": "active", "qty": 3): no scheme, no free text; under
            # most keys its plan is empty, and then it is answered before the memo
            if value.isalpha():
                if not plan.alpha:
                    return ()
            elif value.isdigit() and len(value) < 7 and not plan.short:
                return ()
        h = hash((hint, path, value))
        found = self._memo.get(h)
        if found is None:
            found = self._classify(path, k, plan, value, hint)
            if len(self._memo) >= MAX_MEMO:
                self._memo.clear()
            self._memo[h] = found
        return found

    def _classify(self, path: str, k: KeyInfo, plan: Plan, value: str, hint: str) -> tuple[str, ...]:
        val = value.strip()
        if not val or len(val) > 8192:
            return ()
        found: list[str] = []
        for ct in self.custom:
            if (ct.key is None or ct.key.search(path)) and (ct.value is None or ct.value.search(val)):
                found.append(ct.name)
        if val[0] in "bB" and (val[:7].lower() == "bearer " or val[:6].lower() == "basic "):
            schemes = scheme_types(val)
            if schemes:
                return (*found, *schemes)
        if hint is LABEL_MARK:  # the naming field of a key/value pair: "Date of birth" is a label, not data
            if key_names_something(key_info(val)):
                return tuple(found)
            hint = ""
        t = None
        if hint:
            hk = key_info(hint)
            t = _first(hk, hk.memo.get(10) or plan_of(hk), val)
        if t is None:
            t = _first(k, plan, val)
        if t:
            found.append(t)
        if " " in val and len(val) >= 12 and t not in ("address", "private_key", "password") and _prose(val):
            found.extend(x for x in text_types(val) if x not in found)
        return tuple(found)

    def classify_header(self, name: str, value: str) -> list[str]:
        """Authorization schemes are headers' own business; other headers go through ``classify``."""
        if name in ("authorization", "proxy-authorization"):
            scheme, _, token = value.strip().partition(" ")
            scheme = scheme.lower()
            token = token.strip()
            if scheme == "bearer" and token:
                return ["auth_bearer", "jwt"] if v.jwt_ok(token) else ["auth_bearer"]
            if scheme == "basic":
                # text without "user:password" inside is not credentials; an opaque token sent under
                # the wrong scheme (not base64, or base64 of binary) is still a secret
                return ["auth_basic"] if v.basic_auth_ok(token) or (len(token) >= 16 and not v.base64_text(token)) else []
            return ["api_key"] if len(value) >= 16 else []  # "Token ...", "ApiKey ...", a bare key
        if name in ("x-forwarded-for", "x-real-ip", "forwarded", "true-client-ip", "cf-connecting-ip"):
            first = value.split(",")[0].strip().removeprefix("for=").strip('"[]')
            return ["ip_address"] if v.ip_kind(first) else []
        return self.classify(name, value)
