"""Writes helm/privacy-sensor/values.schema.json; its ``config`` part is derived from interceptor/config.py.

The chart's ConfigMap is ``.Values.config`` merged over what the chart derives, so a key unknown to
the agent's config model must fail at ``helm install`` with a clear message, not at pod start.
Run ``python3 helm/gen_values_schema.py`` after changing the config model; a test checks it is current.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from interceptor.config import Config  # noqa: E402

OUT = Path(__file__).parent / "privacy-sensor" / "values.schema.json"


def type_schema(tp: Any) -> dict[str, Any]:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return {"type": "object", "additionalProperties": False,
                "properties": {f.name: type_schema(hints[f.name]) for f in dataclasses.fields(tp)}}
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [type_schema(a) for a in get_args(tp)]}
    if origin is list:
        return {"type": "array", "items": type_schema(get_args(tp)[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(get_args(tp)[1])}
    simple = {bool: {"type": "boolean"}, int: {"type": "integer", "minimum": 0},
              float: {"type": "number", "minimum": 0}, str: {"type": "string"}}
    return dict(simple.get(tp, {}))


def obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        out["required"] = required
    return out


STR = {"type": "string"}
BOOL = {"type": "boolean"}
INT = {"type": "integer", "minimum": 0}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
ANY_OBJ = {"type": "object"}
LIST = {"type": "array"}
RESOURCES = obj({"requests": ANY_OBJ, "limits": ANY_OBJ, "claims": LIST})
PULL = {"enum": ["Always", "IfNotPresent", "Never"]}
IMAGE = obj({"repository": {"type": "string", "minLength": 1}, "tag": STR, "pullPolicy": PULL})
SCHED = {"tolerations": LIST, "nodeSelector": ANY_OBJ, "affinity": ANY_OBJ, "priorityClassName": STR,
         "podAnnotations": ANY_OBJ, "podLabels": ANY_OBJ, "extraEnv": LIST}
PROBE = obj({"enabled": BOOL, "initialDelaySeconds": INT, "periodSeconds": INT, "timeoutSeconds": INT,
             "failureThreshold": INT})
MONITOR = obj({"enabled": BOOL, "interval": STR, "scrapeTimeout": STR, "labels": ANY_OBJ})


def values_schema() -> dict[str, Any]:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "privacy-sensor chart values",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "global": ANY_OBJ,
            "nameOverride": STR,
            "fullnameOverride": STR,
            "image": IMAGE,
            "imagePullSecrets": LIST,
            "serviceAccount": obj({"create": BOOL, "name": STR, "annotations": ANY_OBJ}),
            "rbac": obj({"create": BOOL}),
            "interceptor": obj({
                "enabled": BOOL,
                "securityMode": {"enum": ["privileged", "capabilities"]},
                "capabilities": {"type": "array", "items": {"enum": [
                    "NET_ADMIN", "NET_RAW", "SYS_ADMIN", "BPF", "PERFMON", "SYS_PTRACE", "SYS_RESOURCE",
                    "IPC_LOCK", "DAC_READ_SEARCH"]}, "uniqueItems": True},
                "resources": RESOURCES,
                "terminationGracePeriodSeconds": {"type": "integer", "minimum": 5},
                "kernelHeaders": obj({"enabled": BOOL, "srcPath": STR, "modulesPath": STR}),
                "livenessProbe": PROBE, "readinessProbe": PROBE,
                "updateStrategy": ANY_OBJ,
                "args": {"type": "array", "items": STR},
                **SCHED,
            }),
            "processor": obj({"enabled": BOOL, "replicas": INT, "args": {"type": "array", "items": STR},
                              "resources": RESOURCES, **SCHED}),
            "mapService": obj({
                "enabled": BOOL, "replicas": {"type": "integer", "minimum": 0, "maximum": 1},
                "args": {"type": "array", "items": STR}, "port": PORT, "resources": RESOURCES,
                "service": obj({"type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]}, "port": PORT}),
                "persistence": obj({"enabled": BOOL, "size": STR, "storageClass": STR}),
                **SCHED,
            }),
            "hub": obj({
                "enabled": BOOL, "replicas": INT, "args": {"type": "array", "items": STR}, "port": PORT,
                "resources": RESOURCES,
                "service": obj({"type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]}, "port": PORT}),
                "captures": obj({"enabled": BOOL, "port": PORT}),
                **SCHED,
            }),
            "auth": obj({"secretName": STR, "tokenKey": {"type": "string", "minLength": 1}, "rawTokenKey": STR}),
            "metrics": obj({"port": PORT, "service": obj({"enabled": BOOL, "annotations": ANY_OBJ}),
                            "serviceMonitor": MONITOR, "podMonitor": MONITOR}),
            "kafka": obj({
                "bootstrapServers": STR,
                "topic": {"type": "string", "minLength": 1},
                "tls": obj({"enabled": BOOL, "secretName": STR, "caKey": STR, "certKey": STR, "keyKey": STR}),
                "sasl": obj({"enabled": BOOL, "mechanism": {"enum": ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]},
                             "secretName": STR, "usernameKey": STR, "passwordKey": STR}),
                "bundled": obj({"enabled": BOOL, "image": IMAGE, "port": PORT, "partitions": INT,
                                "retentionHours": INT, "resources": RESOURCES,
                                "persistence": obj({"enabled": BOOL, "size": STR, "storageClass": STR}),
                                **SCHED}),
            }),
            "config": type_schema(Config) | {"description": "merged over the chart's derived settings into "
                                                            "config.yaml (interceptor/config.py)"},
        },
    }


def render() -> str:
    return json.dumps(values_schema(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
