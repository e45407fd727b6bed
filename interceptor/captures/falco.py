"""Falco alerts to captures (pure): parse the alert, pick the first configured rule that matches,
derive the capture's target, filter and trigger, and collapse repeated alerts into one capture.

Falco's JSON output (``json_output: true`` with ``http_output``) and falcosidekick's webhook send the
same document: ``rule``, ``priority`` (Emergency … Debug), ``time`` (RFC 3339), ``source``,
``hostname``, ``uuid``, ``output``, ``tags`` and ``output_fields`` (``k8s.ns.name``,
``k8s.pod.name``, ``container.id``, ``fd.lip``/``fd.cip``/``fd.sip``…). The pod is named by
``k8s.ns.name`` + ``k8s.pod.name`` when present, else by ``container.id``, else by its IP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from interceptor.captures.model import RequestError, Target, Trigger
from interceptor.config import FalcoRuleConfig

PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug")
_ALIASES = {"info": "informational", "warn": "warning", "err": "error", "crit": "critical", "emerg": "emergency"}
_FIELD = re.compile(r"\{([a-z0-9_.\[\]]+)\}")
_SAFE_VALUE = re.compile(r"^[0-9A-Fa-f.:]{1,45}$")  # IPs and ports only: a filter cannot be injected
IP_FIELDS = ("fd.lip", "fd.cip", "fd.sip", "fd.rip")  # the pod's own address is usually the local one


@dataclass(frozen=True, slots=True)
class FalcoAlert:
    rule: str
    priority: str  # lower case, one of PRIORITIES
    time: str
    source: str
    hostname: str
    uuid: str
    output: str
    fields: dict[str, Any] = field(hash=False)

    @classmethod
    def parse(cls, doc: Any) -> FalcoAlert:
        if not isinstance(doc, dict):
            raise RequestError("body: expected Falco's JSON alert (an object with rule, priority, output_fields)")
        rule = doc.get("rule")
        if not isinstance(rule, str) or not rule:
            raise RequestError("rule: missing (is this a Falco JSON alert?)")
        raw = str(doc.get("priority") or "").strip().lower()
        priority = _ALIASES.get(raw, raw)
        if priority not in PRIORITIES:
            raise RequestError(f"priority: {doc.get('priority')!r} is not a Falco priority")
        fields = doc.get("output_fields") or {}
        if not isinstance(fields, dict):
            raise RequestError("output_fields: expected an object")
        return cls(rule, priority, str(doc.get("time") or ""), str(doc.get("source") or "syscall"),
                   str(doc.get("hostname") or ""), str(doc.get("uuid") or ""), str(doc.get("output") or ""),
                   fields)

    def field(self, name: str) -> str:
        value = self.fields.get(name)
        return "" if value is None or value == "<NA>" else str(value)


def severity(priority: str) -> int:
    """0 = emergency (most severe) … 7 = debug."""
    return PRIORITIES.index(priority)


def match_rule(alert: FalcoAlert, rules: list[FalcoRuleConfig]) -> FalcoRuleConfig | None:
    for r in rules:
        if r.rules and not any(fnmatchcase(alert.rule, pat) for pat in r.rules):
            continue
        if severity(alert.priority) > severity(r.min_priority):
            continue
        if r.sources and alert.source not in r.sources:
            continue
        return r
    return None


def targets(alert: FalcoAlert) -> list[Target]:
    """Candidate targets, best first: the pod by name, its container, then its possible IPs."""
    out = []
    ns, pod = alert.field("k8s.ns.name"), alert.field("k8s.pod.name")
    if ns and pod:
        out.append(Target.parse({"namespace": ns, "pod": pod}))
    container = alert.field("container.id")
    if container and container != "host":
        try:
            out.append(Target.parse({"container_id": container}))
        except RequestError:
            pass
    for name in IP_FIELDS:
        ip = alert.field(name)
        if ip:
            try:
                t = Target.parse({"ip": ip})
            except RequestError:
                continue
            if t not in out:
                out.append(t)
    return out


def render_filter(template: str, alert: FalcoAlert) -> str:
    """``host {fd.rip} and port {fd.rport}`` with the alert's values; RequestError naming a field that
    is missing or not an address/port."""
    def sub(m: re.Match[str]) -> str:
        value = alert.field(m.group(1))
        if not _SAFE_VALUE.match(value):
            raise RequestError(f"captures.falco_rules.bpf_filter: field {m.group(1)} is missing or not an "
                               f"address/port in this alert ({value!r})")
        return value

    return _FIELD.sub(sub, template)


def trigger(alert: FalcoAlert, caller: str) -> Trigger:
    return Trigger(kind="falco", who=alert.hostname or caller, reason=f"source {alert.source}",
                   rule=alert.rule, priority=alert.priority, alert_time=alert.time, alert_uuid=alert.uuid,
                   output=alert.output)


class Dedup:
    """The same rule on the same target within ``window_s`` extends the capture it started."""

    def __init__(self, window_s: float, max_entries: int = 10_000) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self.seen: dict[tuple[str, str], tuple[str, float]] = {}  # (rule, target) -> (capture id, last alert)

    def running_capture(self, rule: str, target: Target, now: float) -> str | None:
        hit = self.seen.get((rule, target.describe()))
        if hit is None or now - hit[1] > self.window_s:
            return None
        self.seen[(rule, target.describe())] = (hit[0], now)
        return hit[0]

    def remember(self, rule: str, target: Target, capture_id: str, now: float) -> None:
        if len(self.seen) >= self.max_entries:
            cutoff = now - self.window_s
            self.seen = {k: v for k, v in self.seen.items() if v[1] >= cutoff}
            if len(self.seen) >= self.max_entries:
                self.seen.pop(next(iter(self.seen)))
        self.seen[(rule, target.describe())] = (capture_id, now)
