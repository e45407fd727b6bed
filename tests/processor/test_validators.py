from processor import validators as v
from processor.mask import mask


def test_luhn_and_brands() -> None:
    assert v.is_card_number("4111111111111111") and v.is_card_number("3782 822463 10005")
    assert not v.is_card_number("4111111111111112")  # Luhn fails
    assert not v.is_card_number("9111111111111110")  # no scheme starts with 9
    assert not v.is_card_number("4111 11111111 1111")  # odd grouping


def test_iban_mod97() -> None:
    assert v.iban_ok("GB82 WEST 1234 5698 7654 32") and v.iban_ok("DE89370400440532013000")
    assert not v.iban_ok("GB83WEST12345698765432")
    assert not v.iban_ok("DE8937040044053201300")  # wrong length for DE


def test_ssn_rules() -> None:
    assert v.ssn_ok("536-22-1234")
    for bad in ("000-22-1234", "666-22-1234", "912-22-1234", "536-00-1234", "536-22-0000", "123-45-6789"):
        assert not v.ssn_ok(bad), bad
    assert not v.ssn_ok("536221234") and v.ssn_ok("536221234", formatted_only=False)


def test_jwt_needs_a_decodable_header() -> None:
    assert v.jwt_ok("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig")
    assert not v.jwt_ok("eyJub3RhbGciOjF9.e30.sig")  # header without alg
    assert not v.jwt_ok("eyJhbGciOi.broken.sig")


def test_ip_kinds() -> None:
    assert v.ip_kind("192.168.1.1") == "v4" and v.ip_kind("fe80::1") == "v6"
    assert v.ip_kind("1.2.3") is None and v.ip_kind("300.1.1.1") is None and v.ip_kind("a:b") is None


def test_mask_keeps_shape_only() -> None:
    assert mask("John.Doe@example.com") == "****.***@*******.***"
    assert mask("4111-1111") == "1111-1111"
    assert mask("Zoë Ünal 42") == "*** **** 11"
    assert mask("x" * 100).endswith("…") and len(mask("x" * 100)) == 49


# Valid examples from each scheme's published rule; the same number with its last character changed fails.
NATIONAL = [
    (v.cpf_ok, "111.444.777-35"), (v.cpf_ok, "52998224725"), (v.pan_in_ok, "ABCPE1234F"), (v.aadhaar_ok, "2341 2341 2346"),
    (v.dni_es_ok, "12345678Z"), (v.dni_es_ok, "X1234567L"), (v.codice_fiscale_ok, "RSSMRA85T10A562S"),
    (v.pesel_ok, "44051401458"), (v.nip_pl_ok, "123-456-32-18"), (v.bsn_ok, "111222333"), (v.nir_fr_ok, "1 85 05 78 006 084 91"),
    (v.steuer_id_de_ok, "86095742719"), (v.ahv_ch_ok, "756.9217.0769.85"), (v.sin_ca_ok, "130 692 544"),
    (v.nn_be_ok, "85.07.30-033.28"), (v.nif_pt_ok, "123456789"), (v.tfn_au_ok, "123 456 782"), (v.nino_gb_ok, "AB 12 34 56 C"),
    (v.curp_mx_ok, "GODE561231HDFRRN00"), (v.naf_es_ok, "281234567840"), (v.sv_at_ok, "1237010180"),
    (v.rvnr_de_ok, "65170839J003"),
]


def _flip(s: str) -> str:
    last = s[-1]
    return s[:-1] + (("1" if last != "1" else "2") if last.isdigit() else ("A" if last != "A" else "B"))


def test_national_identifiers_and_their_check_digits() -> None:
    for ok, good in NATIONAL:
        assert ok(good), (ok.__name__, good)
        if ok not in (v.pan_in_ok, v.nino_gb_ok):  # structure only: no check character
            assert not ok(_flip(good)), (ok.__name__, _flip(good))


def test_national_type_weighs_key_against_value() -> None:
    assert v.national_type("RSSMRA85T10A562S", "tax_id") == "national_id"  # structured: the value wins
    assert v.national_type("111222333", "tax_id") == "tax_id"  # a one-in-ten checksum: the key wins
    assert v.national_type("111222333") == "national_id"
    assert v.national_type("hello") is None


def _luhn_reference(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_fast_digit_helpers_equal_their_plain_definitions() -> None:
    """luhn_ok and digit_count work on bytes for speed; the answers are those of the plain loops."""
    import random

    rnd = random.Random(5)
    for _ in range(3000):
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 25)))
        assert v.luhn_ok(digits) == _luhn_reference(digits), digits
        other = digits.translate({48 + d: 0x0660 + d for d in range(10)})  # the same in Arabic-Indic digits
        assert v.luhn_ok(other) == _luhn_reference(digits), other
        text = "".join(rnd.choice("0123456789 +-().xé٣²aZ") for _ in range(rnd.randint(0, 30)))
        assert v.digit_count(text) == sum(ch.isdigit() for ch in text), text


def test_luhn_turns_down_digits_without_a_decimal_value() -> None:
    assert v.luhn_ok("4242424242424242")
    assert not v.luhn_ok("424242424242424²")  # str.isdigit says yes; it is no card digit


def test_mask_table_equals_the_character_rules() -> None:
    for c in range(128):
        ch = chr(c)
        want = "1" if ch.isdigit() else "*" if ch.isalpha() else " " if ch.isspace() else ch if ch.isprintable() else "*"
        assert mask(ch) == want, c


def test_ip_kind_v6_equals_ipaddress() -> None:
    """ip_kind turns down text with characters no IPv6 literal has before calling ipaddress."""
    import ipaddress
    import random

    def reference(text: str) -> bool:
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            return False
        return True

    rnd = random.Random(9)
    values = ["fe80::1%eth0", "::1", "2001:db8::8a2e:370:7334", "10:00:00Z", "https://a:b:c", "::ffff:1.2.3.4.5", "fe80::1%", "ab:cd:ef:gh",
              "aa:bb:cc:dd:ee:ff", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9"]
    values += ["".join(rnd.choice("0123456789abcdefABCDEFg:.%zT ") for _ in range(rnd.randint(3, 20))) for _ in range(20000)]
    for text in values:
        if text.count(".") != 3 and text.count(":") >= 2 and len(text) <= 45:
            assert (v.ip_kind(text) == "v6") == reference(text), text


def test_ascii_letter_count_equals_isalpha() -> None:
    import random

    rnd = random.Random(4)
    for _ in range(2000):
        text = "".join(rnd.choice("azAZ09_-+/=.~gQ") for _ in range(rnd.randint(0, 40)))
        assert v.ascii_letter_count(text) == sum(c.isalpha() for c in text), text
