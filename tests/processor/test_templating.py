from processor.templating import Templater, obvious_id


def test_obvious_ids() -> None:
    for seg in ("123", "9f1c2e3a4b5c", "550e8400-e29b-41d4-a716-446655440000", "2024-01-31", "a@b.io", "usr_8Hx2k9Lq"):
        assert obvious_id(seg), seg
    for seg in ("users", "v1", "orders", "me", "api", "line-items", "checkoutSession"):
        assert not obvious_id(seg), seg


def test_ids_become_placeholders_words_stay() -> None:
    t = Templater()
    assert t.template("svc", "/users/123/orders/9f1c2e3a4b5c?x=1") == "/users/{id}/orders/{id}"
    assert t.template("svc", "/api/v1/users/me") == "/api/v1/users/me"


def test_learned_per_endpoint_keeping_frequent_words() -> None:
    t = Templater(max_children=10, stable_min=5)
    for _ in range(6):
        t.template("profiles", "/p/me/settings")
    names = [f"/p/{w}/settings" for w in "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia".split()]
    out = [t.template("profiles", n) for n in names]
    assert out[-1] == "/p/{id}/settings"  # many distinct words here: a parameter
    assert t.template("profiles", "/p/me/settings") == "/p/me/settings"  # the frequent word stays
    assert t.template("profiles", "/p/zed/settings") == "/p/{id}/settings"
    # another endpoint learns on its own
    assert t.template("other", "/p/zed/settings") == "/p/zed/settings"


def test_bounded_state() -> None:
    t = Templater(max_endpoints=5, max_nodes=50)
    for i in range(100):
        t.template(f"ep{i}", "/a/b")
    assert len(t._trees) == 5
    for i in range(1000):
        t.template("big", f"/{'abcdefghij'[i % 10]}x{i % 7}/k{i}/z")
    assert t._trees["big"][1][0] <= 50


def test_personal_data_in_path_segments_is_masked_at_once() -> None:
    from processor.templating import Templater

    t = Templater()
    assert t.template("svc", "/api/users/john.smith/profile") == "/api/users/{id}/profile"
    assert t.template("svc", "/api/people/Maria-Garcia") == "/api/people/{id}"
    assert t.template("svc", "/api/people/jane_doe") == "/api/people/{id}"
    assert t.template("svc", "/api/users/John%20Smith") == "/api/users/{id}"
    assert t.template("svc", "/api/users/maria/orders") == "/api/users/{id}/orders"
    assert t.template("svc", "/api/contacts/x%40y.io") == "/api/contacts/{id}"
    # route words stay
    for path in ("/api/order-items", "/oauth/grant", "/users/me", "/api/v1/user_profile", "/static/app.js"):
        assert t.template("svc", path) == path


def test_map_edges_never_hold_a_name_from_the_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from processor.core import Processor
    from processor.mapstore import MapStore
    from tests.processor.helpers import make_pair

    proc = Processor()
    store = MapStore(f"sqlite:///{tmp_path}/m.db")
    store.apply_many([proc.handle(make_pair({"a": 1}, method="GET", target=t).to_json()).record
                      for t in ("/api/users/john.smith/profile", "/api/people/Maria-Garcia")])
    paths = {e["path"] for e in store.graph()["edges"]}
    assert paths == {"/api/users/{id}/profile", "/api/people/{id}"}


def test_grpc_paths_keep_their_service_name() -> None:
    # the map service templates the detector's paths once more: a gRPC path must come out unchanged
    # (found by the live demo: /demo.profiles.v1.Profiles/UpdateProfile was stored as /{id}/UpdateProfile)
    t = Templater()
    for path in ("/demo.profiles.v1.Profiles/UpdateProfile", "/grpc.health.v1.Health/Check", "/acme.v2.Accounts/Lookup"):
        assert t.template("svc", path) == path
        assert t.lookup("svc", path) == path
    assert t.template("svc", "/maria.Garcia/orders") == "/{id}/orders"  # a person's name is still masked
