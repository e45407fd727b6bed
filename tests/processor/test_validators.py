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
