"""The shape of the fields doctor reads, checked before anything reads them.

A mapping where the API expects a list (``env: {A: b}``), a string where it expects a
mapping (``securityContext: strict``): the API server rejects such an object, and doctor
reports it as one CRITICAL finding instead of reading it.
"""

from __future__ import annotations

from typing import Any

from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.doctor.render import Obj

#: A spec is a dict (the value must be a mapping; listed keys are checked against their own
#: specs), a one-element list (the value must be a list, each item checked against the
#: element), str (a string), or None (anything). A missing or null value always passes.
Spec = Any

_META: Spec = {"name": str, "namespace": str, "labels": {}, "annotations": {}}
_KEY_REF: Spec = {"configMapKeyRef": {}, "secretKeyRef": {}, "fieldRef": {}}
_PROBE: Spec = {"grpc": {}, "httpGet": {}, "tcpSocket": {}, "exec": {"command": [None]}}
_CONTAINER: Spec = {
    "command": [None], "args": [None], "ports": [{}],
    "env": [{"valueFrom": _KEY_REF}], "envFrom": [{"configMapRef": {}, "secretRef": {}}],
    "volumeMounts": [{"name": str, "mountPath": str, "subPath": str}], "resources": {"limits": {}, "requests": {}},
    "securityContext": {"capabilities": {"drop": [None]}, "seccompProfile": {}},
    "startupProbe": _PROBE, "livenessProbe": _PROBE, "readinessProbe": _PROBE,
}  # fmt: skip
_POD: Spec = {
    "containers": [_CONTAINER], "initContainers": [_CONTAINER],
    "securityContext": {"seccompProfile": {}},
    "volumes": [{
        "persistentVolumeClaim": {}, "hostPath": {}, "emptyDir": {},
        "configMap": {"items": [{}]}, "secret": {"items": [{}]},
    }],
}  # fmt: skip
_TEMPLATE: Spec = {"metadata": _META, "spec": _POD}
_WORKLOAD: Spec = {
    "metadata": _META,
    "spec": {
        "template": _TEMPLATE, "strategy": {}, "selector": {"matchLabels": {}},
        "volumeClaimTemplates": [{"metadata": _META,
                                  "spec": {"accessModes": [None], "resources": {}}}],
    },
}  # fmt: skip
_KINDS: dict[str, Spec] = {
    **dict.fromkeys(("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"), _WORKLOAD),
    "CronJob": {"metadata": _META, "spec": {"jobTemplate": {"spec": {"template": _TEMPLATE}}}},
    "Pod": {"metadata": _META, "spec": _POD},
    "ConfigMap": {"metadata": _META, "data": {}},
    "Secret": {"metadata": _META, "data": {}, "stringData": {}},
    "SealedSecret": {"metadata": _META, "spec": {"encryptedData": {},
                                                 "template": {"metadata": _META, "data": {}}}},
    "PersistentVolumeClaim": {"metadata": _META, "spec": {"accessModes": [None]}},
    "PersistentVolume": {"metadata": _META, "spec": {"claimRef": {}}},
    "Service": {"metadata": _META, "spec": {"selector": {}, "ports": [{}]}},
    "NetworkPolicy": {"metadata": _META, "spec": {"podSelector": {"matchLabels": {}}}},
}  # fmt: skip


_NAMES: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}


def _what(v: object) -> str:
    return _NAMES.get(type(v), type(v).__name__)


def _mismatch(value: object, spec: Spec, path: str) -> str | None:
    """The first field (dotted path) whose value does not have the spec's shape."""
    if value is None or spec is None:
        return None
    if spec is str:
        return None if isinstance(value, str) else f"{path} is {_what(value)}, not a string"
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return f"{path} is {_what(value)}, not a mapping"
        for key, sub in spec.items():
            bad = _mismatch(value.get(key), sub, f"{path}.{key}" if path else key)
            if bad:
                return bad
        return None
    if not isinstance(value, list):
        return f"{path} is {_what(value)}, not a list"
    for i, item in enumerate(value):
        if item is None and spec[0] is not None:
            return f"{path}[{i}] is empty, not {'a mapping' if isinstance(spec[0], dict) else 'a value'}"
        bad = _mismatch(item, spec[0], f"{path}[{i}]")
        if bad:
            return bad
    return None


def well_formed(objects: list[Obj]) -> tuple[list[Obj], list[Finding]]:
    """The objects doctor can read, and a CRITICAL finding for each one it cannot."""
    good: list[Obj] = []
    bad: list[Finding] = []
    for o in objects:
        if not isinstance(o, dict):
            if o is not None:
                bad.append(Finding(
                    Severity.CRITICAL, "(manifests)", "",
                    f"a document is {_what(o)}, not an object: kubectl apply rejects it.",
                    "remove it or make it a Kubernetes object (apiVersion, kind, metadata).",
                ))  # fmt: skip
            continue
        kind = o.get("kind")
        if not isinstance(kind, str):
            why: str | None = f"kind is {_what(kind)}, not a string"
        else:
            why = _mismatch(o, _KINDS.get(kind, {"metadata": _META}), "")
        if why is None:
            good.append(o)
            continue
        md = o.get("metadata")
        named = md.get("name", "?") if isinstance(md, dict) else "?"
        name = f"{kind if isinstance(kind, str) else '?'}/{named}"
        bad.append(Finding(
            Severity.CRITICAL, name, why.split(" is ", 1)[0],
            f"{why}: the API server rejects the object, and doctor checked the rest without it.",
            "fix the field (kubectl apply --dry-run=server shows the schema error).",
        ))  # fmt: skip
    return good, bad
