"""Bodies, query strings and headers become leaves with key paths; huge or deep payloads stay bounded."""

import base64
import json

from processor.walk import LABEL_MARK, Bounds, Walker, WalkResult, form_key_path


def walk_json(doc: object, bounds: Bounds | None = None) -> WalkResult:
    out = WalkResult()
    Walker(bounds or Bounds()).walk_json(json.dumps(doc), "request.body", out)
    return out


def test_paths_for_nested_objects_and_arrays() -> None:
    res = walk_json({"user": {"emails": ["a@x.io", "b@x.io"], "address": {"city": "Lyon"}}, "n": 5, "ok": True, "none": None})
    assert [(leaf.path, leaf.value) for leaf in res.leaves] == [
        ("user.emails[]", "a@x.io"), ("user.emails[]", "b@x.io"), ("user.address.city", "Lyon"), ("n", "5")]
    assert not res.limits


def test_arrays_trimmed_to_ten_like_soveren() -> None:
    res = walk_json({"ids": list(range(10_000))})
    assert len(res.leaves) == 10
    assert res.limits == {"array"}


def test_deep_nesting_is_cut_not_recursed() -> None:
    text = '{"a":' * 500 + '"leaf"' + "}" * 500
    out = WalkResult()
    Walker(Bounds(max_depth=32)).walk_json(text, "request.body", out)
    assert out.leaves == [] and "depth" in out.limits
    # absurdly deep: refused by the parser or cut by the walker, reported, no recursion error
    out = WalkResult()
    Walker(Bounds()).walk_json("[" * 100_000 + "]" * 100_000, "request.body", out)
    assert out.leaves == [] and out.limits & {"json", "depth"}


def test_leaf_budget() -> None:
    doc = {f"k{i}": {f"j{j}": "v" for j in range(100)} for i in range(100)}
    res = walk_json(doc, Bounds(max_leaves=500))
    assert len(res.leaves) == 500 and "leaves" in res.limits


def test_invalid_json_is_reported_not_raised() -> None:
    out = WalkResult()
    Walker(Bounds()).walk_json('{"a": ', "response.body", out)
    assert out.leaves == [] and out.limits & {"json", "depth"}


def test_form_keys_with_brackets() -> None:
    assert form_key_path("user[address][city]") == "user.address.city"
    assert form_key_path("items[0][sku]") == "items[].sku"
    assert form_key_path("tags[]") == "tags[]"
    out = WalkResult()
    Walker(Bounds()).walk_form("card%5Bnumber%5D=4111+1111&email=a%40b.io&empty=", "request.body", out)
    assert [(leaf.path, leaf.value) for leaf in out.leaves] == [("card.number", "4111 1111"), ("email", "a@b.io")]


def test_message_query_headers_and_base64_body() -> None:
    body = base64.b64encode(json.dumps({"email": "a@b.io"}).encode()).decode()
    msg = {"method": "POST", "target": "/x?ssn=536-22-1234&page=2",
           "headers": [["Host", "h"], ["Content-Type", "application/json"], ["Authorization", "Bearer t"], ["Cookie", "sid=abc; theme=dark"]],
           "body": body, "body_encoding": "base64"}
    out = WalkResult()
    Walker(Bounds()).walk_message(msg, "request", out)
    got = {(leaf.location, leaf.path): leaf.value for leaf in out.leaves}
    assert got == {("request.header", "authorization"): "Bearer t", ("request.header", "cookie.sid"): "abc",
                   ("request.header", "cookie.theme"): "dark", ("request.query", "ssn"): "536-22-1234",
                   ("request.query", "page"): "2", ("request.body", "email"): "a@b.io"}


def test_binary_body_is_skipped() -> None:
    msg = {"headers": [["Content-Type", "application/json"]], "body": base64.b64encode(b"\xff\xfe\x00").decode(), "body_encoding": "base64"}
    out = WalkResult()
    Walker(Bounds()).walk_message(msg, "response", out)
    assert out.leaves == []


def test_sibling_hints_for_typed_documents_and_pairs() -> None:
    out = walk_json({"docs": [{"type": "passport", "number": "X1", "country": "ES"}],
                     "fields": [{"label": "Date of birth", "value": "1990-01-01"}], "user": {"id": 7, "name": "Ana"}})
    got = {(leaf.path, leaf.value): leaf.hint for leaf in out.leaves}
    assert got[("docs[].number", "X1")] == "passport" and got[("docs[].country", "ES")] == ""
    assert got[("fields[].value", "1990-01-01")] == "Date of birth"
    assert got[("fields[].label", "Date of birth")] == LABEL_MARK  # the naming field: the classifier decides
    assert got[("user.id", "7")] == "Ana" and got[("user.name", "Ana")] == LABEL_MARK


def test_sibling_hint_keys_are_one_kind_or_the_other() -> None:
    """The hint is remembered per tuple of keys: right only while no key both names and holds a value."""
    from processor.walk import NAMING_KEYS, VALUE_KEYS

    assert not NAMING_KEYS & VALUE_KEYS
    # the first naming field holding a short text gives the hint, whichever order the keys come in
    out = walk_json([{"type": {"x": 1}, "label": "passport", "value": "X1"}, {"value": "X2", "kind": "tax id"}])
    got = {leaf.value: leaf.hint for leaf in out.leaves}
    assert got["X1"] == "passport" and got["X2"] == "tax id"


def test_form_values_unquoted_only_when_quoted() -> None:
    out = WalkResult()
    Walker(Bounds()).walk_form("a=plain&b=x%40y&c=one+two&d=50%25", "request.body", out)
    assert [(leaf.path, leaf.value) for leaf in out.leaves] == [("a", "plain"), ("b", "x@y"), ("c", "one two"), ("d", "50%")]


def test_form_unquoting_equals_urllib() -> None:
    """walk._unquote decodes ASCII form fields itself (urllib's is slow Python); same text as unquote_plus."""
    import random
    from urllib.parse import unquote_plus

    from processor.walk import _unquote

    rnd = random.Random(3)
    fields = ["a%40b.com", "%E2%82%AC", "%e2%82", "%%41", "%4", "%zz", "%C3%A9t%C3%A9+x", "100%", "%FF%FE", "é%41+b"]
    fields += ["".join(rnd.choice("abZ09%+ -_.~é2fF4g") for _ in range(rnd.randint(0, 14))) for _ in range(20000)]
    assert [f for f in fields if _unquote(f) != unquote_plus(f)] == []
