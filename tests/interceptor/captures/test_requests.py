"""Capture requests and Falco alerts are checked field by field; alerts map to targets by the rules."""

from __future__ import annotations

import pytest

from interceptor.captures import falco
from interceptor.captures.model import CaptureRequest, RequestError, Target, Trigger
from interceptor.config import CapturesConfig, ConfigError, FalcoRuleConfig, load_config

API = Trigger("api", "127.0.0.1")


def test_targets_parse_and_bad_ones_name_the_field() -> None:
    assert Target.parse({"namespace": "shop", "pod": "cart-0"}).describe() == "shop/cart-0"
    sel = Target.parse({"namespace": "shop", "selector": "app=cart,tier=web"})
    assert sel.kind == "selector" and sel.to_dict()["selector"] == {"app": "cart", "tier": "web"}
    assert Target.parse({"container_id": "containerd://" + "ab" * 32}).container_id == "ab" * 32
    assert Target.parse({"ip": "fd00::0001"}).ip == "fd00::1"
    for doc, msg in (
        ({"pod": "cart-0"}, "target.namespace: required with pod"),
        ({"namespace": "shop", "pod": "a", "ip": "10.0.0.1"}, "name exactly one of"),
        ({"namespace": "Shop!", "pod": "a"}, "target.namespace: 'Shop!' is not a Kubernetes name"),
        ({"ip": "10.0.0.300"}, "target.ip: '10.0.0.300' is not an IP address"),
        ({"container_id": "xyz"}, "target.container_id"),
        ({"namespace": "s", "selector": "app in (a,b)"}, "only equality"),
        ({"podname": "x"}, "target.podname: unknown key"),
    ):
        with pytest.raises(RequestError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            Target.parse(doc)


def test_request_bounds_come_from_config() -> None:
    cfg = CapturesConfig(max_duration_s=60, max_bytes=1000, snaplen=2000)
    req = CaptureRequest.parse({"target": {"ip": "10.0.0.1"}, "duration": 5, "filter": "tcp port 80",
                                "byte_cap": 500}, cfg, API)
    assert (req.duration_s, req.bpf_filter, req.max_bytes, req.snaplen) == (5.0, "tcp port 80", 500, 2000)
    for doc, msg in (({"duration_s": 61}, "duration_s: must be in"), ({"max_bytes": 1001}, "max_bytes: must be in"),
                     ({"snaplen": 10}, "snaplen: must be in"), ({"duration_s": "10"}, "expected a number"),
                     ({"colour": 1}, "colour: unknown key")):
        with pytest.raises(RequestError, match=msg):
            CaptureRequest.parse({"target": {"ip": "10.0.0.1"}, **doc}, cfg, API)


ALERT = {
    "uuid": "u-1", "rule": "Outbound Connection to C2 Servers", "priority": "Critical", "source": "syscall",
    "time": "2026-12-01T09:00:00Z", "hostname": "node-b", "output": "C2 connection",
    "output_fields": {"k8s.ns.name": "shop", "k8s.pod.name": "cart-0", "container.id": "0123456789ab",
                      "fd.lip": "10.1.0.5", "fd.rip": "203.0.113.9", "fd.rport": 4444},
}


def test_falco_alert_maps_by_rule_priority_and_source() -> None:
    alert = falco.FalcoAlert.parse(ALERT)
    rules = [FalcoRuleConfig(rules=["Terminal shell*"], min_priority="notice"),
             FalcoRuleConfig(rules=["*C2*"], min_priority="error", sources=["syscall"], duration_s=90,
                             bpf_filter="host {fd.rip} and port {fd.rport}")]
    rule = falco.match_rule(alert, rules)
    assert rule is rules[1]
    assert falco.render_filter(rule.bpf_filter, alert) == "host 203.0.113.9 and port 4444"
    assert [t.kind for t in falco.targets(alert)] == ["pod", "container_id", "ip", "ip"]
    assert falco.match_rule(falco.FalcoAlert.parse({**ALERT, "priority": "Warning"}), rules) is None
    assert falco.match_rule(falco.FalcoAlert.parse({**ALERT, "source": "k8s_audit"}), rules) is None
    trig = falco.trigger(alert, "10.0.0.9")
    assert trig.describe() == "Falco alert: rule 'Outbound Connection to C2 Servers', priority critical, " \
                              "time 2026-12-01T09:00:00Z, from node-b"
    with pytest.raises(RequestError, match="field fd.sport is missing"):
        falco.render_filter("port {fd.sport}", alert)
    with pytest.raises(RequestError, match="not an address/port"):
        falco.render_filter("host {k8s.pod.name}", alert)  # no way to inject filter syntax
    with pytest.raises(RequestError, match="priority: 'Loud' is not a Falco priority"):
        falco.FalcoAlert.parse({**ALERT, "priority": "Loud"})
    assert falco.FalcoAlert.parse({**ALERT, "priority": "Info"}).priority == "informational"


def test_duplicate_alerts_extend_within_the_window() -> None:
    dedup = falco.Dedup(window_s=60)
    target = Target.parse({"namespace": "shop", "pod": "cart-0"})
    assert dedup.running_capture("r", target, 100.0) is None
    dedup.remember("r", target, "node~1", 100.0)
    assert dedup.running_capture("r", target, 150.0) == "node~1"
    assert dedup.running_capture("r", target, 205.0) == "node~1"  # the window slides with each alert
    assert dedup.running_capture("r", target, 300.0) is None
    assert dedup.running_capture("other rule", target, 210.0) is None


def test_falco_rules_are_in_the_config_model() -> None:
    cfg = load_config(env={"SENSOR__CAPTURES__FALCO_RULES": '[{"rules": ["Terminal*"], "duration_s": 5}]'})
    assert cfg.captures.falco_rules[0].rules == ["Terminal*"] and cfg.captures.falco_rules[0].duration_s == 5
    with pytest.raises(ConfigError, match=r"captures.falco_rules\[0\].min_priority: must be one of"):
        load_config(env={"SENSOR__CAPTURES__FALCO_RULES": '[{"min_priority": "loud"}]'})
