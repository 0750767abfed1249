"""Everything the manifest checks share: the rendered objects indexed, and for each
collector container its environment and the settings the daemon will resolve from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from observer.daemon.config import ENV_TABLE, Config, load_config
from observer.daemon.doctor.pod import (
    HIDDEN,
    ContainerEnv,
    Pod,
    container_env,
    is_collector,
    name_of,
    pods,
    secret_name,
)
from observer.daemon.doctor.render import Dockerfile, Obj
from observer.daemon.errors import ConfigError

_TEMPLATE = re.compile(r"\{([A-Z0-9_]+)\}")


@dataclass
class Collector:
    """One container that runs observer-daemon, as the daemon inside it will see things."""

    pod: Pod
    container: Obj
    field: str  # e.g. spec.template.spec.containers[observer]
    env: ContainerEnv
    workdir: str
    config: Config | None
    config_error: str
    paths: dict[str, str]  # every path variable -> absolute path in the container

    @property
    def name(self) -> str:
        return str(self.container.get("name"))


@dataclass
class Context:
    objects: list[Obj]
    image: Dockerfile | None
    pods: list[Pod] = field(default_factory=list)
    configmaps: dict[str, Obj] = field(default_factory=dict)
    secrets: dict[str, Obj] = field(default_factory=dict)
    pvcs: dict[str, Obj] = field(default_factory=dict)
    services: dict[str, Obj] = field(default_factory=dict)
    collectors: list[Collector] = field(default_factory=list)

    @classmethod
    def build(cls, objects: list[Obj], image: Dockerfile | None) -> Context:
        ctx = cls(objects, image, pods(objects))
        for o in objects:
            kind = o.get("kind")
            if kind == "ConfigMap":
                ctx.configmaps[name_of(o)] = o
            elif kind in ("Secret", "SealedSecret"):
                ctx.secrets[secret_name(o)] = o
            elif kind == "PersistentVolumeClaim":
                ctx.pvcs[name_of(o)] = o
            elif kind == "Service":
                ctx.services[name_of(o)] = o
        for p in ctx.pods:
            for c in p.containers():
                if is_collector(c, ctx.configmaps):
                    ctx.collectors.append(ctx._collector(p, c))
        return ctx

    def _collector(self, p: Pod, c: Obj) -> Collector:
        cfield = f"{p.prefix}.containers[{c.get('name')}]"
        env = container_env(c, cfield, self.configmaps, self.secrets, self.image)
        workdir = str(c.get("workingDir") or (self.image.workdir if self.image else "/"))
        environ = {k: v.value for k, v in env.values.items()}
        environ.pop("OBSERVER_ENV_FILE", None)  # a file inside the image; not readable here
        for k, v in environ.items():
            if v == HIDDEN:
                environ[k] = "hidden-secret-value"
        cfg: Config | None = None
        error = ""
        try:
            cfg = load_config({}, environ, cwd=Path(workdir)).config
        except ConfigError as e:
            error = str(e)
        return Collector(p, c, cfield, env, workdir, cfg, error, resolve_paths(environ, workdir))


def resolve_paths(environ: dict[str, str], workdir: str) -> dict[str, str]:
    """Path variables as the daemon resolves them (templates, then relative to the workdir).

    Done here on POSIX path strings so that it never touches this machine's filesystem.
    """
    raw = {v.name: environ.get(v.name, v.default) for v in ENV_TABLE}
    for v in ENV_TABLE:
        raw[v.name] = _TEMPLATE.sub(lambda m: raw.get(m.group(1), ""), raw[v.name])
    out: dict[str, str] = {}
    for v in ENV_TABLE:
        if not v.is_path or not raw[v.name]:
            continue
        p = PurePosixPath(raw[v.name])
        if not p.is_absolute():
            p = PurePosixPath(workdir) / p
        out[v.name] = _normalize(str(p))
    return out


def _normalize(p: str) -> str:
    parts: list[str] = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def under(path: str, root: str) -> bool:
    root = _normalize(root)
    return path == root or path.startswith(root.rstrip("/") + "/")
