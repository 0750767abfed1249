"""Turn a manifests path into Kubernetes objects, and find and parse the image's Dockerfile.

A directory with a kustomization is rendered by ``kubectl kustomize`` when kubectl is on the
PATH; without kubectl a small built-in reader follows ``resources`` and applies
``namespace`` (patches and generators are then reported as not applied). A plain YAML file
or a directory of YAML files (subdirectories included) is read as it is, and so is rendered
YAML on standard input.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from observer.daemon.doctor.findings import Finding, Severity

Obj = dict[str, Any]

_KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
#: What `kubectl apply -f DIR` reads (JSON is YAML).
_YAML_SUFFIXES = (".yaml", ".yml", ".json")


class RenderError(Exception):
    """The manifests cannot be read or rendered (reported as a CRITICAL finding)."""


@dataclass
class Rendered:
    objects: list[Obj]
    source: str
    findings: list[Finding] = field(default_factory=list)


def _kustomization_file(d: Path) -> Path | None:
    for name in _KUSTOMIZATION_NAMES:
        if (d / name).is_file():
            return d / name
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RenderError(f"{path} cannot be read: {e}") from None


def _load_yaml_docs(text: str, where: str) -> list[Obj]:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        raise RenderError(f"{where} is not valid YAML: {e}") from None
    out: list[Obj] = []
    for d in docs:
        if d is None:
            continue
        if not isinstance(d, dict):
            raise RenderError(f"{where} holds a YAML document that is not a mapping.")
        if d.get("kind") == "List" and isinstance(d.get("items"), list):
            out.extend(i for i in d["items"] if isinstance(i, dict))
        else:
            out.append(d)
    return out


def _kubectl_kustomize(kubectl: str, d: Path) -> list[Obj]:
    try:
        proc = subprocess.run(
            [kubectl, "kustomize", str(d)], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RenderError(f"`kubectl kustomize {d}` could not run: {e}") from None
    if proc.returncode != 0:
        raise RenderError(f"`kubectl kustomize {d}` failed: {proc.stderr.strip()[:2000]}")
    return _load_yaml_docs(proc.stdout, f"kubectl kustomize {d}")


def _builtin_kustomize(d: Path, notes: list[Finding], depth: int = 0) -> list[Obj]:
    kfile = _kustomization_file(d)
    if kfile is None:
        raise RenderError(f"{d} has no kustomization.yaml.")
    if depth > 20:
        raise RenderError(f"{d}: kustomization resources nest too deeply (a cycle?).")
    try:
        k = yaml.safe_load(_read(kfile)) or {}
    except yaml.YAMLError as e:
        raise RenderError(f"{kfile} is not valid YAML: {e}") from None
    if not isinstance(k, dict):
        raise RenderError(f"{kfile} is not a kustomization (not a mapping).")
    objs: list[Obj] = []
    for res in k.get("resources") or []:
        p = (d / str(res)).resolve()
        if p.is_dir():
            objs.extend(_builtin_kustomize(p, notes, depth + 1))
        elif p.is_file():
            objs.extend(_load_yaml_docs(_read(p), str(p)))
        else:
            raise RenderError(f"{kfile} lists resource {res!r}, which does not exist.")
    ignored = [
        key
        for key in ("patches", "patchesStrategicMerge", "patchesJson6902", "secretGenerator",
                    "configMapGenerator", "images", "replicas", "components")
        if k.get(key)
    ]  # fmt: skip
    if ignored:
        notes.append(
            Finding(
                Severity.WARNING,
                str(kfile),
                ", ".join(ignored),
                "kubectl was not found, so these kustomize features were not applied and the "
                "checks saw the resources without them.",
                "install kubectl (it includes kustomize) and run doctor again.",
            )
        )
    ns = k.get("namespace")
    if ns:
        for o in objs:
            if o.get("kind") != "Namespace":
                o.setdefault("metadata", {})["namespace"] = ns
    return objs


def render(path: Path, *, kubectl: str | None = None) -> Rendered:
    """Read ``path`` (kustomization dir, YAML dir or YAML file) into objects."""
    if not path.exists():
        raise FileNotFoundError(path)
    notes: list[Finding] = []
    if path.is_file():
        return Rendered(_load_yaml_docs(_read(path), str(path)), str(path))
    if _kustomization_file(path) is not None:
        kc = kubectl if kubectl is not None else shutil.which("kubectl")
        if kc:
            return Rendered(_kubectl_kustomize(kc, path), f"kubectl kustomize {path}")
        objs = _builtin_kustomize(path, notes)
        return Rendered(objs, f"{path} (kustomization read without kubectl)", notes)
    # Plain YAML, also nested (`helm template --output-dir` writes chart/templates/*.yaml).
    files = sorted(
        p for p in path.rglob("*")
        if p.suffix in _YAML_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )  # fmt: skip
    if not files:
        raise RenderError(f"{path} holds no kustomization and no YAML files.")
    objs = []
    for p in files:
        objs.extend(_load_yaml_docs(_read(p), str(p)))
    return Rendered(objs, f"{path} ({len(files)} YAML file{'s' if len(files) > 1 else ''})")


def render_text(text: str, source: str) -> Rendered:
    """Already rendered YAML (``kubectl kustomize … |``, ``helm template … |``)."""
    return Rendered(_load_yaml_docs(text, source), source)


# --- Dockerfile ----------------------------------------------------------------------------


@dataclass
class Dockerfile:
    """What the final stage of a Dockerfile sets for the container."""

    path: Path
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = ""
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    copies: list[str] = field(default_factory=list)  # COPY/ADD destinations, absolute


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter to read)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def find_dockerfile(start: Path) -> Path | None:
    """The nearest Dockerfile in ``start`` or its parents, not past the repository root."""
    d = start if start.is_dir() else start.parent
    for cur in [d.resolve(), *d.resolve().parents]:
        if (cur / "Dockerfile").is_file():
            return cur / "Dockerfile"
        if (cur / ".git").exists():
            return None
    return None


def _logical_lines(text: str) -> Iterator[str]:
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        yield (buf + line).strip()
        buf = ""
    if buf.strip():
        yield buf.strip()


def _exec_form(arg: str) -> list[str]:
    arg = arg.strip()
    if arg.startswith("["):
        loaded = yaml.safe_load(arg)  # a JSON array is YAML
        return [str(x) for x in loaded] if isinstance(loaded, list) else [arg]
    return ["/bin/sh", "-c", arg]


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), value)


def parse_dockerfile(path: Path) -> Dockerfile:
    """ENV, WORKDIR, USER, ENTRYPOINT, CMD and COPY/ADD destinations of the final stage.

    Raises RenderError when the file cannot be read."""
    df = Dockerfile(path)
    for line in _logical_lines(_read(path)):
        instr, _, arg = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            df = Dockerfile(path)  # a new stage starts from scratch for our purposes
        elif instr == "ENV":
            parts = shlex.split(arg, posix=True)
            if parts and "=" not in parts[0]:  # legacy form: ENV KEY value with spaces
                df.env[parts[0]] = _expand(" ".join(parts[1:]), df.env)
            else:
                for p in parts:
                    k, _, v = p.partition("=")
                    df.env[k] = _expand(v, df.env)
        elif instr == "WORKDIR":
            wd = _expand(arg.strip(), df.env)
            df.workdir = wd if wd.startswith("/") else f"{df.workdir.rstrip('/')}/{wd}"
        elif instr == "USER":
            df.user = arg.strip()
        elif instr == "ENTRYPOINT":
            df.entrypoint = _exec_form(arg)
            df.cmd = []  # ENTRYPOINT resets an inherited CMD
        elif instr == "CMD":
            df.cmd = _exec_form(arg)
        elif instr in ("COPY", "ADD"):
            words = _exec_form(arg) if arg.strip().startswith("[") else shlex.split(arg)
            words = [w for w in words if not w.startswith("--")]
            if len(words) >= 2:
                dest = _expand(words[-1], df.env)
                df.copies.append(
                    dest if dest.startswith("/") else f"{df.workdir.rstrip('/')}/{dest}"
                )
    return df
