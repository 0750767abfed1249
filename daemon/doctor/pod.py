"""Read rendered objects the way the kubelet will: pods, their volumes and mounts, and the
environment each container ends up with (image ENV, then envFrom, then env).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Iterator
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

#: Workloads that run to completion (no probes, no replicas to keep alive).
JOB_KINDS = frozenset({"Job", "CronJob"})

#: Placeholder for a secret value the manifests do not reveal (sealed, or in the cluster only).
HIDDEN = "<provided-by-secret>"

#: (namespace, name); namespace "" is "whatever namespace kubectl applies it to".
Key = tuple[str, str]


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


def key_of(o: Obj) -> Key:
    return (str(dig(o, "metadata", "namespace") or ""), name_of(o))


class Index:
    """Objects of one kind by (namespace, name), looked up the way references resolve.

    A reference from a pod resolves in the pod's namespace. An object or a pod without a
    namespace goes wherever kubectl applies it, so "" matches any namespace.
    """

    def __init__(self) -> None:
        self.by_key: dict[Key, Obj] = {}

    def add(self, o: Obj) -> None:
        self.by_key[key_of(o)] = o

    def get(self, ns: str, name: str) -> Obj | None:
        if (ns, name) in self.by_key:
            return self.by_key[(ns, name)]
        if ns and ("", name) in self.by_key:
            return self.by_key[("", name)]
        if not ns:
            found = [o for (_, n), o in self.by_key.items() if n == name]
            if len(found) == 1:
                return found[0]
        return None

    def elsewhere(self, ns: str, name: str) -> list[str]:
        """Namespaces that hold ``name`` when the lookup from ``ns`` finds nothing."""
        return sorted(n for (n, nm) in self.by_key if nm == name and n and n != ns)

    def __iter__(self) -> Iterator[Obj]:
        return iter(self.by_key.values())

    def __len__(self) -> int:
        return len(self.by_key)


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
    def namespace(self) -> str:
        return key_of(self.owner)[0]

    @property
    def is_job(self) -> bool:
        return self.kind in JOB_KINDS

    @property
    def replicas(self) -> int | None:
        """Pods this workload keeps running; None for a DaemonSet (one per node)."""
        if self.kind == "DaemonSet":
            return None
        if self.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            n = dig(self.owner, "spec", "replicas")
            try:
                return 1 if n is None else int(n)
            except (TypeError, ValueError):
                return 1
        return 1

    @property
    def volumes(self) -> dict[str, Obj]:
        return {str(v.get("name")): v for v in self.spec.get("volumes") or []}

    def containers(self, *, init: bool = False) -> list[Obj]:
        out = list(self.spec.get("containers") or [])
        if init:
            out += list(self.spec.get("initContainers") or [])
        return out

    def container_field(self, c: Obj) -> str:
        kind = "initContainers" if c in (self.spec.get("initContainers") or []) else "containers"
        return f"{self.prefix}.{kind}[{c.get('name')}]"

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


def secret_key_field(o: Obj, key: str) -> str:
    """Where ``key`` is written in a Secret or SealedSecret."""
    if o.get("kind") == "SealedSecret":
        return f"spec.encryptedData.{key}"
    return f"stringData.{key}" if key in (o.get("stringData") or {}) else f"data.{key}"


@dataclass
class EnvValue:
    """One variable as the container will see it, where it came from, and where it is written."""

    value: str
    source: str  # "image", "ConfigMap/observer-config", "Secret/observer-kis", "literal", ...
    field: str  # the container's field that brings it in (envFrom[0], env[NAME], ...)
    obj: str  # the object the value is written in (for findings about the value)
    at: str  # the field inside that object (data.KEY, ...env[NAME], ENV NAME)
    secret_ref: tuple[str, str, bool] | None = None  # (secret, key, optional)
    #: From a Secret that is not in the manifests: present or not, doctor cannot tell.
    unknown: bool = False


@dataclass
class Dangling:
    """A reference to a ConfigMap, a Secret or one of their keys that resolves to nothing."""

    field: str
    what: str  # "ConfigMap observer-config", "key DB_PASSWORD of Secret observer-db"
    optional: bool


@dataclass
class OutsideSecret:
    """A Secret the container references that is not in the manifests."""

    name: str
    field: str  # first reference
    keys: list[str] = dataclasses.field(default_factory=list)  # keys named by secretKeyRef
    whole: bool = False  # used by envFrom: any key may come from it


@dataclass
class ContainerEnv:
    values: dict[str, EnvValue] = field(default_factory=dict)
    dangling: list[Dangling] = field(default_factory=list)
    configmaps_used: list[Obj] = field(default_factory=list)
    #: (envFrom field, Secret object) for every envFrom Secret found in the manifests.
    secrets_from: list[tuple[str, Obj]] = field(default_factory=list)
    outside: dict[str, OutsideSecret] = field(default_factory=dict)


_DEP = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def container_env(
    pod: Pod,
    c: Obj,
    configmaps: Index,
    secrets: Index,
    image: Dockerfile | None,
) -> ContainerEnv:
    """The environment the kubelet builds for container ``c``: image ENV < envFrom < env."""
    res = ContainerEnv()
    ns, owner, cfield = pod.namespace, ref(pod.owner), pod.container_field(c)

    def outside(name: str, f: str) -> OutsideSecret:
        return res.outside.setdefault(name, OutsideSecret(name, f))

    if image is not None:
        for k, v in image.env.items():
            res.values[k] = EnvValue(v, "image", f"{image.path} ENV", str(image.path), f"ENV {k}")
    for i, src in enumerate(c.get("envFrom") or []):
        prefix = str(src.get("prefix") or "")
        f = f"{cfield}.envFrom[{i}]"
        if "configMapRef" in src:
            name = str(dig(src, "configMapRef", "name"))
            optional = bool(dig(src, "configMapRef", "optional"))
            cm = configmaps.get(ns, name)
            if cm is None:
                res.dangling.append(Dangling(f, f"ConfigMap {name}", optional))
                continue
            res.configmaps_used.append(cm)
            for k, v in (cm.get("data") or {}).items():
                res.values[prefix + str(k)] = EnvValue(
                    str(v), f"ConfigMap/{name}", f, ref(cm), f"data.{k}"
                )
        elif "secretRef" in src:
            name = str(dig(src, "secretRef", "name"))
            optional = bool(dig(src, "secretRef", "optional"))
            sec = secrets.get(ns, name)
            if sec is None:
                outside(name, f).whole = True
                continue
            res.secrets_from.append((f, sec))
            for k, val in secret_keys(sec).items():
                res.values[prefix + k] = EnvValue(
                    HIDDEN if val is None else val, f"Secret/{name}", f, ref(sec),
                    secret_key_field(sec, k), (name, k, optional),
                )  # fmt: skip
    for e in c.get("env") or []:
        name = str(e.get("name"))
        f = f"{cfield}.env[{name}]"
        if "value" in e:
            lit = _DEP.sub(lambda m: res.values[m.group(1)].value if m.group(1) in res.values
                           else m.group(0), str(e.get("value") or ""))  # fmt: skip
            res.values[name] = EnvValue(lit, "literal", f, owner, f)
            continue
        vf = e.get("valueFrom") or {}
        if "configMapKeyRef" in vf:
            r = vf["configMapKeyRef"] or {}
            cm_name, key, opt = str(r.get("name")), str(r.get("key")), bool(r.get("optional"))
            cm = configmaps.get(ns, cm_name)
            data = (cm or {}).get("data") or {}
            if cm is None or key not in data:
                res.dangling.append(Dangling(f, f"key {key} of ConfigMap {cm_name}", opt))
                continue
            res.values[name] = EnvValue(
                str(data[key]), f"ConfigMap/{cm_name}", f, ref(cm), f"data.{key}"
            )
        elif "secretKeyRef" in vf:
            r = vf["secretKeyRef"] or {}
            s_name, key, opt = str(r.get("name")), str(r.get("key")), bool(r.get("optional"))
            sec = secrets.get(ns, s_name)
            if sec is None:
                # Created by hand or by a controller: assume present, say so once (INFO).
                outside(s_name, f).keys.append(key)
                res.values[name] = EnvValue(
                    HIDDEN, f"Secret/{s_name}", f, owner, f, (s_name, key, opt), unknown=True
                )
                continue
            keys = secret_keys(sec)
            if key not in keys:
                res.dangling.append(Dangling(f, f"key {key} of Secret {s_name}", opt))
                continue
            val = keys[key]
            res.values[name] = EnvValue(
                HIDDEN if val is None else val, f"Secret/{s_name}", f, ref(sec),
                secret_key_field(sec, key), (s_name, key, opt),
            )  # fmt: skip
        else:
            res.values[name] = EnvValue("", "fieldRef", f, owner, f)
    return res
