"""Everything the manifest checks share: the rendered objects indexed, and for each
collector container its environment and the settings the daemon will resolve from it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from observer.daemon.config import ENV_TABLE, Config, load_config, parse_dotenv
from observer.daemon.doctor.identify import Recognition, recognise
from observer.daemon.doctor.pod import (
    HIDDEN,
    ContainerEnv,
    Index,
    Pod,
    container_env,
    dig,
    is_postgres,
    pods,
    ref,
    secret_keys,
)
from observer.daemon.doctor.render import Dockerfile, Obj
from observer.daemon.errors import ConfigError

_TEMPLATE = re.compile(r"\{([A-Z0-9_]+)\}")
_SECRET_VARS = [v.name for v in ENV_TABLE if v.secret]


@dataclass
class EnvFile:
    """What OBSERVER_ENV_FILE names and whether the container can read it."""

    path: str  # absolute, in the container ("" when unset)
    state: str  # "unset", "readable", "unknown" (on a volume doctor cannot see), "missing"
    why: str = ""  # for "missing": what is wrong; for the others: where it comes from
    values: dict[str, str] = field(default_factory=dict)
    error: str = ""  # the file is there but is not valid dotenv
    obj: str = ""  # the ConfigMap or Secret that holds it, when the manifests do
    key: str = ""


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
    recognition: Recognition
    env_file: EnvFile
    #: Secret variables assumed to come from envFrom Secrets that are not in the manifests.
    assumed: list[str] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.container.get("name"))

    @property
    def obj(self) -> str:
        return ref(self.pod.owner)

    def where(self, name: str) -> tuple[str, str]:
        """The object and field where variable ``name`` is set, or where to set it."""
        v = self.env.values.get(name)
        if v is not None:
            return v.obj, v.at
        if self.env.configmaps_used:
            return ref(self.env.configmaps_used[0]), f"data.{name}"
        return self.obj, f"{self.field}.env"

    def describe(self) -> str:
        return f"{self.obj}, container {self.name} (by its {self.recognition.because()})"


@dataclass
class Context:
    objects: list[Obj]
    image: Dockerfile | None
    pods: list[Pod] = field(default_factory=list)
    configmaps: Index = field(default_factory=Index)
    secrets: Index = field(default_factory=Index)  # Secrets and SealedSecrets
    pvcs: Index = field(default_factory=Index)
    services: Index = field(default_factory=Index)
    pvs: list[Obj] = field(default_factory=list)
    collectors: list[Collector] = field(default_factory=list)
    #: (old, new): a previous collector on the data directory of the current one.
    replaced: list[tuple[Collector, Collector]] = field(default_factory=list)
    #: Containers that run observer-daemon without collecting (a Job, `backup`, ...).
    daemon_tools: list[tuple[Pod, Obj, Recognition]] = field(default_factory=list)

    @classmethod
    def build(cls, objects: list[Obj], image: Dockerfile | None) -> Context:
        ctx = cls(objects, image, pods(objects))
        index = {
            "ConfigMap": ctx.configmaps, "Secret": ctx.secrets, "SealedSecret": ctx.secrets,
            "PersistentVolumeClaim": ctx.pvcs, "Service": ctx.services,
        }  # fmt: skip
        for o in objects:
            kind = str(o.get("kind"))
            if kind in index:
                index[kind].add(o)
            elif kind == "PersistentVolume":
                ctx.pvs.append(o)
        for p in ctx.pods:
            found = []
            for c in p.containers():
                env = container_env(p, c, ctx.configmaps, ctx.secrets, image)
                own = {k for k, v in env.values.items() if v.value and v.source != "image"}
                rec = recognise(p, c, own)
                if rec is not None:
                    found.append((c, env, rec))
            if any(rec.strong for _, _, rec in found):
                # A sidecar that only shares the ConfigMap is not a second daemon.
                found = [f for f in found if f[2].strong]
            for c, env, rec in found:
                if rec.collects and not p.is_job:
                    ctx.collectors.append(ctx._collector(p, c, env, rec))
                else:
                    ctx.daemon_tools.append((p, c, rec))
        return ctx

    def postgres_pods(self) -> list[tuple[Pod, Obj]]:
        return [(p, c) for p in self.pods for c in p.containers() if is_postgres(c)]

    def _collector(self, p: Pod, c: Obj, env: ContainerEnv, rec: Recognition) -> Collector:
        cfield = p.container_field(c)
        workdir = str(c.get("workingDir") or (self.image.workdir if self.image else "/"))
        environ = {k: v.value for k, v in env.values.items()}
        env_file = self._env_file(p, c, environ.pop("OBSERVER_ENV_FILE", ""), workdir)
        for k, v in env_file.values.items():
            environ.setdefault(k, v)  # the file comes after the process environment
        for k, v in environ.items():
            if v == HIDDEN:
                environ[k] = "hidden-secret-value"
        # Keys a Secret outside the manifests may hold: judge the settings both with and
        # without them, and report only what fails either way.
        assumed: list[str] = []
        if any(o.whole for o in env.outside.values()):
            assumed = [n for n in _SECRET_VARS if n not in environ]
        unknown = {k for k, v in env.values.items() if v.unknown}
        present = {**environ, **{n: "hidden-secret-value" for n in assumed}}
        absent = {k: v for k, v in environ.items() if k not in unknown}
        cfg, error = _load(present, workdir)
        if error and (assumed or unknown):
            cfg_absent, error_absent = _load(absent, workdir)
            if not error_absent:  # it depends on what the outside Secret holds
                cfg, error = cfg_absent, ""
        if env_file.error:
            error = env_file.error
        return Collector(
            p, c, cfield, env, workdir, cfg, error, resolve_paths(present, workdir), rec,
            env_file, assumed,
        )  # fmt: skip

    def _env_file(self, p: Pod, c: Obj, name: str, workdir: str) -> EnvFile:
        if not name:
            return EnvFile("", "unset")
        path = normalize(str(PurePosixPath(workdir) / name))
        best = best_mount(list(c.get("volumeMounts") or []), path)
        if best is None:
            if self.image is not None and any(under(path, d) for d in self.image.copies):
                return EnvFile(path, "unknown", f"copied into the image by {self.image.path}")
            return EnvFile(path, "missing", "no volumeMount covers it and the image does not "
                           "COPY it")  # fmt: skip
        vname = str(best.get("name"))
        vol = p.volumes.get(vname) or {}
        rel = path[len(normalize(str(best["mountPath"]))) :].strip("/")
        inner = "/".join(x for x in (str(best.get("subPath") or ""), rel) if x)
        where = f"volume {vname!r} mounted at {best['mountPath']}"
        if "emptyDir" in vol:
            return EnvFile(path, "missing", f"{where} is an emptyDir, which starts empty")
        for kind, name_key in (("configMap", "name"), ("secret", "secretName")):
            if kind not in vol:
                continue
            src_name = str(dig(vol, kind, name_key))
            items = {str(i.get("path")): str(i.get("key")) for i in dig(vol, kind, "items") or []}
            key = items.get(inner, "" if items else inner)
            index = self.configmaps if kind == "configMap" else self.secrets
            src = index.get(p.namespace, src_name)
            label = f"{'ConfigMap' if kind == 'configMap' else 'Secret'} {src_name}"
            if src is None:
                if kind == "secret":
                    return EnvFile(path, "unknown", f"{label}, not in these manifests")
                return EnvFile(path, "missing", f"{where} is {label}, which is not in these "
                               "manifests")  # fmt: skip
            data = (
                {str(k): str(v) for k, v in (src.get("data") or {}).items()}
                if kind == "configMap" else secret_keys(src)
            )  # fmt: skip
            if not key or key not in data:
                return EnvFile(path, "missing", f"{where} is {label}, which has no key "
                               f"{key or inner!r}")  # fmt: skip
            text = data[key]
            if text is None:
                return EnvFile(path, "unknown", f"{label} (sealed)")
            try:
                values = parse_dotenv(text, where=f"OBSERVER_ENV_FILE {path} ({label})")
            except ConfigError as e:
                error = str(e)
                if kind == "secret":  # the parser quotes the line: not from a Secret
                    error = error.split(" (", 1)[0] + " in " + label + " is not KEY=value."
                return EnvFile(path, "readable", label, error=error, obj=ref(src), key=key)
            return EnvFile(path, "readable", f"{label}, key {key}", values, obj=ref(src), key=key)
        return EnvFile(path, "unknown", where)


def _load(environ: dict[str, str], workdir: str) -> tuple[Config | None, str]:
    try:
        return load_config({}, environ, cwd=Path(workdir)).config, ""
    except ConfigError as e:
        return None, str(e)


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
        out[v.name] = normalize(str(p))
    return out


def normalize(p: str) -> str:
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


def best_mount(mounts: list[Obj], path: str) -> Obj | None:
    """The volumeMount ``path`` lands on: the deepest mountPath that contains it."""
    best: Obj | None = None
    for m in mounts:
        mp = str(m.get("mountPath") or "")
        if mp and under(path, mp) and (best is None or len(mp) > len(str(best["mountPath"]))):
            best = m
    return best


def under(path: str, root: str) -> bool:
    root = normalize(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def _ids(user: str) -> tuple[int | None, int | None]:
    uid, _, gid = user.partition(":")
    return (int(uid) if uid.isdigit() else None), (int(gid) if gid.isdigit() else None)


def run_as(col: Collector, image: Dockerfile | None) -> tuple[int | None, int | None, str]:
    """(uid, gid, where they come from) the daemon runs with; None where unknown.

    runAsUser/runAsGroup win over the image's USER; without runAsGroup the group is the
    image's when the user is the image's too (otherwise it depends on the image's passwd).
    """
    pod_sc = col.pod.spec.get("securityContext") or {}
    sc = col.container.get("securityContext") or {}

    def pick(key: str) -> int | None:
        v = sc.get(key, pod_sc.get(key))
        return v if isinstance(v, int) else None

    img_uid, img_gid = _ids(image.user) if image is not None else (None, None)
    uid, gid = pick("runAsUser"), pick("runAsGroup")
    said = [f"runAsUser {uid}"] if uid is not None else []
    if uid is None and img_uid is not None:
        uid = img_uid
        said = [f"the image's USER {image.user if image else ''}"]
    if gid is not None:
        said.append(f"runAsGroup {gid}")
    elif uid is not None and uid == img_uid:
        gid = img_gid
    return uid, gid, " and ".join(said)
