"""Read rendered objects the way the kubelet will: pods, their volumes and mounts, and the
environment each container ends up with (image ENV, then envFrom, then env).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from observer.daemon.doctor.render import Dockerfile, Obj

#: Where the pod template sits in each workload kind.
_TEMPLATE_PATH: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}

#: Placeholder for a secret value the manifests do not reveal (sealed, or in the cluster only).
HIDDEN = "<provided-by-secret>"


def dig(obj: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


def ref(o: Obj) -> str:
    """``Kind/name`` (``namespace/`` prefixed when set): how findings name an object."""
    md = o.get("metadata") or {}
    ns = md.get("namespace")
    return f"{o.get('kind')}/{(ns + '/') if ns else ''}{md.get('name', '?')}"


def name_of(o: Obj) -> str:
    return str(dig(o, "metadata", "name") or "")


@dataclass
class Pod:
    """A pod template (or a bare Pod) and where it came from."""

    owner: Obj
    spec: Obj
    prefix: str  # field path of the pod spec inside the owner, e.g. spec.template.spec

    @property
    def kind(self) -> str:
        return str(self.owner.get("kind"))

    @property
    def volumes(self) -> dict[str, Obj]:
        return {str(v.get("name")): v for v in self.spec.get("volumes") or []}

    def containers(self, *, init: bool = False) -> list[Obj]:
        out = list(self.spec.get("containers") or [])
        if init:
            out += list(self.spec.get("initContainers") or [])
        return out

    def claim_templates(self) -> dict[str, Obj]:
        if self.kind != "StatefulSet":
            return {}
        return {
            str(dig(t, "metadata", "name")): t
            for t in dig(self.owner, "spec", "volumeClaimTemplates") or []
        }


def pods(objects: list[Obj]) -> list[Pod]:
    out: list[Pod] = []
    for o in objects:
        kind = o.get("kind")
        if kind == "Pod" and isinstance(o.get("spec"), dict):
            out.append(Pod(o, o["spec"], "spec"))
        elif kind in _TEMPLATE_PATH:
            path = _TEMPLATE_PATH[str(kind)]
            spec = dig(o, *path, "spec")
            if isinstance(spec, dict):
                out.append(Pod(o, spec, ".".join((*path, "spec"))))
    return out


def image_name(container: Obj) -> str:
    """Repository name without registry and tag: ``postgres`` for ``docker.io/postgres:15``."""
    img = str(container.get("image") or "")
    img = img.split("@", 1)[0]
    last = img.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def is_postgres(container: Obj) -> bool:
    return "postgres" in image_name(container) or "postgis" in image_name(container)


def is_collector(container: Obj, configmaps: dict[str, Obj]) -> bool:
    """A container running observer-daemon: by its command, image, or the ConfigMap it reads."""
    if is_postgres(container):
        return False
    argv = " ".join(
        str(x) for x in (container.get("command") or []) + (container.get("args") or [])
    )
    if "observer-daemon" in argv or "observer" in image_name(container):
        return True
    for src in container.get("envFrom") or []:
        cm = configmaps.get(str(dig(src, "configMapRef", "name")))
        if cm is not None and "OBSERVER_DATA_DIR" in (cm.get("data") or {}):
            return True
    return False


def secret_keys(o: Obj) -> dict[str, str | None]:
    """Keys a Secret or SealedSecret provides, with the value when the manifest reveals it."""
    out: dict[str, str | None] = {}
    if o.get("kind") == "SealedSecret":
        for k in dig(o, "spec", "encryptedData") or {}:
            out[str(k)] = None
        for k, v in (dig(o, "spec", "template", "data") or {}).items():
            out[str(k)] = str(v)
        return out
    for k, v in (o.get("data") or {}).items():
        try:
            out[str(k)] = base64.b64decode(str(v or ""), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            out[str(k)] = None
    for k, v in (o.get("stringData") or {}).items():
        out[str(k)] = str(v)
    return out


def secret_name(o: Obj) -> str:
    """The name of the Secret an object yields (a SealedSecret's template may rename it)."""
    if o.get("kind") == "SealedSecret":
        return str(dig(o, "spec", "template", "metadata", "name") or name_of(o))
    return name_of(o)


@dataclass
class EnvValue:
    """One variable as the container will see it, and where it came from."""

    value: str
    source: str  # "image", "ConfigMap/observer-config", "Secret/observer-kis", "literal", ...
    field: str  # field path that set it
    secret_ref: tuple[str, str, bool] | None = None  # (secret, key, optional)


@dataclass
class ContainerEnv:
    values: dict[str, EnvValue] = field(default_factory=dict)
    #: (field path, what is missing, optional) for references that point at nothing.
    dangling: list[tuple[str, str, bool]] = field(default_factory=list)
    configmaps_used: list[str] = field(default_factory=list)


_DEP = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def container_env(
    c: Obj,
    cfield: str,
    configmaps: dict[str, Obj],
    secrets: dict[str, Obj],
    image: Dockerfile | None,
) -> ContainerEnv:
    """The environment the kubelet builds for container ``c``: image ENV < envFrom < env."""
    res = ContainerEnv()
    if image is not None:
        for k, v in image.env.items():
            res.values[k] = EnvValue(v, "image", f"{image.path} ENV")
    for i, src in enumerate(c.get("envFrom") or []):
        prefix = str(src.get("prefix") or "")
        f = f"{cfield}.envFrom[{i}]"
        if "configMapRef" in src:
            name = str(dig(src, "configMapRef", "name"))
            optional = bool(dig(src, "configMapRef", "optional"))
            res.configmaps_used.append(name)
            cm = configmaps.get(name)
            if cm is None:
                res.dangling.append((f, f"ConfigMap {name}", optional))
                continue
            for k, v in (cm.get("data") or {}).items():
                res.values[prefix + str(k)] = EnvValue(str(v), f"ConfigMap/{name}", f)
        elif "secretRef" in src:
            name = str(dig(src, "secretRef", "name"))
            optional = bool(dig(src, "secretRef", "optional"))
            sec = secrets.get(name)
            if sec is None:
                res.dangling.append((f, f"Secret {name} (not in these manifests)", True))
                continue
            for k, val in secret_keys(sec).items():
                res.values[prefix + k] = EnvValue(
                    HIDDEN if val is None else val, f"Secret/{name}", f, (name, k, optional)
                )
    for e in c.get("env") or []:
        name = str(e.get("name"))
        f = f"{cfield}.env[{name}]"
        if "value" in e:
            lit = _DEP.sub(lambda m: res.values[m.group(1)].value if m.group(1) in res.values
                           else m.group(0), str(e.get("value") or ""))  # fmt: skip
            res.values[name] = EnvValue(lit, "literal", f)
            continue
        vf = e.get("valueFrom") or {}
        if "configMapKeyRef" in vf:
            r = vf["configMapKeyRef"]
            cm_name, key, opt = str(r.get("name")), str(r.get("key")), bool(r.get("optional"))
            data = (configmaps.get(cm_name) or {}).get("data") or {}
            if cm_name not in configmaps or key not in data:
                res.dangling.append((f, f"key {key} of ConfigMap {cm_name}", opt))
                continue
            res.values[name] = EnvValue(str(data[key]), f"ConfigMap/{cm_name}", f)
        elif "secretKeyRef" in vf:
            r = vf["secretKeyRef"]
            s_name, key, opt = str(r.get("name")), str(r.get("key")), bool(r.get("optional"))
            sec = secrets.get(s_name)
            if sec is None:
                # Secrets usually live outside git: assume present, say so at INFO level.
                res.values[name] = EnvValue(HIDDEN, f"Secret/{s_name}", f, (s_name, key, opt))
                res.dangling.append((f, f"Secret {s_name} (not in these manifests)", True))
                continue
            keys = secret_keys(sec)
            if key not in keys:
                res.dangling.append((f, f"key {key} of Secret {s_name}", opt))
                continue
            val = keys[key]
            res.values[name] = EnvValue(
                HIDDEN if val is None else val, f"Secret/{s_name}", f, (s_name, key, opt)
            )
        else:
            res.values[name] = EnvValue("", "fieldRef", f)
    return res
