"""`doctor --manifests`: render the manifests and run every check against them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from observer.daemon.doctor import (
    check_backup,
    check_env,
    check_runtime,
    check_secrets,
    check_storage,
)
from observer.daemon.doctor.context import Context
from observer.daemon.doctor.findings import Finding, Severity
from observer.daemon.doctor.render import (
    Dockerfile,
    Obj,
    Rendered,
    RenderError,
    find_dockerfile,
    parse_dockerfile,
    render,
    render_text,
    shown,
)
from observer.daemon.doctor.shapes import well_formed


@dataclass(frozen=True)
class Report:
    source: str
    findings: list[Finding]
    #: Which container was judged as the collector, and why, one line each.
    collectors: list[str] = field(default_factory=list)


def check_context(ctx: Context) -> list[Finding]:
    """Every manifest check on a built context."""
    check_storage.retire_replaced(ctx)
    out = check_env.check_no_collector(ctx)
    out += check_storage.check_volumes(ctx)
    out += check_storage.check_writers(ctx)
    out += check_env.check_image(ctx)
    out += check_secrets.check_secrets(ctx)
    out += check_runtime.check_postgres(ctx)
    for col in ctx.collectors:
        mine = check_storage.check_written_paths(ctx, col)
        mine += check_env.check_collector_env(ctx, col)
        mine += check_runtime.check_probes(ctx, col)
        mine += check_runtime.check_security(ctx, col)
        mine += check_runtime.check_memory(col)
        mine += check_runtime.check_network(ctx, col)
        mine += check_backup.check_backup_repository(ctx, col)
        mine += check_backup.check_retention_capacity(ctx, col)
        out += mine + check_env.fallback_summary(col, mine)
    return _dedupe(out)


def analyse(objects: list[Obj], image: Dockerfile | None) -> tuple[list[Finding], Context]:
    """Every manifest check on already-rendered objects, and the context they were read into."""
    good, malformed = well_formed(objects)
    ctx = Context.build(good, image)
    return malformed + check_context(ctx), ctx


def check_objects(objects: list[Obj], image: Dockerfile | None) -> list[Finding]:
    """Every manifest check on already-rendered objects (the pure part, used by tests too)."""
    return analyse(objects, image)[0]


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, ...]] = set()
    out: list[Finding] = []
    for f in findings:
        key = (f.severity.name, f.object, f.field, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _report(rendered: Rendered, image: Dockerfile | None) -> Report:
    checked, ctx = analyse(rendered.objects, image)
    source = rendered.source + (
        f" + {shown(image.path)}"
        if image is not None
        else " (no Dockerfile: the image is not checked)"
    )
    findings = rendered.findings + checked
    judged = [c.describe() for c in ctx.collectors]
    judged += [f"{old.describe()}: the old one, replaced by {new.obj}" for old, new in ctx.replaced]
    return Report(source, findings, judged)


def check_manifests(
    path: Path, *, dockerfile: Path | None = None, kubectl: str | None = None
) -> Report:
    """Render ``path`` and check it; a render failure is itself a CRITICAL finding.

    ``dockerfile``: the image's Dockerfile; by default the nearest one in ``path`` or its
    parents (stopping at the repository root). ``kubectl``: the binary to render with
    (default: the one on PATH; "" forces the built-in reader).
    """
    df_path = dockerfile if dockerfile is not None else find_dockerfile(path)
    image, notes = _image(df_path)
    try:
        rendered = render(path, kubectl=kubectl)
    except RenderError as e:
        return Report(str(path), [_unrenderable(str(path), e)])
    rendered.findings[:0] = notes
    return _report(rendered, image)


def _image(path: Path | None) -> tuple[Dockerfile | None, list[Finding]]:
    if path is None:
        return None, []
    try:
        return parse_dockerfile(path), []
    except RenderError as e:
        return None, [Finding(
            Severity.WARNING, str(path), "", f"{e}: the image was not checked.",
            "fix the Dockerfile, or pass another with --dockerfile.",
        )]  # fmt: skip


def check_text(text: str, *, source: str, dockerfile: Path | None = None) -> Report:
    """Check YAML that is already rendered (``doctor --manifests -`` reads it from stdin)."""
    image, notes = _image(dockerfile)
    try:
        rendered = render_text(text, source)
    except RenderError as e:
        return Report(source, [_unrenderable(source, e)])
    if not rendered.objects:
        return Report(source, [_unrenderable(source, RenderError(f"{source} holds no objects."))])
    rendered.findings[:0] = notes
    return _report(rendered, image)


def _unrenderable(where: str, e: RenderError) -> Finding:
    return Finding(
        Severity.CRITICAL, where, "",
        f"the manifests cannot be rendered, so `kubectl apply` fails too: {e}",
        "fix the kustomization or YAML.",
    )  # fmt: skip
