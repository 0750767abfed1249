"""`doctor --manifests`: render the manifests and run every check against them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from observer.daemon.doctor import check_env, check_runtime, check_storage
from observer.daemon.doctor.context import Context
from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.doctor.render import (
    Dockerfile,
    Obj,
    RenderError,
    find_dockerfile,
    parse_dockerfile,
    render,
    render_text,
)


@dataclass(frozen=True)
class Report:
    source: str
    findings: list[Finding]


def check_objects(objects: list[Obj], image: Dockerfile | None) -> list[Finding]:
    """Every manifest check on already-rendered objects (the pure part, used by tests too)."""
    ctx = Context.build(objects, image)
    out = check_env.check_listen_default(ctx)
    out += check_storage.check_volumes(ctx)
    out += check_env.check_image(ctx)
    out += check_runtime.check_postgres(ctx)
    for col in ctx.collectors:
        out += check_storage.check_written_paths(ctx, col)
        out += check_env.check_collector_env(ctx, col)
        out += check_runtime.check_probes(ctx, col)
        out += check_runtime.check_security(ctx, col)
        out += check_runtime.check_network(ctx, col)
    return _dedupe(out)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, ...]] = set()
    out: list[Finding] = []
    for f in findings:
        key = (f.severity.name, f.object, f.field, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def check_manifests(
    path: Path, *, dockerfile: Path | None = None, kubectl: str | None = None
) -> Report:
    """Render ``path`` and check it; a render failure is itself a CRITICAL finding.

    ``dockerfile``: the image's Dockerfile; by default the nearest one in ``path`` or its
    parents (stopping at the repository root). ``kubectl``: the binary to render with
    (default: the one on PATH; "" forces the built-in reader).
    """
    df_path = dockerfile if dockerfile is not None else find_dockerfile(path)
    image = parse_dockerfile(df_path) if df_path is not None else None
    try:
        rendered = render(path, kubectl=kubectl)
    except RenderError as e:
        return Report(str(path), [_unrenderable(str(path), e)])
    source = rendered.source + (f" + {df_path}" if df_path is not None else "")
    return Report(source, rendered.findings + check_objects(rendered.objects, image))


def check_text(text: str, *, source: str, dockerfile: Path | None = None) -> Report:
    """Check YAML that is already rendered (``doctor --manifests -`` reads it from stdin)."""
    image = parse_dockerfile(dockerfile) if dockerfile is not None else None
    try:
        rendered = render_text(text, source)
    except RenderError as e:
        return Report(source, [_unrenderable(source, e)])
    if not rendered.objects:
        return Report(source, [_unrenderable(source, RenderError(f"{source} holds no objects."))])
    source += (
        f" + {dockerfile}"
        if dockerfile is not None
        else " (no Dockerfile: the image is not checked)"
    )
    return Report(source, check_objects(rendered.objects, image))


def _unrenderable(where: str, e: RenderError) -> Finding:
    return Finding(
        Severity.CRITICAL, where, "",
        f"the manifests cannot be rendered, so `kubectl apply` fails too: {e}",
        "fix the kustomization or YAML.",
    )  # fmt: skip
