"""What a capture is: its request (target, window, bounds, trigger), the pods it resolved to, its status.

Requests come as JSON (the API, or a Falco alert mapped by ``falco.py``); ``CaptureRequest.parse``
checks every field and fails with one line naming it (``RequestError``), so a bad request is a
400 with a reason, never a capture of the wrong thing.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from interceptor.config import CapturesConfig

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")  # DNS-1123 names (namespaces, pods, workloads)
_LABEL_KEY = re.compile(r"^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_CONTAINER_ID = re.compile(r"^([a-z-]+://)?[0-9a-f]{12,64}$")
MIN_SNAPLEN = 64


class RequestError(ValueError):
    """A bad capture request; the message names the field."""


@dataclass(frozen=True, slots=True)
class Target:
    """Exactly one way to name the pod(s): ``{namespace, pod}``, ``{namespace, workload}``,
    ``{namespace, selector}`` (equality labels), ``{container_id}`` or ``{ip}``."""

    namespace: str = ""
    pod: str = ""
    workload: str = ""
    selector: tuple[tuple[str, str], ...] = ()
    container_id: str = ""
    ip: str = ""

    @property
    def kind(self) -> str:
        for kind in ("pod", "workload", "selector", "container_id", "ip"):
            if getattr(self, kind):
                return kind
        return ""

    def describe(self) -> str:
        if self.pod or self.workload:
            return f"{self.namespace}/{self.pod or self.workload}"
        if self.selector:
            return f"{self.namespace}/{{{','.join(f'{k}={v}' for k, v in self.selector)}}}"
        return self.container_id or self.ip

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in ("namespace", "pod", "workload", "container_id", "ip")
                               if getattr(self, k)}
        if self.selector:
            out["selector"] = dict(self.selector)
        return out

    @classmethod
    def parse(cls, doc: Any) -> Target:
        if not isinstance(doc, dict):
            raise RequestError("target: expected an object such as {\"namespace\": \"shop\", \"pod\": \"cart-0\"}")
        known = {"namespace", "pod", "workload", "selector", "labels", "container_id", "container", "ip", "pod_ip"}
        for key in doc:
            if key not in known:
                raise RequestError(f"target.{key}: unknown key (known: {', '.join(sorted(known))})")
        ns = _str(doc, "namespace", "target.")
        pod, workload = _str(doc, "pod", "target."), _str(doc, "workload", "target.")
        container = _str(doc, "container_id", "target.") or _str(doc, "container", "target.")
        ip = _str(doc, "ip", "target.") or _str(doc, "pod_ip", "target.")
        selector = _selector(doc.get("selector", doc.get("labels")))
        given = [k for k, v in (("pod", pod), ("workload", workload), ("selector", selector),
                                ("container_id", container), ("ip", ip)) if v]
        if len(given) != 1:
            raise RequestError("target: name exactly one of pod, workload, selector (each with namespace), "
                               f"container_id or ip (got {', '.join(given) or 'none'})")
        if given[0] in ("pod", "workload", "selector"):
            if not ns:
                raise RequestError(f"target.namespace: required with {given[0]}")
            for key, value in (("namespace", ns), ("pod", pod), ("workload", workload)):
                if value and not _NAME.match(value):
                    raise RequestError(f"target.{key}: {value!r} is not a Kubernetes name")
        if container:
            container = container.split("://", 1)[-1].lower()
            if not _CONTAINER_ID.match(container):
                raise RequestError(f"target.container_id: {container!r} is not a container id (12-64 hex digits)")
        if ip:
            try:
                ip = str(ipaddress.ip_address(ip))
            except ValueError:
                raise RequestError(f"target.ip: {ip!r} is not an IP address") from None
        return cls(ns, pod, workload, selector, container, ip)


def _str(doc: dict[str, Any], key: str, prefix: str = "") -> str:
    value = doc.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RequestError(f"{prefix}{key}: expected a string, got {value!r}")
    return value.strip()


def _selector(value: Any) -> tuple[tuple[str, str], ...]:
    """``{"app": "cart"}`` or ``"app=cart,tier=web"`` (equality only)."""
    if value in (None, "", {}):
        return ()
    if isinstance(value, str):
        pairs = []
        for part in value.split(","):
            k, eq, v = part.strip().partition("=")
            if not eq:
                raise RequestError(f"target.selector: {part!r} is not key=value (only equality is supported)")
            pairs.append((k.strip(), v.strip().lstrip("=")))
    elif isinstance(value, dict):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        raise RequestError("target.selector: expected an object of labels or \"key=value,...\"")
    for k, v in pairs:
        if not _LABEL_KEY.match(k) or not _LABEL_VALUE.match(v):
            raise RequestError(f"target.selector: {k}={v} is not a valid label")
    return tuple(sorted(pairs))


@dataclass(frozen=True, slots=True)
class Trigger:
    """Who or what asked: an API caller, or a Falco alert (rule, priority, alert time)."""

    kind: str  # "api" or "falco"
    who: str  # the caller's address and its own "requested_by", or the alert's hostname/source
    reason: str = ""
    rule: str = ""
    priority: str = ""
    alert_time: str = ""
    alert_uuid: str = ""
    output: str = ""  # Falco's formatted message

    def to_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k)}

    def describe(self) -> str:
        if self.kind == "falco":
            return f"Falco alert: rule {self.rule!r}, priority {self.priority}, time {self.alert_time}, from {self.who}"
        return f"API request by {self.who}" + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    target: Target
    duration_s: float
    bpf_filter: str  # ANDed with nothing: the capture taps see every packet of the pod, then this
    snaplen: int
    max_bytes: int
    trigger: Trigger
    plaintext: bool = True

    @classmethod
    def parse(cls, doc: Any, cfg: CapturesConfig, trigger: Trigger) -> CaptureRequest:
        if not isinstance(doc, dict):
            raise RequestError("body: expected a JSON object with a target")
        known = {"target", "duration_s", "duration", "filter", "bpf_filter", "snaplen", "max_bytes",
                 "byte_cap", "plaintext", "reason", "requested_by"}
        for key in doc:
            if key not in known:
                raise RequestError(f"{key}: unknown key (known: {', '.join(sorted(known))})")
        target = Target.parse(doc.get("target"))
        duration = _number(doc, "duration_s", cfg.default_duration_s, alias="duration")
        if not 0 < duration <= cfg.max_duration_s:
            raise RequestError(f"duration_s: must be in (0, {cfg.max_duration_s:g}] (captures.max_duration_s), "
                               f"got {duration:g}")
        snaplen = int(_number(doc, "snaplen", cfg.snaplen))
        if not MIN_SNAPLEN <= snaplen <= cfg.snaplen:
            raise RequestError(f"snaplen: must be in [{MIN_SNAPLEN}, {cfg.snaplen}], got {snaplen}")
        max_bytes = int(_number(doc, "max_bytes", cfg.max_bytes, alias="byte_cap"))
        if not 0 < max_bytes <= cfg.max_bytes:
            raise RequestError(f"max_bytes: must be in (0, {cfg.max_bytes}] (captures.max_bytes), got {max_bytes}")
        bpf = _str(doc, "bpf_filter") or _str(doc, "filter")
        if len(bpf) > 1024:
            raise RequestError("filter: longer than 1024 characters")
        plaintext = doc.get("plaintext", True)
        if not isinstance(plaintext, bool):
            raise RequestError(f"plaintext: expected true or false, got {plaintext!r}")
        return cls(target, duration, bpf, snaplen, max_bytes, trigger, plaintext and cfg.plaintext)


def _number(doc: dict[str, Any], key: str, default: float, alias: str = "") -> float:
    value = doc.get(key, doc.get(alias, default) if alias else default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"{key}: expected a number, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class PodView:
    """A pod resolved on this node: Kubernetes identity (when the index knows it) + discovery's view."""

    namespace: str
    name: str
    uid: str
    workload: str
    workload_kind: str
    node: str
    ips: tuple[str, ...]
    containers: tuple[str, ...]  # "name" from the API and "runtime://id" from cgroups
    netns: str  # net:[inode]
    ns_path: str
    mesh: str  # "" or istio / linkerd
    netns_inode: int = 0

    def describe(self) -> str:
        who = f"{self.namespace}/{self.name}" if self.name else self.netns
        wl = f" workload {self.workload_kind}/{self.workload}" if self.workload else ""
        return (f"pod {who}{wl} uid {self.uid or '-'} node {self.node} IPs {', '.join(self.ips) or '-'}"
                f" containers {', '.join(self.containers) or '-'} netns {self.netns}"
                + (f" meshed ({self.mesh})" if self.mesh else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "pod": self.name, "uid": self.uid, "workload": self.workload,
                "workload_kind": self.workload_kind, "node": self.node, "ips": list(self.ips),
                "containers": list(self.containers), "netns": self.netns, "mesh": self.mesh}


class State(enum.Enum):
    RUNNING = "running"
    DONE = "done"  # stopped (see stop_reason); the file is complete and downloadable
    FAILED = "failed"  # no tap could be opened; nothing captured


class StopReason(enum.Enum):
    DURATION = "duration"
    BYTE_CAP = "byte_cap"  # max_bytes reached: later packets were not written (counted)
    DISK_BUDGET = "disk_budget"  # captures.disk_budget_bytes reached and nothing older to delete
    DELETED = "stopped"  # DELETE while running
    POD_GONE = "pod_gone"  # every tap's interface vanished: the pod was deleted
    SHUTDOWN = "shutdown"  # the agent is stopping
    ERROR = "error"


@dataclass
class CaptureCounts:
    """Per capture; ``drops`` by reason: kernel (tap buffer full), interface, byte_cap, disk_budget,
    plaintext_* (plaintext that could not be synthesized)."""

    packets: int = 0
    bytes: int = 0  # captured packet bytes written
    file_bytes: int = 0  # the file's size
    truncated: int = 0  # packets longer than the snaplen (written cut)
    plaintext_packets: int = 0
    plaintext_bytes: int = 0
    drops: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, n: int = 1) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + n

    def to_dict(self) -> dict[str, Any]:
        return {"packets": self.packets, "bytes": self.bytes, "file_bytes": self.file_bytes,
                "truncated": self.truncated, "plaintext_packets": self.plaintext_packets,
                "plaintext_bytes": self.plaintext_bytes, "drops": dict(sorted(self.drops.items()))}
