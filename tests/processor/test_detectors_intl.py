"""Issue 16: keys in other languages, sibling hints, free text, credential schemes in values, national
identifiers with check digits, MAC notations, and the precision fixes."""

import orjson
import pytest

from processor.core import Processor
from processor.detectors import Classifier
from tests.processor.helpers import make_pair

C = Classifier()

FOREIGN = [
    ("cliente.fechaNacimiento", "1984-02-29", "birth_date"),
    ("Geburtsdatum", "29.02.1984", "birth_date"),
    ("data_di_nascita", "29/02/1984", "birth_date"),
    ("geslacht", "vrouw", "gender"),
    ("płeć", "kobieta", "gender"),
    ("sexo", "femenino", "gender"),
    ("nachname", "Müller-Lüdenscheidt", "person_name"),
    ("nazwisko", "Żółkiewska", "person_name"),
    ("nome_completo", "Sig.ra Giulia De Luca", "person_name"),
    ("mot_de_passe", "Ete2024!", "password"),
    ("hasło", "Zima2024#", "password"),
    ("numero_passaporto", "YA1234567", "passport"),
    ("telefono_movil", "612 34 56 78", "phone"),
    ("Handynummer", "0151 23456789", "phone"),
    ("correo_electronico", "ana@example.es", "email"),
    ("nombre_usuario", "ana_garcia84", "username"),
    ("Straße", "Hauptstraße 5", "address"),
    ("rentenversicherungsnummer", "65170839J003", "pension_number"),
]


@pytest.mark.parametrize("path,value,expected", FOREIGN)
def test_keys_in_other_languages(path: str, value: str, expected: str) -> None:
    assert C.classify(path, value) == [expected]


IDS = [
    ("cpf", "111.444.777-35", "tax_id"),  # Brazil, two mod-11 check digits
    ("pan", "ABCPE1234F", "tax_id"),  # India
    ("dni", "12345678Z", "national_id"),  # Spain, mod-23 letter
    ("codice_fiscale", "RSSMRA85T10A562S", "national_id"),
    ("pesel", "44051401458", "national_id"),
    ("bsn", "111222333", "national_id"),  # the Netherlands, 11-test
    ("ssn", "536-22-1234", "ssn"),
    ("x", "RSSMRA85T10A562S", "national_id"),  # structure + check letter: no key needed
    ("x", "756.9217.0769.85", "national_id"),  # Swiss AHV
]


@pytest.mark.parametrize("path,value,expected", IDS)
def test_national_identifiers(path: str, value: str, expected: str) -> None:
    assert C.classify(path, value) == [expected]


def test_bad_check_digits_are_not_identifiers_without_a_key() -> None:
    assert C.classify("x", "RSSMRA85T10A562T") == []  # wrong check letter
    assert C.classify("x", "12345678A") == []  # DNI letter wrong
    assert C.classify("order_id", "RSSMRA85T10A562S") == []  # a thing's identifier key wins


def test_sibling_hints() -> None:
    assert C.classify("documents[].number", "X1234567", hint="passport") == ["passport"]
    assert C.classify("fields[].value", "1984-02-29", hint="Date of birth") == ["birth_date"]
    assert C.classify("attributes[].value", "F", hint="gender") == ["gender"]
    assert C.classify("documents[].number", "INV-100234", hint="invoice") == []


def test_typed_documents_and_kv_arrays_through_handle() -> None:
    body = {"documents": [{"type": "pasaporte", "number": "XDA123456"}, {"type": "invoice", "number": "INV-1"}],
            "attributes": [{"label": "Fecha de nacimiento", "value": "12/03/1990"}, {"name": "plan", "value": "gold"}]}
    rec = orjson.loads(Processor().handle(make_pair(body).to_json()).value)
    found = {(d["type"], d["path"]) for d in rec["detections"]}
    assert found == {("passport", "documents[].number"), ("birth_date", "attributes[].value")}


def test_free_text_and_schemes_in_values() -> None:
    assert sorted(C.classify("description", "Please call +34 612 345 678 or write to ana@example.es")) == ["email", "phone"]
    assert C.classify("comment", "Order 88292282731 shipped on 2026-03-01, build 1.2.3.4") == []
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    assert C.classify("authorization", f"Bearer {jwt}") == ["auth_bearer", "jwt"]
    assert C.classify("webhook.auth", "Basic dXNlcjpwYXNzd29yZA==") == ["auth_basic"]
    assert C.classify("refresh_token", "gYfdMCmNYZGZbiNwLK8ixfpGTFr") == ["api_key"]


def test_mac_notations() -> None:
    for mac in ("00:1a:2b:3c:4d:5e", "00-1A-2B-3C-4D-5E", "001a.2b3c.4d5e"):
        assert C.classify("device.mac", mac) == ["mac_address"]
    assert C.classify("x", "001a.2b3c.4d5e") == ["mac_address"]


PRECISION = [
    ("bind_ip", "0.0.0.0"),
    ("firmwareversion", "10.2.3.4"),
    ("card.token", "tok_1MqLx2Kf8AbCdEfGhIjKlMn"),
    ("payment_method", "pm_1NvQ2e2eZvKYlo2C8xZ9"),
    ("image", "logo@2x.png"),
    ("order_id", "4155550123"),
    ("reference", "06 12 34 56 78 90 12"),
    ("created_at", "2026-03-01"),
    ("expires", "13.10.2026"),
    ("genre", "jazz"),
    ("producto.nombre", "Zapatos Rojos"),
    ("Attributes[].name", "Mailadresse"),
]


@pytest.mark.parametrize("path,value", PRECISION)
def test_near_misses(path: str, value: str) -> None:
    assert C.classify(path, value) == []


def test_memo_keeps_no_values_and_answers_the_same() -> None:
    c = Classifier()
    first = c.classify("email", "jane@example.com")
    assert c.classify("email", "jane@example.com") == first == ["email"]
    assert all(isinstance(k, int) for k in c._memo)  # hashes, never the values
