"""Noise filters, one rule at a time, and keep_all."""

import pytest

from interceptor.config import ConfigError, FilterConfig
from interceptor.filters import PairFilter, media_type, url_path
from interceptor.pairs import Endpoint, Pair, Request, Response


def pair(target: str = "/api", status: int = 200, req_ct: str = "application/json", resp_ct: str = "",
         headers: list[tuple[str, str]] | None = None) -> Pair:
    rh = [("Content-Type", req_ct)] if req_ct else []
    rh += headers or []
    sh = [("Content-Type", resp_ct)] if resp_ct else []
    return Pair(Request("HTTP/1.1", rh, b"", 0, False, 1.0, method="POST", target=target),
                Response("HTTP/1.1", sh, b"", 0, False, 1.1, status=status, reason=""),
                Endpoint("10.0.0.1", 1), Endpoint("10.0.0.2", 2), {"kind": "pcap-file"})


@pytest.mark.parametrize("p,reason", [
    (pair(), None),
    (pair(req_ct="", resp_ct="application/json; charset=utf-8"), None),
    (pair(req_ct="application/x-www-form-urlencoded"), None),
    (pair(req_ct="Application/Problem+JSON"), None),
    (pair(req_ct="text/html", resp_ct="image/png"), "filtered_content_type"),
    (pair(req_ct=""), "filtered_content_type"),
    (pair(status=301), "filtered_status"),
    (pair(status=308), "filtered_status"),
    (pair(status=302), None),
    (pair(status=404), "filtered_status"),
    (pair(status=503), "filtered_status"),
    (pair(target="/healthz"), "filtered_url"),
    (pair(target="/metrics?x=1"), "filtered_url"),
    (pair(target="http://svc:8080/api/v2/alive/"), "filtered_url"),
    (pair(target="/metrics/users"), None),
    (pair(headers=[("User-Agent", "kube-probe/1.30")]), "filtered_user_agent"),
    (pair(headers=[("x-soveren-request", "1")]), "filtered_header"),
])
def test_default_rules(p: Pair, reason: str | None) -> None:
    assert PairFilter(FilterConfig()).reason(p) == reason


def test_keep_all_and_suffix_switch() -> None:
    assert PairFilter(FilterConfig(keep_all=True)).reason(pair(status=500, req_ct="text/plain")) is None
    assert PairFilter(FilterConfig(json_suffix=False)).reason(pair(req_ct="application/vnd.api+json")) == "filtered_content_type"


def test_bad_status_spec() -> None:
    with pytest.raises(ConfigError, match="drop_statuses"):
        PairFilter(FilterConfig(drop_statuses=["4x"]))


def test_helpers() -> None:
    assert media_type(" Application/JSON ; charset=UTF-8") == "application/json"
    assert url_path("https://h:1/a/b?q#f") == "/a/b" and url_path("http://h") == "/" and url_path("/x?y") == "/x"


@pytest.mark.parametrize("target", [
    "/", "//", "/?x", "/metrics", "/metrics/", "/metrics?x#y", "/metrics#frag", "/metricsx", "/api/health//",
    "/api/healthz", "/a?to=http://h/metrics", "http://h", "https://h:1/healthz?q", "/x://y/api/v2/detect",
    "*", "", "/API/health", "/api/v2/alive/", "/api/v2/alive/x",
])
@pytest.mark.parametrize("urls", [None, ["/"], ["/metrics/", "/api"], []])
def test_url_rule_is_the_paths(target: str, urls: list[str] | None) -> None:
    """The URL rule's quick rejection (no "://" and no drop URL as a prefix) decides as the path does."""
    cfg = FilterConfig() if urls is None else FilterConfig(drop_urls=urls)
    expected = "filtered_url" if (url_path(target).rstrip("/") or "/") in {u.rstrip("/") or "/" for u in cfg.drop_urls} else None
    assert PairFilter(cfg).reason(pair(target=target)) == expected


def test_status_rule_beyond_the_table_and_repeated_agents() -> None:
    f = PairFilter(FilterConfig(drop_statuses=["1500", "4xx"]))
    assert f.reason(pair(status=1500)) == "filtered_status" and f.reason(pair(status=1499)) is None
    assert f.reason(pair(status=-1)) is None and f.reason(pair(status=404)) == "filtered_status"
    probe = [("User-Agent", "Kube-Probe/1.30")]
    assert [f.reason(pair(headers=probe)) for _ in range(2)] == ["filtered_user_agent"] * 2
    assert [f.reason(pair(headers=[("User-Agent", "curl/8")])) for _ in range(2)] == [None, None]
